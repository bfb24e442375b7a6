"""The Wasserstein metric on policies and distances between policies over a state distribution.

A policy maps a state to a measure on actions. Tangent vectors at pi are action-space velocity fields
v(s, a); the metric is

    <v, w>_pi = E_{s ~ d} E_{a ~ pi(.|s)} [ v(s, a) . w(s, a) ],

with d the state distribution (the stationary distribution of pi for the ergodic objective). The
distance between two policies over a state distribution d is

    D^2(pi, pi') = E_{s ~ d} W2^2(pi(.|s), pi'(.|s)),

computed in closed form for per-state diagonal Gaussians and linear-Gaussian policies, or estimated from
per-state action samples. Conventions: a batch of S states, N actions per state, action dimension m;
velocity and sample arrays are (S, N, m) (or (S, N) for m = 1); state weights are (S,) and are
normalised to sum to one (uniform when omitted, e.g. for a replay batch drawn from d).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from wrl.geometry.gaussian import bures_distance_sq, w2_diag_gaussian_sq
from wrl.geometry.quantile import w2_1d_samples_sq
from wrl.geometry.samples import sinkhorn_divergence_sq, sinkhorn_w2_sq

__all__ = [
    "policy_inner",
    "policy_norm_sq",
    "policy_w2_sq_diag_gaussian",
    "policy_w2_sq_linear_gaussian",
    "policy_w2_sq_samples",
    "state_average",
]


@jax.jit
def state_average(values: ArrayLike, state_weights: ArrayLike | None = None) -> Array:
    """E_{s ~ d}[f(s)] = sum_s d_s f(s) / sum_s d_s over the leading (state) axis; uniform d by default."""
    values = jnp.asarray(values)
    if state_weights is None:
        return jnp.mean(values, axis=0)
    d = jnp.asarray(state_weights, dtype=values.dtype)
    return jnp.tensordot(d, values, axes=(0, 0)) / jnp.sum(d)


def _as_sna(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    return x[..., None] if x.ndim == 2 else x


@jax.jit
def policy_inner(v: ArrayLike, w: ArrayLike, state_weights: ArrayLike | None = None) -> Array:
    """Policy metric <v, w>_pi = E_{s ~ d} E_{a ~ pi(.|s)} [v(s, a) . w(s, a)].

    v, w are velocity fields evaluated at N actions a_{s,k} ~ pi(.|s) per state: arrays (S, N, m) or
    (S, N); the inner expectation is the sample mean over k, the outer one uses the state weights d_s.
    """
    v = _as_sna(v)
    w = _as_sna(w)
    per_state = jnp.mean(jnp.sum(v * w, axis=-1), axis=-1)
    return state_average(per_state, state_weights)


@jax.jit
def policy_norm_sq(v: ArrayLike, state_weights: ArrayLike | None = None) -> Array:
    """|v|^2_pi = <v, v>_pi = E_{s ~ d} E_{a ~ pi(.|s)} |v(s, a)|^2."""
    return policy_inner(v, v, state_weights)


@jax.jit
def policy_w2_sq_diag_gaussian(
    mean1: ArrayLike,
    std1: ArrayLike,
    mean2: ArrayLike,
    std2: ArrayLike,
    state_weights: ArrayLike | None = None,
) -> Array:
    """E_{s ~ d} W2^2(pi1(.|s), pi2(.|s)) for per-state diagonal Gaussians, in closed form.

    W2^2(N(mu1, diag sigma1^2), N(mu2, diag sigma2^2)) = |mu1 - mu2|^2 + |sigma1 - sigma2|^2;
    mean*/std* are (S, m) batches (state s on axis 0). Use it to log how far an update moved the policy.
    """
    per_state = w2_diag_gaussian_sq(mean1, std1, mean2, std2)
    return state_average(per_state, state_weights)


@jax.jit
def policy_w2_sq_linear_gaussian(
    K1: ArrayLike,
    Sigma1: ArrayLike,
    K2: ArrayLike,
    Sigma2: ArrayLike,
    state_cov: ArrayLike,
    state_mean: ArrayLike | None = None,
) -> Array:
    """E_{s ~ N(mu, X)} W2^2(N(-K1 s, Sigma1), N(-K2 s, Sigma2)) for linear-Gaussian policies.

    = E_s |(K1 - K2) s|^2 + B^2(Sigma1, Sigma2)
    = tr((K1 - K2) (X + mu mu^T) (K1 - K2)^T) + B^2(Sigma1, Sigma2).
    """
    D = jnp.asarray(K1) - jnp.asarray(K2)
    M = jnp.asarray(state_cov)
    if state_mean is not None:
        mu = jnp.asarray(state_mean)
        M = M + jnp.outer(mu, mu)
    return jnp.trace(D @ M @ D.T) + bures_distance_sq(Sigma1, Sigma2)


@partial(jax.jit, static_argnames=("method", "epsilon"))
def policy_w2_sq_samples(
    actions1: ArrayLike,
    actions2: ArrayLike,
    state_weights: ArrayLike | None = None,
    method: str = "auto",
    epsilon: float = 1e-2,
) -> Array:
    """Sample estimate of E_{s ~ d} W2^2(pi1(.|s), pi2(.|s)) from per-state action samples.

    actions1: (S, N, m) or (S, N) samples of pi1(.|s); actions2: (S, M, m) or (S, M) samples of pi2(.|s).
    method:
      "quantile"  exact W2^2 between the per-state empirical measures, m = 1 only
                  (int_0^1 |F1^{-1} - F2^{-1}|^2 du of the empirical quantile functions);
      "sinkhorn"  transport cost of the entropic plan (ott-jax, eps absolute), biased up by O(eps);
      "divergence" debiased Sinkhorn divergence (ott-jax);
      "auto"      "quantile" when m = 1, else "divergence".
    jit/vmap friendly (the method is static).
    """
    a1 = _as_sna(actions1)
    a2 = _as_sna(actions2)
    if a1.shape[0] != a2.shape[0] or a1.shape[-1] != a2.shape[-1]:
        raise ValueError(f"actions1 {a1.shape} and actions2 {a2.shape} need the same states and action dim")
    m = a1.shape[-1]
    if method == "auto":
        method = "quantile" if m == 1 else "divergence"
    if method == "quantile":
        if m != 1:
            raise ValueError("method='quantile' needs one-dimensional actions; use 'divergence'")
        per_state = w2_1d_samples_sq(a1[..., 0], a2[..., 0])
    elif method == "sinkhorn":
        per_state = jax.vmap(lambda x, y: sinkhorn_w2_sq(x, y, epsilon=epsilon))(a1, a2)
    elif method == "divergence":
        per_state = jax.vmap(lambda x, y: sinkhorn_divergence_sq(x, y, epsilon=epsilon))(a1, a2)
    else:
        raise ValueError(f"unknown method {method!r}; use 'auto', 'quantile', 'sinkhorn' or 'divergence'")
    return state_average(per_state, state_weights)

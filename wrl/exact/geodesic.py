"""Geodesics between two policies in the Wasserstein policy geometry.

Over a fixed state distribution the distance D^2(pi0, pi1) = E_{s ~ d} W2^2(pi0(.|s), pi1(.|s)) is a product
of per-state W2 geometries, so a geodesic moves every pi(.|s) along its own W2 geodesic and has constant
speed: D(pi0, pi_t) = t D(pi0, pi1), D(pi_t, pi1) = (1 - t) D(pi0, pi1).

- linear-Gaussian policies N(-K s, Sigma): per state the mean moves linearly and the covariance along the
  Bures geodesic, which is again linear-Gaussian: K_t = (1 - t) K0 + t K1, Sigma_t = Bures geodesic;
- quantile policies (1-D actions, quantile function per state): F_t^{-1} = (1 - t) F_0^{-1} + t F_1^{-1}.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from wrl.geometry.gaussian import gaussian_geodesic
from wrl.geometry.policy_metric import policy_w2_sq_linear_gaussian, state_average
from wrl.geometry.quantile import quantile_geodesic, w2_quantile_sq

__all__ = [
    "linear_gaussian_distance_sq",
    "linear_gaussian_geodesic",
    "quantile_policy_distance_sq",
    "quantile_policy_geodesic",
]


def linear_gaussian_geodesic(
    K0: ArrayLike, Sigma0: ArrayLike, K1: ArrayLike, Sigma1: ArrayLike, t: ArrayLike
) -> tuple[Array, Array]:
    """Geodesic between N(-K0 s, Sigma0) and N(-K1 s, Sigma1), state by state:

    K_t = (1 - t) K0 + t K1  (so that -K_t s = (1 - t)(-K0 s) + t (-K1 s)),
    Sigma_t = ((1 - t) I + t T) Sigma0 ((1 - t) I + t T),  T = Sigma0^{-1/2} (Sigma0^{1/2} Sigma1 Sigma0^{1/2})^{1/2}
    Sigma0^{-1/2}.
    """
    _, Sigma_t = gaussian_geodesic(jnp.zeros(jnp.shape(Sigma0)[-1]), Sigma0,
                                   jnp.zeros(jnp.shape(Sigma1)[-1]), Sigma1, t)
    t = jnp.asarray(t)
    return (1.0 - t) * jnp.asarray(K0) + t * jnp.asarray(K1), Sigma_t


def linear_gaussian_distance_sq(
    K0: ArrayLike, Sigma0: ArrayLike, K1: ArrayLike, Sigma1: ArrayLike, state_cov: ArrayLike
) -> Array:
    """D^2 = E_{s ~ N(0, X)} W2^2 = tr((K0 - K1) X (K0 - K1)^T) + B^2(Sigma0, Sigma1)."""
    return policy_w2_sq_linear_gaussian(K0, Sigma0, K1, Sigma1, state_cov)


def quantile_policy_geodesic(q0: ArrayLike, q1: ArrayLike, t: ArrayLike) -> Array:
    """Geodesic between quantile policies (S, M): q_t(s, .) = (1 - t) q0(s, .) + t q1(s, .)."""
    return quantile_geodesic(q0, q1, t)


def quantile_policy_distance_sq(q0: ArrayLike, q1: ArrayLike, state_weights: ArrayLike | None = None) -> Array:
    """D^2 = sum_s d_s int_0^1 |F_{0,s}^{-1}(u) - F_{1,s}^{-1}(u)|^2 du for quantile policies (S, M)."""
    return state_average(w2_quantile_sq(q0, q1), state_weights)

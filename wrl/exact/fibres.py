"""Gaussian-fibre and quantile versions of the grid Wasserstein flow, next to the particle version.

All three share the chain of :mod:`wrl.exact.grid` (kernel, stationary law, Poisson equation, grad_a Q);
they differ in how pi(.|x_i) is represented and moved:

- particles: N equally weighted actions, explicit Euler / Langevin steps (see ``grid.particle_flow_step``).
- Gaussian fibres: pi(.|x_i) = N(m_i, sigma_i^2), integrated by Gauss-Hermite atoms a_ik = m_i + sigma_i z_k.
  The W2 gradient of E_pi[Q] - tau H projected on affine velocity fields is v(a) = -E[grad_a Q] -
  (E[Hess_a Q] - tau / sigma^2)(a - m) (Stein's identity), and the exponential map gives

      m_i <- m_i - eta E_pi[grad_a Q(x_i, a)],
      sigma_i <- sigma_i - eta (sigma_i E_pi[Hess_a Q(x_i, a)] - tau / sigma_i),

  whose fixed point for quadratic Q is sigma^2 = tau / Hess_a Q = (tau/2) / G (the entropic optimum).
- quantile functions: pi(.|x_i) has quantiles q_ik at the levels u_k = (k + 1/2)/M; W2 is the L2 distance of
  quantile functions, so the flow moves each quantile by the gradient of
  F_i(q) = (1/M) sum_k Q(x_i, q_ik) - tau H_i(q) in the metric (1/M) |dq|^2, with the spacing estimate
  H_i = (1/(M-1)) sum_k log(M (q_{i,k+1} - q_ik)):

      q_ik <- q_ik - eta (grad_a Q(x_i, q_ik) - tau M dH_i/dq_ik),   then sorted (the L2 projection onto
                                                                     non-decreasing quantile functions),

  with the stiff entropy part taken linearly implicit (see :func:`quantile_flow_step`).

  The entropy enters deterministically (no noise); in the continuum limit the fixed point of
  2 G (q - q*) = tau q''/q'^2 is the Gaussian quantile function with variance (tau/2)/G.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri

from wrl.exact.grid import (
    GridEvaluation,
    GridProblem,
    evaluate_policy,
    grad_a_q,
    hess_a_q,
    particle_entropy,
    particle_flow_step,
)

__all__ = [
    "Representation",
    "gauss_hermite",
    "gaussian_fibre_step",
    "quantile_entropy",
    "quantile_flow_step",
    "representation",
]


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z_k and weights w_k (sum 1) with sum_k w_k f(z_k) ~= E_{z ~ N(0,1)} f(z), exact for degree 2n-1."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / w.sum()


def quantile_entropy(q: Array) -> Array:
    """Spacing estimate of the entropy from quantiles at the levels (k + 1/2)/M, per state (last axis):

    H = int_0^1 log (dF^{-1}/du) du ~= (1/(M-1)) sum_{k} log(M (q_{k+1} - q_k)).
    """
    M = q.shape[-1]
    return jnp.mean(jnp.log(M * jnp.diff(q, axis=-1)), axis=-1)


def gaussian_fibre_step(
    problem: GridProblem,
    mean: Array,
    std: Array,
    eta: float | Array,
    tau: float,
    z: Array,
    w: Array,
    ev: GridEvaluation | None = None,
) -> tuple[tuple[Array, Array], GridEvaluation]:
    """Bures-Wasserstein (exponential map) step of the Gaussian fibres N(m_i, sigma_i^2).

    m_i <- m_i - eta E[grad_a Q(x_i, a)],  sigma_i <- |sigma_i - eta (sigma_i E[Hess_a Q(x_i, a)] - tau/sigma_i)|,
    expectations under N(m_i, sigma_i^2) by Gauss-Hermite (nodes z, weights w); the policy is evaluated with
    the exact Gaussian entropy H_i = 1/2 log(2 pi e sigma_i^2) in the Poisson equation.
    """
    atoms = mean[:, None] + std[:, None] * z[None, :]
    if ev is None:
        ent = 0.5 * jnp.log(2.0 * math.pi * math.e * std**2) if tau > 0 else None
        ev = evaluate_policy(problem, atoms, w, ent, tau)
    Eg = grad_a_q(problem, ev, atoms) @ w
    Eh = hess_a_q(problem, ev, atoms) @ w
    new_std = std - eta * std * Eh
    if tau > 0:
        new_std = new_std + eta * tau / std
    return (mean - eta * Eg, jnp.abs(new_std)), ev


def quantile_flow_step(
    problem: GridProblem,
    q: Array,
    eta: float | Array,
    tau: float,
    ev: GridEvaluation | None = None,
) -> tuple[Array, GridEvaluation]:
    """W2 step on quantile functions, the entropy part linearly implicit.

    grad_i = grad_a Q(x_i, q_i.) - tau M dH_i/dq_i   (the W2 gradient of F_i in the metric (1/M)|dq|^2),
    (I + eta tau M Hess(-H_i)) delta_i = -eta grad_i,   Hess(-H_i) = D^T diag(1/g_i^2) D / (M-1)
    (D the difference matrix, g_i = D q_i the spacings), q_i <- sort(q_i + alpha_i delta_i) with alpha_i <= 1
    the largest step keeping every spacing at least half of its old value. The entropy's stiffness
    (~ tau / g^2) would make a fully explicit step unstable; the fixed points are unchanged. At tau = 0 this
    is the particle step with sorted particles.
    """
    M = q.shape[1]
    if ev is None:
        ent = quantile_entropy(q) if tau > 0 else None
        ev = evaluate_policy(problem, q, jnp.full((M,), 1.0 / M, q.dtype), ent, tau)
    grad = grad_a_q(problem, ev, q)
    if tau <= 0:
        return jnp.sort(q - eta * grad, axis=1), ev
    grad = grad - tau * M * jax.grad(lambda qq: jnp.sum(quantile_entropy(qq)))(q)
    D = jnp.diff(jnp.eye(M, dtype=q.dtype), axis=0)  # (M-1, M), D q = spacings
    gaps = q @ D.T  # (n, M-1)
    hess = jnp.einsum("ak,ia,al->ikl", D, 1.0 / gaps**2, D) / (M - 1)  # (n, M, M)
    lhs = jnp.eye(M, dtype=q.dtype) + eta * tau * M * hess
    delta = jnp.linalg.solve(lhs, -eta * grad[..., None])[..., 0]
    dgap = delta @ D.T
    ratio = jnp.where(dgap < 0, -0.5 * gaps / jnp.where(dgap < 0, dgap, -1.0), jnp.inf)
    alpha = jnp.minimum(1.0, jnp.min(ratio, axis=1))
    return jnp.sort(q + alpha[:, None] * delta, axis=1), ev


@dataclass(frozen=True)
class Representation:
    """How a grid flow stores and moves pi(.|x_i): params is a tuple of arrays over states."""

    name: str
    init: Callable[[Array, float, float, Array], tuple[Array, ...]]  # (states, gain, std, key) -> params
    atoms: Callable[[tuple[Array, ...]], tuple[Array, Array]]  # params -> (atoms (n, K), weights (K,))
    entropy: Callable[[tuple[Array, ...]], Array]  # params -> H_i (n,)
    step: Callable[..., tuple[tuple[Array, ...], GridEvaluation]]  # (problem, params, eta, tau, key, ev)

    def evaluate(self, problem: GridProblem, params: tuple[Array, ...], tau: float) -> GridEvaluation:
        """Exact evaluation (kernel, d, J, h) of the represented policy."""
        atoms, weights = self.atoms(params)
        return evaluate_policy(problem, atoms, weights, self.entropy(params) if tau > 0 else None, tau)


def representation(method: str, n_atoms: int) -> Representation:
    """The particle ("particles"), Gaussian-fibre ("gaussian") or quantile ("quantile") representation."""
    if method == "particles":

        def init(x, gain, std, key):
            return (-gain * x[:, None] + std * jax.random.normal(key, (x.shape[0], n_atoms), x.dtype),)

        def step(problem, params, eta, tau, key, ev=None):
            new, ev = particle_flow_step(problem, params[0], eta, tau, key, ev)
            return (new,), ev

        return Representation(
            name=method, init=init,
            atoms=lambda p: (p[0], jnp.full((n_atoms,), 1.0 / n_atoms, p[0].dtype)),
            entropy=lambda p: particle_entropy(p[0]), step=step,
        )
    if method == "gaussian":
        z_np, w_np = gauss_hermite(n_atoms)

        def init(x, gain, std, key):
            return -gain * x, jnp.full(x.shape, std, x.dtype)

        def atoms(p):
            z = jnp.asarray(z_np, p[0].dtype)
            return p[0][:, None] + p[1][:, None] * z[None, :], jnp.asarray(w_np, p[0].dtype)

        def step(problem, params, eta, tau, key, ev=None):
            dt = params[0].dtype
            return gaussian_fibre_step(problem, params[0], params[1], eta, tau, jnp.asarray(z_np, dt),
                                       jnp.asarray(w_np, dt), ev)

        return Representation(
            name=method, init=init, atoms=atoms,
            entropy=lambda p: 0.5 * jnp.log(2.0 * math.pi * math.e * p[1] ** 2), step=step,
        )
    if method == "quantile":

        def init(x, gain, std, key):
            u = (jnp.arange(n_atoms, dtype=x.dtype) + 0.5) / n_atoms
            return (-gain * x[:, None] + std * ndtri(u)[None, :],)

        def step(problem, params, eta, tau, key, ev=None):
            new, ev = quantile_flow_step(problem, params[0], eta, tau, ev)
            return (new,), ev

        return Representation(
            name=method, init=init,
            atoms=lambda p: (p[0], jnp.full((n_atoms,), 1.0 / n_atoms, p[0].dtype)),
            entropy=lambda p: quantile_entropy(p[0]), step=step,
        )
    raise ValueError(f"unknown representation {method!r}")

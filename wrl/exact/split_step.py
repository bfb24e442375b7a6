"""The WPPG split step in closed form for one state with a quadratic return and a Gaussian policy.

For Q(a) = -(a - a*)^T H (a - a*) / 2 (H symmetric positive definite) the velocity is grad_a Q = H (a* - a),
so the Lie-Trotter split step of WPPG (transport a -> a + eta grad_a Q(a), then heat a -> a + xi with
xi ~ N(0, 2 tau eta I); :func:`wrl.flows.velocity.langevin_step`) is the affine map a -> M a + eta H a* + xi,
M = I - eta H, and carries N(m, C) exactly to

    m' = m + eta H (a* - m),        C' = M C M^T + 2 tau eta I.

- fixed point (0 < eta lambda_i(H) < 2): mean a*, covariance C*_eta solving the discrete Lyapunov equation
  C = M C M^T + 2 tau eta I; since M commutes with H, C*_eta = tau H^-1 (I - eta H / 2)^-1, scalar
  C* = tau / (h (1 - eta h / 2));
- rate: m_k - a* = M^k (m_0 - a*) and C_k - C* = M^k (C_0 - C*) M^k, so the mean converges geometrically at
  rho(M) = max_i |1 - eta lambda_i(H)| and the covariance at rho(M)^2;
- the soft optimum of <Q, pi> + tau H(pi) is pi* = N(a*, tau H^-1) (density proportional to exp(Q / tau));
  the splitting's fixed point is biased by C*_eta - tau H^-1 = tau H^-1 ((I - eta H / 2)^-1 - I) = eta tau / 2 I
  + O(eta^2) (:func:`fixed_point_bias`).

Every function is pure and jit-able for one state: a* (D,), H (D, D), m (D,), C (D, D); vmap for batches.
Run under :func:`wrl.exact.precision.float64` for closed-form precision.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from wrl.exact.lqr import solve_discrete_lyapunov
from wrl.geometry.gaussian import symmetrize

__all__ = [
    "fixed_point_bias",
    "scalar_fixed_point_variance",
    "soft_optimum",
    "split_fixed_point",
    "split_iterate",
    "split_rates",
    "split_step",
]


def _transport_matrix(hess: Array, eta: float | Array) -> Array:
    """M = I - eta H, the linear part of the transport a -> a + eta H (a* - a)."""
    return jnp.eye(hess.shape[-1], dtype=hess.dtype) - eta * hess


@jax.jit
def split_step(mean: ArrayLike, cov: ArrayLike, a_star: ArrayLike, hess: ArrayLike, eta: float | Array,
               tau: float | Array) -> tuple[Array, Array]:
    """One WPPG split step of N(m, C) under Q(a) = -(a - a*)^T H (a - a*) / 2, exactly:

        m -> m + eta H (a* - m),    C -> (I - eta H) C (I - eta H)^T + 2 tau eta I.

    Returns the new (mean (D,), covariance (D, D)).
    """
    mean, cov, a_star, hess = (jnp.asarray(x) for x in (mean, cov, a_star, hess))
    M = _transport_matrix(hess, eta)
    new_mean = mean + eta * hess @ (a_star - mean)
    new_cov = M @ cov @ M.T + 2.0 * tau * eta * jnp.eye(hess.shape[-1], dtype=hess.dtype)
    return new_mean, symmetrize(new_cov)


@partial(jax.jit, static_argnames=("steps",))
def split_iterate(mean: ArrayLike, cov: ArrayLike, a_star: ArrayLike, hess: ArrayLike, eta: float | Array,
                  tau: float | Array, steps: int) -> tuple[Array, Array]:
    """The closed-form trajectory (m_k, C_k), k = 0..steps, of :func:`split_step` iterated from N(m_0, C_0):

        m_{k+1} = m_k + eta H (a* - m_k),    C_{k+1} = M C_k M^T + 2 tau eta I,   M = I - eta H.

    Returns means (steps + 1, D) and covariances (steps + 1, D, D), row 0 the start.
    """
    mean, cov = jnp.asarray(mean), jnp.asarray(cov)

    def step(carry: tuple[Array, Array], _: None) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        nxt = split_step(*carry, a_star, hess, eta, tau)
        return nxt, nxt

    _, (means, covs) = jax.lax.scan(step, (mean, cov), None, length=steps)
    return jnp.concatenate([mean[None], means]), jnp.concatenate([cov[None], covs])


@jax.jit
def split_fixed_point(a_star: ArrayLike, hess: ArrayLike, eta: float | Array,
                      tau: float | Array) -> tuple[Array, Array]:
    """The fixed point of the split step: mean a*, covariance C* solving the discrete Lyapunov equation

        C* = M C* M^T + 2 tau eta I,   M = I - eta H   (requires rho(M) < 1, i.e. 0 < eta lambda_i(H) < 2).

    For symmetric H this equals tau H^-1 (I - eta H / 2)^-1 (scalar: tau / (h (1 - eta h / 2))).
    """
    a_star, hess = jnp.asarray(a_star), jnp.asarray(hess)
    M = _transport_matrix(hess, eta)
    noise = 2.0 * tau * eta * jnp.eye(hess.shape[-1], dtype=hess.dtype)
    return a_star, solve_discrete_lyapunov(M, noise)


@jax.jit
def scalar_fixed_point_variance(h: float | Array, eta: float | Array, tau: float | Array) -> Array:
    """Scalar fixed-point variance of the split step: C* = tau / (h (1 - eta h / 2)) (solves C = (1 - eta h)^2 C
    + 2 tau eta)."""
    return jnp.asarray(tau) / (h * (1.0 - eta * h / 2.0))


@jax.jit
def split_rates(hess: ArrayLike, eta: float | Array) -> tuple[Array, Array]:
    """Geometric rates of the split step: (rho(M), rho(M)^2) with M = I - eta H and

        rho(M) = max_i |1 - eta lambda_i(H)|   (H symmetric, so M is symmetric: eigvalsh),

    the contraction factor per step of the mean error m_k - a* = M^k (m_0 - a*) and of the covariance error
    C_k - C* = M^k (C_0 - C*) M^k respectively.
    """
    M = _transport_matrix(jnp.asarray(hess), eta)
    rho = jnp.max(jnp.abs(jnp.linalg.eigvalsh(M)))
    return rho, rho**2


@jax.jit
def soft_optimum(a_star: ArrayLike, hess: ArrayLike, tau: float | Array) -> tuple[Array, Array]:
    """The soft optimum argmax_pi <Q, pi> + tau H(pi) for Q(a) = -(a - a*)^T H (a - a*) / 2:

        pi* = N(a*, tau H^-1)   (pi* proportional to exp(Q / tau)).
    """
    a_star, hess = jnp.asarray(a_star), jnp.asarray(hess)
    return a_star, symmetrize(tau * jnp.linalg.inv(hess))


@jax.jit
def fixed_point_bias(hess: ArrayLike, eta: float | Array, tau: float | Array) -> Array:
    """Covariance bias of the splitting's fixed point against the soft optimum, in closed form:

        C*_eta - tau H^-1 = tau H^-1 ((I - eta H / 2)^-1 - I) = tau (eta / 2) (I - eta H / 2)^-1
                          = eta tau / 2 I + O(eta^2)

    (scalar: tau / h * (eta h / 2) / (1 - eta h / 2)); so (C*_eta - tau H^-1) / eta -> tau / 2 I as eta -> 0.
    """
    hess = jnp.asarray(hess)
    eye = jnp.eye(hess.shape[-1], dtype=hess.dtype)
    return symmetrize(tau * (eta / 2.0) * jnp.linalg.inv(eye - eta * hess / 2.0))

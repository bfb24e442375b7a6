"""Closed-form 2-Wasserstein geometry of Gaussian measures (the Bures-Wasserstein manifold).

For N(m1, S1) and N(m2, S2) on R^d,

    W2^2 = |m1 - m2|^2 + B^2(S1, S2),
    B^2(S1, S2) = tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}        (Bures term).

The optimal map from N(m0, S0) to N(m1, S1) is affine, a -> m1 + T (a - m0) with the symmetric
positive matrix T = S0^{-1/2} (S0^{1/2} S1 S0^{1/2})^{1/2} S0^{-1/2}; geodesics, the exponential map and
the logarithm follow from it. Every function works on the last one or two axes and is jit/vmap friendly;
the dtype follows the inputs (call under ``jax.enable_x64(True)`` for float64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "bures_distance_sq",
    "bures_transport_map",
    "gaussian_exp_map",
    "gaussian_geodesic",
    "gaussian_log_map",
    "sqrtm_psd",
    "symmetrize",
    "w2_diag_gaussian_sq",
    "w2_gaussian_sq",
]


def symmetrize(S: Array) -> Array:
    """The symmetric part (S + S^T) / 2 of a (batch of) square matrices (transposing the last two axes)."""
    return 0.5 * (S + jnp.swapaxes(S, -1, -2))


@jax.jit
def sqrtm_psd(S: ArrayLike) -> Array:
    """Principal square root of a symmetric positive semi-definite matrix.

    S = V diag(lam) V^T  =>  S^{1/2} = V diag(sqrt(max(lam, 0))) V^T.
    """
    S = symmetrize(jnp.asarray(S))
    lam, V = jnp.linalg.eigh(S)
    return (V * jnp.sqrt(jnp.clip(lam, 0.0))[..., None, :]) @ jnp.swapaxes(V, -1, -2)


def _inv_sqrtm_pd(S: Array) -> Array:
    """S^{-1/2} for a symmetric positive definite S."""
    lam, V = jnp.linalg.eigh(symmetrize(S))
    return (V / jnp.sqrt(lam)[..., None, :]) @ jnp.swapaxes(V, -1, -2)


@jax.jit
def bures_distance_sq(S1: ArrayLike, S2: ArrayLike) -> Array:
    """Squared Bures distance between covariance matrices.

    B^2(S1, S2) = tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}.

    Clipped at 0 (rounding can make it slightly negative when S1 = S2).
    """
    S1 = jnp.asarray(S1)
    S2 = jnp.asarray(S2)
    r1 = sqrtm_psd(S1)
    cross = sqrtm_psd(r1 @ S2 @ r1)
    tr = jnp.trace(S1, axis1=-2, axis2=-1) + jnp.trace(S2, axis1=-2, axis2=-1)
    return jnp.clip(tr - 2.0 * jnp.trace(cross, axis1=-2, axis2=-1), 0.0)


@jax.jit
def w2_gaussian_sq(m1: ArrayLike, S1: ArrayLike, m2: ArrayLike, S2: ArrayLike) -> Array:
    """Squared 2-Wasserstein distance between N(m1, S1) and N(m2, S2), full covariances.

    W2^2 = |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}.
    """
    dm = jnp.asarray(m1) - jnp.asarray(m2)
    return jnp.sum(dm * dm, axis=-1) + bures_distance_sq(S1, S2)


@jax.jit
def w2_diag_gaussian_sq(mean1: ArrayLike, std1: ArrayLike, mean2: ArrayLike, std2: ArrayLike) -> Array:
    """Squared 2-Wasserstein distance between diagonal Gaussians given means and standard deviations.

    W2^2(N(mu1, diag sigma1^2), N(mu2, diag sigma2^2)) = |mu1 - mu2|^2 + |sigma1 - sigma2|^2
    (the Bures term of commuting covariances); sums over the last axis.
    """
    dm = jnp.asarray(mean1) - jnp.asarray(mean2)
    ds = jnp.asarray(std1) - jnp.asarray(std2)
    return jnp.sum(dm * dm + ds * ds, axis=-1)


@jax.jit
def bures_transport_map(S0: ArrayLike, S1: ArrayLike) -> Array:
    """Linear part of the optimal transport map from N(., S0) to N(., S1) (S0 positive definite).

    T = S0^{-1/2} (S0^{1/2} S1 S0^{1/2})^{1/2} S0^{-1/2},   T S0 T = S1,   T symmetric positive.
    """
    S0 = jnp.asarray(S0)
    r0 = sqrtm_psd(S0)
    ir0 = _inv_sqrtm_pd(S0)
    return symmetrize(ir0 @ sqrtm_psd(r0 @ jnp.asarray(S1) @ r0) @ ir0)


@jax.jit
def gaussian_geodesic(
    m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike, t: ArrayLike
) -> tuple[Array, Array]:
    """Point at time t of the W2 (Bures-Wasserstein) geodesic from N(m0, S0) to N(m1, S1).

    m_t = (1 - t) m0 + t m1,   S_t = ((1 - t) I + t T) S0 ((1 - t) I + t T),
    T = bures_transport_map(S0, S1);
    constant speed: W2(pi_0, pi_t) = t W2(pi_0, pi_1) for t in [0, 1].
    """
    m0 = jnp.asarray(m0)
    S0 = jnp.asarray(S0)
    t = jnp.asarray(t, dtype=S0.dtype)
    T = bures_transport_map(S0, S1)
    eye = jnp.eye(S0.shape[-1], dtype=S0.dtype)
    M = (1.0 - t) * eye + t * T
    return (1.0 - t) * m0 + t * jnp.asarray(m1), symmetrize(M @ S0 @ M)


@jax.jit
def gaussian_exp_map(m: ArrayLike, S: ArrayLike, dm: ArrayLike, V: ArrayLike) -> tuple[Array, Array]:
    """Exponential map at N(m, S) of the tangent vector given by the affine velocity v(a) = dm + V (a - m).

    Exp_{N(m,S)}(v) = (id + v)_# N(m, S) = N(m + dm, (I + V) S (I + V)),   V symmetric;
    it is the geodesic at time 1 as long as I + V is positive definite.
    """
    S = jnp.asarray(S)
    V = symmetrize(jnp.asarray(V))
    M = jnp.eye(S.shape[-1], dtype=S.dtype) + V
    return jnp.asarray(m) + jnp.asarray(dm), symmetrize(M @ S @ M)


@jax.jit
def gaussian_log_map(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike) -> tuple[Array, Array]:
    """Logarithm at N(m0, S0) of N(m1, S1): the affine velocity v(a) = dm + V (a - m0) with

    dm = m1 - m0,   V = T - I,   T = bures_transport_map(S0, S1);   |v|^2_{L2(pi0)} = W2^2.
    """
    S0 = jnp.asarray(S0)
    T = bures_transport_map(S0, S1)
    return jnp.asarray(m1) - jnp.asarray(m0), T - jnp.eye(S0.shape[-1], dtype=S0.dtype)

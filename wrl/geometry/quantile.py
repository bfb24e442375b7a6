"""One-dimensional 2-Wasserstein geometry through quantile functions.

On the real line the monotone rearrangement is optimal for every convex cost, so

    W2^2(mu, nu) = int_0^1 |F_mu^{-1}(u) - F_nu^{-1}(u)|^2 du,

i.e. P2(R) is isometric to the convex cone of quantile functions in L2(0, 1): it is flat, and geodesics
interpolate quantile functions linearly. A measure is represented here by its quantile function at the
midpoint levels u_k = (k + 1/2) / M (the last axis of an array); every function accepts leading batch axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import ndtri
from jax.typing import ArrayLike

__all__ = [
    "empirical_quantiles",
    "gaussian_quantiles",
    "quantile_geodesic",
    "quantile_levels",
    "w2_1d_samples_sq",
    "w2_quantile_sq",
]


def quantile_levels(n: int, dtype: jnp.dtype | None = None) -> Array:
    """Midpoint levels u_k = (k + 1/2) / n, k = 0..n-1 (the midpoint rule for int_0^1 du)."""
    return (jnp.arange(n, dtype=dtype) + 0.5) / n


def gaussian_quantiles(mean: ArrayLike, std: ArrayLike, levels: ArrayLike) -> Array:
    """Quantile function of N(mean, std^2): mean + std * Phi^{-1}(u), levels on a new last axis."""
    mean = jnp.asarray(mean)
    std = jnp.asarray(std)
    return mean[..., None] + std[..., None] * ndtri(jnp.asarray(levels))


def w2_quantile_sq(q1: ArrayLike, q2: ArrayLike, weights: ArrayLike | None = None) -> Array:
    """W2^2 between two 1-D measures given by their quantile functions on the same levels (last axis).

    W2^2 = int_0^1 (F1^{-1}(u) - F2^{-1}(u))^2 du ~= sum_k w_k (q1_k - q2_k)^2,
    with w_k = 1/M for the midpoint levels (default) or the given quadrature weights (summing to 1).
    The quantile values must be sorted along the last axis.
    """
    d = jnp.asarray(q1) - jnp.asarray(q2)
    if weights is None:
        return jnp.mean(d * d, axis=-1)
    return jnp.sum(jnp.asarray(weights) * d * d, axis=-1)


def empirical_quantiles(samples: ArrayLike, levels: ArrayLike) -> Array:
    """Quantile function of the empirical measure of the samples (last axis), evaluated at the levels.

    F^{-1}(u) = x_(ceil(n u)) (order statistics, 1-based), i.e. x_sorted[floor(n u)] for u not on a jump.
    """
    x = jnp.sort(jnp.asarray(samples), axis=-1)
    n = x.shape[-1]
    idx = jnp.clip(jnp.floor(jnp.asarray(levels) * n).astype(jnp.int32), 0, n - 1)
    return jnp.take(x, idx, axis=-1)


@jax.jit
def w2_1d_samples_sq(x: ArrayLike, y: ArrayLike) -> Array:
    """Exact W2^2 between the uniform empirical measures of two 1-D sample sets (last axis, sizes n and m).

    W2^2 = int_0^1 (F_x^{-1}(u) - F_y^{-1}(u))^2 du, evaluated exactly: both quantile functions are
    piecewise constant with jumps at i/n and j/m, so the integral is the sum over the merged breakpoints
    0 = u_0 < u_1 < ... < u_{n+m} = 1 of (u_{l+1} - u_l) (x_(i_l) - y_(j_l))^2.
    """
    x = jnp.sort(jnp.asarray(x), axis=-1)
    y = jnp.sort(jnp.asarray(y), axis=-1)
    n, m = x.shape[-1], y.shape[-1]
    dtype = jnp.result_type(x.dtype, y.dtype)
    breaks = jnp.sort(
        jnp.concatenate([jnp.arange(1, n + 1, dtype=dtype) / n, jnp.arange(1, m + 1, dtype=dtype) / m])
    )
    lower = jnp.concatenate([jnp.zeros((1,), dtype), breaks[:-1]])
    du = breaks - lower
    mid = 0.5 * (breaks + lower)
    ix = jnp.clip(jnp.floor(mid * n).astype(jnp.int32), 0, n - 1)
    iy = jnp.clip(jnp.floor(mid * m).astype(jnp.int32), 0, m - 1)
    d = jnp.take(x, ix, axis=-1) - jnp.take(y, iy, axis=-1)
    return jnp.sum(du * d * d, axis=-1)


def quantile_geodesic(q0: ArrayLike, q1: ArrayLike, t: ArrayLike) -> Array:
    """W2 geodesic between 1-D measures: F_t^{-1} = (1 - t) F_0^{-1} + t F_1^{-1} (constant speed)."""
    t = jnp.asarray(t)
    return (1.0 - t) * jnp.asarray(q0) + t * jnp.asarray(q1)

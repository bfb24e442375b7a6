"""Sample-based entropy of an implicit policy: the plug-in Gaussian-mixture (kernel density) estimator.

An implicit policy a = g_theta(s, z) has no density, so WPPG's critic target estimates its entropy from
samples. With M centres mu_j (e.g. g(s, z_j)), L further samples y_l and xi_l ~ N(0, I),

    H_hat(s) = -(1/L) sum_l log (1/M) sum_j N(a_l; mu_j, sigma^2 I),   a_l = y_l + sigma xi_l,

which estimates H(pi * N(0, sigma^2 I)), the entropy of the policy convolved with the kernel: the a_l are
exact samples of pi * N(0, sigma^2 I) and the inner mean is its density estimate. The estimator is
consistent as M, L -> infinity; with independent centres and points its leading bias is

    E H_hat - H(pi * N(0, sigma^2 I)) = (1 / 2M) (E_a[ E_mu N(a; mu, sigma^2 I)^2 / p(a)^2 ] - 1) + O(1/M^2)

(Jensen on the log of the density estimate), which for pi = N(m, C) is (det(I + C / sigma^2) - 1) / (2M)
(:func:`gaussian_mixture_entropy_bias`). Closed form for comparison: :func:`gaussian_entropy`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["gaussian_entropy", "gaussian_mixture_entropy_bias", "mixture_entropy"]

PRNGKey = jax.Array


@jax.jit
def mixture_entropy(key: PRNGKey, centres: ArrayLike, points: ArrayLike, sigma: float | Array) -> Array:
    """Plug-in Gaussian-mixture entropy estimate, per batch element:

        H_hat = -(1/L) sum_l [ logsumexp_j( -|a_l - mu_j|^2 / (2 sigma^2) ) - log M - (D/2) log(2 pi sigma^2) ],
        a_l = y_l + sigma xi_l,   xi_l ~ N(0, I) drawn from ``key``,

    i.e. -(1/L) sum_l log (1/M) sum_j N(a_l; mu_j, sigma^2 I), an estimate of H(pi * N(0, sigma^2 I)).

    centres: (M, *batch, D) samples mu_j; points: (L, *batch, D) samples y_l (independent of the centres
    for an estimate whose bias is O(1/M)); sigma > 0 the kernel width. Returns (*batch,). The pairwise
    (M, L, *batch) log-kernel matrix is formed in memory and reduced with a stable logsumexp.
    """
    centres = jnp.asarray(centres)
    points = jnp.asarray(points)
    dtype = jnp.result_type(centres, points)
    sigma = jnp.asarray(sigma, dtype)
    num_centres, dim = centres.shape[0], centres.shape[-1]
    xi = jax.random.normal(key, points.shape, dtype)
    a = points + sigma * xi
    sq = jnp.sum(jnp.square(a[None] - centres[:, None]), axis=-1)  # (M, L, *batch)
    log_kernel_mean = jax.nn.logsumexp(-sq / (2.0 * sigma**2), axis=0) - math.log(num_centres)
    log_density = log_kernel_mean - 0.5 * dim * jnp.log(2.0 * math.pi * sigma**2)  # (L, *batch)
    return -jnp.mean(log_density, axis=0)


@jax.jit
def gaussian_entropy(cov: ArrayLike) -> Array:
    """Differential entropy of N(m, C): H = (1/2) log det(2 pi e C) = (D/2) log(2 pi e) + (1/2) log det C.

    cov: (*batch, D, D) symmetric positive definite; returns (*batch,). For the kernel-smoothed entropy that
    :func:`mixture_entropy` estimates, pass C + sigma^2 I.
    """
    cov = jnp.asarray(cov)
    dim = cov.shape[-1]
    _, logdet = jnp.linalg.slogdet(cov)
    return 0.5 * dim * math.log(2.0 * math.pi * math.e) + 0.5 * logdet


@jax.jit
def gaussian_mixture_entropy_bias(cov: ArrayLike, sigma: float | Array, num_centres: int | Array) -> Array:
    """Leading-order bias of :func:`mixture_entropy` for pi = N(m, C) and independent centres and points:

        E H_hat - H(N(m, C + sigma^2 I)) = (det(I + C / sigma^2) - 1) / (2 M) + O(1 / M^2).

    From E log p_hat(a) = log p(a) - Var p_hat(a) / (2 p(a)^2) + ..., Var p_hat(a) = (E N^2 - p^2) / M and the
    Gaussian integral E_a[E_mu N(a; mu, sigma^2 I)^2 / p(a)^2] = det(I + C / sigma^2). Returns (*batch,).
    """
    cov = jnp.asarray(cov)
    sigma = jnp.asarray(sigma, cov.dtype)
    eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
    return (jnp.linalg.det(eye + cov / sigma**2) - 1.0) / (2.0 * num_centres)

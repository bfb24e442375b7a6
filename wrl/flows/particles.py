"""Particle velocities of the Wasserstein gradient flow of KL(q || p) (Zhang, Chen, Li, Carin, ICML 2018).

The flow of KL(q || p) moves each particle with v(x) = grad log p(x) - grad log q(x). The target's score
grad log p is known (grad_a Q / alpha for actions, grad J / alpha + grad log prior for policy parameters);
the particles' own density q is not, and each estimator below replaces -grad log q(x_i) by a kernel
estimate from the M particles x_i (RBF kernel K_ij, bandwidth h, d_i = sum_k K_ik;
:mod:`wrl.geometry.kernels`):

- GFSD, smoothed density (the score of the kernel density estimate):
      -grad log q(x_i) ~ (1/h) (x_i - sum_j K_ij x_j / d_i)
- Blob (the gradient of the energy of the kernel-smoothed density, symmetrised):
      -grad log q(x_i) ~ (1/h) sum_j K_ij (1/d_i + 1/d_j) (x_i - x_j)
- GFSF, smoothed functions (Stein's identity on the span of the kernel functions):
      grad log q ~ U = -(K + lambda I)^-1 G,  G_i = sum_j grad_{x_j} k(x_i, x_j),  so -grad log q(x_i) ~ -U_i
- SVGD (Liu and Wang, 2016), the comparator, smooths the whole velocity:
      phi_i = (1/M) sum_j [ K_ij grad log p(x_j) + grad_{x_j} k(x_j, x_i) ].

:func:`particle_velocity` gives every method through one interface over a batch of particle sets.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from wrl.errors import ConfigError
from wrl.geometry.kernels import median_bandwidth, rbf_kernel

Array = jax.Array
Method = Literal["svgd", "blob", "gfsd", "gfsf"]
METHODS = ("svgd", "blob", "gfsd", "gfsf")


def gfsd_repulsion(x: Array, h: Array) -> Array:
    """GFSD: -grad log q(x_i) ~ (1/h) (x_i - sum_j K_ij x_j / d_i), particles (M, D) -> (M, D)."""
    k = rbf_kernel(x, h)
    return (x - (k @ x) / jnp.sum(k, axis=1, keepdims=True)) / h


def blob_repulsion(x: Array, h: Array) -> Array:
    """Blob: -grad log q(x_i) ~ (1/h) sum_j K_ij (1/d_i + 1/d_j) (x_i - x_j), particles (M, D) -> (M, D)."""
    k = rbf_kernel(x, h)
    inv_d = 1.0 / jnp.sum(k, axis=1)
    w = k * (inv_d[:, None] + inv_d[None, :])  # (M, M)
    return (jnp.sum(w, axis=1, keepdims=True) * x - w @ x) / h


def gfsf_repulsion(x: Array, h: Array, lam: float) -> Array:
    """GFSF: -grad log q(x_i) ~ -U_i with U = -(K + lambda I)^-1 G, G_i = sum_j K_ij (x_i - x_j) / h."""
    k = rbf_kernel(x, h)
    g = (jnp.sum(k, axis=1, keepdims=True) * x - k @ x) / h  # G_i = sum_j grad_{x_j} k(x_i, x_j)
    u = -jnp.linalg.solve(k + lam * jnp.eye(x.shape[0], dtype=x.dtype), g)
    return -u


def svgd_direction(x: Array, score: Array, h: Array) -> Array:
    """SVGD: phi_i = (1/M) sum_j [K_ij grad log p(x_j) + K_ij (x_i - x_j) / h], particles and scores (M, D)."""
    k = rbf_kernel(x, h)
    repulsive = (jnp.sum(k, axis=1, keepdims=True) * x - k @ x) / h  # sum_j grad_{x_j} k(x_j, x_i)
    return (k @ score + repulsive) / x.shape[0]


def particle_velocity(particles: Array, score: Array, method: Method = "blob", bandwidth: float | None = None,
                      lam: float = 0.1) -> Array:
    """The velocity of every particle under ``method``, for a batch of particle sets.

    particles, score: (..., M, D), ``score`` = grad log p at the particles. Returns (..., M, D):
    grad log p + (estimate of -grad log q) for 'blob', 'gfsd', 'gfsf'; the SVGD direction for 'svgd'.
    ``bandwidth`` None uses the median heuristic per particle set; ``lam`` is GFSF's ridge lambda in
    (K + lambda I)^-1 G (default 0.1: conditioning, at the price of a bias of the estimate towards zero).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown particle method {method!r}; choose one of {', '.join(METHODS)}")

    def one(x: Array, s: Array) -> Array:
        h = median_bandwidth(x) if bandwidth is None else jnp.asarray(bandwidth, x.dtype)
        if method == "svgd":
            return svgd_direction(x, s, h)
        if method == "gfsd":
            return s + gfsd_repulsion(x, h)
        if method == "blob":
            return s + blob_repulsion(x, h)
        return s + gfsf_repulsion(x, h, lam)

    fn = one
    for _ in range(particles.ndim - 2):
        fn = jax.vmap(fn)
    return fn(particles, score)

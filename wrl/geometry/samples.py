"""Wasserstein distances between sample sets.

Entropic optimal transport goes through ott-jax (jit/vmap friendly); the exact discrete W2 of two
equal-size uniform sample sets is an assignment problem (scipy's linear_sum_assignment, host only);
the Gelbrich bound compares moment-matched Gaussians in closed form. Inputs are (n, d) point clouds.
ott-jax is imported on first use (it takes seconds to import); it is optional: ``pip install -e '.[ot]'``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from wrl.geometry.gaussian import w2_gaussian_sq
from wrl.optional import require

__all__ = ["gelbrich_bound_sq", "sinkhorn_divergence_sq", "sinkhorn_w2_sq", "w2_assignment_sq"]


def _as_cloud(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    return x[:, None] if x.ndim == 1 else x


@partial(jax.jit, static_argnames=("epsilon", "max_iterations", "threshold"))
def sinkhorn_w2_sq(
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    epsilon: float = 1e-2,
    max_iterations: int = 2000,
    threshold: float = 1e-4,
) -> Array:
    """Transport cost of the entropic optimal plan between two weighted point clouds (ott-jax Sinkhorn).

    P_eps = argmin_{P in U(a, b)} <P, C> - eps H(P),  C_ij = |x_i - y_j|^2;  returns <P_eps, C> >= W2^2,
    which tends to W2^2 as eps -> 0 (eps is absolute, in squared action units). Uniform weights by default.
    """
    pointcloud = require("ott.geometry.pointcloud", "sinkhorn_w2_sq")
    linear = require("ott.solvers.linear", "sinkhorn_w2_sq")

    geom = pointcloud.PointCloud(_as_cloud(x), _as_cloud(y), epsilon=epsilon)
    out = linear.solve(
        geom,
        a=None if a is None else jnp.asarray(a),
        b=None if b is None else jnp.asarray(b),
        max_iterations=max_iterations,
        threshold=threshold,
    )
    return out.primal_cost


@partial(jax.jit, static_argnames=("epsilon",))
def sinkhorn_divergence_sq(
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    epsilon: float = 1e-2,
) -> Array:
    """Debiased Sinkhorn divergence between two point clouds (ott-jax), an estimate of W2^2.

    S_eps(mu, nu) = OT_eps(mu, nu) - (OT_eps(mu, mu) + OT_eps(nu, nu)) / 2,  with OT_eps the regularised
    optimal value for the squared Euclidean cost; S_eps = 0 iff mu = nu, and S_eps -> W2^2 as eps -> 0.
    """
    pointcloud = require("ott.geometry.pointcloud", "sinkhorn_divergence_sq")
    _sdiv = require("ott.tools.sinkhorn_divergence", "sinkhorn_divergence_sq")

    div, _ = _sdiv.sinkhorn_divergence(
        pointcloud.PointCloud,
        _as_cloud(x),
        _as_cloud(y),
        a=None if a is None else jnp.asarray(a),
        b=None if b is None else jnp.asarray(b),
        epsilon=epsilon,
    )
    return div


def w2_assignment_sq(x: ArrayLike, y: ArrayLike) -> float:
    """Exact W2^2 between the uniform empirical measures of two equal-size point clouds (host, scipy).

    W2^2 = min_sigma (1/n) sum_i |x_i - y_sigma(i)|^2 over permutations sigma (Birkhoff: a permutation
    is optimal among all couplings of two uniform n-point measures); solved by linear_sum_assignment.
    """
    from scipy.optimize import linear_sum_assignment

    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    xs = xs[:, None] if xs.ndim == 1 else xs
    ys = ys[:, None] if ys.ndim == 1 else ys
    if xs.shape != ys.shape:
        raise ValueError(f"w2_assignment_sq needs equal-size clouds, got {xs.shape} and {ys.shape}")
    C = np.sum((xs[:, None, :] - ys[None, :, :]) ** 2, axis=-1)
    rows, cols = linear_sum_assignment(C)
    return float(C[rows, cols].mean())


def gelbrich_bound_sq(x: ArrayLike, y: ArrayLike) -> Array:
    """Gelbrich lower bound: W2^2 between the Gaussians with the clouds' means and covariances.

    W2^2(mu, nu) >= |m_mu - m_nu|^2 + B^2(S_mu, S_nu)  (equality when both are Gaussian).
    """
    x = _as_cloud(x)
    y = _as_cloud(y)
    mx, my = jnp.mean(x, axis=0), jnp.mean(y, axis=0)
    Sx = (x - mx).T @ (x - mx) / x.shape[0]
    Sy = (y - my).T @ (y - my) / y.shape[0]
    return w2_gaussian_sq(mx, Sx, my, Sy)

"""Tanh-squashed diagonal Gaussian (SAC's policy).

a = tanh(u), u ~ N(mu, sigma^2). By the change of variables,

    log pi(a|s) = sum_j [ log N(u_j; mu_j, sigma_j) - log(1 - tanh(u_j)^2) ],

with the stable identity log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def squash_log_std(raw: jax.Array) -> jax.Array:
    """Map an unbounded network output smoothly into [LOG_STD_MIN, LOG_STD_MAX]."""
    return LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)


def log_det_tanh_jacobian(u: jax.Array) -> jax.Array:
    """sum_j log(1 - tanh(u_j)^2), computed without cancellation."""
    return jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def gaussian_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """sum_j log N(u_j; mean_j, exp(log_std_j)^2)."""
    z = (u - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2.0 * math.pi), axis=-1)


def tanh_gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised sample a = tanh(mean + std * eps) and its log-density log pi(a|s)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), gaussian_log_prob(u, mean, log_std) - log_det_tanh_jacobian(u)


def tanh_gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array,
                           eps: float = 1e-6) -> jax.Array:
    """log pi(a|s) of a given squashed action (u = atanh(a), clipped away from +-1 by ``eps``)."""
    u = jnp.arctanh(jnp.clip(action, -1.0 + eps, 1.0 - eps))
    return gaussian_log_prob(u, mean, log_std) - log_det_tanh_jacobian(u)

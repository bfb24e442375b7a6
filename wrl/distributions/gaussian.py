"""Diagonal Gaussian policy distribution N(mean, diag(std^2)) as a plain pytree plus pure functions.

Parameterisation used by policy heads: the mean is unbounded; the standard deviation comes from an
unconstrained ``raw`` output through a rescaled softplus with a floor,

    std = min_std + (init_std - min_std) * softplus(raw) / softplus(0),

so that ``raw = 0`` (a zero-initialised last layer) gives exactly ``init_std`` and ``std > min_std``
always. The event axis is the last axis; every other axis is a batch axis.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from wrl.distributions.base import LOG_SQRT_2PI, normal_log_density, register_family, softplus_inverse

Array = jax.Array

_SOFTPLUS_0 = math.log(2.0)


class DiagGaussian(NamedTuple):
    """N(mean, diag(std^2)) over the last axis; ``mean`` and ``std`` have the same shape ``(*batch, D)``."""

    mean: Array
    std: Array


def std_from_raw(raw: Array, init_std: float = 1.0, min_std: float = 1e-6) -> Array:
    """std = min_std + (init_std - min_std) * softplus(raw) / softplus(0); raw = 0 gives init_std."""
    if isinstance(init_std, int | float) and isinstance(min_std, int | float) and not init_std > min_std >= 0:
        raise ValueError(f"need init_std > min_std >= 0, got init_std={init_std}, min_std={min_std}")
    return min_std + (init_std - min_std) / _SOFTPLUS_0 * jax.nn.softplus(raw)


def raw_from_std(std: Array, init_std: float = 1.0, min_std: float = 1e-6) -> Array:
    """Inverse of :func:`std_from_raw` (for std > min_std)."""
    return softplus_inverse((jnp.asarray(std) - min_std) * _SOFTPLUS_0 / (init_std - min_std))


def diag_gaussian(mean: Array, raw_std: Array, init_std: float = 1.0, min_std: float = 1e-6) -> DiagGaussian:
    """The :class:`DiagGaussian` of a policy head's outputs: unbounded mean, raw std (module docstring)."""
    return DiagGaussian(mean=mean, std=std_from_raw(raw_std, init_std, min_std))


def log_prob(dist: DiagGaussian, a: Array) -> Array:
    """log pi(a) = sum_d log N(a_d; mean_d, std_d^2); leading sample axes of ``a`` broadcast over batch."""
    return jnp.sum(normal_log_density(a, dist.mean, dist.std), axis=-1)


def sample(key: jax.Array, dist: DiagGaussian, sample_shape: tuple[int, ...] = ()) -> Array:
    """a = mean + std * eps, eps ~ N(0, I); shape ``sample_shape + mean.shape`` (reparameterised)."""
    shape = tuple(sample_shape) + jnp.shape(dist.mean)
    eps = jax.random.normal(key, shape, dtype=jnp.result_type(dist.mean))
    return dist.mean + dist.std * eps


def entropy(dist: DiagGaussian) -> Array:
    """H = sum_d (log std_d + 1/2 + log sqrt(2 pi))."""
    return jnp.sum(jnp.log(dist.std) + 0.5 + LOG_SQRT_2PI, axis=-1)


def kl_divergence_per_dim(p: DiagGaussian, q: DiagGaussian) -> Array:
    """Per-dimension KL(p || q) = log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2.

    Shape (*batch, D).
    """
    var_ratio = jnp.square(p.std / q.std)
    mean_term = jnp.square((p.mean - q.mean) / q.std)
    return 0.5 * (var_ratio + mean_term - 1.0) - jnp.log(p.std / q.std)


def kl_divergence(p: DiagGaussian, q: DiagGaussian) -> Array:
    """KL(p || q) for diagonal Gaussians: the sum over the last axis of :func:`kl_divergence_per_dim`."""
    return jnp.sum(kl_divergence_per_dim(p, q), axis=-1)


def mode(dist: DiagGaussian) -> Array:
    """The most likely action, the mean (used for deterministic evaluation)."""
    return dist.mean


register_family(DiagGaussian, log_prob=log_prob, sample=sample, entropy=entropy)

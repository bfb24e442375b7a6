"""Running mean and variance of a stream of vectors (observation normalisation of on-policy learners).

The moments are merged batch by batch with the parallel form of Welford's update (Chan, Golub, LeVeque,
1979): for the stored (mean m_a, variance v_a, count n_a) and a batch (m_b, v_b, n_b), with
delta = m_b - m_a and n = n_a + n_b,

    m = m_a + delta n_b / n,
    v = (v_a n_a + v_b n_b + delta^2 n_a n_b / n) / n,

which equals the mean and (population) variance of all the vectors seen so far, in any batch order.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Moments:
    mean: jax.Array  # (..., D)
    var: jax.Array  # (..., D) population variance
    count: jax.Array  # (...) number of vectors merged (float, so that large counts stay exact enough)


def moments_init(dim: int, dtype: jnp.dtype = jnp.float32) -> Moments:
    """No vectors seen: mean 0, variance 1, count 0 (normalising with these is the identity)."""
    return Moments(jnp.zeros((dim,), dtype), jnp.ones((dim,), dtype), jnp.zeros((), dtype))


def moments_update(m: Moments, x: jax.Array) -> Moments:
    """Merge the vectors ``x`` (..., D) (every leading axis is a sample axis) into ``m`` (Chan et al.'s rule)."""
    x = x.reshape(-1, x.shape[-1]).astype(m.mean.dtype)
    n_b = jnp.asarray(x.shape[0], m.count.dtype)
    mean_b, var_b = jnp.mean(x, axis=0), jnp.var(x, axis=0)
    n = m.count + n_b
    delta = mean_b - m.mean
    mean = m.mean + delta * n_b / n
    var = (m.var * m.count + var_b * n_b + delta**2 * m.count * n_b / n) / n
    return Moments(mean, var, n)


def normalize(m: Moments, x: jax.Array, clip: float = 10.0, eps: float = 1e-8) -> jax.Array:
    """(x - mean) / sqrt(var + eps), clipped to [-clip, clip]."""
    return jnp.clip((x - m.mean) / jnp.sqrt(m.var + eps), -clip, clip)

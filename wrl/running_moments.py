"""Running mean and variance of a stream of vectors (observation normalisation), and the running scale of
the discounted return (reward normalisation).

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


@flax.struct.dataclass
class ReturnStats:
    """What reward normalisation tracks: per environment the running discounted return G, the moments of
    every G seen, and the largest |G| seen."""

    ret: jax.Array  # (num_envs,) running discounted return G_t of each environment
    moments: Moments  # of the scalars G_t (D = 1)
    max_abs: jax.Array  # () max over t and envs of |G_t|


def return_stats_init(num_envs: int, dtype: jnp.dtype = jnp.float32) -> ReturnStats:
    """Nothing seen: G = 0, variance 1, max |G| = 0 (the scale of :func:`reward_scale` is then 1)."""
    return ReturnStats(jnp.zeros((num_envs,), dtype), moments_init(1, dtype), jnp.zeros((), dtype))


def return_stats_update(s: ReturnStats, reward: jax.Array, done: jax.Array, gamma: float) -> ReturnStats:
    """One step of every environment: G_t = gamma (1 - done_{t-1}) G_{t-1} + r_t, then G_t enters the moments
    and the maximum. ``reward``, ``done`` (terminated or truncated): (num_envs,).

    G_t is the discounted sum of the rewards of the current episode up to t: the step that ends an episode
    restarts G at the next step. (SimbaV2 and Gymnasium's ``NormalizeReward`` multiply by 1 - done_t of the
    step itself, which carries the last reward of an episode into the next one.)
    """
    ret = gamma * s.ret + reward.astype(s.ret.dtype)
    moments = moments_update(s.moments, ret[:, None])
    max_abs = jnp.maximum(s.max_abs, jnp.max(jnp.abs(ret)))
    return ReturnStats(jnp.where(done, 0.0, ret).astype(s.ret.dtype), moments, max_abs)


def reward_scale(s: ReturnStats, g_max: float, eps: float = 1e-8) -> jax.Array:
    """The divisor of every reward (SimbaV2, Lee et al. 2025):

        c = max( sqrt(var(G) + eps),  max_t |G_t| / g_max ),

    the standard deviation of the running discounted return, but never so small that the largest return seen
    would exceed ``g_max`` once scaled (r / c keeps |G| / c <= g_max). Before anything is seen, c = 1.
    """
    return jnp.maximum(jnp.sqrt(s.moments.var[0] + eps), s.max_abs / g_max)

"""Device-resident ring buffer with n-step returns, sampled inside the compiled update.

Rows are written ``num_envs`` at a time, so the next step of the environment that wrote row i is row
i + num_envs (mod capacity). Sampling row i builds the n-step transition

    R = sum_{k<m} gamma^k r_{i+k},   discount = gamma^m (1 - terminated_{i+m-1}),   s' = next_obs_{i+m-1}

where m <= n stops at the first step that ended the episode (terminated or truncated) and at the newest
row written by that environment. A truncated end bootstraps from its true final observation; a terminated
end does not bootstrap.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class ReplayState(NamedTuple):
    obs: jax.Array  # (capacity, obs_dim) float32
    action: jax.Array  # (capacity, act_dim) float32
    reward: jax.Array  # (capacity,) float32
    next_obs: jax.Array  # (capacity, obs_dim) float32
    terminated: jax.Array  # (capacity,) bool
    ended: jax.Array  # (capacity,) bool: terminated or truncated
    ptr: jax.Array  # () int32: next row to write
    size: jax.Array  # () int32: rows holding data


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array  # n-step discounted reward sum
    discount: jax.Array  # gamma^m (1 - terminated): multiplies the bootstrap value
    next_obs: jax.Array


def replay_init(capacity: int, obs_dim: int, act_dim: int, num_envs: int = 1) -> ReplayState:
    """An empty buffer; capacity is rounded down to a multiple of ``num_envs``."""
    capacity = max(num_envs, capacity - capacity % num_envs)
    f32 = jnp.float32
    return ReplayState(
        obs=jnp.zeros((capacity, obs_dim), f32), action=jnp.zeros((capacity, act_dim), f32),
        reward=jnp.zeros((capacity,), f32), next_obs=jnp.zeros((capacity, obs_dim), f32),
        terminated=jnp.zeros((capacity,), bool), ended=jnp.zeros((capacity,), bool),
        ptr=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def replay_add(rb: ReplayState, obs, action, reward, next_obs, terminated, truncated) -> ReplayState:
    """Write one row per environment (leading axis ``num_envs``) at the write pointer."""
    n = obs.shape[0]
    cap = rb.obs.shape[0]
    def put(buf, x):
        return jax.lax.dynamic_update_slice_in_dim(buf, x.astype(buf.dtype), rb.ptr, axis=0)

    return ReplayState(
        obs=put(rb.obs, obs), action=put(rb.action, action), reward=put(rb.reward, reward),
        next_obs=put(rb.next_obs, next_obs), terminated=put(rb.terminated, terminated),
        ended=put(rb.ended, jnp.logical_or(terminated, truncated)),
        ptr=(rb.ptr + n) % cap, size=jnp.minimum(rb.size + n, cap))


def replay_sample(rb: ReplayState, key: jax.Array, batch_size: int, n_step: int, gamma: float,
                  num_envs: int = 1, reward_offset: jax.Array | float = 0.0,
                  reward_scale: jax.Array | None = None) -> Batch:
    """Sample ``batch_size`` n-step transitions uniformly from the filled rows.

    ``reward_offset`` rho is subtracted from every reward, R = sum_{k<m} gamma^k (r_{i+k} - rho): with
    gamma = 1 and rho the average reward this is the differential (average-reward) return. ``reward_scale``
    s (reward normalisation) multiplies every term before the sum, R = sum_{k<m} gamma^k s (r_{i+k} - rho);
    None leaves the rewards as stored.
    """
    cap = rb.obs.shape[0]
    i = jax.random.randint(key, (batch_size,), 0, jnp.maximum(rb.size, 1))
    k = jnp.arange(n_step)
    rows = (i[:, None] + k[None, :] * num_envs) % cap  # (B, n)
    # Rows written after row i by the same env: newest row of that env is at distance `ahead` steps.
    ahead = ((rb.ptr - num_envs - (i - i % num_envs)) % cap) // num_envs
    available = k[None, :] <= ahead[:, None]
    ended = rb.ended[rows]
    not_ended_before = jnp.concatenate(
        [jnp.ones((batch_size, 1), bool), jnp.cumprod(~ended[:, :-1], axis=1).astype(bool)], axis=1)
    use = available & not_ended_before  # a prefix of length m >= 1
    m = use.sum(axis=1)
    powers = gamma ** k.astype(jnp.float32)
    terms = rb.reward[rows] - reward_offset
    if reward_scale is not None:
        terms = terms * reward_scale
    reward = jnp.sum(jnp.where(use, terms * powers, 0.0), axis=1)
    last = jnp.take_along_axis(rows, (m - 1)[:, None], axis=1)[:, 0]
    discount = (gamma ** m.astype(jnp.float32)) * (1.0 - rb.terminated[last].astype(jnp.float32))
    return Batch(obs=rb.obs[i], action=rb.action[i], reward=reward, discount=discount,
                 next_obs=rb.next_obs[last])


class Rollout(NamedTuple):
    """The last T steps of every environment, in time order: arrays (T, num_envs, ...)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array  # the true next observation (the final one at an episode's end)
    discount: jax.Array  # gamma (1 - terminated): multiplies the value of next_obs
    trace: jax.Array  # gamma (1 - ended), ended = terminated or truncated: how far a return may reach back


def replay_recent(rb: ReplayState, steps: int, num_envs: int, gamma: float) -> Rollout:
    """The newest ``steps`` rows of every environment as a :class:`Rollout` (on-policy learners).

    Rows are written ``num_envs`` at a time, so the newest ``steps * num_envs`` rows, reshaped to
    (steps, num_envs), are each environment's last ``steps`` transitions in order (the capacity must hold them).
    """
    cap = rb.obs.shape[0]
    rows = ((rb.ptr - steps * num_envs + jnp.arange(steps * num_envs)) % cap).reshape(steps, num_envs)
    discount = gamma * (1.0 - rb.terminated[rows].astype(jnp.float32))
    trace = gamma * (1.0 - rb.ended[rows].astype(jnp.float32))
    return Rollout(obs=rb.obs[rows], action=rb.action[rows], reward=rb.reward[rows], next_obs=rb.next_obs[rows],
                   discount=discount, trace=trace)

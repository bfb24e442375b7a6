"""The compiled training step: store a transition and run the updates; choose the next action.

The whole training state is one pytree (:class:`TrainState`), so it can be donated to the compiled call
(the replay buffer is updated in place), vmapped over seeds, and saved as arrays.

Normalisation (``normalize_obs``, ``normalize_reward``): the replay stores raw observations and rewards; the
step merges every collected transition into running statistics kept in the state (no host round trip), and
the agent sees observations normalised with the current statistics, when acting and in every sampled batch
(``obs`` and ``next_obs``), and rewards divided by the current return scale before their n-step sums
(:func:`wrl.running_moments.reward_scale`). Disabled, the statistics are None: no leaf, no work, the state
and its checkpoints as without them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from wrl.agents import make_agent
from wrl.agents.base import Agent
from wrl.replay import ReplayState, Rollout, replay_add, replay_init, replay_recent, replay_sample
from wrl.running_moments import (
    Moments,
    ReturnStats,
    moments_init,
    moments_update,
    normalize,
    return_stats_init,
    return_stats_update,
    reward_scale,
)
from wrl.training.config import TrainConfig


class TrainState(NamedTuple):
    agent: Any
    replay: ReplayState
    key: jax.Array
    env_steps: jax.Array  # () int32: environment frames taken (all envs; num_envs * action_repeat per step)
    updates: jax.Array  # () int32: gradient updates done
    avg_reward: jax.Array  # () float32: running average reward rho (average-reward objective)
    metric_sums: dict[str, jax.Array]  # per metric: sum of every update's value since the last metric row
    metric_counts: dict[str, jax.Array]  # per metric: how many updates reported a value (NaN = not reported)
    obs_moments: Moments | None = None  # running moments of the observations acted from (normalize_obs)
    return_stats: ReturnStats | None = None  # running discounted return and its moments (normalize_reward)


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array


def init_train_state(agent: Agent, cfg: TrainConfig, obs_dim: int, act_dim: int) -> TrainState:
    """The initial training state of seed ``cfg.seed``, built by one compiled call (compiled once per agent and
    configuration: the seeds of a group share it)."""
    ts = _state_builder(agent, dataclasses.replace(cfg, seed=0), obs_dim, act_dim)(jnp.uint32(cfg.seed))
    return _own_buffers(ts)


def _own_buffers(tree: Any) -> Any:
    """Every leaf its own buffer (targets start equal to the online parameters): the state is donated."""
    seen: set[int] = set()

    def own_buffer(x: jax.Array) -> jax.Array:
        if id(x) in seen:
            return jnp.array(x, copy=True)
        seen.add(id(x))
        return x

    return jax.tree.map(own_buffer, tree)


@functools.lru_cache(maxsize=16)
def _state_builder(agent: Agent, cfg: TrainConfig, obs_dim: int, act_dim: int) -> Callable:
    def build(seed: jax.Array) -> TrainState:
        key, k_agent = jax.random.split(jax.random.key(seed))
        agent_state = agent.init(k_agent)
        replay = replay_init(cfg.buffer_size, obs_dim, act_dim, cfg.num_envs)
        avg_reward = jnp.zeros((), jnp.float32)
        obs_moments = moments_init(obs_dim) if cfg.normalize_obs else None
        return_stats = return_stats_init(cfg.num_envs) if cfg.normalize_reward else None
        shapes = jax.eval_shape(lambda: _window_metrics(agent, cfg, agent_state, replay, key, avg_reward,
                                                        obs_moments, return_stats))
        return TrainState(agent_state, replay, jax.random.key_data(key), jnp.zeros((), jnp.int32),
                          jnp.zeros((), jnp.int32), avg_reward,
                          {k: jnp.zeros((), jnp.float32) for k in shapes},
                          {k: jnp.zeros((), jnp.int32) for k in shapes}, obs_moments, return_stats)

    return jax.jit(build)


def _window_metrics(agent: Agent, cfg: TrainConfig, agent_state, replay, key, avg_reward, obs_moments,
                    return_stats) -> dict[str, jax.Array]:
    """The names of the metrics a learn step accumulates (only their structure is used)."""
    _, sums, _ = run_updates(agent, cfg, agent_state, replay, key, 1, avg_reward, obs_moments, return_stats)
    return {**sums, **_step_metrics(cfg, avg_reward, return_stats)}


def _step_metrics(cfg: TrainConfig, avg_reward: jax.Array, return_stats: ReturnStats | None) -> dict[str, jax.Array]:
    """Metrics of the running statistics, one value per step: the average reward (average objective) and the
    reward scale (reward normalisation)."""
    metrics = {}
    if cfg.objective == "average":
        metrics["charts/avg_reward"] = avg_reward
    if return_stats is not None:
        metrics["charts/reward_scale"] = reward_scale(return_stats, cfg.reward_norm_g_max)
    return metrics


def seen_obs(obs_moments: Moments | None, obs: jax.Array) -> jax.Array:
    """The observations as the agent sees them: normalised by ``obs_moments``, or as they are (None)."""
    return obs if obs_moments is None else normalize(obs_moments, obs)


def _reward_multiplier(cfg: TrainConfig, return_stats: ReturnStats | None) -> jax.Array | None:
    return None if return_stats is None else 1.0 / reward_scale(return_stats, cfg.reward_norm_g_max)


def _choose_action(agent: Agent, agent_state, obs, key, learning: jax.Array) -> jax.Array:
    """The policy's exploration action once learning has started, uniform in [-1, 1]^d before."""
    k_pi, k_uniform = jax.random.split(key)
    policy_action = agent.act(agent_state, obs, k_pi, False)
    uniform = jax.random.uniform(k_uniform, policy_action.shape, minval=-1.0, maxval=1.0)
    return jnp.where(learning, policy_action, uniform)


def run_updates(agent: Agent, cfg: TrainConfig, agent_state, replay: ReplayState, key: jax.Array,
                num_updates: int, avg_reward: jax.Array, obs_moments: Moments | None = None,
                return_stats: ReturnStats | None = None):
    """``num_updates`` gradient steps (lax.scan), each on a fresh n-step minibatch.

    Returns (agent state, per-metric sums over the updates, per-metric counts). A NaN metric value means
    "not computed in this update" (e.g. TD3's actor loss between delayed actor updates) and is counted out.
    Discounted objective: targets R + gamma^m (1 - d) V(s'). Average-reward objective: the differential
    targets sum_k (r_k - rho) + (1 - d) V(s'), i.e. gamma = 1 and every reward offset by rho. With
    ``obs_moments`` the batch's observations are normalised; with ``return_stats`` every reward term
    (r_k - rho) is divided by the return scale c before the sum (rho stays in the rewards' own units).
    """
    average = cfg.objective == "average"
    gamma, offset = (1.0, avg_reward) if average else (cfg.gamma, 0.0)
    multiplier = _reward_multiplier(cfg, return_stats)
    if agent.rollout_update is not None:  # on-policy: one update on every env's last update_every steps
        rollout = _seen_rollout(replay_recent(replay, cfg.update_every, cfg.num_envs, cfg.gamma), obs_moments,
                                multiplier)
        s, metrics = agent.rollout_update(agent_state, rollout, key)
        counts = {k: (~jnp.isnan(v)).astype(jnp.int32) for k, v in metrics.items()}
        return s, {k: jnp.nan_to_num(v).astype(jnp.float32) for k, v in metrics.items()}, counts

    def one_update(s, k):
        k_batch, k_update = jax.random.split(k)
        batch = replay_sample(replay, k_batch, cfg.batch_size, cfg.n_step, gamma, cfg.num_envs, offset, multiplier)
        if obs_moments is not None:
            batch = batch._replace(obs=normalize(obs_moments, batch.obs), next_obs=normalize(obs_moments,
                                                                                              batch.next_obs))
        return agent.update(s, batch, k_update)

    s, metrics = jax.lax.scan(one_update, agent_state, jax.random.split(key, num_updates))
    sums = {k: jnp.nansum(v).astype(jnp.float32) for k, v in metrics.items()}
    counts = {k: jnp.sum(~jnp.isnan(v)).astype(jnp.int32) for k, v in metrics.items()}
    return s, sums, counts


def _seen_rollout(rollout: Rollout, obs_moments: Moments | None, multiplier: jax.Array | None) -> Rollout:
    """An on-policy rollout as the agent sees it (normalised observations, scaled rewards)."""
    if obs_moments is not None:
        rollout = rollout._replace(obs=normalize(obs_moments, rollout.obs),
                                   next_obs=normalize(obs_moments, rollout.next_obs))
    return rollout if multiplier is None else rollout._replace(reward=rollout.reward * multiplier)


def window_means(ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
    """(state with the accumulators reset, mean of every metric over the updates since the last call).

    A metric no update reported since the last call is NaN.
    """
    means = {k: jnp.where(ts.metric_counts[k] > 0, v / jnp.maximum(ts.metric_counts[k], 1), jnp.nan)
             for k, v in ts.metric_sums.items()}
    zeros = jax.tree.map(jnp.zeros_like, (ts.metric_sums, ts.metric_counts))
    return ts._replace(metric_sums=zeros[0], metric_counts=zeros[1]), means


def finite_parts(ts: TrainState) -> dict[str, jax.Array]:
    """Per top-level part of the agent state (actor, critic, optimizer states, ...): all values finite."""
    flat = jax.tree_util.tree_flatten_with_path(ts.agent)[0]
    parts: dict[str, jax.Array] = {}
    for path, leaf in flat:
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        name = jax.tree_util.keystr(path[:1], simple=True, separator="/")
        ok = jnp.all(jnp.isfinite(leaf))
        parts[name] = parts[name] & ok if name in parts else ok
    return parts


def make_step_fns(agent: Agent, cfg: TrainConfig, seeds_axis: bool = False) -> tuple[Callable, Callable]:
    """Compiled ``act(ts, obs, step) -> action`` and ``learn_step(ts, transition) -> ts``.

    The loop calls ``act`` for the next observation *before* ``learn_step`` for the transition just
    collected, so the action comes from the parameters one update behind and the environment steps on
    the host while the update runs (JAX dispatch is asynchronous). ``step`` is the global index of the
    action in frames: uniform in [-1, 1] before ``learning_starts``, the policy's exploration action after.
    Each ``learn_step`` is one agent step of every environment, ``num_envs * action_repeat`` frames; an update
    round (``utd * num_envs`` updates) runs every ``update_every`` agent steps once ``learning_starts`` frames
    are reached.

    ``seeds_axis``: the state, observations and transitions carry a leading seed axis, and every seed is
    updated side by side in the same compiled program (one vmapped update). Seeds share the step counter,
    so whether to update is decided once for all of them (a real branch, not a select under vmap).
    """
    updates_per_step = 1 if agent.rollout_update is not None else cfg.utd * cfg.num_envs
    frames_per_step = cfg.num_envs * cfg.action_repeat

    def vmap(f: Callable, **kw: Any) -> Callable:
        return jax.vmap(f, **kw) if seeds_axis else f

    def act(ts: TrainState, obs: jax.Array, step: jax.Array) -> jax.Array:
        key = jax.random.fold_in(jax.random.wrap_key_data(ts.key), step)
        return _choose_action(agent, ts.agent, seen_obs(ts.obs_moments, obs), key, step >= cfg.learning_starts)

    def learn(agent_state, replay: ReplayState, key: jax.Array, avg_reward: jax.Array, obs_moments, return_stats):
        return run_updates(agent, cfg, agent_state, replay, key, updates_per_step, avg_reward, obs_moments,
                           return_stats)

    def skip(agent_state, replay: ReplayState, key: jax.Array, avg_reward: jax.Array, obs_moments, return_stats):
        _, sums, counts = jax.eval_shape(learn, agent_state, replay, key, avg_reward, obs_moments, return_stats)
        zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), (sums, counts))
        return agent_state, *zeros

    def store(ts: TrainState, tr: Transition):
        replay = replay_add(ts.replay, tr.obs, tr.action, tr.reward, tr.next_obs, tr.terminated, tr.truncated)
        # rho <- rho + beta (mean_i r_t^i - rho): the average reward of the behaviour policy.
        avg_reward = ts.avg_reward + cfg.avg_reward_rate * (jnp.mean(tr.reward) - ts.avg_reward)
        # the statistics of normalisation: every observation acted from, every environment's running return
        obs_moments = None if ts.obs_moments is None else moments_update(ts.obs_moments, tr.obs)
        return_stats = None if ts.return_stats is None else return_stats_update(
            ts.return_stats, tr.reward, jnp.logical_or(tr.terminated, tr.truncated), cfg.gamma)
        key, k_learn = jax.random.split(jax.random.wrap_key_data(ts.key))
        return replay, avg_reward, obs_moments, return_stats, jax.random.key_data(key), k_learn

    def accumulate(ts: TrainState, agent_state, replay, key, avg_reward, obs_moments, return_stats, sums, counts,
                   update_now):
        step_metrics = _step_metrics(cfg, avg_reward, return_stats)
        sums = {**sums, **step_metrics}
        counts = {**counts, **{k: 1 for k in step_metrics}}
        metric_sums = {k: ts.metric_sums[k] + sums[k] for k in ts.metric_sums}
        metric_counts = {k: ts.metric_counts[k] + counts[k] for k in ts.metric_counts}
        updates = ts.updates + jnp.where(update_now, updates_per_step, 0)
        return TrainState(agent_state, replay, key, ts.env_steps + frames_per_step, updates, avg_reward,
                          metric_sums, metric_counts, obs_moments, return_stats)

    def learn_step(ts: TrainState, tr: Transition):
        replay, avg_reward, obs_moments, return_stats, key, k_learn = vmap(store)(ts, tr)
        env_steps = (ts.env_steps[0] if seeds_axis else ts.env_steps) + frames_per_step
        update_now = (env_steps >= cfg.learning_starts) & ((env_steps // frames_per_step) % cfg.update_every == 0)
        agent_state, sums, counts = jax.lax.cond(update_now, vmap(learn), vmap(skip), ts.agent, replay, k_learn,
                                                 avg_reward, obs_moments, return_stats)
        return vmap(accumulate, in_axes=(0,) * 9 + (None,))(ts, agent_state, replay, key, avg_reward, obs_moments,
                                                            return_stats, sums, counts, update_now)

    act_fn = jax.vmap(act, in_axes=(0, 0, None)) if seeds_axis else act
    return jax.jit(act_fn), jax.jit(learn_step, donate_argnums=0)


def make_reset(agent: Agent) -> Callable:
    """``reset(ts) -> ts``: the agent state (parameters, optimizer states, every learned quantity) replaced by
    ``agent.init(k)``, where ``key, k = split(ts.key)`` and ``key`` becomes the state's key; the replay, the
    counters and the running statistics are kept (periodic resets, Nikishin et al. 2022)."""

    def reset(ts: TrainState) -> TrainState:
        key, k_init = jax.random.split(jax.random.wrap_key_data(ts.key))
        return ts._replace(agent=agent.init(k_init), key=jax.random.key_data(key))

    return reset


def resets_between(cfg: TrainConfig, prev: int, step: int) -> bool:
    """Whether a step from frame ``prev`` to frame ``step`` reaches one of ``cfg.reset_at``."""
    return any(prev < r <= step for r in cfg.reset_at)


def total_updates(cfg: TrainConfig, on_policy: bool = False) -> int:
    """The number of updates of a run of ``cfg.total_steps`` frames (counted as :func:`make_step_fns` runs them):
    an update round at every agent step j (1, 2, ...) with j % update_every == 0 and j n K >= learning_starts,
    until n K j reaches total_steps (n = num_envs, K = action_repeat)."""
    per_step = cfg.num_envs * cfg.action_repeat
    steps = -(-cfg.total_steps // per_step)
    first = max(1, -(-cfg.learning_starts // per_step))  # first agent step at or past learning_starts
    rounds = max(0, steps // cfg.update_every - (first - 1) // cfg.update_every)
    return rounds * (1 if on_policy else cfg.utd * cfg.num_envs)


# Fields of TrainConfig that the compiled step depends on; the rest (seed, budgets, schedules) do not.
STEP_FIELDS = ("algo", "num_envs", "buffer_size", "batch_size", "learning_starts", "utd", "update_every", "gamma",
               "n_step", "objective", "avg_reward_rate", "action_repeat", "normalize_obs", "normalize_reward",
               "reward_norm_g_max")


class StepFns(NamedTuple):
    """The compiled functions of the training loop (with a leading seed axis when ``seeds_axis``)."""

    act: Callable  # (ts, obs, step) -> exploration actions
    learn_step: Callable  # (ts, transition) -> ts: store the transition, run the updates (donates ts)
    act_deterministic: Callable  # (policy_state of ONE seed, obs) -> deterministic actions
    window_means: Callable  # ts -> (ts with reset accumulators, metric means over the window) (donates ts)
    finite_parts: Callable  # ts -> {part of the agent state: all finite}
    reset: Callable  # ts -> ts with the agent initialised afresh (:func:`make_reset`) (donates ts)


def policy_state(ts: TrainState) -> tuple[Any, Moments | None]:
    """What the deterministic policy of a training state needs: (agent state, observation moments or None)."""
    return ts.agent, ts.obs_moments


def make_act_deterministic(agent: Agent) -> Callable:
    """Compiled ``(policy_state, obs) -> deterministic actions``, on observations normalised as in training."""
    return jax.jit(lambda p, o: agent.act(p[0], seen_obs(p[1], o), jax.random.key(0), True))


def compiled_step_fns(cfg: TrainConfig, agent_cfg: Any, obs_dim: int, act_dim: int,
                      seeds_axis: bool = False) -> StepFns:
    """The loop's :class:`StepFns` for this configuration, compiled once per process."""
    step_cfg = TrainConfig(**{f: getattr(cfg, f) for f in STEP_FIELDS})  # other fields at their defaults
    return _compiled(step_cfg, agent_cfg, obs_dim, act_dim, seeds_axis)


@functools.lru_cache(maxsize=16)
def _compiled(cfg: TrainConfig, agent_cfg: Any, obs_dim: int, act_dim: int, seeds_axis: bool) -> StepFns:
    agent = make_agent(cfg.algo, agent_cfg, obs_dim, act_dim)
    act, learn_step = make_step_fns(agent, cfg, seeds_axis)
    per_seed = jax.vmap if seeds_axis else (lambda f: f)
    reset = jax.jit(per_seed(make_reset(agent)), donate_argnums=0)
    return StepFns(act, learn_step, make_act_deterministic(agent), jax.jit(per_seed(window_means), donate_argnums=0),
                   jax.jit(per_seed(finite_parts)), lambda ts: _own_buffers(reset(ts)))


def make_update_only(agent: Agent, cfg: TrainConfig) -> Callable:
    """``updates(ts) -> ts``: ``utd`` gradient updates on the stored replay, nothing else (the ceiling)."""

    def updates(ts: TrainState) -> TrainState:
        key, k = jax.random.split(jax.random.wrap_key_data(ts.key))
        agent_state, _, _ = run_updates(agent, cfg, ts.agent, ts.replay, k, cfg.utd, ts.avg_reward, ts.obs_moments,
                                        ts.return_stats)
        return ts._replace(agent=agent_state, key=jax.random.key_data(key), updates=ts.updates + cfg.utd)

    return jax.jit(updates, donate_argnums=0)

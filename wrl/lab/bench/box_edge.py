"""`wrl bench box-edge`: WPO's policy standard deviation when the return rises towards the edge of the box.

The environment executes clip(a), and the replay holds only those executed actions, so the critic never
sees an action outside [-1, 1]^D; outside the box its action gradient is an extrapolation. This benchmark
isolates what WPO's update does with that extrapolation, on a one-step contextual bandit where the critic
is learned exactly as in training (gamma = 0, so the critic learns Q(s, a) = r(clip(a)) directly):

- observations s ~ N(0, I_4) (irrelevant to the reward), D action dimensions (default 6, HalfCheetah's);
- rewards, scaled by ``--reward-scale`` c (default 100: HalfCheetah's critic values are in the hundreds):

  - ``edge-convex``: r(a) = (c / 4) sum_d (clip(a_d) + 1)^2, maximal at the corner a = 1 and convex, so a
    critic fitted to it extrapolates ever steeper outside the box;
  - ``edge-linear``: r(a) = c sum_d clip(a_d), maximal at the corner, linear;
  - ``interior``: r(a) = -c sum_d (clip(a_d) - 1/2)^2, maximal inside the box;

- every update: B = 256 states, half of the actions from the current policy (clipped, as executed), half
  uniform in the box; then the agent's own update (critic step, WPO policy step with its KL anchor, target
  copies), with the options of the variant.

Per variant (``LABEL=wpo [wrl train options]``, as in suites) and seed it reports the final and the
largest mean policy std, the share of sampled action coordinates outside the box, the mean |deterministic
action|, and the regret of the stochastic policy, (r* - E_{a~pi} r(clip(a))) / (c D) with r* the best
reward, estimated with 64 actions on each of 1024 states. The optimum of both edge tasks is the
deterministic corner: a correct update shrinks the std there; in the interior task it shrinks the std
around a = 1/2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wrl.config import hp
from wrl.errors import ConfigError
from wrl.lab.bench.common import command_line, machine_info, markdown_table, parse_variant, write_report

TASKS = ("edge-convex", "edge-linear", "interior")
# The six variants of the study in docs/benchmarks/box_edge.md, with the critic of the time (no LayerNorm) pinned,
# and WPO at today's defaults (a LayerNorm critic with the box pull). The report spells the executed velocity
# `--off-box executed`, today `--action-box executed-velocity`.
DEFAULT_VARIANTS = (
    "extrapolate=wpo --box-pull 0 --critic mlp",
    "box-pull=wpo --box-pull 1 --critic mlp",
    "acme-anchor=wpo --box-pull 0 --kl-alpha-std 500 --critic mlp",
    "layernorm-critic=wpo --box-pull 0 --critic layernorm",
    "executed=wpo --box-pull 0 --action-box executed-velocity --critic mlp",
    "executed+box-pull=wpo --action-box executed-velocity --box-pull 1 --critic mlp",
    "defaults=wpo",
)
_OBS_DIM = 4


def bandit_reward(task: str, action, scale: float):
    """r(clip(a)) of ``task`` (module docstring), summed over the last axis."""
    import jax.numpy as jnp

    c = jnp.clip(action, -1.0, 1.0)
    if task == "edge-convex":
        return scale * jnp.sum((c + 1.0) ** 2, -1) / 4.0
    if task == "edge-linear":
        return scale * jnp.sum(c, -1)
    if task == "interior":
        return -scale * jnp.sum((c - 0.5) ** 2, -1)
    raise ConfigError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def _best_reward(task: str, scale: float, act_dim: int) -> float:
    return 0.0 if task == "interior" else scale * act_dim


def wpo_config(options: list[str]) -> Any:
    """The WPO agent config of ``wrl train --algo wpo OPTIONS`` (a bad option exits with one line)."""
    from wrl.lab.cli import configs_from_argv

    return configs_from_argv(["--algo", "wpo", *options])[1]


def run_variant(agent_cfg: Any, task: str, seeds: list[int], updates: int, act_dim: int, scale: float,
                chunk: int = 100) -> dict[str, Any]:
    """Train WPO on the bandit for ``updates`` updates, all ``seeds`` side by side (vmapped); the trace of the
    mean std every ``chunk`` updates and the final statistics per seed."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from wrl.agents import make_agent
    from wrl.replay import Batch

    agent = make_agent("wpo", agent_cfg, _OBS_DIM, act_dim)
    batch_size = 256

    def update(state, key):
        k_obs, k_pi, k_uniform, k_update = jax.random.split(key, 4)
        obs = jax.random.normal(k_obs, (batch_size, _OBS_DIM))
        own = agent.act(state, obs, k_pi, False)  # clipped: what the environment executes
        uniform = jax.random.uniform(k_uniform, own.shape, minval=-1.0, maxval=1.0)
        action = jnp.where(jnp.arange(batch_size)[:, None] < batch_size // 2, own, uniform)
        batch = Batch(obs=obs, action=action, reward=bandit_reward(task, action, scale),
                      discount=jnp.zeros(batch_size), next_obs=obs)
        state, metrics = agent.update(state, batch, k_update)
        return state, {k: metrics[k] for k in ("policy/std", "policy/out_of_box")}

    def run_chunk(state, key_data, i):
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), i)
        state, metrics = jax.lax.scan(update, state, jax.random.split(key, chunk))
        return state, jax.tree.map(jnp.mean, metrics)

    def evaluate(state, key):
        obs = jax.random.normal(key, (1024, _OBS_DIM))
        executed = jax.vmap(lambda k: agent.act(state, obs, k, False))(jax.random.split(key, 64))  # clipped
        regret = (_best_reward(task, scale, act_dim) - jnp.mean(bandit_reward(task, executed, scale))) / (
            scale * act_dim)
        return {"regret": regret, "mean_abs": jnp.mean(jnp.abs(agent.act(state, obs, key, True)))}

    keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for s in seeds])
    states = jax.jit(jax.vmap(lambda k: agent.init(jax.random.wrap_key_data(k))))(keys)
    chunk_fn = jax.jit(jax.vmap(run_chunk, in_axes=(0, 0, None)), donate_argnums=0)
    start = time.perf_counter()
    trace_std, trace_oob = [], []
    for i in range(updates // chunk):
        states, metrics = chunk_fn(states, keys, i)
        metrics = jax.device_get(metrics)
        trace_std.append(np.asarray(metrics["policy/std"]))
        trace_oob.append(np.asarray(metrics["policy/out_of_box"]))
    eval_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.wrap_key_data(k), 2**31 - 1))(keys)
    final = jax.device_get(jax.jit(jax.vmap(evaluate))(states, eval_keys))
    std_trace = np.stack(trace_std, 1)  # (seeds, chunks)
    return {"seconds": time.perf_counter() - start,
            "per_seed": [{"seed": s, "final_std": float(std_trace[j, -1]), "max_std": float(std_trace[j].max()),
                          "out_of_box": float(trace_oob[-1][j]), "mean_abs": float(final["mean_abs"][j]),
                          "regret": float(final["regret"][j])} for j, s in enumerate(seeds)],
            "std_trace": std_trace.tolist(), "chunk": chunk}


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench box-edge``."""

    tasks: tuple[str, ...] = hp(TASKS, "bandit tasks", choices=TASKS, nargs="+")
    variants: tuple[str, ...] = hp(DEFAULT_VARIANTS, "'LABEL=wpo [wrl train options]' (default: the six of the study "
                                   "in docs/benchmarks/box_edge.md and WPO at its defaults)", nargs="+")
    seeds: tuple[int, ...] = hp((0, 1, 2), "seeds, side by side; distinct", ge=0, nargs="+")
    updates: int = hp(3000, "updates per run: a positive multiple of 100", ge=100)
    act_dim: int = hp(6, "action dimensions D", ge=1)
    reward_scale: float = hp(100.0, "reward scale c", gt=0)
    out: str | None = hp(None, "output path without extension: writes OUT.md and OUT.json (default: none)")


def run(opts: Options) -> int:
    if opts.updates % 100:
        raise ConfigError(f"--updates must be a positive multiple of 100 (got {opts.updates})")
    if len(set(opts.seeds)) != len(opts.seeds):
        raise ConfigError(f"--seeds must be distinct (got {' '.join(map(str, opts.seeds))})")
    variants = [parse_variant(v) for v in opts.variants]
    if any(algo != "wpo" for _, algo, _ in variants):
        raise ConfigError("every --variants entry must run wpo: 'LABEL=wpo [wrl train options]'")
    configs = [(label, options, wpo_config(options)) for label, _, options in variants]
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "updates": opts.updates,
                               "act_dim": opts.act_dim, "reward_scale": opts.reward_scale, "seeds": opts.seeds,
                               "runs": []}
    sections = []
    for task in opts.tasks:
        rows = []
        for label, options, agent_cfg in configs:
            print(f"{task}: {label} ...", flush=True)
            r = run_variant(agent_cfg, task, opts.seeds, opts.updates, opts.act_dim, opts.reward_scale)
            results["runs"].append({"task": task, "variant": label, "options": " ".join(options), **r})
            ps = r["per_seed"]
            rows.append([label, " ".join(options) or "-", ", ".join(f"{p['final_std']:.3g}" for p in ps),
                         max(p["max_std"] for p in ps), ", ".join(f"{p['out_of_box']:.2f}" for p in ps),
                         ", ".join(f"{p['mean_abs']:.2f}" for p in ps), ", ".join(f"{p['regret']:.3f}" for p in ps)])
        table = markdown_table(["variant", "wrl train options", "final std per seed", "largest std",
                                "out of box", "mean abs action", "regret per seed"], rows)
        sections.append(f"## {task}\n\n{table}")
        print(sections[-1], flush=True)
    if opts.out:
        write_report(
            opts.out, "WPO at the edge of the action box", results,
            "One-step bandit (`wrl bench box-edge --help`): D = "
            f"{opts.act_dim}, reward scale {opts.reward_scale:g}, {opts.updates} updates of batch 256, seeds "
            f"{', '.join(map(str, opts.seeds))}; the std is the batch mean of the policy std, averaged over the "
            f"last 100 updates; regret = (r* - E r(clip(a))) / (c D).\n\n" + "\n\n".join(sections))
    return 0

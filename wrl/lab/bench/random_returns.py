"""`wrl bench random-returns`: the return of the uniform random policy, the lower anchor of normalised scores.

Gymnasium scores in suite reports are normalised as (return - random) / (reference - random). The random
anchor is measured here: actions drawn uniformly from the action box, episode ``i`` reset with seed ``i``
and the action space seeded with ``seed + i``, the environment's own time limit (1000 steps for the MuJoCo
tasks), ``--episodes`` episodes per task. The values in ``wrl.lab.bench.aggregate.REFERENCE_SCORES`` come from
this command's output in ``docs/benchmarks/random_returns.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrl.config import hp
from wrl.lab.bench.common import command_line, machine_info, machine_line, markdown_table, write_json

DEFAULT_TASKS = ("gym:HalfCheetah-v5", "gym:Hopper-v5", "gym:Walker2d-v5", "gym:Ant-v5", "gym:Humanoid-v5",
                 "gym:InvertedDoublePendulum-v5", "gym:Pendulum-v1")


def random_returns(task: str, episodes: int, seed: int = 0) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes of the uniform random policy on ``task``."""
    from wrl.envs.make import make_env

    env = make_env(task)
    returns = []
    try:
        for i in range(episodes):
            env.reset(seed=seed + i)
            env.action_space.seed(seed + i)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.asarray(returns)


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench random-returns``."""

    tasks: tuple[str, ...] = hp(DEFAULT_TASKS, "environment ids (default: the MuJoCo suite, "
                                "InvertedDoublePendulum-v5 and Pendulum-v1)", nargs="+")
    episodes: int = hp(20, "episodes per task", ge=1)
    seed: int = hp(0, "seed of the first episode")
    out: str | None = hp(None, "output path without extension: writes OUT.md and OUT.json (default: none)")


def run(opts: Options) -> int:
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "episodes": opts.episodes,
                               "tasks": {}}
    rows = []
    for task in opts.tasks:
        r = random_returns(task, opts.episodes, opts.seed)
        results["tasks"][task] = {"mean": float(r.mean()), "std": float(r.std(ddof=1)) if r.size > 1 else 0.0,
                                  "returns": r.tolist()}
        rows.append([task, float(r.mean()), results["tasks"][task]["std"], float(r.min()), float(r.max())])
        print(f"{task}: {r.mean():.2f} +- {results['tasks'][task]['std']:.2f} over {r.size} episodes", flush=True)
    table = markdown_table(["task", "mean return", "std", "min", "max"], rows)
    if opts.out:
        out = Path(opts.out)
        write_json(out.with_suffix(".json"), results)
        out.with_suffix(".md").write_text(
            "# Returns of the uniform random policy\n\n"
            f"The lower anchor of normalised Gymnasium scores: {opts.episodes} episodes per task, actions uniform "
            "on the action box, episode i reset with seed i.\n\n"
            f"Command: `{results['command']}`\n\n{machine_line(results['machine'])}\n\n{table}\n")
    print(table)
    return 0

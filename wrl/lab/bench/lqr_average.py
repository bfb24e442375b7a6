"""`wrl bench lqr-average`: neural agents on the ergodic (average-reward) objective against the exact LQR optimum.

Each run trains ``wrl train --objective average`` on ``gym:wrl/LQR-v0`` (a continuing task whose optimal
long-run average cost J* = tr(P* W) is known from the discrete Riccati equation), then measures the
learned deterministic policy's long-run average cost on one long trajectory (started from the optimal
stationary law), and the exact cost J(K_hat) of the best linear fit a = -K_hat s of the network on the
visited states. The learned average reward rho of the differential critic is reported too (it is the
behaviour policy's, exploration included).
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrl import runs
from wrl.config import hp
from wrl.lab.bench.common import command_line, machine_info, machine_line, markdown_table, write_json


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench lqr-average``."""

    algos: tuple[str, ...] = hp(("sac", "wpo"), "algorithms", nargs="+")
    seeds: tuple[int, ...] = hp((0, 1, 2), "seeds", nargs="+")
    total_steps: int = hp(15_000, "training steps per run")
    horizon: int = hp(50_000, "steps of the long evaluation trajectory")
    train_args: str = hp("", "extra `wrl train` options for every run (one string)")
    out: str | None = hp(None, "output path without extension: writes OUT.md and OUT.json (default: none)")


def long_run_cost(policy, env, horizon: int, seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Average cost per step of ``policy`` over one trajectory of ``horizon`` steps; visited states/actions."""
    obs, _ = env.reset(seed=seed)
    states, actions, total = [], [], 0.0
    for _ in range(horizon):
        a = np.asarray(policy(obs[None]))[0]
        states.append(obs)
        actions.append(a)
        obs, r, term, trunc, info = env.step(a)
        total += info.get("cost", -r)
        if term or trunc:
            raise RuntimeError("the learned policy ran away from the LQR state limit")
    return total / horizon, np.asarray(states), np.asarray(actions)


def evaluate_run(run_dir: Path, horizon: int, seed: int) -> dict[str, Any]:

    import gymnasium as gym

    from wrl.exact.lqr import average_cost
    from wrl.exact.precision import float64
    from wrl.training.trainer import load_policy

    _, policy, _ = load_policy(run_dir)
    env = gym.make("wrl/LQR-v0").unwrapped  # no time limit: one long trajectory
    scale = env.action_bound
    measured, states, actions = long_run_cost(lambda o: np.asarray(policy(o)) * scale, env, horizon, seed)
    k_hat = -np.linalg.lstsq(states, actions, rcond=None)[0].T  # a ~ -K s
    with float64():
        j_lin = float(average_cost(env.system, k_hat, np.zeros((env.system.m, env.system.m))))
    rows = runs.read_jsonl(run_dir / runs.METRICS)
    rho = [r["charts/avg_reward"] for r in rows if r.get("charts/avg_reward") is not None]
    j_star = env.optimal_average_cost
    return {"J_star": j_star, "measured_cost": measured, "measured_gap": measured / j_star - 1,
            "J_linear_fit": j_lin, "linear_fit_gap": j_lin / j_star - 1, "K_hat": k_hat.tolist(),
            "K_star": np.asarray(env.optimal_gain).tolist(), "learned_avg_cost": -rho[-1] if rho else None}


def run(opts: Options) -> int:
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "runs": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="wrl-lqr-") as tmp:
        for algo in opts.algos:
            for seed in opts.seeds:
                run_dir = Path(tmp) / f"{algo}-{seed}"
                train_args = ["--algo", algo, "--env", "gym:wrl/LQR-v0", "--objective", "average", "--seed",
                              str(seed), "--total-steps", str(opts.total_steps), "--eval-every",
                              str(opts.total_steps), *shlex.split(opts.train_args)]
                print(f"{algo} seed {seed} ...", flush=True)
                _train_in_process(train_args, run_dir)
                r = evaluate_run(run_dir, opts.horizon, seed=10_000 + seed)
                r["command"] = "wrl train " + " ".join(train_args)
                results["runs"].setdefault(algo, []).append({"seed": seed, **r})
                rows.append([algo, seed, r["J_star"], r["measured_cost"], f"{100 * r['measured_gap']:+.2f}%",
                             r["J_linear_fit"], f"{100 * r['linear_fit_gap']:+.2f}%",
                             r["learned_avg_cost"] if r["learned_avg_cost"] is not None else "-"])
                print(f"  J* {r['J_star']:.4f}  measured {r['measured_cost']:.4f} ({100 * r['measured_gap']:+.2f}%)",
                      flush=True)
    table = markdown_table(["algo", "seed", "J*", "measured avg cost", "gap", "J(K_hat)", "gap",
                            "learned rho (as cost)"], rows)
    print(table)
    if opts.out:
        out = Path(opts.out)
        write_json(out.with_suffix(".json"), results)
        m = results["machine"]
        out.with_suffix(".md").write_text(
            f"# Average-reward agents on ergodic LQR against the Riccati optimum\n\nCommand: "
            f"`{results['command']}`\n\n{machine_line(m)}\n\n"
            f"{__doc__.split(chr(10), 2)[2].strip()}\n\n{table}\n")
    return 0


def _train_in_process(train_args: list[str], run_dir: Path) -> None:
    from wrl.lab.cli import configs_from_argv
    from wrl.training.trainer import train

    cfg, agent_cfg = configs_from_argv(train_args)
    train(cfg, agent_cfg, run_dir, progress=False, tensorboard=False)

"""`wrl bench solve`: wall-clock until Pendulum-v1 is solved, wrl SAC against SBX SAC in the same run.

Both sides use the same hyperparameters (RL-Zoo's SAC on Pendulum-v1: learning rate 1e-3, batch 256,
1M replay, 100 random steps, tau 0.005, gamma 0.99, one update per step, (256, 256) MLPs, automatic
entropy) and the same evaluation schedule: 10 deterministic episodes every 1000 steps. The clock starts
when training is set up (environment and model construction and compilation count, Python imports do
not) and stops at the first evaluation whose mean return reaches the threshold. Each run is a fresh
process. wrl runs twice per seed: cold (an empty compilation cache, everything compiles) and warm (the same
command again, its programs found in the persistent compilation cache).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrl.config import hp
from wrl.lab.bench.common import command_line, machine_info, machine_line, markdown_table, run_wrl, write_json

ZOO_PENDULUM = ["--actor-lr", "1e-3", "--critic-lr", "1e-3", "--alpha-lr", "1e-3", "--learning-starts", "100",
                "--batch-size", "256", "--buffer-size", "1000000", "--gamma", "0.99", "--utd", "1"]


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench solve``."""

    seeds: tuple[int, ...] = hp((0, 1, 2), "seeds", nargs="+")
    threshold: float = hp(-200.0, "mean evaluation return that solves")
    max_steps: int = hp(20_000, "give up after this many steps")
    peers: tuple[str, ...] = hp(("sbx",), "peer libraries (sbx, sb3; none: skip)")
    json: str | None = hp(None, "write the results to this JSON file (default: none)")
    markdown: str | None = hp(None, "write a markdown report to this file (default: none)")


def wrl_time_to_solve(seed: int, threshold: float, max_steps: int, compile_cache: str = "off") -> dict[str, Any]:
    s = run_wrl(["--algo", "sac", "--env", "gym:Pendulum-v1", "--seed", str(seed), "--total-steps", str(max_steps),
                 "--eval-every", "1000", "--eval-episodes", "10", "--target-return", str(threshold), *ZOO_PENDULUM,
                 "--compile-cache", compile_cache])
    solved = s["solved_at"]
    return {"solved": solved is not None, "seconds": solved["seconds"] if solved else s["wall_seconds"],
            "steps": solved["step"] if solved else s["env_steps"], "command": s["command"],
            "evals": [(e["step"], e["mean_return"]) for e in s["evaluations"]]}


def run(opts: Options) -> int:
    peers = [p for p in opts.peers if p != "none"]
    if peers:
        from wrl.lab.bench.peers import peer_time_to_solve, require_peer

        for lib in peers:
            require_peer(lib)
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "threshold": opts.threshold,
                               "runs": {}}
    import tempfile

    for seed in opts.seeds:
        with tempfile.TemporaryDirectory(prefix="wrl-cache-") as cache:
            for name in ("wrl sac (cold)", "wrl sac (warm)"):  # the same command twice, one fresh cache
                print(f"{name} seed {seed} ...", flush=True)
                run = wrl_time_to_solve(seed, opts.threshold, opts.max_steps, cache)
                results["runs"].setdefault(name, []).append(run)
        for lib in peers:
            print(f"{lib} sac seed {seed} ...", flush=True)
            r = peer_time_to_solve(lib, "Pendulum-v1", threshold=opts.threshold, eval_every=1000,
                                   eval_episodes=10, max_steps=opts.max_steps, seed=seed)
            results["runs"].setdefault(f"{lib} sac", []).append(r)
    rows, medians = [], {}
    for name, rs in results["runs"].items():
        medians[name] = statistics.median(r["seconds"] for r in rs)
        per_seed = ", ".join(f"{r['seconds']:.1f} s @ {r['steps']}" + ("" if r["solved"] else " (not solved)")
                             for r in rs)
        rows.append([name, f"{sum(r['solved'] for r in rs)}/{len(rs)}", medians[name], per_seed])
    for row in rows:
        row.insert(3, f"{medians[row[0]] / medians['sbx sac']:.2f}" if "sbx sac" in medians else "-")
    results["median_seconds"] = medians
    table = markdown_table(["run", "solved", "median seconds", "x SBX SAC", "per seed (seconds @ step)"], rows)
    print(table)
    write_json(opts.json, results)
    if opts.markdown:
        m = results["machine"]
        Path(opts.markdown).write_text(
            f"# Time to solve Pendulum-v1 (mean evaluation return >= {opts.threshold:g})\n\n"
            f"Command: `{results['command']}`\n\n{machine_line(m)}\n\n"
            f"{__doc__.split(chr(10), 2)[2].strip()}\n\n{table}\n")
    return 0

"""`wrl bench learning`: learning curves of several algorithms over seeds, reported with every seed.

Each (algorithm, seed) is a `wrl train` run with the same budget and evaluation schedule. The report
(markdown + JSON + PNG) lists every seed's final and best evaluation return and the first step at which
the evaluation reached ``--threshold`` (if given), with the exact command that produced it.
"""

from __future__ import annotations

import shlex
import statistics
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrl.config import REQUIRED, hp
from wrl.errors import ConfigError
from wrl.lab.bench.common import (
    command_line,
    machine_info,
    machine_line,
    markdown_table,
    parse_variant,
    run_wrl,
    write_json,
)
from wrl.optional import ensure


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench learning``."""

    out: str = hp(REQUIRED, "output path without extension: writes OUT.md, OUT.json, OUT.png")
    algos: tuple[str, ...] = hp(("sac", "td3"), "algorithms, each ALGO or 'LABEL=ALGO [wrl train options]', e.g. "
                                "'wppg-i=wppg --policy implicit'", nargs="+")
    env: str = hp("gym:Pendulum-v1", "environment id")
    seeds: tuple[int, ...] = hp((0, 1, 2, 3, 4), "seeds", nargs="+")
    total_steps: int = hp(8000, "environment steps per run", gt=0)
    eval_every: int = hp(1000, "steps between evaluations", gt=0)
    eval_episodes: int = hp(10, "episodes per evaluation")
    threshold: float | None = hp(None, "report the first step reaching this return (default: none)")
    train_args: str = hp("", "extra `wrl train` options for every run (one string)")
    jobs: int = hp(1, "runs at a time; with more than one, each run uses one XLA thread", gt=0)
    keep_runs: str | None = hp(None, "keep every run directory (metrics, TensorBoard, checkpoint) as "
                                     "KEEP_RUNS/ALGO-seedSEED (default: none)")


def run(opts: Options) -> int:
    ensure("matplotlib", "wrl bench learning")  # each finished seed redraws the figure
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(opts.train_args)
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "threshold": opts.threshold, "runs": {}}
    variants = {label: (algo, options) for label, algo, options in map(parse_variant, opts.algos)}
    if len(variants) != len(opts.algos):
        raise ConfigError("two --algos entries have the same label; name variants LABEL=ALGO")
    pairs = [(label, seed) for label in variants for seed in opts.seeds]
    keep = {pair: Path(opts.keep_runs) / f"{pair[0]}-seed{pair[1]}" for pair in pairs} if opts.keep_runs else {}
    existing = [str(d) for d in keep.values() if d.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists; choose another --keep-runs directory")
    lock = threading.Lock()

    def one(label: str, seed: int) -> None:
        algo, options = variants[label]
        print(f"{label} seed {seed} ...", flush=True)
        s = run_wrl(["--algo", algo, *options, "--env", opts.env, "--seed", str(seed), "--total-steps",
                     str(opts.total_steps), "--eval-every", str(opts.eval_every), "--eval-episodes",
                     str(opts.eval_episodes), "--checkpoint-every", "1000000000", *extra],
                    single_thread=opts.jobs > 1, keep_dir=keep.get((label, seed)))
        evals = [(e["step"], e["mean_return"]) for e in s["evaluations"]]
        reached = next((st for st, r in evals if opts.threshold is not None and r >= opts.threshold), None)
        with lock:
            runs = results["runs"].setdefault(label, [])
            runs.append({
                "seed": seed, "evals": evals, "final": s["final_eval_return"], "best": s["best_eval_return"],
                "first_step_at_threshold": reached, "wall_seconds": s["wall_seconds"],
                "steps_per_second": s["steps_per_second"], "command": s["command"]})
            runs.sort(key=lambda r: r["seed"])
            print(f"{label} seed {seed}: final {s['final_eval_return']:.1f} best {s['best_eval_return']:.1f} "
                  f"reached at {reached} ({s['wall_seconds']:.0f} s)", flush=True)
            write_json(out.with_suffix(".json"), results)  # partial results survive an interrupted benchmark
            report(results, out)

    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for f in [pool.submit(one, algo, seed) for algo, seed in pairs]:
            f.result()
    return 0


def report(results: dict[str, Any], out: Path) -> None:
    """Markdown table + PNG of mean +- std over seeds."""
    from wrl.lab.plots import new_figure

    thr = results["threshold"]
    rows = []
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for algo, runs in results["runs"].items():
        finals = [r["final"] for r in runs]
        reached = [r["first_step_at_threshold"] for r in runs]
        hit = sum(x is not None for x in reached)
        per_seed = ", ".join(f"s{r['seed']}: {r['final']:.0f}" + (f" (@{r['first_step_at_threshold']})"
                             if r["first_step_at_threshold"] is not None else "") for r in runs)
        rows.append([algo, f"{statistics.mean(finals):.1f} +- {statistics.pstdev(finals):.1f}",
                     f"{hit}/{len(runs)}" if thr is not None else "-", per_seed,
                     f"{statistics.mean(r['steps_per_second'] for r in runs):.0f}"])
        steps = np.array([s for s, _ in runs[0]["evals"]])
        n = min(len(r["evals"]) for r in runs)
        curves = np.array([[v for _, v in r["evals"][:n]] for r in runs])
        mean, std = curves.mean(0), curves.std(0)
        ax.plot(steps[:n], mean, label=f"{algo} ({len(runs)} seeds)")
        ax.fill_between(steps[:n], mean - std, mean + std, alpha=0.2)
    if thr is not None:
        ax.axhline(thr, color="k", ls="--", lw=0.8, label=f"threshold {thr:g}")
    ax.set(xlabel="environment steps", ylabel="mean evaluation return", title=results["env"])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=100)
    header = ["algo", "final return (mean +- std over seeds)", "seeds reaching threshold",
              "per seed: final (first step at threshold)", "steps/s"]
    m = results["machine"]
    thr_text = f", threshold {thr:g}" if thr is not None else ""
    out.with_suffix(".md").write_text(
        f"# Learning: {results['env']}{thr_text}\n\nCommand: `{results['command']}`\n\n"
        f"{machine_line(m)}\n\n"
        f"{markdown_table(header, rows)}\n\n![curves]({out.with_suffix('.png').name})\n")

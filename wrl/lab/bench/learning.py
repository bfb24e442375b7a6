"""`wrl bench learning`: learning curves of several algorithms over seeds, reported with every seed.

Each (algorithm, seed) is a `wrl train` run with the same budget and evaluation schedule. The report
(markdown + JSON + PNG) lists every seed's final and best evaluation return and the first step at which
the evaluation reached ``--threshold`` (if given), with the exact command that produced it.

``--peers`` adds peer runs (SBX SAC, CrossQ or TQC, SB3 SAC; Gymnasium tasks) with the same seeds, budget and
evaluations (``--eval-episodes`` deterministic episodes every ``--eval-every`` steps), each built with the settings
of the wrl variant it is paired with (:func:`wrl.lab.bench.peers.peer_settings`: e.g. ``sbx:crossq`` with
``crossq=sac --preset crossq --alpha-lr 1e-3``, its width, learning rates, beta1, policy delay, batch and random
steps; a peer no variant pairs with brings that reference variant along). What a peer cannot match is listed in
the report.

The benchmark is resumable: every finished (algorithm, seed) is written to OUT.json at once, and the same command
run again reuses each finished run whose settings are unchanged (a killed benchmark continues with the runs it
had not finished; ``--fresh`` runs everything again).
"""

from __future__ import annotations

import json
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
    peers: tuple[str, ...] = hp((), "peer runs, each LIB:ALGO (sbx:sac, sbx:crossq, sbx:tqc, sb3:sac), with the "
                                "settings of the wrl variant paired with it (default: none)")
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
    fresh: bool = hp(False, "run everything again instead of reusing the finished runs recorded in OUT.json")


def _first_at(evals: list[tuple[int, float]], threshold: float | None) -> int | None:
    return next((st for st, r in evals if threshold is not None and r >= threshold), None)


def _previous(path: Path, fresh: bool) -> dict[tuple[str, int], dict[str, Any]]:
    """The finished runs of an earlier call with the same OUT, by (label, seed); none with ``fresh``."""
    if fresh or not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {(label, r["seed"]): r for label, runs in old.get("runs", {}).items() for r in runs if "spec" in r}


def run(opts: Options) -> int:
    ensure("matplotlib", "wrl bench learning")  # each finished seed redraws the figure
    out = Path(opts.out)
    extra = shlex.split(opts.train_args)
    variants = {label: (algo, options) for label, algo, options in map(parse_variant, opts.algos)}
    if len(variants) != len(opts.algos):
        raise ConfigError("two --algos entries have the same label; name variants LABEL=ALGO")

    def train_args(label: str, seed: int) -> list[str]:
        algo, options = variants[label]
        return ["--algo", algo, *options, "--env", opts.env, "--seed", str(seed), "--total-steps",
                str(opts.total_steps), "--eval-every", str(opts.eval_every), "--eval-episodes",
                str(opts.eval_episodes), "--checkpoint-every", "1000000000", *extra]

    peers = _plan_peers(opts, variants, train_args)  # may add reference variants
    labels = list(variants) + [p["peer"].name for p in peers.values()]
    pairs = [(label, seed) for label in labels for seed in opts.seeds]
    spec: dict[tuple[str, int], Any] = {(label, seed): train_args(label, seed) for label in variants
                                        for seed in opts.seeds}
    for name, p in peers.items():
        for seed in opts.seeds:
            spec[(name, seed)] = {"peer": name, "env": opts.env, "kwargs": p["kwargs"], "seed": seed,
                                  "total_steps": opts.total_steps, "eval_every": opts.eval_every,
                                  "eval_episodes": opts.eval_episodes}
    previous = _previous(out.with_suffix(".json"), opts.fresh)
    reused = {pair: previous[pair] for pair in pairs if pair in previous and previous[pair]["spec"] == spec[pair]}
    todo = [pair for pair in pairs if pair not in reused]
    keep = {pair: Path(opts.keep_runs) / f"{pair[0]}-seed{pair[1]}" for pair in todo
            if pair[0] in variants} if opts.keep_runs else {}
    existing = [str(d) for d in keep.values() if d.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists; choose another --keep-runs directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "threshold": opts.threshold, "runs": {},
                               "peers": {name: {k: v for k, v in p.items() if k != "peer"}
                                         for name, p in peers.items()}}
    lock = threading.Lock()

    def record(label: str, entry: dict[str, Any]) -> None:
        with lock:
            runs = results["runs"].setdefault(label, [])
            runs.append(entry)
            runs.sort(key=lambda r: r["seed"])
            results["runs"] = {k: results["runs"][k] for k in labels if k in results["runs"]}
            write_json(out.with_suffix(".json"), results)  # partial results survive an interrupted benchmark
            report(results, out)

    if reused:
        print(f"reusing {len(reused)} finished runs of {out.with_suffix('.json')}", flush=True)
        results["reused"] = [f"{label} seed {seed}" for label, seed in reused]  # each keeps its own command
        for (label, _), entry in reused.items():
            record(label, {**entry, "first_step_at_threshold": _first_at(entry["evals"], opts.threshold)})

    def one(label: str, seed: int) -> None:
        print(f"{label} seed {seed} ...", flush=True)
        if label in peers:
            entry = _peer_run(peers[label], opts, seed)
        else:
            s = run_wrl(train_args(label, seed), single_thread=opts.jobs > 1, keep_dir=keep.get((label, seed)))
            evals = [(e["step"], e["mean_return"]) for e in s["evaluations"]]
            entry = {"seed": seed, "evals": evals, "final": s["final_eval_return"], "best": s["best_eval_return"],
                     "wall_seconds": s["wall_seconds"], "steps_per_second": s["steps_per_second"],
                     "command": s["command"]}
        entry["first_step_at_threshold"] = _first_at(entry["evals"], opts.threshold)
        entry["spec"] = spec[(label, seed)]
        print(f"{label} seed {seed}: final {entry['final']:.1f} best {entry['best']:.1f} reached at "
              f"{entry['first_step_at_threshold']} ({entry['wall_seconds']:.0f} s)", flush=True)
        record(label, entry)

    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for f in [pool.submit(one, label, seed) for label, seed in todo]:
            f.result()
    return 0


def _plan_peers(opts: Options, variants: dict[str, tuple[str, list[str]]], train_args: Any) -> dict[str, Any]:
    """Each peer of ``--peers`` with its constructor options, from the first variant paired with it (a reference
    variant is added to ``variants`` when none is)."""
    if not opts.peers:
        return {}
    from wrl.lab.bench.peers import REFERENCE_VARIANTS, matched_algo, parse_peers, peer_settings, require_peer
    from wrl.lab.cli import configs_from_argv

    kind, _, env_id = opts.env.partition(":")
    if kind != "gym":
        raise ConfigError(f"--peers run Gymnasium tasks only (gym:ID), not {opts.env}")
    peers = parse_peers(opts.peers)
    for peer in peers:
        require_peer(peer.lib)
    settings = {label: configs_from_argv(train_args(label, opts.seeds[0])) for label in variants}
    paired = {label: matched_algo(variants[label][0], s[1]) for label, s in settings.items()}
    planned = {}
    for peer in peers:
        source = next((label for label, algo in paired.items() if algo == peer.algo), None)
        if source is None:
            source, algo, options = parse_variant(REFERENCE_VARIANTS[peer.algo])
            if source in variants:
                raise ConfigError(f"the wrl variant {source!r} does not run {peer.name}'s algorithm; label it "
                                  f"otherwise, or give a variant for {peer.name}")
            variants[source] = (algo, options)
            settings[source] = configs_from_argv(train_args(source, opts.seeds[0]))
            paired[source] = peer.algo
        kwargs, diffs = peer_settings(peer, *settings[source])
        planned[peer.name] = {"peer": peer, "env_id": env_id, "kwargs": kwargs, "differences": diffs,
                              "matched_to": source}
    return planned


def _peer_run(p: dict[str, Any], opts: Options, seed: int) -> dict[str, Any]:
    from wrl.lab.bench.peers import learning_args, peer_learning

    r = peer_learning(p["peer"], p["env_id"], p["kwargs"], total_steps=opts.total_steps, eval_every=opts.eval_every,
                      eval_episodes=opts.eval_episodes, seed=seed, single_thread=opts.jobs > 1)
    args = learning_args(p["peer"], p["env_id"], p["kwargs"], total_steps=opts.total_steps,
                         eval_every=opts.eval_every, eval_episodes=opts.eval_episodes, seed=seed)
    return {"seed": seed, "evals": r["evals"], "final": r["final"], "best": r["best"],
            "wall_seconds": r["process_seconds"], "steps_per_second": r["steps_per_second"],
            "command": "python -m wrl.lab.bench.peers " + shlex.join(args),
            "versions": {k: r[k] for k in ("sb3_version", "sbx_version", "torch_version", "jax_version") if k in r}}


def report(results: dict[str, Any], out: Path) -> None:
    """Markdown table + PNG of mean +- std over seeds."""
    from wrl.lab.plots import new_figure

    thr = results["threshold"]
    peers = results.get("peers", {})
    paired = {p["matched_to"]: name for name, p in peers.items()}
    rows = []
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for algo, runs in results["runs"].items():
        finals = [r["final"] for r in runs]
        reached = [r["first_step_at_threshold"] for r in runs]
        hit = sum(x is not None for x in reached)
        per_seed = ", ".join(f"s{r['seed']}: {r['final']:.0f}" + (f" (@{r['first_step_at_threshold']})"
                             if r["first_step_at_threshold"] is not None else "") for r in runs)
        row = [algo, f"{statistics.mean(finals):.1f} +- {statistics.pstdev(finals):.1f}",
               f"{hit}/{len(runs)}" if thr is not None else "-", per_seed,
               f"{statistics.mean(r['steps_per_second'] for r in runs):.0f}"]
        if peers:
            row.insert(1, peers[algo]["matched_to"] if algo in peers else paired.get(algo, "-"))
        rows.append(row)
        steps = np.array([s for s, _ in runs[0]["evals"]])
        n = min(len(r["evals"]) for r in runs)
        curves = np.array([[v for _, v in r["evals"][:n]] for r in runs])
        mean, std = curves.mean(0), curves.std(0)
        ax.plot(steps[:n], mean, label=f"{algo} ({len(runs)} seeds)", ls="--" if algo in peers else "-")
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
    if peers:
        header.insert(1, "paired with")
    m = results["machine"]
    thr_text = f", threshold {thr:g}" if thr is not None else ""
    body = f"{markdown_table(header, rows)}\n\n![curves]({out.with_suffix('.png').name})\n"
    if peers:
        lines = [f"- {name}, with the settings of wrl {p['matched_to']}: `{json.dumps(p['kwargs'], sort_keys=True)}`;"
                 f" not matched: {'; '.join(p['differences']) or 'none'}" for name, p in peers.items()]
        body += ("\nPeers (constructor options read off the wrl variant each is paired with; steps/s over the "
                 "whole run, evaluations included):\n\n" + "\n".join(lines) + "\n")
    out.with_suffix(".md").write_text(
        f"# Learning: {results['env']}{thr_text}\n\nCommand: `{results['command']}`\n\n"
        f"{machine_line(m)}\n\n{body}")

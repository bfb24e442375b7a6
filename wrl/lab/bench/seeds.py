"""`wrl bench seeds`: seeds side by side in one process, against the machine's bound and against SBX.

Three measurements in one run (HalfCheetah-v5, SAC, UTD 1, batch 256, (256, 256) MLPs, one environment
per seed):

1. The machine's bound: the matmul rate of the update's dominant shape (tanh(x @ W), 256 x 256 x 256,
   float32) in one single-threaded XLA process pinned to each core, all cores at once, summed. A training
   program cannot do more useful FLOPs per second on this machine.
2. The update FLOP rate of training: steps/s after warm-up of one seed alone, of ``--seeds`` seeds
   side by side (``wrl train --seeds``, one vmapped update), and of the same seeds split over the cores (one
   pinned single-threaded process per core, the layout of the bound itself), times XLA's FLOP count of one
   update; each as a fraction of the bound.
3. The wall-clock of a whole experiment of ``--seeds`` seeds x ``--experiment-steps`` steps: wrl, all seeds
   in one process, cold (an empty compilation cache) and warm (the same command again), against SBX SAC
   running the same seeds as separate processes two at a time (the best a user can do with it on 2 cores).
   Process wall-clock, start to exit, both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from wrl.config import hp
from wrl.errors import ConfigError
from wrl.lab.bench.common import (
    command_line,
    machine_info,
    markdown_table,
    process_env,
    run_wrl,
    write_report,
)
from wrl.lab.bench.throughput import update_ceiling, wrl_throughput

_MATMUL_CHILD = """
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
import jax, jax.numpy as jnp
x = jnp.full((256, 256), 0.01, jnp.float32); w = jnp.full((256, 256), 0.01, jnp.float32)
depth = 50
chain = jax.jit(lambda x, w: jax.lax.fori_loop(0, depth, lambda _, y: jnp.tanh(y @ w), x))
jax.block_until_ready(chain(x, w))
rates, end = [], time.perf_counter() + float(sys.argv[2])
while time.perf_counter() < end:
    start = time.perf_counter()
    for _ in range(5):
        y = chain(x, w)
    jax.block_until_ready(y)
    rates.append(2 * 256**3 * 5 * depth / (time.perf_counter() - start) / 1e9)
rates.sort()
print(json.dumps({"core": int(sys.argv[1]), "gflop_per_second": rates[len(rates) // 2], "windows": len(rates)}))
"""


def core_bound(seconds: float = 8.0) -> dict[str, Any]:
    """Median matmul GFLOP/s of one single-threaded XLA process per core, all running at once, and their sum."""
    cores = sorted(os.sched_getaffinity(0))
    env = process_env(True)
    procs = [subprocess.Popen([sys.executable, "-c", _MATMUL_CHILD, str(c), str(seconds)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for c in cores]
    per_core = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError(f"matmul process failed (exit {p.returncode}): {err.strip().splitlines()[-1:]}")
        per_core.append(json.loads(out.strip().splitlines()[-1]))
    return {"per_core": per_core, "gflop_per_second": sum(c["gflop_per_second"] for c in per_core),
            "seconds": seconds}


def split_throughput(env: str, steps: int, warmup: int, seeds: list[int]) -> dict[str, Any]:
    """The same seeds split over the cores: one single-threaded ``wrl train --seeds ...`` process pinned to each
    core, all at once (seeds dealt out as evenly as they go). A process with fewer seeds measures
    proportionally more steps, so that the processes run side by side for about the same time. Returns each
    process's steps/s and the total updates/s (steps/s x seeds, summed)."""
    cores = sorted(os.sched_getaffinity(0))
    chunks = [c for c in (seeds[i::len(cores)] for i in range(len(cores))) if c]
    most = max(len(c) for c in chunks)

    def one(core: int, chunk: list[int]) -> dict[str, Any]:
        n = max(500, round(steps * most / len(chunk) / 500) * 500)
        group = ["--seeds", *map(str, chunk)] if len(chunk) > 1 else ["--seed", str(chunk[0])]
        r = wrl_throughput("sac", env, n, warmup, group, single_thread=True, cores={core})
        return {"core": core, "seeds": chunk, **r}

    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        procs = list(pool.map(one, cores[:len(chunks)], chunks))
    return {"processes": procs,
            "updates_per_second": sum(p["steps_per_second"] * len(p["seeds"]) for p in procs)}


def wrl_experiment(seeds: list[int], env: str, steps: int, warmup: int, compile_cache: str = "off") -> dict[str, Any]:
    """Process wall-clock of ``wrl train --seeds ...`` for ``steps`` steps (no evaluation, one checkpoint), with
    the persistent compilation cache in ``compile_cache`` ("off": none)."""
    start = time.perf_counter()
    s = run_wrl(["--algo", "sac", "--env", env, "--seeds", *map(str, seeds), "--total-steps", str(steps),
                 "--learning-starts", str(warmup), "--eval-every", str(steps), "--eval-episodes", "1",
                 "--checkpoint-every", "1000000000", "--log-every", "1000", "--batch-size", "256", "--utd", "1",
                 "--compile-cache", compile_cache])
    return {"wall_seconds": time.perf_counter() - start, "command": s["command"]}


def sbx_experiment(seeds: list[int], env: str, steps: int, warmup: int, parallel: int = 2) -> dict[str, Any]:
    """Process wall-clock of one SBX SAC run per seed, ``parallel`` processes at a time."""
    from wrl.lab.bench.peers import peer_throughput, require_peer

    require_peer("sbx")

    def one(seed: int) -> dict[str, Any]:
        return peer_throughput("sbx", env.partition(":")[2], steps=max(steps - warmup - 10, 1),
                               warmup_steps=warmup, seed=seed)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        runs = list(pool.map(one, seeds))
    return {"wall_seconds": time.perf_counter() - start, "parallel": parallel,
            "per_run_process_seconds": [r["process_seconds"] for r in runs]}


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench seeds``."""

    env: str = hp("gym:HalfCheetah-v5", "environment id")
    seeds: int = hp(5, "seeds side by side", ge=2)
    steps: int = hp(3000, "measured steps of the rate runs", gt=0)
    warmup: int = hp(1000, "random steps before learning (at least one batch)", ge=256)
    experiment_steps: int = hp(20_000, "steps per seed of the wall-clock experiment (0: skip it; else more than "
                                       "--warmup + 10)", ge=0)
    bound_seconds: float = hp(8.0, "seconds of each bound measurement")
    out: str | None = hp(None, "output path without extension: writes OUT.md and OUT.json (default: none)")


def run(opts: Options) -> int:
    if 0 < opts.experiment_steps <= opts.warmup + 10:
        raise ConfigError(f"--experiment-steps must exceed --warmup + 10 ({opts.warmup + 10})")
    seeds = list(range(opts.seeds))
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "seeds": opts.seeds}
    print("bound: one pinned single-threaded matmul process per core ...", flush=True)
    bound = results["bound"] = core_bound(opts.bound_seconds)
    print("XLA's FLOP count of one SAC update ...", flush=True)
    gflop = results["gflop_per_update"] = update_ceiling("sac", opts.env, updates=30)["gflop_per_update"]
    print("one seed ...", flush=True)
    one = results["one_seed"] = wrl_throughput("sac", opts.env, opts.steps, opts.warmup)
    print(f"{opts.seeds} seeds side by side ...", flush=True)
    group = results["group"] = wrl_throughput("sac", opts.env, opts.steps, opts.warmup,
                                              ["--seeds", *map(str, seeds)])
    print(f"{opts.seeds} seeds split over the cores, one single-threaded process each ...", flush=True)
    split = results["split"] = split_throughput(opts.env, opts.steps, opts.warmup, seeds)
    rate_one = one["steps_per_second"] * gflop
    rate_group = group["steps_per_second"] * opts.seeds * gflop
    rate_split = split["updates_per_second"] * gflop
    results["fraction_of_bound"] = {"one_seed": rate_one / bound["gflop_per_second"],
                                    "group": rate_group / bound["gflop_per_second"],
                                    "split": rate_split / bound["gflop_per_second"]}
    layout = " + ".join(str(len(p["seeds"])) for p in split["processes"])
    rows = [["one seed", one["steps_per_second"], one["steps_per_second"], rate_one,
             rate_one / bound["gflop_per_second"]],
            [f"{opts.seeds} seeds in one process", group["steps_per_second"], group["steps_per_second"] * opts.seeds,
             rate_group, rate_group / bound["gflop_per_second"]],
            [f"{opts.seeds} seeds as one pinned single-threaded process per core ({layout})",
             " / ".join(f"{p['steps_per_second']:.0f}" for p in split["processes"]), split["updates_per_second"],
             rate_split, rate_split / bound["gflop_per_second"]]]
    table = markdown_table(["wrl SAC", "steps/s per seed", "updates/s, all seeds", "update GFLOP/s",
                            "x the bound"], rows)
    per_core = ", ".join(f"core {c['core']}: {c['gflop_per_second']:.0f}" for c in bound["per_core"])
    text = [table, "", f"Bound: {bound['gflop_per_second']:.0f} GFLOP/s ({per_core}; one single-threaded XLA "
            f"process pinned to each core, at once). One SAC update: {gflop:.3f} GFLOP (XLA's count)."]
    if opts.experiment_steps:
        with tempfile.TemporaryDirectory(prefix="wrl-cache-") as cache:  # cold, then the same command warm
            ours = {}
            for phase in ("cold", "warm"):
                print(f"wall-clock: wrl, {opts.seeds} seeds in one process, {phase} compilation cache ...", flush=True)
                ours[phase] = wrl_experiment(seeds, opts.env, opts.experiment_steps, opts.warmup, cache)
        results["experiment_wrl"] = ours["cold"]
        results["experiment_wrl_warm"] = ours["warm"]
        print(f"wall-clock: SBX, {opts.seeds} runs two at a time ...", flush=True)
        theirs = results["experiment_sbx"] = sbx_experiment(seeds, opts.env, opts.experiment_steps, opts.warmup)
        ratio = results["experiment_ratio"] = ours["cold"]["wall_seconds"] / theirs["wall_seconds"]
        results["experiment_ratio_warm"] = ours["warm"]["wall_seconds"] / theirs["wall_seconds"]
        text += ["", markdown_table(
            [f"{opts.seeds} seeds x {opts.experiment_steps} steps", "wall-clock s", "x SBX"],
            [[f"wrl SAC, {opts.seeds} seeds in one process, cold compilation cache", ours["cold"]["wall_seconds"],
              ratio],
             [f"wrl SAC, {opts.seeds} seeds in one process, warm compilation cache", ours["warm"]["wall_seconds"],
              results["experiment_ratio_warm"]],
             ["SBX SAC, one process per seed, two at a time", theirs["wall_seconds"], 1.0]])]
    report = "\n".join(text)
    print(report)
    if opts.out:
        write_report(opts.out, f"Seeds side by side, {opts.env}", results,
                     f"SAC, UTD 1, batch 256, (256, 256) MLPs, one environment per seed, {opts.warmup} random steps "
                     f"first; rates over {opts.steps} measured steps after learning starts.\n\n{report}")
    return 0

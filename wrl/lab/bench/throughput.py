"""`wrl bench throughput`: training steps/s of wrl agents against SB3 and SBX SAC, in one run.

All runs use the same settings: HalfCheetah-v5, one environment, one update per step (UTD 1), batch 256,
(256, 256) MLPs, a 1M replay, ``--warmup`` uniform-random steps first. Each run is a fresh process; its
steps/s are measured after learning has started (compilation and warmup excluded). The ceiling is the
compiled SAC update alone (replay sampling included) on this machine: no environment, no host work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wrl.config import hp
from wrl.lab.bench.common import (
    command_line,
    machine_info,
    machine_line,
    markdown_table,
    parse_variant,
    run_wrl,
    write_json,
)

WRL_ALGOS = ("sac", "td3", "wpo")


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench throughput``."""

    env: str = hp("gym:HalfCheetah-v5", "environment id")
    steps: int = hp(3000, "measured steps per run", gt=0)
    warmup: int = hp(1000, "random steps before learning (at least one batch)", ge=256)
    algos: tuple[str, ...] = hp(WRL_ALGOS, "wrl algorithms to measure, each ALGO or 'LABEL=ALGO [wrl train "
                                "options]'", nargs="+")
    peers: tuple[str, ...] = hp(("sbx", "sb3"), "peer libraries (sbx, sb3; none: skip)")
    ceiling_updates: int = hp(2000, "updates timed for each update-only ceiling", ge=3)
    json: str | None = hp(None, "write the results to this JSON file (default: none)")
    markdown: str | None = hp(None, "write a markdown report to this file (default: none)")


def wrl_throughput(algo: str, env: str, steps: int, warmup: int, extra: list[str] | None = None,
                   single_thread: bool = False, cores: set[int] | None = None) -> dict[str, Any]:
    """steps/s of ``wrl train --algo ALGO`` over the metric rows after learning starts (+1 row to settle);
    ``single_thread`` and ``cores`` as in :func:`wrl.lab.bench.common.run_wrl`."""
    log_every = 500
    s = run_wrl(["--algo", algo, "--env", env, "--total-steps", str(warmup + log_every + steps),
                 "--learning-starts", str(warmup), "--eval-every", "1000000000", "--checkpoint-every",
                 "1000000000", "--log-every", str(log_every), "--utd", "1", "--batch-size", "256",
                 "--eval-episodes", "1", *(extra or [])], single_thread=single_thread, cores=cores)
    rows = [r for r in s["rows"] if "charts/SPS" in r and r["step"] > warmup + log_every]
    seconds = sum(log_every / r["charts/SPS"] for r in rows)
    return {"steps_per_second": len(rows) * log_every / seconds, "measured_steps": len(rows) * log_every,
            "command": s["command"]}


def update_ceiling(algo: str, env: str, updates: int = 2000, extra: list[str] | None = None) -> dict[str, Any]:
    """Updates/s of the compiled update alone (batch 256, replay sampling included, no env); ``extra`` are
    `wrl train` options of the agent (e.g. ``--num-samples 32``)."""
    import jax
    import numpy as np

    from wrl.agents import make_agent
    from wrl.envs import env_spec
    from wrl.lab.cli import configs_from_argv
    from wrl.replay import replay_add
    from wrl.training.step import init_train_state, make_update_only

    spec = env_spec(env)
    cfg, agent_cfg = configs_from_argv(["--algo", algo, "--env", env, *(extra or []), "--batch-size", "256",
                                        "--utd", "1"])
    agent = make_agent(algo, agent_cfg, spec.obs_dim, spec.act_dim)
    ts = init_train_state(agent, cfg, spec.obs_dim, spec.act_dim)
    rng = np.random.default_rng(0)
    n = 10_000
    replay = replay_add(ts.replay, rng.normal(size=(n, spec.obs_dim)), rng.uniform(-1, 1, (n, spec.act_dim)),
                        rng.normal(size=n), rng.normal(size=(n, spec.obs_dim)), np.zeros(n, bool), np.zeros(n, bool))
    ts = ts._replace(replay=replay)
    update = make_update_only(agent, cfg)
    cost = update.lower(ts).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    gflop = float(cost.get("flops", float("nan"))) / 1e9  # XLA's count for one update (multiply-add = 2)
    for _ in range(20):
        ts = update(ts)
    jax.block_until_ready(ts)
    rates = []
    for _ in range(3):  # best of three segments: the ceiling is what the machine can do when undisturbed
        start = time.perf_counter()
        for _ in range(updates // 3):
            ts = update(ts)
        jax.block_until_ready(ts)
        rates.append((updates // 3) / (time.perf_counter() - start))
    return {"steps_per_second": max(rates), "segments": rates, "updates": updates, "gflop_per_update": gflop,
            "gflop_per_second": gflop * max(rates)}


def matmul_rate(batch: int = 256, width: int = 256, depth: int = 50) -> dict[str, Any]:
    """GFLOP/s of XLA on this machine for the update's dominant op: x <- tanh(x @ W), x (256, 256), W (256, 256).

    ``depth`` dependent products run in one compiled call (no dispatch overhead); best of three repeats.
    An update that does F GFLOP cannot run faster than F / rate on this machine at this matmul shape.
    """
    import jax
    import jax.numpy as jnp

    x = jnp.full((batch, width), 0.01, jnp.float32)
    w = jnp.full((width, width), 0.01, jnp.float32)
    chain = jax.jit(lambda x, w: jax.lax.fori_loop(0, depth, lambda _, y: jnp.tanh(y @ w), x))
    jax.block_until_ready(chain(x, w))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(10):
            y = chain(x, w)
        jax.block_until_ready(y)
        best = min(best, (time.perf_counter() - start) / (10 * depth))
    return {"shape": [batch, width, width], "gflop_per_second": 2 * batch * width * width / best / 1e9}


def run(opts: Options) -> int:
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "settings": {"utd": 1, "batch_size": 256, "hidden": [256, 256], "num_envs": 1,
                                            "warmup": opts.warmup, "steps": opts.steps}, "runs": {}}
    peers = [p for p in opts.peers if p != "none"]
    if peers:
        from wrl.lab.bench.peers import peer_throughput, require_peer

        for lib in peers:
            require_peer(lib)
    variants = [parse_variant(spec) for spec in opts.algos]
    for label, algo, options in variants:
        print(f"wrl {label} ...", flush=True)
        results["runs"][f"wrl {label}"] = wrl_throughput(algo, opts.env, opts.steps, opts.warmup, options)
    for lib in peers:
        print(f"{lib} sac ...", flush=True)
        r = peer_throughput(lib, opts.env.partition(":")[2], steps=opts.steps, warmup_steps=opts.warmup)
        results["runs"][f"{lib} sac"] = r
    results["matmul"] = matmul_rate()
    results["ceilings"] = {}
    for label, algo, options in variants:
        print(f"wrl {label} update-only ceiling ...", flush=True)
        results["ceilings"][label] = update_ceiling(algo, opts.env, updates=opts.ceiling_updates, extra=options)

    runs, ceilings = results["runs"], results["ceilings"]
    sps = {k: v["steps_per_second"] for k, v in runs.items()}
    rows = []
    for name, v in sps.items():
        algo = name.removeprefix("wrl ")
        row = [name, v]
        row.append(v / sps["sbx sac"] if "sbx sac" in sps else "-")
        row.append(v / sps["sb3 sac"] if "sb3 sac" in sps else "-")
        row.append(v / ceilings[algo]["steps_per_second"] if name.startswith("wrl ") else "-")
        rows.append(row)
    table = markdown_table(["run", "steps/s", "x SBX SAC", "x SB3 SAC", "x its update-only ceiling"], rows)
    results["ratios"] = {r[0]: {"vs_sbx": r[2], "vs_sb3": r[3], "vs_ceiling": r[4]} for r in rows}
    peak = results["matmul"]["gflop_per_second"]
    ceiling_table = markdown_table(
        ["compiled update alone", "updates/s", "GFLOP per update (XLA)", "achieved GFLOP/s",
         "updates/s if every FLOP ran at the matmul rate"],
        [[f"wrl {a}", c["steps_per_second"], c["gflop_per_update"], c["gflop_per_second"],
          peak / c["gflop_per_update"]] for a, c in ceilings.items()])
    ceiling_table += (f"\n\nMatmul rate of XLA here (tanh(x @ W), 256 x 256 x 256, float32, one compiled "
                      f"chain): {peak:.0f} GFLOP/s.")
    table = f"{table}\n\n{ceiling_table}"
    print(table)
    write_json(opts.json, results)
    if opts.markdown:
        from pathlib import Path

        m = results["machine"]
        Path(opts.markdown).write_text(
            f"# Training throughput, {opts.env}\n\nCommand: `{results['command']}`\n\n"
            f"{machine_line(m)}\n"
            f"Settings: UTD 1, batch 256, (256, 256) MLPs, one environment, {opts.warmup} random steps, "
            f"{opts.steps} measured steps per run, each run in a fresh process.\n\n{table}\n")
    return 0

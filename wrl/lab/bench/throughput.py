"""`wrl bench throughput`: training steps/s of wrl agents against their peers (SBX SAC, CrossQ and TQC, SB3 SAC), in
one run; the update alone of each agent and of SAC with each critic, against the machine's matmul rate.

All runs use the same settings: HalfCheetah-v5, one environment, one update per step (UTD 1), batch 256,
(256, 256) MLPs unless a variant says otherwise, a 1M replay, ``--warmup`` uniform-random steps first. Each run is
a fresh process; its steps/s are measured after learning has started (compilation and warmup excluded).

Peers are ``LIB:ALGO`` (``sbx:sac``, ``sbx:crossq``, ``sbx:tqc``, ``sb3:sac``; ``sbx`` and ``sb3`` alone are their
SAC). Each wrl variant is paired with the peer that runs its algorithm (SAC with the plain critic: SAC; with
``--critic crossq``: CrossQ; with ``--critic-loss quantile``: TQC; see :func:`wrl.lab.bench.peers.matched_algo`),
and each peer is built with the settings of the first variant paired with it
(:func:`wrl.lab.bench.peers.peer_settings`); a peer no variant pairs with brings its own
(:data:`wrl.lab.bench.peers.REFERENCE_VARIANTS`, e.g. ``crossq=sac --preset crossq --alpha-lr 1e-3``).
``--crossq-width`` sets the CrossQ critic's width on both sides. The report's ``x matched peer`` column is each
variant against its own peer; ``x SBX SAC`` and ``x SB3 SAC`` against the SAC of each library.

The update-only ceilings time the compiled update alone (replay sampling included, no environment, no host
work): of each variant, and (``--critics``) of SAC with each critic at its preset (``--preset crossq``,
``simba``, ``simbav2``, ``bro``; ``--critic mlp`` and ``layernorm`` at (256, 256)) with one actor update per
critic update, batch 256, each in a fresh process (a critic that fails or takes more than 120 s plus ten times
``--ceiling-seconds`` is reported as such), with XLA's FLOP count of one update, the GFLOP/s that achieves and that
as a fraction of the matmul rate of XLA on this machine (tanh(x @ W), 256 x 256 x 256; and at the critic's width,
256 x W x W).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from wrl.config import hp
from wrl.critics.critic import ARCHITECTURES
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

WRL_ALGOS = ("sac", "td3", "wpo")
LOG_EVERY = 500
# the settings of SAC's critic in the critics table: the published configuration, or the plain critics of wrl
CRITIC_OPTIONS: dict[str, tuple[str, ...]] = {
    "mlp": ("--critic", "mlp"), "layernorm": ("--critic", "layernorm"), "crossq": ("--preset", "crossq"),
    "simba": ("--preset", "simba"), "simbav2": ("--preset", "simbav2"), "bro": ("--preset", "bro")}


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench throughput``."""

    env: str = hp("gym:HalfCheetah-v5", "environment id")
    steps: int = hp(3000, "measured steps per run", gt=0)
    warmup: int = hp(1000, "random steps before learning (at least one batch)", ge=256)
    algos: tuple[str, ...] = hp(WRL_ALGOS, "wrl algorithms to measure, each ALGO or 'LABEL=ALGO [wrl train "
                                "options]'", nargs="+")
    peers: tuple[str, ...] = hp(("sbx", "sb3"), "peers, each LIB:ALGO: sbx:sac, sbx:crossq, sbx:tqc, sb3:sac (sbx, "
                                "sb3: their SAC), each with the settings of the wrl variant it is paired with, "
                                "adding one when none is; none: skip", nargs="+")
    crossq_width: int = hp(2048, "CrossQ's critic width on both sides: every wrl variant with the crossq critic, SBX "
                                 "CrossQ and the crossq row of --critics (the paper: 2048; SBX's default: 1024)", ge=1)
    critics: tuple[str, ...] = hp(ARCHITECTURES, "critics whose SAC update alone is measured (none: skip)",
                                  nargs="+", choices=(*ARCHITECTURES, "none"))
    critic_width: int | None = hp(None, "width of every critic in the critics table (default: each preset's; "
                                        "crossq: --crossq-width)", ge=1)
    ceiling_updates: int = hp(2000, "updates timed for each update-only ceiling", ge=3)
    ceiling_seconds: float = hp(30.0, "at most about this many seconds timing each update-only ceiling (fewer than "
                                      "--ceiling-updates updates where they are slow)", gt=0)
    json: str | None = hp(None, "write the results to this JSON file (default: none)")
    markdown: str | None = hp(None, "write a markdown report to this file (default: none)")


def throughput_args(algo: str, env: str, steps: int, warmup: int, extra: list[str] | None = None) -> list[str]:
    """The `wrl train` options of a throughput run of ``algo`` (``extra``: the variant's own options)."""
    return ["--algo", algo, "--env", env, "--total-steps", str(warmup + LOG_EVERY + steps), "--learning-starts",
            str(warmup), "--eval-every", "1000000000", "--checkpoint-every", "1000000000", "--log-every",
            str(LOG_EVERY), "--utd", "1", "--batch-size", "256", "--eval-episodes", "1", *(extra or [])]


def wrl_throughput(algo: str, env: str, steps: int, warmup: int, extra: list[str] | None = None,
                   single_thread: bool = False, cores: set[int] | None = None) -> dict[str, Any]:
    """steps/s of ``wrl train --algo ALGO`` over the metric rows after learning starts (+1 row to settle);
    ``single_thread`` and ``cores`` as in :func:`wrl.lab.bench.common.run_wrl`."""
    s = run_wrl(throughput_args(algo, env, steps, warmup, extra), single_thread=single_thread, cores=cores)
    rows = [r for r in s["rows"] if "charts/SPS" in r and r["step"] > warmup + LOG_EVERY]
    seconds = sum(LOG_EVERY / r["charts/SPS"] for r in rows)
    return {"steps_per_second": len(rows) * LOG_EVERY / seconds, "measured_steps": len(rows) * LOG_EVERY,
            "command": s["command"]}


def update_ceiling(algo: str, env: str, updates: int = 2000, extra: list[str] | None = None,
                   max_seconds: float | None = None) -> dict[str, Any]:
    """Updates/s of the compiled update alone (batch 256, replay sampling included, no env); ``extra`` are
    `wrl train` options of the agent (e.g. ``--num-samples 32``). ``max_seconds``: time fewer than ``updates``
    updates when the first ones say that they would take longer (at least one per segment)."""
    import jax
    import numpy as np

    from wrl.agents import make_agent
    from wrl.envs import env_spec
    from wrl.lab.cli import configs_from_argv
    from wrl.replay import replay_add
    from wrl.training.step import init_train_state, make_update_only
    from wrl.training.trainer import with_run_length

    spec = env_spec(env)
    cfg, agent_cfg = configs_from_argv(["--algo", algo, "--env", env, *(extra or []), "--batch-size", "256",
                                        "--utd", "1"])
    agent_cfg = with_run_length(cfg, agent_cfg)  # a decaying learning rate needs its horizon
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
    ts = update(ts)
    jax.block_until_ready(ts)
    start = time.perf_counter()
    for _ in range(20):
        ts = update(ts)
    jax.block_until_ready(ts)
    segment = updates // 3
    if max_seconds is not None:
        segment = max(1, min(segment, int(max_seconds / 3 * 20 / (time.perf_counter() - start))))
    rates = []
    for _ in range(3):  # best of three segments: the ceiling is what the machine can do when undisturbed
        start = time.perf_counter()
        for _ in range(segment):
            ts = update(ts)
        jax.block_until_ready(ts)
        rates.append(segment / (time.perf_counter() - start))
    return {"steps_per_second": max(rates), "segments": rates, "updates": 3 * segment, "gflop_per_update": gflop,
            "gflop_per_second": gflop * max(rates), "critic_hidden": list(getattr(agent_cfg, "critic_hidden", ())),
            "policy_delay": getattr(agent_cfg, "policy_delay", 1)}


def matmul_rate(batch: int = 256, width: int = 256, depth: int = 50) -> dict[str, Any]:
    """GFLOP/s of XLA on this machine for the update's dominant op: x <- tanh(x @ W), x (batch, width), W (width,
    width); by default (256, 256) @ (256, 256).

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


def matmul_rate_at(width: int) -> dict[str, Any]:
    """:func:`matmul_rate` of (256, width) @ (width, width), its chain as long as the (256, 256) one in FLOPs."""
    return matmul_rate(width=width, depth=max(1, round(50 * (256 / width) ** 2)))


@dataclass
class Variant:
    """A wrl variant of the run: its label, algorithm and `wrl train` options, and the peer algorithm it is paired
    with (None: none runs its algorithm)."""

    label: str
    algo: str
    options: list[str]
    peer_algo: str | None = None
    settings: tuple[Any, Any] | None = field(default=None, repr=False)  # (TrainConfig, agent config)


def plan(opts: Options) -> tuple[list[Variant], list[tuple[Any, dict[str, Any], list[str], str]]]:
    """The wrl variants and the peers of a run: each peer with its constructor options, the settings it cannot
    match and the label of the variant they come from. Adds a reference variant for a peer none pairs with;
    widens every CrossQ variant to ``--crossq-width``. Nothing runs."""
    from wrl.lab.bench.peers import REFERENCE_VARIANTS, matched_algo, parse_peers, peer_settings
    from wrl.lab.cli import configs_from_argv

    peers = parse_peers(opts.peers)
    width = [str(opts.crossq_width)] * 2

    def resolve(label: str, algo: str, options: list[str]) -> Variant:
        settings = configs_from_argv(throughput_args(algo, opts.env, opts.steps, opts.warmup, options))
        peer_algo = matched_algo(algo, settings[1])
        if peer_algo == "crossq":  # both sides at --crossq-width (the last --critic-hidden wins)
            options = [*options, "--critic-hidden", *width]
            settings = configs_from_argv(throughput_args(algo, opts.env, opts.steps, opts.warmup, options))
        return Variant(label, algo, options, peer_algo, settings)

    variants = [resolve(*parse_variant(spec)) for spec in opts.algos]
    for peer in peers:
        if not any(v.peer_algo == peer.algo for v in variants):
            variants.append(resolve(*parse_variant(REFERENCE_VARIANTS[peer.algo])))
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two wrl variants are labelled {next(x for x in labels if labels.count(x) > 1)!r} (a "
                          f"peer's reference variant has its algorithm's name); name variants LABEL=ALGO")
    planned = []
    for peer in peers:
        source = next(v for v in variants if v.peer_algo == peer.algo)
        kwargs, diffs = peer_settings(peer, *source.settings)
        planned.append((peer, kwargs, diffs, source.label))
    return variants, planned


def matched_peer(variant_peer_algo: str | None, peer_names: list[str]) -> str | None:
    """The peer run a variant is compared with: SBX's run of its algorithm, else SB3's; None when there is none."""
    if variant_peer_algo is None:
        return None
    return next((name for lib in ("sbx", "sb3") if (name := f"{lib} {variant_peer_algo}") in peer_names), None)


def ratio_table(runs: dict[str, dict[str, Any]], ceilings: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The steps/s table and its ratios: every run against its matched peer (``matched_peer`` of a wrl run),
    against SBX SAC and SB3 SAC, and a wrl run against its update-only ceiling."""
    sps = {k: v["steps_per_second"] for k, v in runs.items()}
    rows, ratios = [], {}
    for name, v in sps.items():
        wrl = name.startswith("wrl ")
        peer = runs[name].get("matched_peer") if wrl else None
        ratio = {"matched_peer": peer, "vs_matched": v / sps[peer] if peer in sps else "-",
                 "vs_sbx": v / sps["sbx sac"] if "sbx sac" in sps else "-",
                 "vs_sb3": v / sps["sb3 sac"] if "sb3 sac" in sps else "-",
                 "vs_ceiling": v / ceilings[name.removeprefix("wrl ")]["steps_per_second"] if wrl else "-"}
        ratios[name] = ratio
        rows.append([name, v, peer or "-", ratio["vs_matched"], ratio["vs_sbx"], ratio["vs_sb3"], ratio["vs_ceiling"]])
    table = markdown_table(["run", "steps/s", "matched peer", "x matched peer", "x SBX SAC", "x SB3 SAC",
                            "x its update-only ceiling"], rows)
    return table, ratios


_UPDATE_ALONE_CHILD = ("import json, sys; from wrl.lab.bench.throughput import update_ceiling; "
                       "print(json.dumps(update_ceiling(*json.loads(sys.argv[1]))))")


def update_alone_in_process(algo: str, env: str, updates: int, extra: list[str], max_seconds: float,
                            timeout: float) -> dict[str, Any]:
    """:func:`update_ceiling` in a fresh process (one measurement cannot disturb the next, nor hang the run): its
    result, or ``{"error": why}`` when the process failed or ran past ``timeout`` seconds."""
    import subprocess
    import sys

    from wrl.lab.bench.common import process_env

    cmd = [sys.executable, "-c", _UPDATE_ALONE_CHILD, json.dumps([algo, env, updates, extra, max_seconds])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=process_env())
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def critic_options(name: str, width: int | None, crossq_width: int) -> list[str]:
    """The `wrl train` options of SAC with critic ``name`` in the critics table: its preset (or plain critic), one
    actor update per critic update, at ``width`` if given (crossq: else ``crossq_width``)."""
    w = width if width is not None else (crossq_width if name == "crossq" else None)
    return [*CRITIC_OPTIONS[name], "--policy-delay", "1", *(["--critic-hidden", str(w), str(w)] if w else [])]


def critic_table(critics: dict[str, dict[str, Any]], matmul: dict[str, Any]) -> str:
    """SAC's update alone with each critic: XLA's FLOPs, the achieved rate and its fraction of the matmul rates
    (a critic whose measurement failed: its error)."""
    peak = matmul["gflop_per_second"]
    rows = [[name, " ".join(c["options"]), "x".join(map(str, c["critic_hidden"])), c["steps_per_second"],
             c["gflop_per_update"], c["gflop_per_second"], c["gflop_per_second"] / peak,
             c["gflop_per_second"] / c["matmul_at_width"]["gflop_per_second"]] if "error" not in c else
            [name, " ".join(c["options"]), "-", f"failed: {c['error']}", "-", "-", "-", "-"]
            for name, c in critics.items()]
    return markdown_table(["critic", "wrl train options (sac)", "width", "updates/s", "GFLOP per update (XLA)",
                           "achieved GFLOP/s", "x matmul rate", "x matmul rate at its width"], rows)


def _peer_lines(results: dict[str, Any]) -> str:
    lines = []
    for name, r in results["runs"].items():
        if name.startswith("wrl "):
            continue
        diffs = "; ".join(r["differences"]) or "none"
        lines.append(f"- {name} (paired with wrl {r['matched_to']}): `{json.dumps(r['kwargs'], sort_keys=True)}`; "
                     f"not matched: {diffs}")
    return "\n".join(lines)


def run(opts: Options) -> int:
    variants, peers = plan(opts)
    if peers:
        from wrl.lab.bench.peers import peer_throughput, require_peer

        for peer, *_ in peers:
            require_peer(peer.lib)
    critics = [] if opts.critics == ("none",) else list(dict.fromkeys(opts.critics))
    if "none" in critics:
        raise ConfigError("--critics none cannot be given with critics")
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "settings": {"utd": 1, "batch_size": 256, "hidden": [256, 256], "num_envs": 1,
                                            "warmup": opts.warmup, "steps": opts.steps,
                                            "crossq_width": opts.crossq_width}, "runs": {}}
    peer_names = [peer.name for peer, *_ in peers]
    for v in variants:
        print(f"wrl {v.label} ...", flush=True)
        r = wrl_throughput(v.algo, opts.env, opts.steps, opts.warmup, v.options)
        results["runs"][f"wrl {v.label}"] = {**r, "matched_peer": matched_peer(v.peer_algo, peer_names)}
    for peer, kwargs, diffs, source in peers:
        print(f"{peer.name} ...", flush=True)
        r = peer_throughput(peer.lib, opts.env.partition(":")[2], algo=peer.algo, kwargs=kwargs, steps=opts.steps,
                            warmup_steps=opts.warmup)
        results["runs"][peer.name] = {**r, "kwargs": kwargs, "differences": diffs, "matched_to": source}
    results["matmul"] = matmul_rate()
    results["ceilings"] = {}
    for v in variants:
        print(f"wrl {v.label} update-only ceiling ...", flush=True)
        results["ceilings"][v.label] = update_ceiling(v.algo, opts.env, updates=opts.ceiling_updates, extra=v.options,
                                                      max_seconds=opts.ceiling_seconds)
    results["critics"] = {}
    at_width: dict[int, dict[str, Any]] = {}
    for name in critics:
        options = critic_options(name, opts.critic_width, opts.crossq_width)
        print(f"wrl sac {' '.join(options)}: update alone ...", flush=True)
        c = update_alone_in_process("sac", opts.env, opts.ceiling_updates, options, opts.ceiling_seconds,
                                    timeout=120 + 10 * opts.ceiling_seconds)
        if "error" in c:
            print(f"  {name}: {c['error']}", flush=True)
        else:
            width = c["critic_hidden"][0]
            if width not in at_width:
                at_width[width] = matmul_rate_at(width)
            c["matmul_at_width"] = at_width[width]
        results["critics"][name] = {**c, "options": options}

    table, results["ratios"] = ratio_table(results["runs"], results["ceilings"])
    peak = results["matmul"]["gflop_per_second"]
    ceiling_table = markdown_table(
        ["compiled update alone", "updates/s", "GFLOP per update (XLA)", "achieved GFLOP/s",
         "updates/s if every FLOP ran at the matmul rate"],
        [[f"wrl {a}", c["steps_per_second"], c["gflop_per_update"], c["gflop_per_second"],
          peak / c["gflop_per_update"]] for a, c in results["ceilings"].items()])
    if any(c["policy_delay"] > 1 for c in results["ceilings"].values()):
        ceiling_table += ("\n\nWith a policy delay (TD3: 2, CrossQ: 3) XLA counts the update's conditional actor "
                          "step at its costlier branch, i.e. as if the actor were trained in every update: those "
                          "rows' FLOPs and GFLOP/s are upper bounds. The critics table below trains the actor in "
                          "every update.")
    ceiling_table += (f"\n\nMatmul rate of XLA here (tanh(x @ W), 256 x 256 x 256, float32, one compiled "
                      f"chain): {peak:.0f} GFLOP/s.")
    text = [table, ceiling_table]
    if results["critics"]:
        widths = ", ".join(f"{w}: {m['gflop_per_second']:.0f}" for w, m in sorted(at_width.items()))
        text.append(f"SAC's update alone with each critic (batch 256, one actor update per critic update):\n\n"
                    f"{critic_table(results['critics'], results['matmul'])}\n\nMatmul rate at each width W "
                    f"(tanh(x @ W), 256 x W x W), GFLOP/s: {widths}.")
    if peers:
        text.append(f"Peers' constructor options (from the wrl variant each is paired with):\n\n{_peer_lines(results)}")
    report = "\n\n".join(text)
    print(report)
    write_json(opts.json, results)
    if opts.markdown:
        from pathlib import Path

        m = results["machine"]
        Path(opts.markdown).write_text(
            f"# Training throughput, {opts.env}\n\nCommand: `{results['command']}`\n\n"
            f"{machine_line(m)}\n"
            f"Settings: UTD 1, batch 256, (256, 256) MLPs unless a variant sets others (CrossQ's critic: "
            f"{opts.crossq_width} x {opts.crossq_width}), one environment, {opts.warmup} random steps, "
            f"{opts.steps} measured steps per run, each run in a fresh process.\n\n{report}\n")
    return 0

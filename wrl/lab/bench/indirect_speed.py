"""`wrl bench indirect-speed`: what M policy particles side by side cost against one agent alone.

The indirect particle method (``wrl train --algo wgf-indirect``) trains M policies in one compiled program,
each stepping ``--envs-per-particle`` environments of its own. This command runs, each in a fresh process and
with the same settings otherwise:

- one agent alone (M = 1, ``--method independent``) with E environments;
- M particles with M E environments, for each ``--methods`` entry (the interaction: blob, gfsd, gfsf, svgd, or
  independent, no interaction);

and reports the environment steps per second of training (the compiled step, the host environments and the
update every ``--update-every`` steps; measured over the metric rows after the first, so compilation is
excluded), the steps per second per particle, and the *side-by-side speed-up*: M particles' steps/s over one
agent's, i.e. how much faster the group is than running its M agents one after the other. It also times the
compiled on-policy update alone (no environment) for each configuration, which shows what the interaction
adds to the vmapped policy-gradient estimates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wrl.config import hp
from wrl.errors import ConfigError
from wrl.lab.bench.common import command_line, machine_info, markdown_table, run_wrl, write_report


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench indirect-speed``."""

    env: str = hp("gym:InvertedDoublePendulum-v5", "environment id")
    particles: int = hp(8, "M, the particles of the group", ge=2)
    envs_per_particle: int = hp(4, "E, environments per particle", ge=1)
    update_every: int = hp(5, "rollout length between updates", ge=1)
    methods: tuple[str, ...] = hp(("independent", "blob", "svgd"), "interactions of the group", nargs="+")
    steps_per_particle: int = hp(20000, "environment steps per particle in each run", ge=1)
    update_repeats: int = hp(300, "updates timed for the update-only cost", ge=1)
    repeats: int = hp(2, "training runs per configuration, in alternating order; the fastest counts", ge=1)
    out: str | None = hp(None, "output path without extension: writes OUT.md and OUT.json (default: none)")


def _training_rate(env: str, m: int, e: int, method: str, steps_per_particle: int, update_every: int) -> dict:
    """Env steps/s of one `wrl train` run over its metric rows after the first (compilation excluded)."""
    total = m * e * update_every * max(1, steps_per_particle // (e * update_every))  # whole rollouts per env
    log_every = max(total // 10, m * e * update_every)
    s = run_wrl(["--algo", "wgf-indirect", "--env", env, "--num-particles", str(m), "--num-envs", str(m * e),
                 "--method", method, "--update-every", str(update_every), "--total-steps", str(total),
                 "--log-every", str(log_every), "--eval-every", "1000000000", "--checkpoint-every", "1000000000",
                 "--eval-episodes", str(m)])
    rows = [r for r in s["rows"] if "charts/SPS" in r]
    first = min(r["step"] for r in rows)
    later = [r for r in rows if r["step"] > first]
    if not later:
        raise ConfigError("too few metric rows to measure: raise --steps-per-particle")
    steps, prev, seconds = 0, first, 0.0
    for r in sorted(later, key=lambda r: r["step"]):
        seconds += (r["step"] - prev) / r["charts/SPS"]
        steps += r["step"] - prev
        prev = r["step"]
    return {"steps_per_second": steps / seconds, "measured_steps": steps, "command": s["command"]}


def _update_cost(env: str, m: int, e: int, method: str, update_every: int, repeats: int) -> dict:
    """Milliseconds of the compiled rollout update alone (the last ``update_every`` steps of M E envs)."""
    import jax
    import numpy as np

    from wrl.agents import make_agent
    from wrl.envs import env_spec
    from wrl.lab.cli import configs_from_argv
    from wrl.replay import Rollout

    spec = env_spec(env)
    _, agent_cfg = configs_from_argv(
        ["--algo", "wgf-indirect", "--env", env, "--num-particles", str(m), "--num-envs", str(m * e),
         "--method", method, "--update-every", str(update_every)])
    agent = make_agent("wgf-indirect", agent_cfg, spec.obs_dim, spec.act_dim)
    state = agent.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    t, n = update_every, m * e
    ro = Rollout(obs=rng.normal(size=(t, n, spec.obs_dim)).astype(np.float32),
                 action=np.tanh(rng.normal(size=(t, n, spec.act_dim))).astype(np.float32),
                 reward=rng.normal(size=(t, n)).astype(np.float32),
                 next_obs=rng.normal(size=(t, n, spec.obs_dim)).astype(np.float32),
                 discount=np.full((t, n), 0.99, np.float32), trace=np.full((t, n), 0.99, np.float32))
    ro = jax.tree.map(jax.numpy.asarray, ro)
    update = jax.jit(lambda s: agent.rollout_update(s, ro, jax.random.key(1))[0])
    for _ in range(10):
        state = update(state)
    jax.block_until_ready(state)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            state = update(state)
        jax.block_until_ready(state)
        best = min(best, (time.perf_counter() - start) / repeats)
    return {"ms_per_update": 1e3 * best}


def run(opts: Options) -> int:
    m, e = opts.particles, opts.envs_per_particle
    results: dict[str, Any] = {"machine": machine_info(), "command": command_line(), "env": opts.env,
                               "particles": m, "envs_per_particle": e, "update_every": opts.update_every,
                               "runs": {}}
    configs = [("one agent alone", 1, "independent")] + [(f"M = {m}, {k}", m, k) for k in opts.methods]
    for rep in range(opts.repeats):  # alternating order, the fastest run of each counts: robust to passing load
        for label, mm, method in configs if rep % 2 == 0 else configs[::-1]:
            print(f"{label} (run {rep + 1} of {opts.repeats}) ...", flush=True)
            r = _training_rate(opts.env, mm, e, method, opts.steps_per_particle, opts.update_every)
            best = results["runs"].get(label)
            rates = [*(best["all_steps_per_second"] if best else []), r["steps_per_second"]]
            if best is None or r["steps_per_second"] > best["steps_per_second"]:
                best = r
            best["all_steps_per_second"] = rates
            results["runs"][label] = best
    for label, mm, method in configs:
        r = results["runs"][label]
        r.update(_update_cost(opts.env, mm, e, method, opts.update_every, opts.update_repeats))
        r["particles"], r["method"] = mm, method
    results["runs"] = {label: results["runs"][label] for label, _, _ in configs}
    alone = results["runs"]["one agent alone"]
    rows = []
    for label, r in results["runs"].items():
        r["speedup_vs_one_at_a_time"] = r["steps_per_second"] / alone["steps_per_second"]
        rows.append([label, r["steps_per_second"], r["steps_per_second"] / r["particles"],
                     r["speedup_vs_one_at_a_time"], r["ms_per_update"], r["ms_per_update"] / alone["ms_per_update"]])
    table = markdown_table(["run", "env steps/s", "env steps/s per particle",
                            "side-by-side speed-up (x one agent's steps/s)", "update alone (ms)",
                            "update x one agent's"], rows)
    body = (f"Environment {opts.env}; {e} environments per particle; one update on the last {opts.update_every} "
            f"steps of every environment; each run a fresh process, steps/s over the metric rows after the first "
            f"(compilation excluded), the fastest of {opts.repeats} runs per configuration in alternating order "
            f"(all in the JSON); update alone: the compiled on-policy update, best of 3 x "
            f"{opts.update_repeats}.\n\n{table}\n\nThe side-by-side speed-up is how much faster M particles train "
            f"in one process than their M agents trained one after the other.")
    print(table)
    if opts.out:
        write_report(opts.out, "The indirect particle method: M particles against one agent alone", results, body)
    return 0

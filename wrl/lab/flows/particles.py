"""``wrl flow particles``: particles following the Wasserstein gradient flow of KL(q || p) to a 2-D mixture.

The target p is an equal-weight mixture of ``--modes`` isotropic Gaussians (std ``--mode-std``) centred on
a circle of radius ``--radius``. M particles start from N(0, init_std^2 I) and move by explicit Euler steps

    x_i <- x_i + eps v_i,   v_i = grad log p(x_i) + (estimate of -grad log q(x_i))   (or SVGD's phi_i),

with each estimator of :func:`wrl.flows.particles.particle_velocity` (RBF kernel, median-heuristic or fixed
bandwidth). Reported per estimator: the exact W2 between the particles and M exact target samples (an
assignment problem) along the flow, the final Sinkhorn divergence (ott-jax), and the wall-clock of the
compiled flow. The row "target vs target" is the W2 between two independent sets of M exact samples: the
noise floor at this M, below which no particle set can be told from the target. A second table times one
velocity evaluation of each estimator against M.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wrl.atomic import write_json
from wrl.config import hp, validate
from wrl.flows.particles import METHODS, particle_velocity
from wrl.geometry.samples import sinkhorn_divergence_sq, w2_assignment_sq
from wrl.lab.flows.common import out_option, overwrite_option, prepare_out_dir, save_gif
from wrl.lab.plots import new_figure
from wrl.optional import ensure

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class ParticleToyConfig:
    """Settings of the particle flow toy."""

    particles: int = hp(200, "particles M (and exact target samples for the W2); the kernel estimators need pairs",
                        ge=2)
    iterations: int = hp(500, "Euler steps of the flow", ge=1)
    step_size: float = hp(0.05, "eps of x <- x + eps v", gt=0)
    modes: int = hp(4, "Gaussians of the target mixture, on a circle", ge=1)
    radius: float = hp(2.0, "radius of the circle of mode centres", gt=0)
    mode_std: float = hp(0.5, "standard deviation of each mode", gt=0)
    init_std: float = hp(0.3, "particles start from N(0, init_std^2 I)", gt=0)
    bandwidth: float = hp(0.0, "RBF bandwidth h; 0 = the median heuristic at every step", ge=0)
    lam: float = hp(0.1, "GFSF's regulariser lambda", ge=0)
    record_every: int = hp(25, "steps between W2 measurements and animation frames", ge=1)
    seed: int = hp(0, "PRNG seed")

    def __post_init__(self) -> None:
        validate(self)


@dataclasses.dataclass(frozen=True)
class Options(ParticleToyConfig):
    """Options of ``wrl flow particles``: the toy's settings, the cost table, where to write."""

    cost_sizes: tuple[int, ...] = hp((50, 100, 200, 400, 800), "particle counts M of the cost table (none: skip "
                                     "it)", ge=2)
    animate: bool = hp(False, "also write particles.gif (the flow, every --record-every steps)")
    out: str = out_option("runs/flow-particles")
    overwrite: bool = overwrite_option()


def mode_centres(cfg: ParticleToyConfig) -> Array:
    """(modes, 2) centres radius (cos 2 pi k / K, sin 2 pi k / K)."""
    angles = 2.0 * math.pi * jnp.arange(cfg.modes) / cfg.modes
    return cfg.radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def log_target(x: Array, cfg: ParticleToyConfig) -> Array:
    """log p(x) = log (1/K) sum_k N(x; c_k, s^2 I) for points (..., 2)."""
    d2 = jnp.sum((x[..., None, :] - mode_centres(cfg)) ** 2, axis=-1)  # (..., K)
    return (jax.nn.logsumexp(-d2 / (2.0 * cfg.mode_std**2), axis=-1) - math.log(cfg.modes)
            - math.log(2.0 * math.pi * cfg.mode_std**2))


def target_samples(key: Array, n: int, cfg: ParticleToyConfig) -> Array:
    """n exact samples of the mixture."""
    k_mode, k_noise = jax.random.split(key)
    modes = jax.random.randint(k_mode, (n,), 0, cfg.modes)
    return mode_centres(cfg)[modes] + cfg.mode_std * jax.random.normal(k_noise, (n, 2))


def make_flow(method: str, cfg: ParticleToyConfig) -> Any:
    """A jitted x0 -> (final particles, snapshots every record_every steps) for one estimator."""
    score_fn = jax.grad(lambda x: jnp.sum(log_target(x, cfg)))
    bandwidth = cfg.bandwidth if cfg.bandwidth > 0 else None
    per_block = cfg.record_every
    blocks = cfg.iterations // per_block

    def step(x: Array, _: None) -> tuple[Array, None]:
        return x + cfg.step_size * particle_velocity(x, score_fn(x), method, bandwidth, cfg.lam), None

    def block(x: Array, _: None) -> tuple[Array, Array]:
        x, _ = jax.lax.scan(step, x, None, length=per_block)
        return x, x

    @jax.jit
    def flow(x0: Array) -> tuple[Array, Array]:
        x, snaps = jax.lax.scan(block, x0, None, length=blocks)
        x, _ = jax.lax.scan(step, x, None, length=cfg.iterations - blocks * per_block)
        return x, snaps

    return flow


def simulate(cfg: ParticleToyConfig) -> dict[str, Any]:
    """Run every estimator from the same start; W2 curves, final distances and timings."""
    key_init, key_ref, key_floor = jax.random.split(jax.random.key(cfg.seed), 3)
    x0 = cfg.init_std * jax.random.normal(key_init, (cfg.particles, 2))
    reference = target_samples(key_ref, cfg.particles, cfg)
    floor = target_samples(key_floor, cfg.particles, cfg)
    steps = [cfg.record_every * i for i in range(cfg.iterations // cfg.record_every + 1)]  # 0: the start
    out: dict[str, Any] = {
        "steps": steps,
        "reference": np.asarray(reference),
        "start": np.asarray(x0),
        "w2_start": math.sqrt(w2_assignment_sq(x0, reference)),
        "w2_floor": math.sqrt(w2_assignment_sq(floor, reference)),
        "sinkhorn_floor": float(sinkhorn_divergence_sq(floor, reference)),
        "methods": {},
    }
    for method in METHODS:
        flow = make_flow(method, cfg)
        start = time.perf_counter()
        compiled = flow.lower(x0).compile()
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        final, snaps = jax.block_until_ready(compiled(x0))
        run_s = time.perf_counter() - start
        snaps = np.concatenate([np.asarray(x0)[None], np.asarray(snaps)])
        out["methods"][method] = {
            "final": np.asarray(final),
            "snapshots": snaps,
            "w2": [math.sqrt(w2_assignment_sq(s, reference)) for s in snaps],
            "w2_final": math.sqrt(w2_assignment_sq(final, reference)),
            "sinkhorn_final": float(sinkhorn_divergence_sq(final, reference)),
            "compile_s": compile_s,
            "run_s": run_s,
            "us_per_step": 1e6 * run_s / cfg.iterations,
        }
    return out


def estimator_costs(sizes: list[int], bandwidth: float = 0.0, repeats: int = 20,
                    seed: int = 0) -> dict[str, dict[int, float]]:
    """Microseconds per velocity evaluation of each estimator on one set of M particles in 2-D (compiled,
    median over ``repeats`` calls; ``bandwidth`` 0: the median heuristic, its cost included)."""
    costs: dict[str, dict[int, float]] = {m: {} for m in METHODS}
    for m in sizes:
        x = jax.random.normal(jax.random.key(seed), (m, 2))
        score = -x
        for method in METHODS:
            fn = jax.jit(lambda x, s, method=method: particle_velocity(x, s, method, bandwidth or None))
            jax.block_until_ready(fn(x, score))
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                jax.block_until_ready(fn(x, score))
                times.append(time.perf_counter() - start)
            costs[method][m] = 1e6 * float(np.median(times))
    return costs


def _tables(result: dict, cfg: ParticleToyConfig, costs: dict[str, dict[int, float]] | None) -> str:
    lines = [
        f"target: {cfg.modes} Gaussians (std {cfg.mode_std:g}) on a circle of radius {cfg.radius:g}; M = "
        f"{cfg.particles} particles from N(0, {cfg.init_std:g}^2 I); {cfg.iterations} steps of {cfg.step_size:g}; "
        f"bandwidth {'median heuristic' if cfg.bandwidth == 0 else cfg.bandwidth}; seed {cfg.seed}",
        f"{'estimator':<18}{'W2 final':>10}{'Sinkhorn div.':>15}{'compile s':>11}{'run s':>8}{'us/step':>9}",
        f"{'(start)':<18}{result['w2_start']:10.3f}",
    ]
    for method, r in result["methods"].items():
        lines.append(f"{method:<18}{r['w2_final']:10.3f}{r['sinkhorn_final']:15.4f}{r['compile_s']:11.2f}"
                     f"{r['run_s']:8.3f}{r['us_per_step']:9.0f}")
    lines.append(f"{'target vs target':<18}{result['w2_floor']:10.3f}{result['sinkhorn_floor']:15.4f}"
                 "   (two exact sample sets of size M: the noise floor)")
    if costs:
        sizes = sorted(next(iter(costs.values())))
        how = "median heuristic" if cfg.bandwidth == 0 else f"bandwidth {cfg.bandwidth:g}"
        lines += ["", f"microseconds per velocity evaluation (one set of M particles in 2-D, {how}, compiled, median):",
                  f"{'estimator':<10}" + "".join(f"{f'M={m}':>11}" for m in sizes)]
        lines += [f"{method:<10}" + "".join(f"{costs[method][m]:11.0f}" for m in sizes) for method in costs]
    return "\n".join(lines)


def _plot(result: dict, cfg: ParticleToyConfig, path: Any) -> None:
    methods = list(result["methods"])
    fig = new_figure(figsize=(4 * (len(methods) + 1), 4), layout="constrained")
    axes = fig.subplots(1, len(methods) + 1)
    lim = cfg.radius + 3 * cfg.mode_std
    grid = np.linspace(-lim, lim, 200)
    gx, gy = np.meshgrid(grid, grid)
    density = np.exp(np.asarray(log_target(jnp.stack([gx, gy], axis=-1), cfg)))
    for ax, method in zip(axes, methods, strict=False):
        r = result["methods"][method]
        ax.contour(gx, gy, density, levels=6, colors="grey", linewidths=0.6)
        ax.scatter(*result["start"].T, s=4, color="lightgrey", label="start")
        ax.scatter(*r["final"].T, s=5, color="tab:red", label="final")
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=f"{method}: W2 {r['w2_final']:.3f}")
    axes[0].legend(loc="lower left", fontsize=7)
    ax = axes[-1]
    for method in methods:
        ax.plot(result["steps"], result["methods"][method]["w2"], label=method)
    ax.axhline(result["w2_floor"], color="black", ls="--", lw=0.8, label="target vs target")
    ax.set(xlabel="step", ylabel="W2 to exact target samples", yscale="log", title="W2 along the flow")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)


def _animate(result: dict, cfg: ParticleToyConfig, path: Any) -> None:
    methods = list(result["methods"])
    fig = new_figure(figsize=(3.2 * len(methods), 3.4), layout="constrained")
    axes = fig.subplots(1, len(methods))
    lim = cfg.radius + 3 * cfg.mode_std
    dots = []
    for ax, method in zip(axes, methods, strict=True):
        ax.scatter(*result["reference"].T, s=3, color="lightgrey")
        dots.append(ax.scatter(*result["start"].T, s=4, color="tab:red"))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=method, xticks=[], yticks=[])

    def update(i: int) -> None:
        for dot, method in zip(dots, methods, strict=True):
            dot.set_offsets(result["methods"][method]["snapshots"][i])
        fig.suptitle(f"step {result['steps'][i]}")

    save_gif(path, fig, update, len(result["steps"]))


def run(opts: Options) -> int:
    """Run the flows, print the tables, write particles.png (and particles.gif) and summary.json into --out."""
    cfg = ParticleToyConfig(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ParticleToyConfig)})
    ensure("ott", "wrl flow particles (its Sinkhorn divergences)")
    out = prepare_out_dir(opts.out, opts.overwrite)
    result = simulate(cfg)
    costs = estimator_costs(opts.cost_sizes, cfg.bandwidth) if opts.cost_sizes else None
    print(_tables(result, cfg, costs))
    _plot(result, cfg, out / "particles.png")
    if opts.animate:
        _animate(result, cfg, out / "particles.gif")
    write_json(out / "summary.json", {
        "config": dataclasses.asdict(cfg),
        "w2_start": result["w2_start"], "w2_floor": result["w2_floor"], "sinkhorn_floor": result["sinkhorn_floor"],
        "steps": result["steps"],
        "methods": {m: {k: v for k, v in r.items() if k not in ("final", "snapshots")}
                    for m, r in result["methods"].items()},
        "cost_us_per_evaluation": {m: {str(k): v for k, v in c.items()} for m, c in costs.items()} if costs else None,
    }, default=float)
    print(f"wrote {out / 'particles.png'}" + (f", {out / 'particles.gif'}" if opts.animate else "")
          + f" and {out / 'summary.json'}")
    return 0

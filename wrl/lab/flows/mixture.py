"""``wrl flow mixture``: the WPO paper's one-dimensional toy.

Maximise E_{a~pi}[Q(a)] with Q(a) = -a^4/100 + a^2 (optima at a = +-sqrt(50) ~ +-7.07, Q* = 25) over a
two-component Gaussian mixture pi = w_1 N(mu_1, s_1^2) + w_2 N(mu_2, s_2^2) started at w = (0.5, 0.5),
mu = (-1, +1), s = (10, 10). Three updates of theta = (logits, means, raw stds) run side by side, each
with N fresh samples per iteration:

- pg:  theta += lr_pg  * E[grad_theta log pi(a) (Q(a) - b)]               (score function, b = batch mean Q)
- npg: theta += lr_npg * (F + lambda I)^-1 E[grad_theta log pi(a) (Q(a) - b)]
- wpo: theta += lr_wpo * (F + lambda I)^-1 E[grad_theta grad_a log pi(a) . grad_a Q(a)]

with F = E[g g^T] the empirical Fisher of the per-sample scores g = grad_theta log pi(a). Standard
deviations are s = min_std + (10 - min_std) softplus(raw)/softplus(0). E[Q] is tracked in closed form.
WPO moves probability mass along grad_a Q, so each component is carried to its own optimum; the
score-function methods reweight mass instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wrl.config import hp, validate
from wrl.distributions import GaussianMixture, std_from_raw
from wrl.flows.velocity import sample_actions
from wrl.lab.flows.common import out_option, overwrite_option, prepare_out_dir
from wrl.projections.preconditioners import empirical_fisher_solve, natural_wpo_direction, score_vectors

INIT_STD = 10.0
INIT_MEANS = (-1.0, 1.0)
OPTIMUM = math.sqrt(50.0)
Q_STAR = 25.0
METHODS = ("pg", "npg", "wpo")
LABELS = {"pg": "policy gradient", "npg": "natural policy gradient", "wpo": "WPO"}


@dataclasses.dataclass(frozen=True)
class MixtureFlowConfig:
    """Settings of the mixture toy."""

    iterations: int = hp(300, "updates of every method", ge=1)
    samples: int = hp(1024, "actions sampled per iteration (fresh every iteration)", ge=2)
    lr_pg: float = hp(1e-3, "step size of the score-function policy gradient", gt=0)
    lr_npg: float = hp(1e-3, "step size of the natural policy gradient", gt=0)
    lr_wpo: float = hp(2e-2, "step size of WPO (Fisher-preconditioned)", gt=0)
    damping: float = hp(1e-2, "lambda in the damped empirical Fisher F + lambda I (npg and wpo)", gt=0)
    min_std: float = hp(0.1, "floor of the component standard deviations", gt=0, lt=INIT_STD)
    seed: int = hp(0, "PRNG seed; every method gets its own stream")

    def __post_init__(self) -> None:
        validate(self)


@dataclasses.dataclass(frozen=True)
class Options(MixtureFlowConfig):
    """Options of ``wrl flow mixture``: the toy's settings, where to write."""

    out: str = out_option("runs/flow-mixture")
    overwrite: bool = overwrite_option()


def q_value(a: jax.Array) -> jax.Array:
    """Q(a) = -a^4/100 + a^2 summed over the (single) action dimension."""
    return jnp.sum(-(a**4) / 100.0 + a**2, axis=-1)


def init_params() -> dict[str, jax.Array]:
    """theta at the start: equal weights, means -1 and +1, standard deviations 10 (raw = 0)."""
    return {"logits": jnp.zeros(2), "means": jnp.asarray(INIT_MEANS), "raw_stds": jnp.zeros(2)}


def mixture_of(params: dict[str, jax.Array], min_std: float) -> GaussianMixture:
    """The unbatched 1-D mixture of theta: logits (2,), means and stds (2, 1)."""
    stds = std_from_raw(params["raw_stds"], INIT_STD, min_std)
    return GaussianMixture(logits=params["logits"], means=params["means"][:, None], stds=stds[:, None])


def expected_q(params: dict[str, jax.Array], min_std: float) -> jax.Array:
    """E[Q] in closed form: sum_k w_k ( -(m^4 + 6 m^2 s^2 + 3 s^4)/100 + m^2 + s^2 )."""
    w = jax.nn.softmax(params["logits"])
    m = params["means"]
    s = std_from_raw(params["raw_stds"], INIT_STD, min_std)
    m2, s2 = m**2, s**2
    return jnp.sum(w * (-(m2**2 + 6.0 * m2 * s2 + 3.0 * s2**2) / 100.0 + m2 + s2))


def _policy_fn(min_std: float):
    def policy_fn(params: dict[str, jax.Array], obs: jax.Array) -> GaussianMixture:
        dist = mixture_of(params, min_std)
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (obs.shape[0], *x.shape)), dist)

    return policy_fn


def _q_fn(obs: jax.Array, a: jax.Array) -> jax.Array:
    return q_value(a)


def _direction(method: str, params: dict, key: jax.Array, cfg: MixtureFlowConfig) -> dict:
    """The ascent direction of one method at theta (see the module docstring)."""
    obs = jnp.zeros((1, 1))  # one dummy state
    policy_fn = _policy_fn(cfg.min_std)
    samples = sample_actions(key, policy_fn(params, obs), obs, _q_fn, cfg.samples)
    if method == "wpo":
        return natural_wpo_direction(params, obs, samples, policy_fn=policy_fn, preconditioner="fisher",
                                     damping=cfg.damping)
    scores = score_vectors(params, obs, samples.actions, policy_fn=policy_fn)
    advantage = samples.q - jnp.mean(samples.q)
    grad = jax.tree.map(lambda g: jnp.tensordot(advantage, g, axes=([0, 1], [0, 1])) / advantage.size, scores)
    if method == "npg":
        return empirical_fisher_solve(grad, scores, damping=cfg.damping)
    return grad


def simulate(cfg: MixtureFlowConfig) -> dict[str, dict[str, np.ndarray]]:
    """Run the three methods; per method the parameter trajectory (iterations + 1 rows) and E[Q]."""
    lrs = {"pg": cfg.lr_pg, "npg": cfg.lr_npg, "wpo": cfg.lr_wpo}
    base = jax.random.key(cfg.seed)

    @jax.jit
    def run_all(params0: dict) -> dict:
        out = {}
        for i, method in enumerate(METHODS):
            keys = jax.random.split(jax.random.fold_in(base, i), cfg.iterations)

            def step(p: dict, k: jax.Array, method: str = method) -> tuple[dict, dict]:
                d = _direction(method, p, k, cfg)
                p = jax.tree.map(lambda x, y: x + lrs[method] * y, p, d)
                return p, p

            _, traj = jax.lax.scan(step, params0, keys)
            traj = jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), params0, traj)
            out[method] = {**traj, "expected_q": jax.vmap(lambda p: expected_q(p, cfg.min_std))(traj)}
        return out

    result = run_all(init_params())
    out: dict[str, dict[str, np.ndarray]] = {}
    for method, traj in result.items():
        stds = std_from_raw(traj["raw_stds"], INIT_STD, cfg.min_std)
        out[method] = {
            "weights": np.asarray(jax.nn.softmax(traj["logits"], axis=-1)),
            "means": np.asarray(traj["means"]),
            "stds": np.asarray(stds),
            "expected_q": np.asarray(traj["expected_q"]),
        }
    return out


def _density(weights: np.ndarray, means: np.ndarray, stds: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Mixture density on ``grid`` for parameter rows (..., 2) -> (..., len(grid))."""
    z = (grid - means[..., None]) / stds[..., None]
    comp = np.exp(-0.5 * z**2) / (stds[..., None] * math.sqrt(2 * math.pi))
    return np.sum(weights[..., None] * comp, axis=-2)


def _plot(result: dict, cfg: MixtureFlowConfig, path: Path) -> None:
    from wrl.lab.plots import new_figure

    grid = np.linspace(-15.0, 15.0, 601)
    fig = new_figure(figsize=(13, 8), layout="constrained")
    spec = fig.add_gridspec(2, 6)
    colors = {"pg": "tab:blue", "npg": "tab:orange", "wpo": "tab:green"}
    heat_axes = []
    for j, method in enumerate(METHODS):
        r = result[method]
        ax = fig.add_subplot(spec[0, 2 * j : 2 * j + 2])
        heat_axes.append(ax)
        dens = _density(r["weights"], r["means"], r["stds"], grid)
        img = ax.imshow(
            np.log10(np.maximum(dens, 1e-4)), aspect="auto", origin="lower", cmap="magma", vmin=-4, vmax=1,
            extent=(grid[0], grid[-1], 0, cfg.iterations),
        )
        for x in (-OPTIMUM, OPTIMUM):
            ax.axvline(x, color="white", lw=0.8, ls="--")
        ax.set_title(f"{LABELS[method]}: density over iterations")
        ax.set_xlabel("action a")
        ax.set_ylabel("iteration")
    fig.colorbar(img, ax=heat_axes, label="log10 density", fraction=0.02)

    ax = fig.add_subplot(spec[1, :3])
    for method in METHODS:
        r = result[method]
        ax.plot(grid, _density(r["weights"][-1], r["means"][-1], r["stds"][-1], grid), color=colors[method],
                label=f"{LABELS[method]} (final)")
    ax.plot(grid, _density(r["weights"][0], r["means"][0], r["stds"][0], grid), color="grey", ls=":",
            label="initial")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 10)
    ax.set_xlabel("action a")
    ax.set_ylabel("density")
    twin = ax.twinx()
    twin.plot(grid, np.asarray(q_value(jnp.asarray(grid)[:, None])), color="black", lw=1, ls="--", label="Q(a)")
    twin.set_ylim(-60, 30)
    twin.set_ylabel("Q(a) = -a^4/100 + a^2")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("final densities and Q")

    ax = fig.add_subplot(spec[1, 3:])
    for method in METHODS:
        ax.plot(result[method]["expected_q"], color=colors[method], label=LABELS[method])
    ax.axhline(Q_STAR, color="black", lw=0.8, ls="--", label="Q* = 25")
    ax.set_ylim(-50, 30)
    ax.set_xlabel("iteration")
    ax.set_ylabel("E[Q(a)]")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("expected Q")

    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)


def summarise(result: dict) -> dict[str, Any]:
    """Final weights/means/stds (components sorted by mean) and E[Q] of every method, as plain data."""
    out = {}
    for method in METHODS:
        r = result[method]
        order = np.argsort(r["means"][-1])
        out[method] = {
            "weights": [float(x) for x in r["weights"][-1][order]],
            "means": [float(x) for x in r["means"][-1][order]],
            "stds": [float(x) for x in r["stds"][-1][order]],
            "expected_q": float(r["expected_q"][-1]),
        }
    return out


def _table(summary: dict, cfg: MixtureFlowConfig) -> str:
    lines = [
        f"Q(a) = -a^4/100 + a^2: optima a = +-{OPTIMUM:.3f}, Q* = {Q_STAR:g}; "
        f"{cfg.iterations} iterations x {cfg.samples} samples, seed {cfg.seed}",
        f"{'method':<8}{'comp':>5}{'weight':>9}{'mean':>10}{'std':>9}{'E[Q]':>10}",
    ]
    for method in METHODS:
        s = summary[method]
        for k in range(2):
            eq = f"{s['expected_q']:10.3f}" if k == 0 else ""
            name = method if k == 0 else ""
            lines.append(f"{name:<8}{k + 1:>5}{s['weights'][k]:9.3f}{s['means'][k]:10.3f}{s['stds'][k]:9.3f}{eq}")
    return "\n".join(lines)


def run(opts: Options) -> int:
    """Run the toy, print the final table, write mixture.png and summary.json into --out."""
    cfg = MixtureFlowConfig(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(MixtureFlowConfig)})
    out = prepare_out_dir(opts.out, opts.overwrite)
    result = simulate(cfg)
    summary = summarise(result)
    print(_table(summary, cfg))
    _plot(result, cfg, out / "mixture.png")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps({"config": dataclasses.asdict(cfg), "final": summary}, indent=2) + "\n")
    os.replace(tmp, out / "summary.json")
    print(f"wrote {out / 'mixture.png'} and {out / 'summary.json'}")
    return 0

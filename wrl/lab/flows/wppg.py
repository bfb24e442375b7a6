"""``wrl flow wppg``: WPPG on one state with a bimodal return, implicit sampler against tanh-Gaussian.

One state, actions in the box [-1, 1], and the return

    Q(a) = -c (a^2 - a0^2)^2        (optima a = +-a0, Q* = 0; a local minimum Q(0) = -c a0^4 between them).

Two sampler classes are trained by WPPG (:mod:`wrl.projections.w2_regression`), each iteration with K fresh
noise draws z_k:

    a0_k = g_theta(z_k),  b_k = a0_k + eta grad_a Q(a0_k) + xi_k,  xi_k ~ N(0, 2 tau eta),   (split step)
    theta <- Adam steps on (1/K) sum_k (g_theta(z_k) - b_k)^2 with the same z_k           (W2 projection)

- implicit:      a = tanh(f_theta(z)), z ~ N(0, I_m), f_theta a small tanh MLP (zero biases at
                 initialisation, so f is odd and the initial law symmetric);
- tanh-Gaussian: a = tanh(mu + sigma z), z ~ N(0, 1), with learned scalars mu and log sigma.

The velocity is grad_a Q by autodiff (:func:`wrl.flows.velocity.velocity_at`). The implicit sampler can split
its noise space between the two optima and keep mass at both; a unimodal tanh-Gaussian cannot put mass
near +a0 and -a0 at once (with mu = 0 its law is flat over the local minimum, otherwise it drifts to one
optimum). Reported per class: the fraction of final samples within ``--radius`` of each optimum and the
final mean Q.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wrl.atomic import write_json
from wrl.config import hp, validate
from wrl.errors import ConfigError
from wrl.flows.velocity import velocity_at
from wrl.lab.flows.common import out_option, overwrite_option, prepare_out_dir
from wrl.networks import MLP
from wrl.projections.w2_regression import proximal_targets, w2_projection_loss

Array = jax.Array
SAMPLERS = ("implicit", "tanh_gaussian")
LABELS = {"implicit": "implicit tanh(f(z))", "tanh_gaussian": "tanh-Gaussian"}


@dataclasses.dataclass(frozen=True)
class WPPGToyConfig:
    """Settings of the WPPG toy."""

    iterations: int = hp(300, "WPPG iterations per sampler (one split step and one projection each)", ge=1)
    samples: int = hp(256, "noise draws K per iteration (fresh every iteration)", ge=1)
    inner_steps: int = hp(5, "Adam steps on the projection loss per iteration (same z and targets)", ge=1)
    eta: float = hp(0.05, "proximal step size eta of the split step", gt=0)
    tau: float = hp(0.005, "entropy temperature tau (heat step noise N(0, 2 tau eta))", ge=0)
    lr: float = hp(3e-3, "Adam learning rate of both samplers", gt=0)
    a0: float = hp(0.55, "optima of Q at +-a0 (inside the box)", gt=0, lt=1)
    curvature: float = hp(4.0, "c in Q(a) = -c (a^2 - a0^2)^2", gt=0)
    noise_dim: int = hp(2, "dimension m of the implicit sampler's noise z", ge=1)
    hidden: tuple[int, ...] = hp((64, 64), "hidden widths of the implicit sampler's MLP", ge=1, nargs="+")
    init_std: float = hp(0.3, "initial sigma of the tanh-Gaussian (mu starts at 0)", gt=0)
    radius: float = hp(0.1, "a sample is 'near' an optimum when |a -+ a0| < radius", gt=0)
    eval_samples: int = hp(8192, "final samples per sampler for the reported fractions, mean Q and histograms",
                           ge=1)
    seed: int = hp(0, "PRNG seed")

    def __post_init__(self) -> None:
        validate(self)
        if not self.hidden:
            raise ConfigError("--hidden must be positive widths, got ()")


@dataclasses.dataclass(frozen=True)
class Options(WPPGToyConfig):
    """Options of ``wrl flow wppg``: the toy's settings, where to write."""

    out: str = out_option("runs/flow-wppg")
    overwrite: bool = overwrite_option()


def q_value(a: Array, a0: float, curvature: float) -> Array:
    """Q(a) = -c (a^2 - a0^2)^2, summed over the (single) last action axis."""
    return jnp.sum(-curvature * jnp.square(jnp.square(a) - a0**2), axis=-1)


def _sampler(name: str, cfg: WPPGToyConfig):
    """(init(key) -> theta, apply(theta, z) -> actions (..., 1), noise_dim) of one sampler class."""
    if name == "implicit":
        net = MLP(cfg.hidden, 1, activation=jnp.tanh)

        def init(key: Array) -> Any:
            return net.init(key, jnp.zeros((1, cfg.noise_dim)))

        def apply(theta: Any, z: Array) -> Array:
            return jnp.tanh(net.apply(theta, z))

        return init, apply, cfg.noise_dim

    def init_tg(key: Array) -> dict[str, Array]:
        return {"mu": jnp.zeros(()), "log_sigma": jnp.asarray(math.log(cfg.init_std))}

    def apply_tg(theta: dict[str, Array], z: Array) -> Array:
        return jnp.tanh(theta["mu"] + jnp.exp(theta["log_sigma"]) * z)

    return init_tg, apply_tg, 1


def train_sampler(name: str, cfg: WPPGToyConfig, key: Array) -> tuple[Any, Array, Array]:
    """WPPG on one sampler class: returns (theta, final samples (eval_samples,), mean Q per iteration)."""
    init, apply, dim = _sampler(name, cfg)
    init_key, train_key, eval_key = jax.random.split(key, 3)
    theta = init(init_key)
    opt = optax.adam(cfg.lr)
    obs = jnp.zeros((1, 1))  # the one state (B = 1)

    def q_fn(_obs: Array, action: Array) -> Array:  # (B, 1) -> (B,)
        return q_value(action, cfg.a0, cfg.curvature)

    def iteration(carry: tuple[Any, Any], key: Array) -> tuple[tuple[Any, Any], Array]:
        theta, opt_state = carry
        z_key, heat_key = jax.random.split(key)
        z = jax.random.normal(z_key, (cfg.samples, 1, dim))  # (K, B, m)
        samples = velocity_at(q_fn, obs, apply(theta, z))
        targets = proximal_targets(heat_key, samples, cfg.eta, cfg.tau)

        def inner(c: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], None]:
            th, st = c
            grads = jax.grad(lambda p: w2_projection_loss(apply(p, z), targets))(th)
            updates, st = opt.update(grads, st, th)
            return (optax.apply_updates(th, updates), st), None

        (theta, opt_state), _ = jax.lax.scan(inner, (theta, opt_state), None, length=cfg.inner_steps)
        return (theta, opt_state), jnp.mean(samples.q)

    @jax.jit
    def train(theta: Any) -> tuple[Any, Array, Array]:
        keys = jax.random.split(train_key, cfg.iterations)
        (theta, _), mean_q = jax.lax.scan(iteration, (theta, opt.init(theta)), keys)
        final = apply(theta, jax.random.normal(eval_key, (cfg.eval_samples, dim)))[:, 0]
        return theta, final, mean_q

    return train(theta)


def soft_mode_std(cfg: WPPGToyConfig) -> float:
    """Std of one mode of the soft optimum exp(Q / tau) in the Laplace approximation: sqrt(tau / h) with
    h = -Q''(a0) = 8 c a0^2."""
    return math.sqrt(cfg.tau / (8.0 * cfg.curvature * cfg.a0**2))


def summarise(final: np.ndarray, cfg: WPPGToyConfig) -> dict[str, float | None]:
    """Fractions of samples within ``radius`` of -a0 and +a0, the std of the samples near each (None when
    fewer than two), mean Q, sample mean and std."""
    out: dict[str, float | None] = {}
    for side, centre in (("minus", -cfg.a0), ("plus", cfg.a0)):
        near = final[np.abs(final - centre) < cfg.radius]
        out[f"near_{side}"] = float(near.size / final.size)
        out[f"std_near_{side}"] = float(np.std(near)) if near.size > 1 else None
    out["mean_q"] = float(np.mean(np.asarray(q_value(jnp.asarray(final)[:, None], cfg.a0, cfg.curvature))))
    out["mean"] = float(np.mean(final))
    out["std"] = float(np.std(final))
    return out


def simulate(cfg: WPPGToyConfig) -> dict[str, dict[str, Any]]:
    """Train both sampler classes; per class the final samples, mean Q per iteration and the summary."""
    base = jax.random.key(cfg.seed)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(SAMPLERS):
        _, final, mean_q = train_sampler(name, cfg, jax.random.fold_in(base, i))
        final = np.asarray(final)
        out[name] = {"final": final, "mean_q": np.asarray(mean_q), "summary": summarise(final, cfg)}
    return out


def _plot(result: dict, cfg: WPPGToyConfig, path: Path) -> None:
    from wrl.lab.plots import new_figure

    colors = {"implicit": "tab:green", "tanh_gaussian": "tab:blue"}
    fig = new_figure(figsize=(12, 4.5), layout="constrained")
    ax, ax_q = fig.subplots(1, 2)
    bins = np.linspace(-1.0, 1.0, 101)
    for name in SAMPLERS:
        ax.hist(result[name]["final"], bins=bins, density=True, alpha=0.5, color=colors[name],
                label=f"{LABELS[name]} (final)")
    for x in (-cfg.a0, cfg.a0):
        ax.axvline(x, color="black", lw=0.8, ls=":")
    ax.set_xlim(-1, 1)
    ax.set_xlabel("action a")
    ax.set_ylabel("density")
    ax.legend(loc="upper left", fontsize=8)
    twin = ax.twinx()
    grid = np.linspace(-1.0, 1.0, 401)
    twin.plot(grid, np.asarray(q_value(jnp.asarray(grid)[:, None], cfg.a0, cfg.curvature)), color="black",
              lw=1, ls="--")
    twin.set_ylabel(f"Q(a) = -{cfg.curvature:g} (a^2 - {cfg.a0:g}^2)^2 (dashed)")
    ax.set_title("final samples over Q")
    for name in SAMPLERS:
        ax_q.plot(result[name]["mean_q"], color=colors[name], label=LABELS[name])
    ax_q.axhline(0.0, color="black", lw=0.8, ls="--", label="Q* = 0")
    ax_q.set_xlabel("iteration")
    ax_q.set_ylabel("mean Q of the batch")
    ax_q.legend(loc="lower right", fontsize=8)
    ax_q.set_title("WPPG: mean Q")
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=110)
    os.replace(tmp, path)


def _table(result: dict, cfg: WPPGToyConfig) -> str:
    lines = [
        f"Q(a) = -{cfg.curvature:g} (a^2 - {cfg.a0:g}^2)^2 on [-1, 1]: optima a = +-{cfg.a0:g}, Q* = 0; "
        f"{cfg.iterations} iterations x {cfg.samples} samples, eta {cfg.eta:g}, tau {cfg.tau:g}, seed {cfg.seed}",
        f"{'sampler':<22}{f'near -{cfg.a0:g}':>11}{f'near +{cfg.a0:g}':>11}{'std -':>8}{'std +':>8}{'mean Q':>10}"
        f"{'mean':>9}{'std':>8}",
    ]

    def fmt(x: float | None) -> str:
        return f"{x:8.3f}" if x is not None else f"{'-':>8}"

    for name in SAMPLERS:
        s = result[name]["summary"]
        lines.append(f"{LABELS[name]:<22}{s['near_minus']:11.3f}{s['near_plus']:11.3f}{fmt(s['std_near_minus'])}"
                     f"{fmt(s['std_near_plus'])}{s['mean_q']:10.4f}{s['mean']:9.3f}{s['std']:8.3f}")
    lines.append(f"(near: |a -+ a0| < {cfg.radius:g}; std -/+: std of the samples near each optimum; soft optimum "
                 f"exp(Q / tau) has std ~ sqrt(tau / (8 c a0^2)) = {soft_mode_std(cfg):.3f} per mode)")
    return "\n".join(lines)


def run(opts: Options) -> int:
    """Run the toy, print the table, write wppg.png and summary.json into --out."""
    cfg = WPPGToyConfig(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(WPPGToyConfig)})
    out = prepare_out_dir(opts.out, opts.overwrite)
    start = time.perf_counter()
    result = simulate(cfg)
    seconds = time.perf_counter() - start
    print(_table(result, cfg))
    print(f"trained in {seconds:.1f} s")
    _plot(result, cfg, out / "wppg.png")
    payload = {
        "config": dataclasses.asdict(cfg),
        "final": {name: result[name]["summary"] for name in SAMPLERS},
        "soft_mode_std": soft_mode_std(cfg),
        "mean_q": {name: [float(x) for x in result[name]["mean_q"]] for name in SAMPLERS},
        "seconds": seconds,
    }
    write_json(out / "summary.json", payload)
    print(f"wrote {out / 'wppg.png'} and {out / 'summary.json'}")
    return 0

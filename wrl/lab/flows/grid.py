"""``wrl flow grid``: Wasserstein policy flows on a grid of 1-D states against the scalar Riccati optimum.

Discretises s' = a s + b u + w (w ~ N(0, w)), cost q s^2 + r u^2 onto a grid (see :mod:`wrl.exact.grid`)
and runs the particle, Gaussian-fibre and/or quantile flows; prints the gaps to the exact optimum and writes
cost.png, w2.png, policy.png, flow.gif and summary.json into --out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wrl.atomic import write_json
from wrl.config import hp
from wrl.errors import ConfigError
from wrl.lab.flows.common import out_option, overwrite_option, prepare_out_dir, save_gif
from wrl.lab.plots import new_figure

METHODS = ("particles", "gaussian", "quantile")


def _display_atoms(res) -> np.ndarray:
    """Atoms to draw, (T+1, n, K): particles and quantiles as they are; a Gaussian fibre N(m, s^2) by its
    quantiles m + s Phi^{-1}((k + 1/2)/K) (its Gauss-Hermite nodes reach far into the tails)."""
    if res.method != "gaussian":
        return res.atoms
    from scipy.special import ndtri

    mean, std = res.params
    K = res.atoms.shape[2]
    z = ndtri((np.arange(K) + 0.5) / K)
    return mean[..., None] + std[..., None] * z


@dataclass(frozen=True)
class Options:
    """Options of ``wrl flow grid``."""

    method: str = hp("all", "policy representation: N particles, one Gaussian, or a quantile function per state",
                     choices=(*METHODS, "all"))
    a: float = hp(0.9, "dynamics s' = a s + b u + w")
    b: float = hp(1.0, "input gain b")
    q: float = hp(1.0, "state cost q s^2")
    r: float = hp(1.0, "action cost r u^2")
    w: float = hp(1.0, "noise variance of w")
    tau: float = hp(0.0, "entropy temperature (minimise J - tau H)", ge=0)
    n_atoms: int = hp(16, "particles / Gauss-Hermite nodes / quantile levels per state (at most 256 for this exact "
                          "solver; at least 2 for the gaussian and quantile methods and for --tau > 0)", gt=0, le=256)
    steps: int = hp(100, "flow steps", gt=0)
    eta: float | None = hp(None, "step size (default: --step-fraction / mean Hess_a Q at the initial policy)", gt=0)
    step_fraction: float = hp(0.5, "eta * Hess_a Q when --eta is not given", gt=0)
    init_gain: float = hp(0.0, "initial policy centred at -gain * s")
    init_std: float = hp(0.5, "initial action spread per state (> 0 when --tau > 0)", ge=0)
    spacing: float | None = hp(None, "grid spacing (default sqrt(w)/2)", gt=0)
    half_width: float | None = hp(None, "grid covers [-L, L] (default 8 stationary standard deviations)", gt=0)
    seed: int = hp(0, "seed of the initial particles and Langevin noise")
    out: str = out_option("runs/flow-grid")
    overwrite: bool = overwrite_option()
    no_gif: bool = hp(False, "skip the animation")


def run(opts: Options) -> int:
    """Run the grid flows, print the gaps to the Riccati optimum, write the plots."""
    from wrl.exact.grid import scalar_lqr_grid
    from wrl.exact.grid_flow import run_grid_flow

    if opts.tau > 0 and opts.init_std == 0:
        raise ConfigError("--init-std must be > 0 when --tau > 0 (got 0.0)")
    methods = METHODS if opts.method == "all" else (opts.method,)
    if opts.n_atoms < 2 and (opts.tau > 0 or opts.method != "particles"):
        raise ConfigError("--n-atoms must be >= 2 for the gaussian and quantile methods and for --tau > 0")
    problem = scalar_lqr_grid(opts.a, opts.b, opts.q, opts.r, opts.w, tau=opts.tau, init_gain=opts.init_gain,
                              spacing=opts.spacing, half_width=opts.half_width)
    if problem.n_states > 2001:
        raise ConfigError(f"the grid has {problem.n_states} states; increase --spacing or reduce --half-width "
                          "(at most 2001 states)")
    out = prepare_out_dir(opts.out, opts.overwrite)
    x = problem.states
    K_ref, sd_ref, J_ref = problem.reference_gain, problem.reference_std, problem.reference_cost
    spacing = float(x[1] - x[0])
    print(f"wrl flow grid: {problem.label}; {problem.n_states} states on [{x[0]:.3g}, {x[-1]:.3g}], "
          f"spacing {spacing:.3g} (sigma_w/spacing = {problem.noise_std / spacing:.2g})")
    obj = "J - tau H" if opts.tau > 0 else "J"
    print(f"  Riccati optimum: K* = {K_ref:.10g}, {'J_tau*' if opts.tau > 0 else 'J*'} = {J_ref:.10g}"
          + (f", action std* = sqrt((tau/2)/(r + b^2 P*)) = {sd_ref:.6g}" if opts.tau > 0 else ""))
    results = {}
    summary: dict = {"problem": problem.label, "n_states": problem.n_states, "spacing": spacing,
                     "half_width": float(x[-1]), "K_star": K_ref, "J_star": J_ref, "tau": opts.tau,
                     "std_star": sd_ref, "methods": {}}
    for method in methods:
        res = run_grid_flow(problem, method, n_atoms=opts.n_atoms, n_steps=opts.steps, eta=opts.eta,
                            step_fraction=opts.step_fraction, init_gain=opts.init_gain, init_std=opts.init_std,
                            seed=opts.seed)
        results[method] = res
        gap = res.J_tau[-1] - J_ref
        g_err = abs(res.gain[-1] - K_ref) / abs(K_ref) if K_ref else abs(res.gain[-1])
        line = (f"  {method:9s} N={opts.n_atoms}, {opts.steps} steps, eta={res.eta:.4g}: {obj} = {res.J_tau[-1]:.10g}, "
                f"gap = {gap:.3e} (relative {abs(gap) / abs(J_ref):.3e}), gain {res.gain[-1]:.8g} "
                f"(relative error {g_err:.3e})")
        if opts.tau > 0:
            J_ctrl = J_ref + opts.tau * 0.5 * math.log(2 * math.pi * math.e * sd_ref**2)  # J(K*, Sigma*)
            line += (f", action std {res.action_std[-1]:.6g} vs {sd_ref:.6g}; control cost J = {res.J[-1]:.8g} "
                     f"vs J(K*, Sigma*) = {J_ctrl:.8g} (relative {abs(res.J[-1] - J_ctrl) / J_ctrl:.2e})")
        print(line)
        summary["methods"][method] = {
            "eta": res.eta, "final": float(res.J_tau[-1]), "gap": float(gap), "relative_gap": abs(gap) / abs(J_ref),
            "gain": float(res.gain[-1]), "gain_relative_error": float(g_err), "action_std": float(res.action_std[-1]),
            "w2_to_optimum": float(res.dist_ref_w2[-1]),
        }
    if opts.tau > 0:
        print("  note: with tau > 0 the particle entropy is a Gaussian moment estimate and the Langevin steps are "
              "unadjusted (variance bias ~ 1/(1 - G eta)); the quantile entropy is a spacing estimate; the Gaussian "
              "fibres are exact.")

    floor = 1e-17
    it = np.arange(opts.steps + 1)
    fig = new_figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for method, res in results.items():
        axes[0].plot(it, res.J_tau, label=method)
        axes[1].semilogy(it, np.maximum(np.abs(res.J_tau - J_ref) / abs(J_ref), floor), label=method)
    axes[0].axhline(J_ref, color="k", ls="--", label=f"Riccati optimum {J_ref:.6g}")
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel(obj)
    axes[0].set_title("cost vs iteration")
    axes[0].legend()
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("relative gap to the optimum")
    axes[1].set_title("gap to the Riccati optimum")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out / "cost.png", dpi=110)

    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for method, res in results.items():
        line, = ax.semilogy(np.arange(1, opts.steps + 1), np.maximum(res.step_w2, floor),
                            label=f"{method}: step $E_{{d_k}} W_2^2(\\pi_k, \\pi_{{k+1}})$")
        ax.semilogy(it, np.maximum(res.dist_ref_w2, floor), ls="--", color=line.get_color(),
                    label=f"{method}: $E_{{d_k}} W_2^2(\\pi_k, \\pi^*)$")
    ax.set_xlabel("iteration")
    ax.set_title("W2 traces")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "w2.png", dpi=110)

    first = results[methods[0]]
    d = first.d[-1]
    mask = d > 1e-6 * d.max()
    fig = new_figure(figsize=(5 * len(results), 4))
    axes = fig.subplots(1, len(results), squeeze=False)
    shown = {method: _display_atoms(res) for method, res in results.items()}
    for ax, (method, res) in zip(axes[0], results.items(), strict=True):
        xs = np.repeat(x[mask], res.atoms.shape[2])
        ax.scatter(xs, shown[method][-1][mask].ravel(), s=4, alpha=0.5, label=f"{method} atoms (final)")
        ax.plot(x[mask], -K_ref * x[mask], "k--", lw=1, label="-K* s")
        if sd_ref > 0:
            ax.fill_between(x[mask], -K_ref * x[mask] - sd_ref, -K_ref * x[mask] + sd_ref, color="k", alpha=0.1,
                            label="+- std*")
        ax2 = ax.twinx()
        ax2.plot(x, res.d[-1], color="tab:red", lw=1)
        ax2.set_ylabel("stationary d", color="tab:red")
        ax.set_xlabel("state s")
        ax.set_ylabel("action")
        ax.set_title(f"{method}: final policy")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "policy.png", dpi=110)

    files = ["cost.png", "w2.png", "policy.png"]
    if not opts.no_gif:
        frames = np.unique(np.round(np.geomspace(1, opts.steps + 1, 40)).astype(int) - 1)
        lo = min(np.percentile(a[:, mask], 0.5) for a in shown.values())
        hi = max(np.percentile(a[:, mask], 99.5) for a in shown.values())
        fig = new_figure(figsize=(4.5 * len(results), 4))
        axes = fig.subplots(1, len(results), squeeze=False)
        artists = []
        for ax, (method, res) in zip(axes[0], results.items(), strict=True):
            xs = np.repeat(x[mask], res.atoms.shape[2])
            ax.plot(x[mask], -K_ref * x[mask], "k--", lw=1)
            pts = ax.scatter(xs, shown[method][0][mask].ravel(), s=4, alpha=0.6)
            ax.set_ylim(lo - 0.1 * abs(hi - lo), hi + 0.1 * abs(hi - lo))
            ax.set_xlabel("state s")
            ax.set_ylabel("action")
            artists.append((ax, pts, xs, method))

        def update(i):
            k = int(frames[i])
            for ax, pts, xs, method in artists:
                pts.set_offsets(np.c_[xs, shown[method][k][mask].ravel()])
                ax.set_title(f"{method}, iteration {k}")

        save_gif(out / "flow.gif", fig, update, len(frames))
        files.append("flow.gif")
    write_json(out / "summary.json", summary, default=float)
    files.append("summary.json")
    print(f"  wrote {', '.join(str(out / f) for f in files)}")
    return 0

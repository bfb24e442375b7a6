"""``wrl flow lqr``: the Wasserstein gradient flow of linear-Gaussian policies on ergodic LQR.

Runs the first-order flow K <- K - 2 eta E_K, Sigma <- M Sigma M (see :mod:`wrl.exact.lqr`), Newton and
Gauss-Newton (policy iteration) from the same start, prints the gaps to the Riccati optimum and writes
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

SYSTEMS = ("default", "scalar", "double_integrator", "random")


@dataclass(frozen=True)
class Options:
    """Options of ``wrl flow lqr``."""

    system: str = hp("default", "LQR system (default: 2-D state, 1-D action, stable); see "
                                "wrl.exact.lqr.named_system", choices=SYSTEMS)
    state_dim: int = hp(3, "state dimension of --system random (1 to 8)")
    action_dim: int = hp(1, "action dimension of --system random (1 to 4)")
    system_seed: int = hp(0, "seed of --system random")
    tau: float = hp(0.0, "entropy temperature (minimise J - tau H)", ge=0)
    eta: float | None = hp(None, "step size (default 1/(4 lambda_max(R + B^T P_K0 B)))", gt=0)
    steps: int = hp(200, "first-order flow steps", gt=0)
    newton_steps: int = hp(10, "Newton / Gauss-Newton steps", gt=0)
    init_std: float = hp(1.0, "initial policy covariance Sigma0 = std^2 I", gt=0)
    out: str = out_option("runs/flow-lqr")
    overwrite: bool = overwrite_option()
    no_gif: bool = hp(False, "skip the animation")


def _mat(M: np.ndarray) -> str:
    return np.array2string(np.asarray(M), precision=6, separator=", ", max_line_width=10**6)


def _steps_to(gaps: np.ndarray, tol: float) -> int | None:
    hit = np.nonzero(gaps <= tol)[0]
    return int(hit[0]) if hit.size else None


def run(opts: Options) -> int:
    """Run the flow and the second-order methods, print the gaps, write the plots."""
    from wrl.exact.hessian import run_lqr_second_order
    from wrl.exact.lqr import LQRSystem, lqr_optimum, named_system, run_lqr_flow, spectral_radius

    if opts.system == "random" and not (1 <= opts.state_dim <= 8 and 1 <= opts.action_dim <= 4):
        raise ConfigError("--system random needs 1 <= --state-dim <= 8 and 1 <= --action-dim <= 4")
    sys = named_system(opts.system, opts.state_dim, opts.action_dim, opts.system_seed)
    out = prepare_out_dir(opts.out, opts.overwrite)
    n, m = sys.n, sys.m
    if spectral_radius(sys.A) < 1.0:
        K0, init = np.zeros((m, n)), "K0 = 0"
    else:  # a Riccati gain of a 100x more expensive action: stabilising, far from optimal
        K0 = lqr_optimum(LQRSystem(sys.A, sys.B, sys.Qc, 100.0 * np.asarray(sys.R), sys.W)).K
        init = "K0 = Riccati gain with 100 R (A is unstable)"
    Sigma0 = opts.init_std**2 * np.eye(m)
    flow = run_lqr_flow(sys, K0, Sigma0, eta=opts.eta, tau=opts.tau, n_steps=opts.steps)
    opt = flow.optimum
    Sigma_fixed = opt.Sigma  # second-order methods act on K; Sigma held at its optimum
    newton = run_lqr_second_order(sys, K0, Sigma_fixed, "newton", opts.newton_steps)
    gn = run_lqr_second_order(sys, K0, Sigma_fixed, "gauss-newton", opts.newton_steps)

    J_ref = opt.J_tau
    gap_flow = flow.J_tau - J_ref
    gap_newton = newton.J - opt.J
    gap_gn = gn.J - opt.J
    rel = lambda g: abs(g) / abs(J_ref)  # noqa: E731
    Knorm = max(np.linalg.norm(opt.K), 1e-300)
    k_err = np.linalg.norm(flow.K[-1] - opt.K) / Knorm
    tol = 1e-10
    steps_flow = _steps_to(np.abs(gap_flow) / abs(J_ref), tol)
    steps_newton = _steps_to(np.abs(gap_newton) / abs(opt.J), tol)
    steps_gn = _steps_to(np.abs(gap_gn) / abs(opt.J), tol)
    fmt = lambda k: "not reached" if k is None else f"{k}"  # noqa: E731
    obj = "J - tau H" if opts.tau > 0 else "J"

    print(f"wrl flow lqr: system {opts.system} (n={n}, m={m}), tau={opts.tau:g}, eta={flow.eta:.4g}, {init}")
    J_riccati = float(np.trace(opt.P @ np.asarray(sys.W)))
    print(f"  Riccati optimum: J* = tr(P* W) = {J_riccati:.10g}, K* = {_mat(opt.K)}")
    if opts.tau > 0:
        print(f"  entropic optimum: Sigma* = (tau/2)(R + B^T P* B)^-1 = "
              f"{_mat(opt.Sigma)}, J(K*, Sigma*) = {opt.J:.10g}, "
              f"J_tau* = J - tau H = {opt.J_tau:.10g}")
    print(f"  first-order flow, {opts.steps} steps: {obj} = {flow.J_tau[-1]:.10g}, gap = {gap_flow[-1]:.3e} "
          f"(relative {rel(gap_flow[-1]):.3e}), |K - K*|/|K*| = {k_err:.3e}")
    if opts.tau > 0:
        s_err = np.linalg.norm(flow.Sigma[-1] - opt.Sigma) / np.linalg.norm(opt.Sigma)
        print(f"    |Sigma - Sigma*|/|Sigma*| = {s_err:.3e}")
    ref = "J(K*, Sigma*)" if opts.tau > 0 else "J*"
    print(f"  Newton on K (Sigma = Sigma*), {opts.newton_steps} steps: gap J - {ref} = {gap_newton[-1]:.3e}")
    print(f"  Gauss-Newton on K = policy iteration, {opts.newton_steps} steps: gap J - {ref} = {gap_gn[-1]:.3e}")
    print(f"  steps to relative gap < {tol:g}: flow {fmt(steps_flow)}, Newton {fmt(steps_newton)}, "
          f"Gauss-Newton {fmt(steps_gn)}")

    floor = 1e-17
    it = np.arange(opts.steps + 1)
    fig = new_figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    ax.plot(it, flow.J_tau, label=f"Wasserstein flow ({obj})")
    ax.axhline(J_ref, color="k", ls="--", label=f"exact optimum {J_ref:.6g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel(obj)
    ax.set_title("cost vs iteration")
    ax.legend()
    ax = axes[1]
    ax.semilogy(it, np.maximum(np.abs(gap_flow) / abs(J_ref), floor), label="first-order flow")
    ax.semilogy(np.arange(len(newton.J)), np.maximum(np.abs(gap_newton) / abs(opt.J), floor), "o-",
                label="Newton (exact Hessian)")
    ax.semilogy(np.arange(len(gn.J)), np.maximum(np.abs(gap_gn) / abs(opt.J), floor), "s-",
                label="Gauss-Newton (local Hessian)")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative gap to optimum")
    ax.set_title("gap to the Riccati optimum")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "cost.png", dpi=110)

    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.semilogy(np.arange(1, opts.steps + 1), np.maximum(flow.step_w2, floor),
                label=r"step length $E_{d_k} W_2^2(\pi_k, \pi_{k+1})$")
    ax.semilogy(it, np.maximum(flow.dist_opt_w2, floor), label=r"distance $E_{d^*} W_2^2(\pi_k, \pi^*)$")
    ax.set_xlabel("iteration")
    ax.set_title("W2 traces of the flow")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "w2.png", dpi=110)

    fig = new_figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    for i in range(m):
        for j in range(n):
            line, = ax.plot(it, flow.K[:, i, j], label=f"K[{i},{j}]")
            ax.axhline(opt.K[i, j], color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("iteration")
    ax.set_title("gain entries (dashed: Riccati K*)")
    ax.legend(fontsize=8)
    ax = axes[1]
    # the action law pi_k(.|s)[0] = N(-K_k s, Sigma_k)[0] at a state one stationary std out on the first axis
    s_probe = np.zeros(n)
    s_probe[0] = math.sqrt(opt.X[0, 0])
    mu = -(flow.K @ s_probe)[:, 0]
    sd = np.sqrt(np.maximum(flow.Sigma[:, 0, 0], 0.0))
    mu_opt = float(-(opt.K @ s_probe)[0])
    sd_opt = math.sqrt(max(opt.Sigma[0, 0], 0.0))
    ax.plot(it, mu, label="mean of pi_k(.|s)")
    ax.fill_between(it, mu - sd, mu + sd, alpha=0.3, label="mean +- std")
    ax.axhline(mu_opt, color="k", ls="--", lw=1, label="optimal mean -K* s")
    if sd_opt > 0:
        ax.axhspan(mu_opt - sd_opt, mu_opt + sd_opt, color="k", alpha=0.1, label="optimal +- std")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel("action a[0]")
    ax.set_title(r"$\pi_k(\cdot|s)$ at $s = (\sqrt{X^*_{00}}, 0, \dots)$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "policy.png", dpi=110)

    files = ["cost.png", "w2.png", "policy.png"]
    if not opts.no_gif:
        rng = np.random.default_rng(0)
        n_pts = 200
        L = np.linalg.cholesky(opt.X + 1e-12 * np.eye(n))
        S = rng.standard_normal((n_pts, n)) @ L.T  # states from the optimal stationary law
        Z = rng.standard_normal((n_pts, m))  # fixed noise: each particle keeps its quantile
        a_opt = -(S @ opt.K.T)[:, 0]
        frames = np.unique(np.round(np.geomspace(1, opts.steps + 1, 40)).astype(int) - 1)

        def actions(k):
            C = np.linalg.cholesky(flow.Sigma[k] + 1e-15 * np.eye(m))
            return (-(S @ flow.K[k].T) + Z @ C.T)[:, 0]

        lim_all = np.concatenate([actions(k) for k in frames] + [a_opt])
        lo, hi = np.percentile(lim_all, 1), np.percentile(lim_all, 99)
        fig = new_figure(figsize=(5, 5))
        ax = fig.subplots()
        pts = ax.scatter(a_opt, actions(0), s=8, alpha=0.7)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="a = -K* s")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("optimal action -K* s")
        ax.set_ylabel("action of pi_k")
        ax.legend(loc="upper left")
        title = ax.set_title("")

        def update(i):
            k = int(frames[i])
            pts.set_offsets(np.c_[a_opt, actions(k)])
            title.set_text(f"particles moving with the flow, iteration {k}")

        save_gif(out / "flow.gif", fig, update, len(frames))
        files.append("flow.gif")

    write_json(out / "summary.json", {
        "system": opts.system, "n": n, "m": m, "tau": opts.tau, "eta": flow.eta, "steps": opts.steps,
        "J_star": J_riccati, "J_at_optimum": opt.J, "J_tau_star": opt.J_tau,
        "K_star": opt.K.tolist(), "Sigma_star": opt.Sigma.tolist(),
        "flow_final": float(flow.J_tau[-1]), "flow_gap": float(gap_flow[-1]),
        "flow_relative_gap": rel(gap_flow[-1]), "flow_gain_relative_error": float(k_err),
        "newton_gap": float(gap_newton[-1]), "gauss_newton_gap": float(gap_gn[-1]),
        "steps_to_1e-10": {"flow": steps_flow, "newton": steps_newton, "gauss_newton": steps_gn},
    }, default=float)
    files.append("summary.json")
    print(f"  wrote {', '.join(str(out / f) for f in files)}")
    return 0

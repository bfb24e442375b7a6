"""The grid flow driver: a Wasserstein gradient flow of a policy on a grid of states, run and recorded.

:func:`run_grid_flow` moves a policy's fibres (particles, one Gaussian, or a quantile function per state; see
:mod:`wrl.exact.fibres`) by the exact velocity grad_a Q of the grid problem (:mod:`wrl.exact.grid`: the
closed-loop kernel, its stationary distribution and the Poisson equation), and records the trajectory with
its distances to the Riccati reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from wrl.errors import ConfigError
from wrl.exact import fibres
from wrl.exact.grid import GridProblem, fit_linear_gain, hess_a_q
from wrl.exact.precision import float64


@dataclass(frozen=True)
class GridFlowResult:
    """Trajectory of a grid flow (iterates k = 0..T), float64 NumPy arrays."""

    method: str  # "particles", "gaussian" or "quantile"
    states: np.ndarray  # (n,) grid
    atoms: np.ndarray  # (T+1, n, K) action atoms of pi_k (particles, quadrature atoms, or quantiles)
    weights: np.ndarray  # (K,) atom weights
    params: tuple[np.ndarray, ...]  # method parameters per iterate: (actions,), (mean, std) or (quantiles,)
    J: np.ndarray  # (T+1,) average control cost
    J_tau: np.ndarray  # (T+1,) J - tau H (equals J at tau = 0)
    d: np.ndarray  # (T+1, n) stationary distributions
    gain: np.ndarray  # (T+1,) d-weighted least-squares gain of the mean action
    action_std: np.ndarray  # (T+1,) d-weighted root mean action variance
    step_w2: np.ndarray  # (T,) E_{s ~ d_k} W2^2(pi_k(.|s), pi_{k+1}(.|s))
    dist_ref_w2: np.ndarray  # (T+1,) E_{s ~ d_k} W2^2(pi_k(.|s), N(-K* s, Sigma*)) (nan without reference)
    eta: float
    tau: float


def _per_state_w2_to_gaussian(atoms: Array, weights: Array, mu: Array, std: float, method: str,
                              params: tuple[Array, ...]) -> Array:
    """W2^2(pi(.|x_i), N(mu_i, std^2)) per state: closed form for Gaussian fibres; for equally weighted atoms
    the quantile formula against the Gaussian quantiles at the midpoint levels (exact when std = 0)."""
    if method == "gaussian":
        mean, sd = params
        return (mean - mu) ** 2 + (sd - std) ** 2
    K = atoms.shape[1]
    u = (jnp.arange(K, dtype=atoms.dtype) + 0.5) / K
    target = mu[:, None] + std * jax.scipy.special.ndtri(u)[None, :]
    return jnp.mean((jnp.sort(atoms, axis=1) - target) ** 2, axis=1)


def _per_state_step_w2(old: Array, new: Array, method: str, p_old: tuple[Array, ...],
                       p_new: tuple[Array, ...]) -> Array:
    """W2^2(pi_k(.|x_i), pi_{k+1}(.|x_i)) per state: Gaussian closed form, or exact 1-D empirical W2."""
    if method == "gaussian":
        return (p_new[0] - p_old[0]) ** 2 + (p_new[1] - p_old[1]) ** 2
    return jnp.mean((jnp.sort(old, axis=1) - jnp.sort(new, axis=1)) ** 2, axis=1)


def run_grid_flow(
    problem: GridProblem,
    method: str = "particles",
    n_atoms: int = 16,
    n_steps: int = 100,
    eta: float | None = None,
    step_fraction: float = 0.5,
    init_gain: float = 0.0,
    init_std: float = 0.5,
    seed: int = 0,
) -> GridFlowResult:
    """Run a grid Wasserstein flow in float64 and record its trajectory.

    method: "particles" (N particles per state, Langevin for tau > 0), "gaussian" (one Gaussian per state,
    Bures-Wasserstein step) or "quantile" (quantile function at n_atoms levels); the entropy temperature is
    problem.tau. Initial policy pi_0(.|x) centred at -init_gain x with spread init_std (random particles,
    Gaussian, or Gaussian quantiles). eta defaults to step_fraction / (d-weighted mean of Hess_a Q at pi_0),
    so that the local contraction factor of an action is about 1 - step_fraction.
    """
    if method not in ("particles", "gaussian", "quantile"):
        raise ConfigError(f"unknown grid flow method {method!r}; use particles, gaussian or quantile")
    if n_atoms < 2 and (method != "particles" or problem.tau > 0):
        raise ConfigError(f"n_atoms must be >= 2 for {method} (got {n_atoms})")
    if n_atoms < 1 or n_steps < 1:
        raise ConfigError(f"need n_atoms >= 1 and n_steps >= 1 (got {n_atoms}, {n_steps})")
    if init_std < 0 or (problem.tau > 0 and init_std <= 0):
        raise ConfigError(f"init_std must be >= 0 (> 0 when tau > 0), got {init_std}")
    tau = float(problem.tau)
    rep = fibres.representation(method, n_atoms)
    with float64():
        x = jnp.asarray(problem.states, jnp.float64)
        key = jax.random.key(seed)
        k0, key = jax.random.split(key)
        params0 = rep.init(x, init_gain, init_std, k0)

        if eta is not None and not eta > 0:
            raise ConfigError(f"step size eta must be > 0, got {eta}")
        ref_gain = problem.reference_gain
        ref_std = problem.reference_std

        def diagnostics(params, ev):
            atoms, weights = rep.atoms(params)
            w = jnp.broadcast_to(weights, atoms.shape)
            mean = jnp.sum(w * atoms, axis=1)
            var = jnp.sum(w * (atoms - mean[:, None]) ** 2, axis=1)
            gain = fit_linear_gain(x, mean, ev.d)
            if ref_gain is None:
                dist = jnp.nan
            else:
                dist = ev.d @ _per_state_w2_to_gaussian(atoms, weights, -ref_gain * x, ref_std, method, params)
            return ev.J_plain, ev.J, gain, jnp.sqrt(ev.d @ var), dist, atoms

        def step_size(params, ev):
            if eta is not None:
                return jnp.asarray(eta, x.dtype)
            atoms, weights = rep.atoms(params)
            w = jnp.broadcast_to(weights, atoms.shape)
            return step_fraction / (ev.d @ jnp.sum(w * hess_a_q(problem, ev, atoms), axis=1))

        def step(carry, _):
            params, key, ev, eta = carry
            key, sub = jax.random.split(key)
            new, _ = rep.step(problem, params, eta, tau, sub, ev)
            ev_new = rep.evaluate(problem, new, tau)
            moved = ev.d @ _per_state_step_w2(rep.atoms(params)[0], rep.atoms(new)[0], method, params, new)
            return (new, key, ev_new, eta), (new, ev_new.d, moved, *diagnostics(new, ev_new))

        @jax.jit
        def run(params, key):
            ev0 = rep.evaluate(problem, params, tau)
            eta0 = step_size(params, ev0)
            _, outs = jax.lax.scan(step, (params, key, ev0, eta0), None, length=n_steps)
            return ev0, eta0, diagnostics(params, ev0), outs

        ev0, eta0, diag0, (p_t, d_t, moved, J_t, Jt_t, g_t, sd_t, dist_t, atoms_t) = run(params0, key)
        if not float(eta0) > 0:
            raise ConfigError("Hess_a Q is not positive at the initial policy, so there is no default step; "
                              "pass an explicit step size (--eta)")
        cat = lambda a0, a: np.concatenate([np.asarray(a0)[None], np.asarray(a)])  # noqa: E731
        J0, Jt0, g0, sd0, dist0, atoms0 = diag0
        params_hist = tuple(cat(a0, a) for a0, a in zip(params0, p_t, strict=True))
        return GridFlowResult(
            method=method, states=np.asarray(x), atoms=cat(atoms0, atoms_t),
            weights=np.asarray(rep.atoms(params0)[1]), params=params_hist,
            J=cat(J0, J_t), J_tau=cat(Jt0, Jt_t), d=cat(ev0.d, d_t), gain=cat(g0, g_t),
            action_std=cat(sd0, sd_t), step_w2=np.asarray(moved), dist_ref_w2=cat(dist0, dist_t),
            eta=float(eta0), tau=tau,
        )

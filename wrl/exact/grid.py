"""Exact Wasserstein policy flow on a grid of one-dimensional states (ergodic, cost minimised).

Problem: states on a uniform grid x_1 < ... < x_n, scalar actions, s' = f(s, a) + w with w ~ N(0, sigma_w^2)
discretised onto the grid by the Gaussian noise kernel

    p(x_j | s, a) = exp(-(x_j - f(s, a))^2 / (2 sigma_w^2)) / sum_l exp(-(x_l - f(s, a))^2 / (2 sigma_w^2)),

and cost c(s, a). A policy is, per grid state, a finite measure on actions: N equally weighted particles
(here), a Gaussian through Gauss-Hermite atoms, or a quantile function at M levels
(:mod:`wrl.exact.fibres`). For atoms a_{ik} with weights w_k at state x_i:

    closed-loop kernel    P_ij = sum_k w_k p(x_j | x_i, a_ik),
    stationary law        d^T P = d^T, sum_i d_i = 1              (left Perron vector),
    cost per state        c_i = sum_k w_k c(x_i, a_ik) - tau H_i  (H_i the entropy of pi(.|x_i)),
    average cost          J = sum_i d_i c_i,
    Poisson equation      h - P h = c - J 1,  sum_i d_i h_i = 0   (differential value),
    differential Q        Q(s, a) = c(s, a) - J + sum_j p(x_j | s, a) h_j,

and the Wasserstein gradient of J at state x_i is grad_a Q(x_i, .) (the metric's d weight cancels the d
in dJ = sum_i d_i E_pi[grad_a Q . delta a]). Particles move by explicit Euler steps (Langevin for tau > 0)

    a_ik <- a_ik - eta grad_a Q(x_i, a_ik) + sqrt(2 tau eta) xi_ik,   xi ~ N(0, 1).

Accuracy against the continuous scalar LQR (s' = a s + b u + w, cost q s^2 + r u^2): for a grid spacing
Delta <= sigma_w the normalised discrete Gaussian has the mean and variance of the continuous one up to
O(exp(-2 pi^2 sigma_w^2 / Delta^2)) (Poisson summation: 3e-9 at Delta = sigma_w, 1e-34 at Delta = sigma_w/2),
so quadratic value functions are propagated exactly; the only other error is the truncation of the state
space at +-L, which only affects states of stationary mass ~exp(-L^2 / (2 X)) (X the stationary
variance). :func:`scalar_lqr_grid` picks Delta = sigma_w / 2 and L = 8 standard deviations of the widest
stationary law met on the way (initial and optimal policy), which puts both errors far below 1e-4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from wrl.errors import ConfigError
from wrl.exact.lqr import lqr_optimum, scalar_system
from wrl.flows.velocity import action_value_gradients, langevin_step

__all__ = [
    "GridEvaluation",
    "GridProblem",
    "evaluate_policy",
    "fit_linear_gain",
    "grad_a_q",
    "hess_a_q",
    "particle_entropy",
    "particle_flow_step",
    "particle_objective",
    "poisson_solution",
    "q_function",
    "scalar_lqr_grid",
    "stationary_distribution",
    "transition_rows",
]


@dataclass(frozen=True, eq=False)
class GridProblem:
    """A one-dimensional-state control problem on a grid: s' = drift(s, a) + N(0, noise_std^2), cost(s, a)."""

    states: np.ndarray  # (n,) uniform grid, increasing
    noise_std: float  # sigma_w
    drift: Callable[[Array, Array], Array]  # f(s, a): mean of the next state
    cost: Callable[[Array, Array], Array]  # c(s, a), minimised
    reference_gain: float | None = None  # optimal linear gain K* when known (pi*(.|s) centred at -K* s)
    reference_std: float = 0.0  # optimal action std sqrt(Sigma*) for the problem's tau (0 for tau = 0)
    reference_cost: float | None = None  # exact optimal average cost J* (or J_tau*) when known
    tau: float = 0.0  # entropy temperature the references were computed for
    label: str = ""

    @property
    def n_states(self) -> int:
        """Number of grid states."""
        return int(self.states.shape[0])


def scalar_lqr_grid(
    a: float = 0.9,
    b: float = 1.0,
    q: float = 1.0,
    r: float = 1.0,
    w: float = 1.0,
    tau: float = 0.0,
    init_gain: float = 0.0,
    spacing: float | None = None,
    half_width: float | None = None,
) -> GridProblem:
    """Discretised scalar LQR s' = a s + b u + w, w ~ N(0, w), cost q s^2 + r u^2, with its Riccati optimum.

    Grid: spacing Delta = sqrt(w)/2 and half-width L = 8 max(std of the stationary law of the initial gain,
    std of the optimal stationary law) unless given (see the module docstring for the error bounds).
    References: K* from the discrete Riccati equation, Sigma* = (tau/2)/(r + b^2 P*), and J_tau*.
    """
    sys = scalar_system(a, b, q, r, w)
    acl = a - b * init_gain
    if abs(acl) >= 1.0:
        raise ConfigError(f"the initial gain {init_gain} leaves |a - b*gain| = {abs(acl):.3g} >= 1; "
                          "pass an initial gain that stabilises the closed loop (|a - b*gain| < 1)")
    opt = lqr_optimum(sys, tau)
    sigma_w = math.sqrt(w)
    std_init = math.sqrt(w / (1.0 - acl * acl))
    std_opt = math.sqrt(float(opt.X[0, 0]))
    spacing = sigma_w / 2.0 if spacing is None else float(spacing)
    half_width = 8.0 * max(std_init, std_opt) if half_width is None else float(half_width)
    if spacing <= 0 or half_width <= spacing:
        raise ConfigError(f"grid needs 0 < spacing < half-width (got {spacing}, {half_width})")
    n_half = math.ceil(half_width / spacing)
    states = spacing * np.arange(-n_half, n_half + 1, dtype=np.float64)
    return GridProblem(
        states=states,
        noise_std=sigma_w,
        drift=lambda s, u: a * s + b * u,
        cost=lambda s, u: q * s * s + r * u * u,
        reference_gain=float(opt.K[0, 0]),
        reference_std=math.sqrt(float(opt.Sigma[0, 0])),
        reference_cost=float(opt.J_tau),
        tau=float(tau),
        label=f"scalar LQR a={a:g} b={b:g} q={q:g} r={r:g} w={w:g} tau={tau:g}",
    )


# ------------------------------------------------------------------------------------------ the chain


def transition_rows(problem: GridProblem, s: ArrayLike, a: ArrayLike) -> Array:
    """p(x_j | s, a) = softmax_j(-(x_j - f(s, a))^2 / (2 sigma_w^2)): the Gaussian kernel on the grid.

    Broadcasts over s and a; the grid index is a new last axis.
    """
    x = jnp.asarray(problem.states)
    mean = problem.drift(jnp.asarray(s), jnp.asarray(a))
    logits = -0.5 * ((x - mean[..., None]) / problem.noise_std) ** 2
    return jax.nn.softmax(logits, axis=-1)


@jax.jit
def stationary_distribution(P: ArrayLike) -> Array:
    """Left Perron vector of an irreducible stochastic matrix: d^T P = d^T, sum d = 1.

    Solved as (I - P + 1 1^T)^T d = 1 (nonsingular for an irreducible chain; d^T 1 1^T = 1^T).
    """
    P = jnp.asarray(P)
    n = P.shape[0]
    M = jnp.eye(n, dtype=P.dtype) - P + jnp.ones((n, n), dtype=P.dtype)
    return jnp.linalg.solve(M.T, jnp.ones((n,), dtype=P.dtype))


@jax.jit
def poisson_solution(P: ArrayLike, c: ArrayLike, d: ArrayLike) -> tuple[Array, Array]:
    """Average cost and differential value: J = d . c and h solving h - P h = c - J 1 with d . h = 0.

    h = (I - P + 1 d^T)^{-1} (c - J 1)   (the fundamental matrix; d^T (I - P + 1 d^T) = d^T gives d . h = 0).
    """
    P = jnp.asarray(P)
    c = jnp.asarray(c)
    d = jnp.asarray(d)
    J = d @ c
    n = P.shape[0]
    Z = jnp.eye(n, dtype=P.dtype) - P + jnp.outer(jnp.ones((n,), P.dtype), d)
    return J, jnp.linalg.solve(Z, c - J)


class GridEvaluation(NamedTuple):
    """Exact evaluation of a grid policy."""

    P: Array  # (n, n) closed-loop kernel
    d: Array  # (n,) stationary distribution
    c: Array  # (n,) per-state cost including -tau H_i
    J: Array  # average of c under d (J - tau H when tau > 0)
    J_plain: Array  # average of the control cost alone (no entropy term)
    h: Array  # (n,) differential value, d . h = 0


@partial(jax.jit, static_argnames=("problem", "tau"))
def evaluate_policy(
    problem: GridProblem, atoms: Array, weights: Array, state_entropy: Array | None = None, tau: float = 0.0
) -> GridEvaluation:
    """Evaluate the policy pi(.|x_i) = sum_k w_k delta_{a_ik}: kernel, stationary law, costs, Poisson solution.

    P_ij = sum_k w_k p(x_j | x_i, a_ik),  c_i = sum_k w_k c(x_i, a_ik) - tau H_i,  J = d . c,  h - P h = c - J.
    atoms: (n, K); weights: (K,) or (n, K), summing to one per state; state_entropy: (n,) H_i (used if tau > 0).
    """
    x = jnp.asarray(problem.states, dtype=atoms.dtype)
    w = jnp.broadcast_to(weights, atoms.shape)
    rows = transition_rows(problem, x[:, None], atoms)  # (n, K, n)
    P = jnp.einsum("ik,ikj->ij", w, rows)
    c_plain = jnp.sum(w * problem.cost(x[:, None], atoms), axis=1)
    c = c_plain - tau * state_entropy if (tau > 0 and state_entropy is not None) else c_plain
    d = stationary_distribution(P)
    J, h = poisson_solution(P, c, d)
    return GridEvaluation(P=P, d=d, c=c, J=J, J_plain=d @ c_plain, h=h)


def q_function(problem: GridProblem, ev: GridEvaluation, s: ArrayLike, a: ArrayLike) -> Array:
    """Q(s, a) = c(s, a) - J + sum_j p(x_j | s, a) h_j  (differential Q of the evaluated policy)."""
    return problem.cost(jnp.asarray(s), jnp.asarray(a)) - ev.J + transition_rows(problem, s, a) @ ev.h


def grad_a_q(problem: GridProblem, ev: GridEvaluation, atoms: Array) -> Array:
    """grad_a Q(x_i, a_ik) by autodiff (h and J held fixed), same shape as atoms (n, K): the flow's velocity
    field (:func:`wrl.flows.velocity.action_value_gradients`) of the exact differential critic."""
    x = jnp.asarray(problem.states, dtype=atoms.dtype)
    _, dq_da = action_value_gradients(lambda s, a: q_function(problem, ev, s, a[:, 0]), x, atoms.T[..., None])
    return dq_da[..., 0].T


def hess_a_q(problem: GridProblem, ev: GridEvaluation, atoms: Array) -> Array:
    """Hess_a Q(x_i, a_ik) = d^2 Q / da^2 by autodiff, same shape as atoms (n, K)."""
    x = jnp.asarray(problem.states, dtype=atoms.dtype)
    g = jax.grad(jax.grad(lambda s, a: q_function(problem, ev, s, a), argnums=1), argnums=1)
    return jax.vmap(jax.vmap(g, in_axes=(None, 0)), in_axes=(0, 0))(x, atoms)


# ----------------------------------------------------------------------------------------- particles


def particle_entropy(actions: Array) -> Array:
    """Per-state entropy estimate of a particle cloud: H_i = 1/2 log(2 pi e var_k(a_ik)) (Gaussian moment fit).

    Exact for Gaussian clouds, which is what the flow produces on quadratic-in-action problems; it only
    enters the entropy's transport term through the Poisson equation, the local term is the Langevin noise.
    """
    return 0.5 * jnp.log(2.0 * math.pi * math.e * jnp.var(actions, axis=1))


@partial(jax.jit, static_argnames=("problem", "tau"))
def particle_objective(problem: GridProblem, actions: Array, tau: float = 0.0) -> Array:
    """J (tau = 0) or J - tau H of the particle policy pi(.|x_i) = (1/N) sum_k delta_{a_ik} (see evaluate_policy)."""
    N = actions.shape[1]
    ent = particle_entropy(actions) if tau > 0 else None
    return evaluate_policy(problem, actions, jnp.full((N,), 1.0 / N, actions.dtype), ent, tau).J


def particle_flow_step(
    problem: GridProblem,
    actions: Array,
    eta: float | Array,
    tau: float,
    key: Array,
    ev: GridEvaluation | None = None,
) -> tuple[Array, GridEvaluation]:
    """One explicit Euler (Langevin for tau > 0) step of the particle Wasserstein flow.

    a_ik <- a_ik - eta grad_a Q(x_i, a_ik) + sqrt(2 tau eta) xi_ik;  returns the new particles and the
    evaluation of the old policy (J, d, h used for the step; pass ``ev`` if it is already known).
    Unadjusted Langevin: on a quadratic Q with Hess_a Q = 2G the stationary action variance is
    (tau/2)/G / (1 - G eta), an O(eta) bias towards more spread.
    """
    if ev is None:
        N = actions.shape[1]
        ent = particle_entropy(actions) if tau > 0 else None
        ev = evaluate_policy(problem, actions, jnp.full((N,), 1.0 / N, actions.dtype), ent, tau)
    # Costs are minimised: the velocity is -grad_a Q, then the heat step of the entropy term.
    return langevin_step(key, actions, -grad_a_q(problem, ev, actions), eta, tau), ev


def fit_linear_gain(states: ArrayLike, mean_actions: ArrayLike, d: ArrayLike) -> Array:
    """d-weighted least-squares gain of a ~= -K s: K = -sum_i d_i x_i abar_i / sum_i d_i x_i^2."""
    x = jnp.asarray(states)
    d = jnp.asarray(d)
    return -jnp.sum(d * x * jnp.asarray(mean_actions)) / jnp.sum(d * x * x)


# ------------------------------------------------------------------------------------------- driver

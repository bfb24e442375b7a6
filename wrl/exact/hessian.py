"""First and second variations of the average cost along Wasserstein curves, and second-order steps.

Along the curve pi_t(.|s) = (id + t v(s, .))_# pi(.|s), with Q, h the differential Q and value of pi and
d = d_pi its stationary law, the performance-difference identity J(pi_t) - J(pi) = int d_t(ds)
E_{a ~ pi}[Q(s, a + t v(s, a)) - h(s)] gives (f_t(s) = E_pi[Q(s, a + t v) - h(s)], f_0 = 0):

    dJ/dt   = <grad_a Q, v>_pi = E_{s ~ d} E_{a ~ pi}[grad_a Q(s, a) . v(s, a)]             (first variation)
    d2J/dt2 = E_{s ~ d} E_{a ~ pi}[v^T Hess_a Q(s, a) v]                                  (local term)
            + 2 int d_dot[v](ds) E_{a ~ pi}[grad_a Q(s, a) . v(s, a)]                     (transport term)

where d_dot[v] = d/dt d_{pi_t} at t = 0 is how the state distribution moves with the policy. At a critical
point grad_a Q = 0 and only the local term remains.

Second-order steps for LQR. On linear policies the curve with v(s, a) = -dK s is the straight line
K + t dK, so the Wasserstein Hessian (local + transport) in the direction dK is the Euclidean Hessian of
J(K); Newton's step solves Hess_K J [dK] = -grad_K J. Keeping the local term only, 2 tr(dK^T G_K dK X_K),
against the metric |v|^2 = tr(dK^T dK X_K) and the Wasserstein gradient 2 E_K gives the Gauss-Newton step
dK = -G_K^{-1} E_K, i.e. K <- (R + B^T P_K B)^{-1} B^T P_K A: policy iteration (Hewer's algorithm), which
converges quadratically.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from wrl.errors import ConfigError
from wrl.exact.grid import GridProblem, evaluate_policy, grad_a_q, hess_a_q
from wrl.exact.lqr import (
    LQRSystem,
    action_curvature,
    average_cost,
    cost_gradient,
    natural_gradient,
    spectral_radius,
    stationary_covariance,
    value_matrix,
)
from wrl.exact.precision import float64

__all__ = [
    "LQRSecondOrderResult",
    "Variations",
    "grid_variations",
    "lqr_cost_hessian",
    "lqr_curve",
    "lqr_gauss_newton_step",
    "lqr_newton_direction",
    "lqr_variations",
    "run_lqr_second_order",
]


class Variations(NamedTuple):
    """First variation and the two parts of the second variation of J along a curve."""

    first: Array  # dJ/dt = <grad_a Q, v>_pi
    local: Array  # E[v^T Hess_a Q v]
    transport: Array  # 2 int d_dot[v](ds) E_pi[grad_a Q . v]

    @property
    def second(self) -> Array:
        """d2J/dt2 = local + transport."""
        return self.local + self.transport


# ------------------------------------------------------------------------------------------------- LQR


@jax.jit
def lqr_curve(
    K: ArrayLike, Sigma: ArrayLike, Ms: ArrayLike, Ma: ArrayLike, t: ArrayLike
) -> tuple[Array, Array]:
    """pi_t = (id + t v)_# N(-K s, Sigma) for the affine velocity v(s, a) = Ms s + Ma a:

    a_t = (I + t Ma) a + t Ms s  =>  K_t = (I + t Ma) K - t Ms,  Sigma_t = (I + t Ma) Sigma (I + t Ma)^T.
    """
    K = jnp.asarray(K)
    Sigma = jnp.asarray(Sigma)
    L = jnp.eye(K.shape[0], dtype=K.dtype) + t * jnp.asarray(Ma)
    return L @ K - t * jnp.asarray(Ms), L @ Sigma @ L.T


@jax.jit
def lqr_variations(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike, Ms: ArrayLike, Ma: ArrayLike) -> Variations:
    """Closed-form first and second variation of J along v(s, a) = Ms s + Ma a (see :func:`lqr_curve`).

    With z = (s, a), s ~ N(0, X_K), a ~ N(-K s, Sigma): Cov z = C = [[X, -X K^T], [-K X, K X K^T + Sigma]],
    grad_a Q = U z with U = [2 B^T P_K A, 2 G_K], v = V z with V = [Ms, Ma], Hess_a Q = 2 G_K:
        first     = E[(U z) . (V z)] = tr(V C U^T),
        local     = E[v^T 2 G_K v] = 2 tr(G_K V C V^T),
        transport = 2 tr(Gamma X_dot),  Gamma = sym(L^T U^T V L), L = [I; -K]
    since E_a[grad_a Q . v | s] = s^T Gamma s + const and d_t = N(0, X_t); X_dot = dX_{K_t, Sigma_t}/dt at 0
    (differentiated through the Lyapunov equation by forward-mode autodiff).
    """
    K = jnp.asarray(K)
    Sigma = jnp.asarray(Sigma)
    Ms = jnp.asarray(Ms, K.dtype)
    Ma = jnp.asarray(Ma, K.dtype)
    n = K.shape[1]
    P = value_matrix(sys, K)
    G = action_curvature(sys, P)
    X = stationary_covariance(sys, K, Sigma)
    C = jnp.block([[X, -X @ K.T], [-K @ X, K @ X @ K.T + Sigma]])
    U = jnp.concatenate([2.0 * jnp.asarray(sys.B).T @ P @ jnp.asarray(sys.A), 2.0 * G], axis=1)
    V = jnp.concatenate([Ms, Ma], axis=1)
    first = jnp.trace(V @ C @ U.T)
    local = 2.0 * jnp.trace(G @ V @ C @ V.T)
    L = jnp.concatenate([jnp.eye(n, dtype=K.dtype), -K], axis=0)
    Gam = L.T @ U.T @ V @ L
    Gam = 0.5 * (Gam + Gam.T)

    def X_of_t(t):
        Kt, St = lqr_curve(K, Sigma, Ms, Ma, t)
        return stationary_covariance(sys, Kt, St)

    _, X_dot = jax.jvp(X_of_t, (jnp.zeros((), K.dtype),), (jnp.ones((), K.dtype),))
    return Variations(first=first, local=local, transport=2.0 * jnp.trace(Gam @ X_dot))


@jax.jit
def lqr_cost_hessian(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> Array:
    """Exact Hessian of J(K, Sigma) in K, as an (m n, m n) matrix over row-major vec(K) (autodiff).

    Equals the Wasserstein Hessian (local + transport) along the velocity fields v(s, a) = -dK s.
    """
    K = jnp.asarray(K)
    shape = K.shape
    f = lambda k: average_cost(sys, k.reshape(shape), Sigma)  # noqa: E731
    return jax.hessian(f)(K.reshape(-1))


@jax.jit
def lqr_newton_direction(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> tuple[Array, Array]:
    """Newton direction dK solving Hess_K J vec(dK) = -vec(dJ/dK), dJ/dK = 2 E_K X_K.

    Returns (dK, smallest eigenvalue of the Hessian); the direction is only a descent direction when
    that eigenvalue is positive.
    """
    K = jnp.asarray(K)
    H = lqr_cost_hessian(sys, K, Sigma)
    g = cost_gradient(sys, K, Sigma).reshape(-1)
    return jnp.linalg.solve(H, -g).reshape(K.shape), jnp.min(jnp.linalg.eigvalsh(0.5 * (H + H.T)))


@jax.jit
def lqr_gauss_newton_step(sys: LQRSystem, K: ArrayLike) -> Array:
    """Wasserstein Gauss-Newton (local Hessian only) step: K <- K - G_K^{-1} E_K = G_K^{-1} B^T P_K A.

    Solves 2 G_K dK X_K = -2 E_K X_K (local Hessian operator = minus the gradient in the metric
    tr(dK^T dK X_K)); this is one step of policy iteration (Hewer).
    """
    K = jnp.asarray(K)
    G = action_curvature(sys, value_matrix(sys, K))
    return K - jnp.linalg.solve(G, natural_gradient(sys, K))


@dataclass(frozen=True)
class LQRSecondOrderResult:
    """Iterates of a second-order method on J(K, Sigma) (Sigma fixed), float64 NumPy arrays."""

    method: str  # "newton" or "gauss-newton"
    K: np.ndarray  # (T+1, m, n)
    J: np.ndarray  # (T+1,)
    step_sizes: np.ndarray  # (T,) accepted step length along the direction (1 = full step)
    newton_used: np.ndarray  # (T,) True where the exact Newton direction was used (else Gauss-Newton)


def run_lqr_second_order(
    sys: LQRSystem,
    K0: ArrayLike | None = None,
    Sigma: ArrayLike | None = None,
    method: str = "newton",
    n_steps: int = 10,
) -> LQRSecondOrderResult:
    """Second-order minimisation of J(K, Sigma) over K in float64.

    "gauss-newton": K <- G_K^{-1} B^T P_K A (full steps; policy iteration keeps the loop stable).
    "newton": dK from Hess_K J dK = -grad_K J when the Hessian is positive definite, else the
    Gauss-Newton direction dK = -G_K^{-1} E_K; backtracking (halving) until the closed loop is stable
    and J decreases by the Armijo amount 1e-4 t <grad, dK>.
    """
    if method not in ("newton", "gauss-newton"):
        raise ConfigError(f"unknown second-order method {method!r}; use newton or gauss-newton")
    n, m = sys.n, sys.m
    K = np.zeros((m, n)) if K0 is None else np.asarray(K0, dtype=np.float64)
    Sigma = np.zeros((m, m)) if Sigma is None else np.asarray(Sigma, dtype=np.float64)
    A, B = np.asarray(sys.A, np.float64), np.asarray(sys.B, np.float64)
    if spectral_radius(A - B @ K) >= 1.0:
        raise ConfigError("the initial gain does not stabilise A - B K; start from a stabilising gain")
    with float64():
        s = sys.astype(jnp.float64)
        S = jnp.asarray(Sigma)
        cost = lambda k: average_cost(s, k, S)  # noqa: E731  (module-level jits: compiled once per shape)
        grad = lambda k: cost_gradient(s, k, S)  # noqa: E731
        newton = lambda k: lqr_newton_direction(s, k, S)  # noqa: E731
        gn = lambda k: lqr_gauss_newton_step(s, k)  # noqa: E731
        Ks, Js, steps, used = [K], [float(cost(K))], [], []
        for _ in range(n_steps):
            K_gn = np.asarray(gn(K))
            if method == "gauss-newton":
                K, t, use = K_gn, 1.0, False
            else:
                dK, lam = newton(K)
                use = bool(lam > 0) and bool(np.all(np.isfinite(np.asarray(dK))))
                dK = np.asarray(dK) if use else K_gn - K
                slope = float(np.sum(np.asarray(grad(K)) * dK))
                t = 1.0
                while t > 1e-8:
                    cand = K + t * dK
                    if spectral_radius(A - B @ cand) < 1.0 and float(cost(cand)) <= Js[-1] + 1e-4 * t * slope:
                        break
                    t *= 0.5
                K = K + t * dK
            Ks.append(K)
            Js.append(float(cost(K)))
            steps.append(t)
            used.append(use)
    return LQRSecondOrderResult(method=method, K=np.stack(Ks), J=np.asarray(Js), step_sizes=np.asarray(steps),
                                newton_used=np.asarray(used))


# ------------------------------------------------------------------------------------------------ grid


@partial(jax.jit, static_argnames=("problem",))
def grid_variations(problem: GridProblem, actions: Array, v: Array) -> Variations:
    """First and second variation of the grid average cost along a_ik -> a_ik + t v_ik (particles, tau = 0).

    first     = sum_i d_i (1/N) sum_k grad_a Q(x_i, a_ik) v_ik,
    local     = sum_i d_i (1/N) sum_k Hess_a Q(x_i, a_ik) v_ik^2,
    transport = 2 sum_i d_dot_i (1/N) sum_k grad_a Q(x_i, a_ik) v_ik,
    with d_dot = d/dt d(a + t v) at t = 0 (forward-mode autodiff through the stationary-law solve).
    """
    N = actions.shape[1]
    w = jnp.full((N,), 1.0 / N, actions.dtype)
    ev = evaluate_policy(problem, actions, w)
    g = grad_a_q(problem, ev, actions)
    H = hess_a_q(problem, ev, actions)
    per_state = jnp.mean(g * v, axis=1)
    _, d_dot = jax.jvp(lambda a: evaluate_policy(problem, a, w).d, (actions,), (v,))
    return Variations(first=ev.d @ per_state, local=ev.d @ jnp.mean(H * v * v, axis=1),
                      transport=2.0 * d_dot @ per_state)


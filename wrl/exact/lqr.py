"""Ergodic LQR: exact costs, differential Q, the Wasserstein gradient flow and the Riccati optimum.

System and cost (costs are minimised throughout):

    s' = A s + B a + w,   w ~ N(0, W),   c(s, a) = s^T Qc s + a^T R a,
    policy pi_{K,Sigma}(.|s) = N(-K s, Sigma),   closed loop A_K = A - B K (spectral radius < 1).

Average cost, with P_K from the discrete Lyapunov equation P_K = Qc + K^T R K + A_K^T P_K A_K:

    J(K, Sigma) = tr(P_K W) + tr((R + B^T P_K B) Sigma).

Differential value h(s) = s^T P_K s - tr(P_K X_K) (normalised so that E_{d_pi} h = 0), with the stationary
state covariance X_K = A_K X_K A_K^T + W + B Sigma B^T, and

    Q(s, a) = c(s, a) - J + E[h(A s + B a + w)],
    grad_a Q(s, a) = 2 (R + B^T P_K B) a + 2 B^T P_K A s.

Wasserstein gradient flow (descent, particle form da/dt = -grad_a Q - tau grad_a log pi): for a = -K s + eps,
-grad_a Q = 2 E_K s - 2 G_K eps with G_K = R + B^T P_K B and E_K = G_K K - B^T P_K A. One explicit step of
size eta pushes the actions forward by id + eta v, which keeps the policy linear-Gaussian:

    K <- K - 2 eta E_K                                   (the LQR natural gradient),
    Sigma <- M Sigma M,  M = I + eta (tau Sigma^{-1} - 2 G_K)   (Bures-Wasserstein exponential map along
                                                              the gradient of J - tau H).

The entropy-regularised objective is J_tau = J - tau H with H = 1/2 log det(2 pi e Sigma) the (state
independent) entropy of pi(.|s); it is minimised by the Riccati gain K* and Sigma* = (tau/2) G*^{-1}, where
G* = R + B^T P* B and P* solves the discrete algebraic Riccati equation

    P* = Qc + A^T P* A - A^T P* B (R + B^T P* B)^{-1} B^T P* A,   K* = (R + B^T P* B)^{-1} B^T P* A,
    J* = tr(P* W),   J_tau* = tr(P* W) - (tau m / 2) log(pi tau) + (tau / 2) log det G*.

The functions below are pure JAX and follow the dtype of their inputs; the drivers (``lqr_optimum``,
``run_lqr_flow``) run in float64 (:func:`wrl.exact.precision.float64`) and return NumPy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from wrl.errors import ConfigError
from wrl.exact.precision import float64
from wrl.geometry.entropy import gaussian_entropy
from wrl.geometry.gaussian import bures_distance_sq, symmetrize

__all__ = [
    "LQRFlowResult",
    "LQROptimum",
    "LQRSystem",
    "action_curvature",
    "average_cost",
    "average_cost_from_covariance",
    "cost_gradient",
    "default_step_size",
    "default_system",
    "differential_q",
    "differential_value",
    "entropic_cost",
    "gaussian_entropy",
    "grad_a_q",
    "lqr_flow_step",
    "lqr_optimum",
    "named_system",
    "natural_gradient",
    "optimal_gain",
    "random_stable_system",
    "run_lqr_flow",
    "scalar_system",
    "solve_discrete_lyapunov",
    "solve_riccati",
    "spectral_radius",
    "stationary_covariance",
    "value_matrix",
]


class LQRSystem(NamedTuple):
    """s' = A s + B a + w, w ~ N(0, W); cost c(s, a) = s^T Qc s + a^T R a (a pytree of arrays)."""

    A: ArrayLike  # (n, n) dynamics
    B: ArrayLike  # (n, m) input matrix
    Qc: ArrayLike  # (n, n) state cost, positive semi-definite
    R: ArrayLike  # (m, m) action cost, positive definite
    W: ArrayLike  # (n, n) process-noise covariance, positive definite

    @property
    def n(self) -> int:
        """State dimension."""
        return int(np.shape(self.A)[0])

    @property
    def m(self) -> int:
        """Action dimension."""
        return int(np.shape(self.B)[1])

    def astype(self, dtype: jnp.dtype) -> LQRSystem:
        """The same system as JAX arrays of the given dtype."""
        return LQRSystem(*(jnp.asarray(x, dtype=dtype) for x in self))


# ----------------------------------------------------------------------------------------------- systems


def default_system() -> LQRSystem:
    """The default 2-D state, 1-D action stable system (a lightly damped position/velocity pair).

    A = [[1, 0.1], [-0.1, 0.9]] (eigenvalues 0.95 +- 0.087i, spectral radius 0.954), B = [[0], [0.1]],
    Qc = I, R = 0.01, W = 0.01 I.
    """
    return LQRSystem(
        A=np.array([[1.0, 0.1], [-0.1, 0.9]]),
        B=np.array([[0.0], [0.1]]),
        Qc=np.eye(2),
        R=np.array([[0.01]]),
        W=0.01 * np.eye(2),
    )


def scalar_system(
    a: float = 0.9, b: float = 1.0, q: float = 1.0, r: float = 1.0, w: float = 1.0
) -> LQRSystem:
    """Scalar LQR s' = a s + b u + w, w ~ N(0, w), cost q s^2 + r u^2 (w is the noise variance)."""
    if w <= 0 or r <= 0 or q < 0:
        raise ConfigError(f"scalar LQR needs w > 0, r > 0, q >= 0 (got w={w}, r={r}, q={q}); fix the values")
    return LQRSystem(
        A=np.array([[a]], float), B=np.array([[b]], float), Qc=np.array([[q]], float),
        R=np.array([[r]], float), W=np.array([[w]], float),
    )


def random_stable_system(seed: int, n: int = 3, m: int = 1, radius: float = 0.9) -> LQRSystem:
    """A seeded random system with spectral radius(A) = radius < 1 and random positive definite costs/noise.

    A = radius * A0 / rho(A0), A0, B with N(0, 1) entries; Qc = M M^T / n + 0.1 I, R = N N^T / m + 0.1 I,
    W = L L^T / n + 0.1 I.
    """
    if not 0.0 < radius < 1.0:
        raise ConfigError(f"random system radius must be in (0, 1), got {radius}; pick e.g. 0.9")
    rng = np.random.default_rng(seed)
    A0 = rng.standard_normal((n, n))
    A = radius * A0 / np.max(np.abs(np.linalg.eigvals(A0)))
    B = rng.standard_normal((n, m))
    M = rng.standard_normal((n, n))
    N = rng.standard_normal((m, m))
    L = rng.standard_normal((n, n))
    return LQRSystem(A=A, B=B, Qc=M @ M.T / n + 0.1 * np.eye(n), R=N @ N.T / m + 0.1 * np.eye(m),
                     W=L @ L.T / n + 0.1 * np.eye(n))


def named_system(
    system: str = "default",
    state_dim: int = 3,
    action_dim: int = 1,
    system_seed: int = 0,
    A: ArrayLike | None = None,
    B: ArrayLike | None = None,
    Qc: ArrayLike | None = None,
    R: ArrayLike | None = None,
    W: ArrayLike | None = None,
) -> LQRSystem:
    """A named system ("default", "scalar", "double_integrator", "random"), with any of A, B, Qc, R, W
    replaced by explicit matrices (shapes and definiteness validated).

    double_integrator: A = [[1, dt], [0, 1]], B = [[dt^2/2], [dt]], dt = 0.1, Qc = I, R = 0.1, W = 0.01 I
    (open-loop unstable); random: :func:`random_stable_system` (state_dim, action_dim, system_seed).
    """
    if system == "default":
        base = default_system()
    elif system == "scalar":
        base = scalar_system()
    elif system == "double_integrator":
        dt = 0.1
        base = LQRSystem(A=np.array([[1.0, dt], [0.0, 1.0]]), B=np.array([[0.5 * dt * dt], [dt]]),
                         Qc=np.eye(2), R=np.array([[0.1]]), W=0.01 * np.eye(2))
    elif system == "random":
        base = random_stable_system(system_seed, state_dim, action_dim)
    else:
        raise ConfigError(f"unknown LQR system {system!r}; use default, scalar, double_integrator or random")
    given = {"A": A, "B": B, "Qc": Qc, "R": R, "W": W}
    mats = {k: np.atleast_2d(np.asarray(v if v is not None else getattr(base, k), dtype=np.float64))
            for k, v in given.items()}
    n, m = mats["A"].shape[0], mats["B"].shape[1]
    shapes = {"A": (n, n), "B": (n, m), "Qc": (n, n), "R": (m, m), "W": (n, n)}
    for k, shape in shapes.items():
        if mats[k].shape != shape:
            raise ConfigError(f"LQR matrix {k} has shape {mats[k].shape}, expected {shape}; fix the matrices")
    for k in ("Qc", "R", "W"):
        M = mats[k]
        lo = np.min(np.linalg.eigvalsh(0.5 * (M + M.T)))
        if not np.allclose(M, M.T) or lo < 0 or (k != "Qc" and lo <= 0):
            raise ConfigError(f"LQR matrix {k} must be symmetric positive {'semi-' if k == 'Qc' else ''}definite")
    return LQRSystem(**mats)


def spectral_radius(A: ArrayLike) -> float:
    """rho(A) = max |eig(A)| (host computation)."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(A, dtype=np.float64)))))


# -------------------------------------------------------------------------------------- pure JAX pieces


@jax.jit
def solve_discrete_lyapunov(A: ArrayLike, Q: ArrayLike) -> Array:
    """Solve X = A X A^T + Q (rho(A) < 1) through (I - A kron A) vec(X) = vec(Q) (row-major vec).

    Exact and differentiable; O(n^6) work, fine for the small state dimensions of the exact solvers.
    """
    A = jnp.asarray(A)
    Q = jnp.asarray(Q)
    n = A.shape[0]
    lhs = jnp.eye(n * n, dtype=A.dtype) - jnp.kron(A, A)
    return symmetrize(jnp.linalg.solve(lhs, Q.reshape(-1)).reshape(n, n))


@jax.jit
def value_matrix(sys: LQRSystem, K: ArrayLike) -> Array:
    """P_K solving P_K = Qc + K^T R K + (A - B K)^T P_K (A - B K)  (h(s) = s^T P_K s + const)."""
    K = jnp.asarray(K)
    A_K = jnp.asarray(sys.A) - jnp.asarray(sys.B) @ K
    return solve_discrete_lyapunov(A_K.T, jnp.asarray(sys.Qc) + K.T @ jnp.asarray(sys.R) @ K)


@jax.jit
def stationary_covariance(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> Array:
    """Stationary state covariance X_K = A_K X_K A_K^T + W + B Sigma B^T, A_K = A - B K (d_pi = N(0, X_K))."""
    B = jnp.asarray(sys.B)
    A_K = jnp.asarray(sys.A) - B @ jnp.asarray(K)
    return solve_discrete_lyapunov(A_K, jnp.asarray(sys.W) + B @ jnp.asarray(Sigma) @ B.T)


@jax.jit
def action_curvature(sys: LQRSystem, P: ArrayLike) -> Array:
    """G = R + B^T P B, so that Hess_a Q = 2 G."""
    B = jnp.asarray(sys.B)
    return symmetrize(jnp.asarray(sys.R) + B.T @ jnp.asarray(P) @ B)


@jax.jit
def average_cost(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> Array:
    """J(K, Sigma) = tr(P_K W) + tr((R + B^T P_K B) Sigma)."""
    P = value_matrix(sys, K)
    return jnp.trace(P @ jnp.asarray(sys.W)) + jnp.trace(action_curvature(sys, P) @ jnp.asarray(Sigma))


@jax.jit
def average_cost_from_covariance(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> Array:
    """J = E_{s ~ N(0, X_K)} E_{a ~ N(-K s, Sigma)} c(s, a) = tr((Qc + K^T R K) X_K) + tr(R Sigma).

    The same number as :func:`average_cost`, computed from the stationary distribution instead of P_K.
    """
    K = jnp.asarray(K)
    R = jnp.asarray(sys.R)
    X = stationary_covariance(sys, K, Sigma)
    return jnp.trace((jnp.asarray(sys.Qc) + K.T @ R @ K) @ X) + jnp.trace(R @ jnp.asarray(Sigma))


@jax.jit
def entropic_cost(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike, tau: float) -> Array:
    """J_tau(K, Sigma) = J(K, Sigma) - tau H(N(0, Sigma))  (cost minimised, entropy rewarded)."""
    return average_cost(sys, K, Sigma) - tau * gaussian_entropy(Sigma)


@jax.jit
def natural_gradient(sys: LQRSystem, K: ArrayLike) -> Array:
    """E_K = (R + B^T P_K B) K - B^T P_K A; the Wasserstein (natural) gradient of J in K is 2 E_K."""
    K = jnp.asarray(K)
    P = value_matrix(sys, K)
    return action_curvature(sys, P) @ K - jnp.asarray(sys.B).T @ P @ jnp.asarray(sys.A)


@jax.jit
def cost_gradient(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike) -> Array:
    """Euclidean gradient dJ/dK = 2 E_K X_K (X_K the stationary state covariance)."""
    return 2.0 * natural_gradient(sys, K) @ stationary_covariance(sys, K, Sigma)


@jax.jit
def differential_value(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike, s: ArrayLike) -> Array:
    """h(s) = s^T P_K s - tr(P_K X_K): solves h(s) = E[c(s, a) - J + h(s')] with E_{s ~ d_pi} h(s) = 0."""
    P = value_matrix(sys, K)
    X = stationary_covariance(sys, K, Sigma)
    s = jnp.asarray(s)
    return jnp.einsum("...i,ij,...j->...", s, P, s) - jnp.trace(P @ X)


@jax.jit
def differential_q(sys: LQRSystem, K: ArrayLike, Sigma: ArrayLike, s: ArrayLike, a: ArrayLike) -> Array:
    """Q(s, a) = c(s, a) - J + E_w[h(A s + B a + w)]
             = s^T Qc s + a^T R a - J + (A s + B a)^T P_K (A s + B a) + tr(P_K W) - tr(P_K X_K)."""
    P = value_matrix(sys, K)
    X = stationary_covariance(sys, K, Sigma)
    J = jnp.trace(P @ jnp.asarray(sys.W)) + jnp.trace(action_curvature(sys, P) @ jnp.asarray(Sigma))
    s = jnp.asarray(s)
    a = jnp.asarray(a)
    nxt = s @ jnp.asarray(sys.A).T + a @ jnp.asarray(sys.B).T
    quad = lambda x, M: jnp.einsum("...i,ij,...j->...", x, M, x)  # noqa: E731
    return (quad(s, jnp.asarray(sys.Qc)) + quad(a, jnp.asarray(sys.R)) - J + quad(nxt, P)
            + jnp.trace(P @ jnp.asarray(sys.W)) - jnp.trace(P @ X))


@jax.jit
def grad_a_q(sys: LQRSystem, K: ArrayLike, s: ArrayLike, a: ArrayLike) -> Array:
    """grad_a Q(s, a) = 2 (R + B^T P_K B) a + 2 B^T P_K A s  (rows of s, a are batch entries)."""
    P = value_matrix(sys, K)
    G = action_curvature(sys, P)
    BPA = jnp.asarray(sys.B).T @ P @ jnp.asarray(sys.A)
    return 2.0 * jnp.asarray(a) @ G.T + 2.0 * jnp.asarray(s) @ BPA.T


@jax.jit
def optimal_gain(sys: LQRSystem, P: ArrayLike) -> Array:
    """Greedy gain for a value matrix P: K = (R + B^T P B)^{-1} B^T P A (the Riccati gain at P = P*)."""
    P = jnp.asarray(P)
    return jnp.linalg.solve(action_curvature(sys, P), jnp.asarray(sys.B).T @ P @ jnp.asarray(sys.A))


@partial(jax.jit, static_argnames=("max_iter",))
def solve_riccati(sys: LQRSystem, max_iter: int = 100) -> Array:
    """P* of the discrete algebraic Riccati equation by the structure-preserving doubling algorithm.

    P* = Qc + A^T P* A - A^T P* B (R + B^T P* B)^{-1} B^T P* A.
    Doubling iteration with A_0 = A, G_0 = B R^{-1} B^T, H_0 = Qc:
        A_{k+1} = A_k (I + G_k H_k)^{-1} A_k,
        G_{k+1} = G_k + A_k (I + G_k H_k)^{-1} G_k A_k^T,
        H_{k+1} = H_k + A_k^T H_k (I + G_k H_k)^{-1} A_k  ->  P*   (quadratically).
    Followed by one Hewer (policy-evaluation) polish P* <- P_{K(P*)}. Needs (A, B) stabilisable and
    (A, Qc^{1/2}) detectable; independent of scipy's solve_discrete_are.
    """
    A = jnp.asarray(sys.A)
    B = jnp.asarray(sys.B)
    R = jnp.asarray(sys.R)
    n = A.shape[0]
    eye = jnp.eye(n, dtype=A.dtype)
    tol = 64 * jnp.finfo(A.dtype).eps

    def body(state):
        Ak, Gk, Hk, k, _ = state
        IGH = eye + Gk @ Hk
        Ak1 = Ak @ jnp.linalg.solve(IGH, Ak)
        Gk1 = symmetrize(Gk + Ak @ jnp.linalg.solve(IGH, Gk @ Ak.T))
        Hk1 = symmetrize(Hk + Ak.T @ Hk @ jnp.linalg.solve(IGH, Ak))
        err = jnp.max(jnp.abs(Hk1 - Hk)) / jnp.maximum(jnp.max(jnp.abs(Hk1)), 1e-300)
        return Ak1, Gk1, Hk1, k + 1, err

    def cond(state):
        *_, k, err = state
        return (k < max_iter) & (err > tol)

    init = (A, symmetrize(B @ jnp.linalg.solve(R, B.T)), jnp.asarray(sys.Qc), 0, jnp.asarray(jnp.inf, A.dtype))
    _, _, H, _, _ = jax.lax.while_loop(cond, body, init)
    return value_matrix(sys, optimal_gain(sys, H))


# --------------------------------------------------------------------------------------------- optimum


@dataclass(frozen=True)
class LQROptimum:
    """The exact optimum of ergodic LQR (float64 NumPy arrays), for entropy temperature tau."""

    P: np.ndarray  # P* (n, n), Riccati solution
    K: np.ndarray  # K* (m, n), optimal gain: pi*(.|s) = N(-K* s, Sigma*)
    G: np.ndarray  # G* = R + B^T P* B (m, m)
    Sigma: np.ndarray  # Sigma* = (tau/2) G*^{-1} (zero at tau = 0)
    X: np.ndarray  # stationary state covariance of pi*
    J: float  # J* = tr(P* W) + tr(G* Sigma*): average cost of pi*
    J_tau: float  # J_tau* = J* - tau H(Sigma*) (equals J* at tau = 0)
    tau: float


def lqr_optimum(sys: LQRSystem, tau: float = 0.0) -> LQROptimum:
    """Riccati optimum and the entropy-regularised optimum (float64).

    K* = (R + B^T P* B)^{-1} B^T P* A,  Sigma* = (tau/2) (R + B^T P* B)^{-1},
    J_tau* = tr(P* W) - (tau m / 2) log(pi tau) + (tau / 2) log det(R + B^T P* B),  J* = tr(P* W) at tau = 0.
    """
    if tau < 0:
        raise ConfigError(f"entropy temperature tau must be >= 0, got {tau}")
    with float64():
        s = sys.astype(jnp.float64)
        P, K, G, Sigma, X, J = _optimum_parts(s, jnp.asarray(tau, jnp.float64))
        if tau > 0:
            m = G.shape[0]
            logdet_G = jnp.linalg.slogdet(G)[1]
            J_tau = jnp.trace(P @ s.W) - 0.5 * tau * m * math.log(math.pi * tau) + 0.5 * tau * logdet_G
        else:
            J_tau = J
        return LQROptimum(P=np.asarray(P), K=np.asarray(K), G=np.asarray(G), Sigma=np.asarray(Sigma),
                          X=np.asarray(X), J=float(J), J_tau=float(J_tau), tau=float(tau))


@jax.jit
def _optimum_parts(s: LQRSystem, tau: Array) -> tuple[Array, ...]:
    P = solve_riccati(s)
    K = optimal_gain(s, P)
    G = action_curvature(s, P)
    Sigma = 0.5 * tau * jnp.linalg.inv(G)
    return P, K, G, Sigma, stationary_covariance(s, K, Sigma), average_cost(s, K, Sigma)


# ------------------------------------------------------------------------------------------------ flow


@partial(jax.jit, static_argnames=("tau",))
def lqr_flow_step(
    sys: LQRSystem, K: Array, Sigma: Array, eta: float | Array, tau: float = 0.0
) -> tuple[Array, Array]:
    """One explicit Wasserstein-gradient step on the linear-Gaussian policy N(-K s, Sigma).

    Actions move by a <- a - eta (grad_a Q + tau grad_a log pi) = a + eta v, with
    v(s, a) = 2 E_K s + (tau Sigma^{-1} - 2 G_K) (a + K s), hence
        K <- K - 2 eta E_K,    E_K = (R + B^T P_K B) K - B^T P_K A,
        Sigma <- M Sigma M,   M = I + eta (tau Sigma^{-1} - 2 G_K),   G_K = R + B^T P_K B.
    tau must be a Python float (at tau = 0 Sigma^{-1} is never formed, so Sigma may be singular).
    """
    P = value_matrix(sys, K)
    G = action_curvature(sys, P)
    E = G @ K - jnp.asarray(sys.B).T @ P @ jnp.asarray(sys.A)
    V = -2.0 * G
    if tau > 0:
        V = V + tau * jnp.linalg.inv(Sigma)
    M = jnp.eye(K.shape[0], dtype=K.dtype) + eta * symmetrize(V)
    return K - 2.0 * eta * E, symmetrize(M @ Sigma @ M)


def default_step_size(sys: LQRSystem, K0: ArrayLike) -> float:
    """eta = 1 / (4 lambda_max(R + B^T P_{K0} B)).

    The K-step is then a natural-gradient step of size 2 eta <= 1/||G_{K0}|| (Fazel et al., 2018). It improves
    the policy at every state: with a_PI = -G_K^{-1} B^T P_K A s the greedy action, the new action satisfies
    a' - a_PI = (I - 2 eta G_K)(a - a_PI) and ||I - 2 eta G_K|| <= 1, so the advantage
    Q(s, a') - h(s) = |a' - a_PI|^2_G - |a - a_PI|^2_G is <= 0; hence P_K and G_K decrease along the flow,
    the step bound persists and the closed loop stays stable. The covariance map at the entropic fixed
    point has derivative 1 - 4 eta lambda(G*) in [0, 1) since G* <= G_{K0}.
    """
    with float64():
        return float(_step_size(sys.astype(jnp.float64), jnp.asarray(K0, jnp.float64)))


@jax.jit
def _step_size(s: LQRSystem, K0: Array) -> Array:
    return 0.25 / jnp.max(jnp.linalg.eigvalsh(action_curvature(s, value_matrix(s, K0))))


@dataclass(frozen=True)
class LQRFlowResult:
    """Trajectory of the LQR Wasserstein flow (index k = iterate k, k = 0..n_steps), float64 NumPy arrays."""

    K: np.ndarray  # (T+1, m, n) gains
    Sigma: np.ndarray  # (T+1, m, m) covariances
    J: np.ndarray  # (T+1,) average cost J(K_k, Sigma_k)
    J_tau: np.ndarray  # (T+1,) J - tau H (equals J at tau = 0)
    step_w2: np.ndarray  # (T,) E_{s ~ d_{pi_k}} W2^2(pi_k(.|s), pi_{k+1}(.|s)): how far each step moved
    dist_opt_w2: np.ndarray  # (T+1,) E_{s ~ d_{pi*}} W2^2(pi_k(.|s), pi*(.|s))
    optimum: LQROptimum
    eta: float
    tau: float


def run_lqr_flow(
    sys: LQRSystem,
    K0: ArrayLike | None = None,
    Sigma0: ArrayLike | None = None,
    eta: float | None = None,
    tau: float = 0.0,
    n_steps: int = 500,
) -> LQRFlowResult:
    """Run the explicit Wasserstein gradient flow (see :func:`lqr_flow_step`) in float64 with lax.scan.

    Defaults: K0 = 0 (requires rho(A) < 1), Sigma0 = I, eta = :func:`default_step_size`.
    Records J, J - tau H, the W2 length of each step over d_{pi_k} and the W2 distance to pi* over d_{pi*}.
    """
    n, m = sys.n, sys.m
    K0 = np.zeros((m, n)) if K0 is None else np.asarray(K0, dtype=np.float64)
    Sigma0 = np.eye(m) if Sigma0 is None else np.asarray(Sigma0, dtype=np.float64)
    if K0.shape != (m, n) or Sigma0.shape != (m, m):
        raise ConfigError(f"K0 must be {(m, n)} and Sigma0 {(m, m)}, got {K0.shape} and {Sigma0.shape}")
    if spectral_radius(np.asarray(sys.A) - np.asarray(sys.B) @ K0) >= 1.0:
        raise ConfigError("the initial gain K0 does not stabilise A - B K0 (spectral radius >= 1); "
                          "start from a stabilising gain (K0 = 0 needs a stable A)")
    if tau > 0 and np.min(np.linalg.eigvalsh(Sigma0)) <= 0:
        raise ConfigError("with tau > 0 the initial covariance Sigma0 must be positive definite")
    if eta is None:
        eta = default_step_size(sys, K0)
    if eta <= 0:
        raise ConfigError(f"step size eta must be > 0, got {eta}")
    tau = float(tau)
    opt = lqr_optimum(sys, tau)

    with float64():
        f64 = lambda x: jnp.asarray(x, jnp.float64)  # noqa: E731
        out = _flow_scan(sys.astype(jnp.float64), f64(K0), f64(Sigma0), f64(eta), f64(opt.K), f64(opt.Sigma),
                         f64(opt.X), tau=tau, n_steps=int(n_steps))
        K_t, S_t, J_t, Jt_t, moved, dist = (np.asarray(x) for x in out)
    return LQRFlowResult(K=K_t, Sigma=S_t, J=J_t, J_tau=Jt_t, step_w2=moved, dist_opt_w2=dist,
                         optimum=opt, eta=float(eta), tau=tau)


@partial(jax.jit, static_argnames=("tau", "n_steps"))
def _flow_scan(s: LQRSystem, K0: Array, S0: Array, eta: Array, Ks: Array, Ss: Array, Xs: Array,
               tau: float, n_steps: int) -> tuple[Array, ...]:
    def objective(K, S):
        J = average_cost(s, K, S)
        return J, (J - tau * gaussian_entropy(S)) if tau > 0 else J

    def dist_opt(K, S):
        D = K - Ks
        return jnp.trace(D @ Xs @ D.T) + bures_distance_sq(S, Ss)

    def step(carry, _):
        K, S = carry
        K1, S1 = lqr_flow_step(s, K, S, eta, tau)
        X = stationary_covariance(s, K, S)
        D = K1 - K
        moved = jnp.trace(D @ X @ D.T) + bures_distance_sq(S, S1)
        J1, Jt1 = objective(K1, S1)
        return (K1, S1), (K1, S1, J1, Jt1, moved, dist_opt(K1, S1))

    _, (K_t, S_t, J_t, Jt_t, moved, dist) = jax.lax.scan(step, (K0, S0), None, length=n_steps)
    J0, Jt0 = objective(K0, S0)
    cat = lambda x0, xs: jnp.concatenate([x0[None], xs])  # noqa: E731
    return cat(K0, K_t), cat(S0, S_t), cat(J0, J_t), cat(Jt0, Jt_t), moved, cat(dist_opt(K0, S0), dist)

"""Exact solvers: Lyapunov/Riccati against scipy, the LQR Wasserstein flow against the Riccati optimum,
entropy-regularised optimum, first and second variations against finite differences, second-order steps,
grid flows against the scalar Riccati solution, geodesics, and the two CLI commands."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

from wrl.errors import ConfigError
from wrl.exact import fibres, geodesic, grid, grid_flow, hessian, lqr
from wrl.lab.cli import main as wrl_main

# (seed, n, m): random stable systems with 2-4 states and 1-2 actions
RANDOM_SYSTEMS = [(0, 2, 1), (1, 3, 2), (2, 4, 1), (3, 3, 2)]


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _systems():
    return [lqr.random_stable_system(seed, n, m) for seed, n, m in RANDOM_SYSTEMS]


def _simulate_stationary(sys, K, Sigma, n_chains, rng):
    """States and actions of independent closed-loop chains run long enough to be stationary (no formula for
    the stationary law is used: rho(A - B K)^(2T) < 1e-12)."""
    A, B = np.asarray(sys.A), np.asarray(sys.B)
    rho = lqr.spectral_radius(A - B @ K)
    T = math.ceil(math.log(1e-12) / (2 * math.log(rho))) + 5
    Lw = np.linalg.cholesky(np.asarray(sys.W))
    Ls = np.linalg.cholesky(Sigma) if np.any(Sigma) else np.zeros_like(Sigma)
    s = np.zeros((n_chains, sys.n))
    for _ in range(T):
        a = -s @ K.T + rng.standard_normal((n_chains, sys.m)) @ Ls.T
        s = s @ A.T + a @ B.T + rng.standard_normal((n_chains, sys.n)) @ Lw.T
    a = -s @ K.T + rng.standard_normal((n_chains, sys.m)) @ Ls.T
    return s, a


# ------------------------------------------------------------------------------------ LQR: solvers


@pytest.mark.slow
def test_lyapunov_and_riccati_match_scipy():
    systems = [*_systems(), lqr.default_system(), lqr.scalar_system(), lqr.named_system("double_integrator")]
    for sys in systems:
        A = np.asarray(sys.A)
        if lqr.spectral_radius(A) < 1:
            X = np.asarray(lqr.solve_discrete_lyapunov(A, np.asarray(sys.W)))
            np.testing.assert_allclose(X, sla.solve_discrete_lyapunov(A, np.asarray(sys.W)), rtol=1e-10, atol=1e-12)
        opt = lqr.lqr_optimum(sys)
        P = sla.solve_discrete_are(A, np.asarray(sys.B), np.asarray(sys.Qc), np.asarray(sys.R))
        np.testing.assert_allclose(opt.P, P, rtol=1e-9, atol=1e-12)
        K = np.linalg.solve(np.asarray(sys.R) + sys.B.T @ P @ sys.B, sys.B.T @ P @ A)
        np.testing.assert_allclose(opt.K, K, rtol=1e-9, atol=1e-12)
        assert opt.J == pytest.approx(np.trace(P @ np.asarray(sys.W)), rel=1e-10)


def test_average_cost_formulas_agree_and_match_simulation():
    """J = tr(P_K W) + tr((R + B^T P_K B) Sigma) = tr((Qc + K^T R K) X_K) + tr(R Sigma), and it is the mean cost of
    simulated stationary chains (within 5 standard errors of 40k independent chains)."""
    rng = np.random.default_rng(0)
    sys = lqr.random_stable_system(1, 3, 2)
    K = 0.3 * rng.standard_normal((2, 3))
    assert lqr.spectral_radius(np.asarray(sys.A) - np.asarray(sys.B) @ K) < 1
    Sigma = np.array([[0.4, 0.1], [0.1, 0.3]])
    s_ = sys.astype(jnp.float64)
    J = float(lqr.average_cost(s_, K, Sigma))
    assert float(lqr.average_cost_from_covariance(s_, K, Sigma)) == pytest.approx(J, rel=1e-11)
    s, a = _simulate_stationary(sys, K, Sigma, 40_000, rng)
    c = np.einsum("ni,ij,nj->n", s, sys.Qc, s) + np.einsum("ni,ij,nj->n", a, sys.R, a)
    assert abs(c.mean() - J) < 5 * c.std() / np.sqrt(len(c))


@pytest.mark.slow
def test_differential_q_gradient_bellman_and_normalisation():
    """grad_a Q = 2 (R + B^T P B) a + 2 B^T P A s equals autodiff of Q; h satisfies the average-cost Bellman
    equation h(s) = E_a[c(s, a)] - J + E[h(s')] in closed form; E_{d x pi} Q = 0."""
    rng = np.random.default_rng(1)
    sys = lqr.random_stable_system(3, 3, 2)
    s_ = sys.astype(jnp.float64)
    K = lqr.lqr_optimum(sys).K + 0.05 * rng.standard_normal((2, 3))
    assert lqr.spectral_radius(np.asarray(sys.A) - np.asarray(sys.B) @ K) < 1
    Sigma = np.diag([0.5, 0.2])
    s = rng.standard_normal((5, 3))
    a = rng.standard_normal((5, 2))
    auto = jax.vmap(jax.grad(lambda ss, aa: lqr.differential_q(s_, K, Sigma, ss, aa), argnums=1))(s, a)
    np.testing.assert_allclose(lqr.grad_a_q(s_, K, s, a), auto, rtol=1e-10, atol=1e-12)

    P = np.asarray(lqr.value_matrix(s_, K))
    X = np.asarray(lqr.stationary_covariance(s_, K, Sigma))
    J = float(lqr.average_cost(s_, K, Sigma))
    A_K = sys.A - sys.B @ K
    for si in s:
        Ec = si @ sys.Qc @ si + (K @ si) @ sys.R @ (K @ si) + np.trace(sys.R @ Sigma)
        Eh = (A_K @ si) @ P @ (A_K @ si) + np.trace(P @ (sys.W + sys.B @ Sigma @ sys.B.T)) - np.trace(P @ X)
        assert float(lqr.differential_value(s_, K, Sigma, si)) == pytest.approx(Ec - J + Eh, rel=1e-10)
    # E Q over z = (s, a) ~ N(0, C): Q is quadratic in z, so E Q = Q(0, 0) + 1/2 tr(Hess_z Q C), with the
    # Hessian read off by second differences of Q (exact for a quadratic up to rounding)
    C = np.block([[X, -X @ K.T], [-K @ X, K @ X @ K.T + Sigma]])
    z0 = np.zeros((1, 5))
    Z = np.concatenate([z0, np.eye(5), -np.eye(5), (np.eye(5)[:, None] + np.eye(5)[None]).reshape(25, 5)])
    q = np.asarray(lqr.differential_q(s_, K, Sigma, Z[:, :3], Z[:, 3:]))
    q0, qp, qm, qpp = q[0], q[1:6], q[6:11], q[11:].reshape(5, 5)
    Hz = qpp - qp[:, None] - qp[None, :] + q0  # Q(e_i + e_j) - Q(e_i) - Q(e_j) + Q(0) = H_ij (i != j)
    Hz[np.diag_indices(5)] = qp + qm - 2 * q0
    EQ = q0 + 0.5 * np.trace(Hz @ C)
    assert EQ == pytest.approx(0.0, abs=1e-9 * J)


# ----------------------------------------------------------------------------------- LQR: the flow


@pytest.mark.parametrize("seed,n,m", RANDOM_SYSTEMS)
def test_flow_reaches_riccati_gain_and_cost(seed, n, m):
    sys = lqr.random_stable_system(seed, n, m)
    res = lqr.run_lqr_flow(sys, n_steps=3000)
    opt = res.optimum
    assert np.all(np.diff(res.J) <= 1e-12 * res.J[0])  # natural-gradient steps of size <= 1/|G| decrease J
    assert np.linalg.norm(res.K[-1] - opt.K) <= 1e-6 * np.linalg.norm(opt.K)
    assert abs(res.J[-1] - opt.J) <= 1e-6 * opt.J
    assert np.linalg.norm(res.Sigma[-1]) <= 1e-6  # tau = 0: the optimum is deterministic


@pytest.mark.slow
def test_entropic_flow_converges_to_optimal_covariance():
    """With temperature tau the flow reaches K* and Sigma* = (tau/2)(R + B^T P* B)^-1, whose objective is the
    closed form J_tau* = tr(P* W) - (tau m/2) log(pi tau) + (tau/2) log det G*."""
    tau = 0.3
    sys = lqr.random_stable_system(1, 3, 2)
    res = lqr.run_lqr_flow(sys, tau=tau, n_steps=3000)
    opt = res.optimum
    np.testing.assert_allclose(opt.Sigma, 0.5 * tau * np.linalg.inv(opt.G), rtol=1e-12)
    assert np.linalg.norm(res.Sigma[-1] - opt.Sigma) <= 1e-8 * np.linalg.norm(opt.Sigma)
    assert np.linalg.norm(res.K[-1] - opt.K) <= 1e-6 * np.linalg.norm(opt.K)
    s_ = sys.astype(jnp.float64)
    assert float(lqr.entropic_cost(s_, opt.K, opt.Sigma, tau)) == pytest.approx(opt.J_tau, rel=1e-12)
    assert res.J_tau[-1] == pytest.approx(opt.J_tau, rel=1e-10)
    # entropy lowers the objective below J*, and J_tau* < J(K*, Sigma*) (cost minus a positive bonus here)
    assert opt.J_tau < opt.J


def test_entropic_optimum_minimises_j_minus_tau_h():
    """J - tau H increases under every perturbation of (K*, Sigma*) (sign check of the entropy term: with
    +tau H the covariance would blow up, so a wrong sign fails here), and its Sigma-gradient vanishes there."""
    tau = 0.2
    sys = lqr.random_stable_system(3, 3, 2)
    s_ = sys.astype(jnp.float64)
    opt = lqr.lqr_optimum(sys, tau)
    f = lambda K, S: float(lqr.entropic_cost(s_, K, S, tau))  # noqa: E731
    f0 = f(opt.K, opt.Sigma)
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1e-2, 1e-1):
        for _ in range(5):
            dK = scale * rng.standard_normal(opt.K.shape)
            E = scale * rng.standard_normal((2, 2))
            L = np.eye(2) + 0.5 * (E + E.T)  # Sigma* -> L Sigma* L stays positive definite
            assert f(opt.K + dK, opt.Sigma) > f0
            assert f(opt.K, L @ opt.Sigma @ L) > f0
    for c in (0.5, 0.9, 1.1, 2.0):
        assert f(opt.K, c * opt.Sigma) > f0
    gS = jax.grad(lambda S: lqr.entropic_cost(s_, opt.K, S, tau))(jnp.asarray(opt.Sigma))
    assert np.max(np.abs(np.asarray(gS))) < 1e-9


# ------------------------------------------------------------------------------ LQR: variations


def _curve_setup(seed=1):
    rng = np.random.default_rng(seed)
    sys = lqr.random_stable_system(1, 3, 2)
    opt = lqr.lqr_optimum(sys)
    K = opt.K + 0.2 * rng.standard_normal(opt.K.shape)
    Sigma = np.array([[0.3, 0.1], [0.1, 0.2]])
    Ms = rng.standard_normal((2, 3))  # v(s, a) = Ms s + Ma a  (Ms plays the role of -dK)
    Ma = 0.3 * rng.standard_normal((2, 2))
    return sys, K, Sigma, Ms, Ma, rng


def test_first_variation_against_finite_differences_and_monte_carlo():
    """dJ/dt along pi_t = (id + t v)_# pi equals <grad_a Q, v>_pi: against a central difference of the exact J
    (error O(h^2) ~ 1e-8 relative at h = 1e-4) and against a Monte Carlo average of grad_a Q . v over simulated
    stationary states and sampled actions (5 standard errors)."""
    sys, K, Sigma, Ms, Ma, rng = _curve_setup()
    s_ = sys.astype(jnp.float64)
    var = hessian.lqr_variations(s_, K, Sigma, Ms, Ma)
    Jt = lambda t: float(lqr.average_cost(s_, *hessian.lqr_curve(K, Sigma, Ms, Ma, t)))  # noqa: E731
    h = 1e-4
    assert float(var.first) == pytest.approx((Jt(h) - Jt(-h)) / (2 * h), rel=1e-6)
    s, a = _simulate_stationary(sys, K, Sigma, 40_000, rng)
    prod = np.sum(np.asarray(lqr.grad_a_q(s_, K, s, a)) * (s @ Ms.T + a @ Ma.T), axis=1)
    assert abs(prod.mean() - float(var.first)) < 5 * prod.std() / np.sqrt(len(prod))


@pytest.mark.slow
def test_second_variation_local_plus_transport_against_finite_differences():
    """d2J/dt2 = E[v^T Hess_a Q v] + 2 int d_dot[v] E_pi[grad_a Q . v]: against the second difference of the exact
    J (O(h^2) truncation + O(eps J / h^2) rounding, ~1e-7 at h = 1e-3) and autodiff in t; the transport term
    is not negligible away from the optimum, so the local term alone fails."""
    sys, K, Sigma, Ms, Ma, _ = _curve_setup()
    s_ = sys.astype(jnp.float64)
    var = hessian.lqr_variations(s_, K, Sigma, Ms, Ma)
    Jt = lambda t: lqr.average_cost(s_, *hessian.lqr_curve(K, Sigma, Ms, Ma, t))  # noqa: E731
    h = 1e-3
    fd2 = (float(Jt(h)) - 2 * float(Jt(0.0)) + float(Jt(-h))) / h**2
    assert float(var.second) == pytest.approx(fd2, rel=1e-5)
    assert float(var.second) == pytest.approx(float(jax.grad(jax.grad(Jt))(0.0)), rel=1e-9)
    assert abs(float(var.transport)) > 1e-3 * abs(float(var.second))
    assert abs(float(var.local) - fd2) > 1e-3 * abs(fd2)


def test_transport_term_vanishes_at_the_optimum():
    """At a critical point grad_a Q = 0 on the support of pi (deterministic optimum), so only the local term
    remains and it equals the finite-difference curvature."""
    sys = lqr.random_stable_system(1, 3, 2)
    s_ = sys.astype(jnp.float64)
    opt = lqr.lqr_optimum(sys)
    rng = np.random.default_rng(3)
    Ms, Ma = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    var = hessian.lqr_variations(s_, opt.K, np.zeros((2, 2)), Ms, Ma)
    assert abs(float(var.first)) < 1e-10 * opt.J
    assert abs(float(var.transport)) < 1e-10 * abs(float(var.local))
    Jt = lambda t: float(lqr.average_cost(s_, *hessian.lqr_curve(opt.K, np.zeros((2, 2)), Ms, Ma, t)))  # noqa: E731
    h = 1e-4  # truncation O(h^2 J^(4) / 12) ~ 1e-7 relative, rounding O(eps J / h^2) ~ 1e-8 relative
    assert float(var.local) == pytest.approx((Jt(h) - 2 * Jt(0.0) + Jt(-h)) / h**2, rel=1e-5)


def test_wasserstein_hessian_on_linear_fields_is_the_gain_hessian():
    """Along v = -dK s the curve is K + t dK, so local + transport = vec(dK)^T Hess_K J vec(dK)."""
    sys, K, Sigma, _, _, rng = _curve_setup(4)
    s_ = sys.astype(jnp.float64)
    H = np.asarray(hessian.lqr_cost_hessian(s_, K, Sigma))
    for _ in range(3):
        dK = rng.standard_normal(K.shape)
        var = hessian.lqr_variations(s_, K, Sigma, -dK, np.zeros((2, 2)))
        assert float(var.second) == pytest.approx(dK.ravel() @ H @ dK.ravel(), rel=1e-9)


def test_second_order_steps_converge_faster_than_the_flow():
    """Gauss-Newton (= policy iteration, the local Wasserstein Hessian) and damped Newton converge
    quadratically; the first-order flow at its default step converges linearly and needs many more steps."""
    sys = lqr.random_stable_system(1, 3, 2)
    opt = lqr.lqr_optimum(sys)
    gn = hessian.run_lqr_second_order(sys, method="gauss-newton", n_steps=8)
    nt = hessian.run_lqr_second_order(sys, method="newton", n_steps=15)
    flow = lqr.run_lqr_flow(sys, n_steps=3000)

    def steps(J):
        return int(np.argmax((J - opt.J) / opt.J < 1e-10))

    assert (gn.J[-1] - opt.J) / opt.J < 1e-10 and (nt.J[-1] - opt.J) / opt.J < 1e-10
    k_gn, k_nt, k_flow = steps(gn.J), steps(nt.J), steps(flow.J)
    assert k_gn <= 6
    assert k_nt <= 15
    assert k_flow > 3 * max(k_gn, k_nt)
    # quadratic convergence of Gauss-Newton (gap_{k+1} <= C gap_k^2; C <= 10 in relative gaps here), while the
    # flow's gap only shrinks by a constant factor per step
    gaps = (gn.J - opt.J) / opt.J
    close = [k for k in range(len(gaps) - 1) if 1e-7 < gaps[k] < 1e-1]
    assert close and all(gaps[k + 1] <= 10 * gaps[k] ** 2 for k in close)
    fgaps = (flow.J - opt.J) / opt.J
    lin = [k for k in range(len(fgaps) - 1) if 1e-7 < fgaps[k] < 1e-2]
    assert lin and all(fgaps[k + 1] > 10 * fgaps[k] ** 2 for k in lin)


def test_geodesic_between_linear_gaussian_policies():
    rng = np.random.default_rng(5)
    K0, K1 = rng.standard_normal((2, 2, 3))
    S0 = np.array([[0.5, 0.1], [0.1, 0.3]])
    S1 = np.array([[2.0, -0.4], [-0.4, 0.6]])
    X = np.array([[1.0, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 0.5]])
    D = math.sqrt(float(geodesic.linear_gaussian_distance_sq(K0, S0, K1, S1, X)))
    for t, (Kt_ref, St_ref) in ((0.0, (K0, S0)), (1.0, (K1, S1))):
        Kt, St = geodesic.linear_gaussian_geodesic(K0, S0, K1, S1, t)
        np.testing.assert_allclose(Kt, Kt_ref, atol=1e-12)
        np.testing.assert_allclose(St, St_ref, rtol=1e-9, atol=1e-11)
    for t in (0.2, 0.5, 0.9):
        Kt, St = geodesic.linear_gaussian_geodesic(K0, S0, K1, S1, t)
        d0t = math.sqrt(float(geodesic.linear_gaussian_distance_sq(K0, S0, Kt, St, X)))
        dt1 = math.sqrt(float(geodesic.linear_gaussian_distance_sq(Kt, St, K1, S1, X)))
        assert d0t == pytest.approx(t * D, rel=1e-8)
        assert dt1 == pytest.approx((1 - t) * D, rel=1e-8)


def test_geodesic_between_quantile_policies():
    rng = np.random.default_rng(6)
    q0 = np.sort(rng.standard_normal((5, 16)), axis=1)
    q1 = np.sort(2.0 + 0.5 * rng.standard_normal((5, 16)), axis=1)
    d = rng.uniform(0.1, 1.0, 5)
    D = math.sqrt(float(geodesic.quantile_policy_distance_sq(q0, q1, d)))
    np.testing.assert_allclose(geodesic.quantile_policy_geodesic(q0, q1, 0.0), q0)
    np.testing.assert_allclose(geodesic.quantile_policy_geodesic(q0, q1, 1.0), q1)
    for t in (0.3, 0.7):
        qt = geodesic.quantile_policy_geodesic(q0, q1, t)
        assert math.sqrt(float(geodesic.quantile_policy_distance_sq(q0, qt, d))) == pytest.approx(t * D, rel=1e-12)
        assert math.sqrt(float(geodesic.quantile_policy_distance_sq(qt, q1, d))) == pytest.approx((1 - t) * D,
                                                                                                 rel=1e-12)


# ---------------------------------------------------------------------------------------------- grid


@pytest.fixture(scope="module")
def small_grid():
    # spacing = sigma_w keeps the discrete Gaussian's moment error at exp(-2 pi^2) ~ 3e-9 (Poisson summation)
    with jax.enable_x64(True):
        return grid.scalar_lqr_grid(a=0.9, b=1.0, q=1.0, r=1.0, w=1.0, spacing=1.0)


def test_stationary_distribution_and_poisson_equation():
    rng = np.random.default_rng(7)
    P = rng.uniform(0.0, 1.0, (12, 12)) ** 3
    P /= P.sum(1, keepdims=True)
    c = rng.standard_normal(12)
    d = np.asarray(grid.stationary_distribution(P))
    np.testing.assert_allclose(d @ P, d, atol=1e-14)
    assert d.sum() == pytest.approx(1.0, abs=1e-14) and np.all(d > 0)
    J, h = grid.poisson_solution(P, c, d)
    np.testing.assert_allclose(np.asarray(h) - P @ np.asarray(h), c - float(J), atol=1e-12)
    assert float(d @ np.asarray(h)) == pytest.approx(0.0, abs=1e-13)
    assert float(J) == pytest.approx(d @ c, rel=1e-14)


@pytest.mark.slow
def test_particle_grid_flow_reproduces_scalar_riccati(small_grid):
    res = grid_flow.run_grid_flow(small_grid, "particles", n_atoms=4, n_steps=80, init_std=0.5)
    assert abs(res.gain[-1] - small_grid.reference_gain) <= 1e-4 * small_grid.reference_gain
    assert abs(res.J[-1] - small_grid.reference_cost) <= 1e-4 * small_grid.reference_cost
    assert res.action_std[-1] < 1e-6  # tau = 0: the particles of each state merge at argmin_a Q


@pytest.mark.slow
def test_gaussian_fibre_flow_reaches_entropic_optimum():
    """Gaussian fibres carry the exact entropy, so the grid flow reproduces K*, Sigma* = (tau/2)/G* and J_tau*."""
    tau = 0.2
    pb = grid.scalar_lqr_grid(tau=tau, spacing=1.0)
    res = grid_flow.run_grid_flow(pb, "gaussian", n_atoms=8, n_steps=80)
    assert res.action_std[-1] == pytest.approx(pb.reference_std, rel=1e-6)
    assert res.gain[-1] == pytest.approx(pb.reference_gain, rel=1e-6)
    assert res.J_tau[-1] == pytest.approx(pb.reference_cost, rel=1e-6)


@pytest.mark.slow
def test_quantile_flow_variance_identity():
    """At a fixed point of the quantile flow 2G (q_k - q*) = tau M/(M-1) (1/g_{k-1} - 1/g_k) (g the spacings);
    summing q_k times this by parts gives mean_k (q_k - qbar)^2 = tau/(2G) exactly: the action variance equals
    the entropic optimum's for any M, and the mean action is the Riccati one."""
    tau = 0.2
    pb = grid.scalar_lqr_grid(tau=tau, spacing=1.0)
    res = grid_flow.run_grid_flow(pb, "quantile", n_atoms=8, n_steps=80)
    assert res.action_std[-1] == pytest.approx(pb.reference_std, rel=1e-6)
    assert res.gain[-1] == pytest.approx(pb.reference_gain, rel=1e-6)
    assert np.all(np.diff(res.atoms[-1], axis=1) > 0)


@pytest.mark.slow
def test_grid_first_and_second_variation(small_grid):
    """On the grid, dJ/da_ik = d_i grad_a Q(x_i, a_ik) / N exactly (performance difference), and
    d2J/dt2 = local + transport along a -> a + t v against autodiff and a second difference."""
    rng = np.random.default_rng(8)
    x = small_grid.states
    acts = jnp.asarray(-0.3 * x[:, None] + 0.4 * rng.standard_normal((x.size, 3)))
    v = jnp.asarray(rng.standard_normal(acts.shape) * (1.0 + 0.1 * np.abs(x))[:, None])
    N = acts.shape[1]
    ev = grid.evaluate_policy(small_grid, acts, jnp.full((N,), 1.0 / N))
    g_auto = jax.grad(lambda a: grid.particle_objective(small_grid, a))(acts)
    g_form = ev.d[:, None] * grid.grad_a_q(small_grid, ev, acts) / N
    np.testing.assert_allclose(g_auto, g_form, rtol=1e-8, atol=1e-13)

    var = hessian.grid_variations(small_grid, acts, v)
    Jt = lambda t: float(grid.particle_objective(small_grid, acts + t * v))  # noqa: E731
    h = 1e-3  # O(h^2) truncation and O(eps |h_i| / h^2) rounding, both ~1e-7 relative here
    assert float(var.first) == pytest.approx((Jt(h) - Jt(-h)) / (2 * h), rel=1e-6)
    assert float(var.first) == pytest.approx(float(jnp.sum(g_auto * v)), rel=1e-9)
    fd2 = (Jt(h) - 2 * Jt(0.0) + Jt(-h)) / h**2
    assert float(var.second) == pytest.approx(fd2, rel=1e-5)
    assert abs(float(var.transport)) > 1e-3 * abs(float(var.second))


def test_quantile_entropy_and_gauss_hermite():
    z, w = fibres.gauss_hermite(8)
    assert np.sum(w * z**2) == pytest.approx(1.0, rel=1e-13) and np.sum(w * z**4) == pytest.approx(3.0, rel=1e-13)
    # spacing estimate of the entropy of N(0, s^2) from many quantiles -> 1/2 log(2 pi e s^2)
    M, s = 4000, 0.7
    from scipy.special import ndtri

    q = jnp.asarray(s * ndtri((np.arange(M) + 0.5) / M))
    assert float(fibres.quantile_entropy(q)) == pytest.approx(0.5 * math.log(2 * math.pi * math.e * s * s), abs=5e-3)


def test_bad_inputs_raise_config_errors():
    with pytest.raises(ConfigError):
        grid.scalar_lqr_grid(a=1.2)  # initial gain 0 does not stabilise
    with pytest.raises(ConfigError):
        lqr.run_lqr_flow(lqr.named_system("double_integrator"))  # K0 = 0 on an unstable system
    with pytest.raises(ConfigError):
        lqr.lqr_optimum(lqr.scalar_system(), tau=-1.0)


# ----------------------------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_flow_lqr_prints_gap_and_writes_plots(tmp_path, capsys):
    out = tmp_path / "lqr"
    # 3000 steps on the default (n=2, m=1) system reuses the compiled flow of the (0, 2, 1) test above
    assert wrl_main(["flow", "lqr", "--steps", "3000", "--no-gif", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gap" in text and "Riccati optimum" in text
    assert {p.name for p in out.iterdir()} >= {"cost.png", "w2.png", "policy.png", "summary.json"}
    import json

    summ = json.loads((out / "summary.json").read_text())
    assert summ["flow_relative_gap"] < 1e-9
    # an existing non-empty out dir is refused, one line, exit 2
    assert wrl_main(["flow", "lqr", "--steps", "10", "--no-gif", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err


def test_cli_bad_values_exit_2(tmp_path, capsys):
    assert wrl_main(["flow", "lqr", "--eta", "-1", "--out", str(tmp_path / "a")]) == 2
    assert wrl_main(["flow", "grid", "--n-atoms", "0", "--out", str(tmp_path / "b")]) == 2
    assert wrl_main(["flow", "grid", "--a", "1.5", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("wrl: error:") == 3 and "Traceback" not in err

"""Wasserstein geometry: closed forms against sample estimates and independent OT solvers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.optimize import linear_sum_assignment, linprog

from wrl.geometry import (
    bures_distance_sq,
    bures_transport_map,
    empirical_quantiles,
    gaussian_exp_map,
    gaussian_geodesic,
    gaussian_log_map,
    gaussian_quantiles,
    gelbrich_bound_sq,
    policy_inner,
    policy_norm_sq,
    policy_w2_sq_diag_gaussian,
    policy_w2_sq_linear_gaussian,
    policy_w2_sq_samples,
    quantile_geodesic,
    quantile_levels,
    sinkhorn_w2_sq,
    w2_1d_samples_sq,
    w2_assignment_sq,
    w2_diag_gaussian_sq,
    w2_gaussian_sq,
    w2_quantile_sq,
)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _random_spd(rng, d, scale=1.0):
    M = rng.standard_normal((d, d))
    return scale * (M @ M.T / d + 0.2 * np.eye(d))


def _lp_w2_sq(x, y, a=None, b=None):
    """Exact discrete W2^2 by linear programming over couplings (independent of any OT library)."""
    x = np.asarray(x, float).reshape(len(x), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    n, m = len(x), len(y)
    a = np.full(n, 1.0 / n) if a is None else a
    b = np.full(m, 1.0 / m) if b is None else b
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    A_eq = np.zeros((n + m, n * m))
    for i in range(n):
        A_eq[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        A_eq[n + j, j::m] = 1.0
    res = linprog(C.ravel(), A_eq=A_eq, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    assert res.success
    return res.fun


def test_bures_closed_form_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    for d in (1, 2, 4):
        S1, S2 = _random_spd(rng, d), _random_spd(rng, d)
        r1 = np.real(sqrtm(S1))
        ref = np.trace(S1) + np.trace(S2) - 2 * np.trace(np.real(sqrtm(r1 @ S2 @ r1)))
        assert float(bures_distance_sq(S1, S2)) == pytest.approx(ref, rel=1e-10, abs=1e-12)
        m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
        assert float(w2_gaussian_sq(m1, S1, m2, S2)) == pytest.approx(np.sum((m1 - m2) ** 2) + ref, rel=1e-10)
        assert float(bures_distance_sq(S1, S1)) == pytest.approx(0.0, abs=1e-12)


def test_w2_is_a_metric_on_gaussians():
    rng = np.random.default_rng(1)
    for _ in range(20):
        ms = [rng.standard_normal(3) for _ in range(3)]
        Ss = [_random_spd(rng, 3) for _ in range(3)]
        D = np.array([[np.sqrt(float(w2_gaussian_sq(ms[i], Ss[i], ms[j], Ss[j]))) for j in range(3)]
                      for i in range(3)])
        d = lambda i, j, D=D: D[i, j]  # noqa: E731
        assert d(0, 1) == pytest.approx(d(1, 0), rel=1e-9)
        assert d(0, 2) <= d(0, 1) + d(1, 2) + 1e-9


def test_diagonal_formula_is_the_commuting_bures_case():
    rng = np.random.default_rng(2)
    m1, m2 = rng.standard_normal((2, 5))
    s1, s2 = rng.uniform(0.1, 2.0, (2, 5))
    full = w2_gaussian_sq(m1, np.diag(s1**2), m2, np.diag(s2**2))
    assert float(w2_diag_gaussian_sq(m1, s1, m2, s2)) == pytest.approx(float(full), rel=1e-10)


def test_transport_map_is_optimal_by_independent_assignment():
    """T pushes N(m0, S0) onto N(m1, S1) (T S0 T = S1) and, being symmetric positive definite (the gradient of
    a convex function), its coupling is optimal: the assignment solver on {x_i} vs {T x_i} picks the identity,
    and the Monte Carlo cost E|x - T x|^2 matches the closed form within its standard error."""
    rng = np.random.default_rng(3)
    d = 3
    S0, S1 = _random_spd(rng, d), _random_spd(rng, d, 2.0)
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    T = np.asarray(bures_transport_map(S0, S1))
    np.testing.assert_allclose(T, T.T, atol=1e-12)
    assert np.min(np.linalg.eigvalsh(T)) > 0
    np.testing.assert_allclose(T @ S0 @ T, S1, rtol=1e-9, atol=1e-12)

    n = 300
    x = m0 + rng.standard_normal((n, d)) @ np.linalg.cholesky(S0).T
    y = m1 + (x - m0) @ T
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(C)
    assert C[rows, cols].mean() == pytest.approx(np.mean(np.diag(C)), rel=1e-12)

    n = 200_000
    x = m0 + rng.standard_normal((n, d)) @ np.linalg.cholesky(S0).T
    costs = np.sum((x - (m1 + (x - m0) @ T)) ** 2, axis=1)
    se = costs.std() / np.sqrt(n)
    assert abs(costs.mean() - float(w2_gaussian_sq(m0, S0, m1, S1))) < 5 * se


def test_one_dimensional_empirical_w2_is_exact_against_linear_programming():
    rng = np.random.default_rng(4)
    for n, m in ((7, 5), (6, 6), (3, 8)):
        x, y = rng.standard_normal(n), 2.0 + rng.standard_normal(m)
        assert float(w2_1d_samples_sq(x, y)) == pytest.approx(_lp_w2_sq(x, y), rel=1e-8, abs=1e-10)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    assert float(w2_1d_samples_sq(x, y)) == pytest.approx(w2_assignment_sq(x, y), rel=1e-10)


def test_quantile_w2_of_gaussians():
    """W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2 from the quantile functions on a fine midpoint
    grid; the midpoint rule misses the tails, an O(log M / M) error (2e-4 at M = 20000)."""
    m1, s1, m2, s2 = 0.3, 1.2, -0.5, 0.4
    exact = (m1 - m2) ** 2 + (s1 - s2) ** 2
    u = quantile_levels(20_000, jnp.float64)
    q1, q2 = gaussian_quantiles(m1, s1, u), gaussian_quantiles(m2, s2, u)
    assert float(w2_quantile_sq(q1, q2)) == pytest.approx(exact, rel=2e-3)


def test_empirical_w2_of_affine_images_is_exact():
    """For samples x_i = m1 + s1 z_i and y_i = m2 + s2 z_i (s1, s2 > 0) the monotone coupling pairs x_i with y_i,
    so W2^2 of the empirical measures is exactly mean((m1 - m2 + (s1 - s2) z)^2); the sample estimate must
    reproduce it to rounding, and it tends to the Gaussian closed form as mean z -> 0, mean z^2 -> 1."""
    rng = np.random.default_rng(5)
    m1, s1, m2, s2 = 0.3, 1.2, -0.5, 0.4
    z = rng.standard_normal(5000)
    x, y = m1 + s1 * z, m2 + s2 * rng.permutation(z)
    exact = np.mean((m1 - m2 + (s1 - s2) * z) ** 2)
    assert float(w2_1d_samples_sq(x, y)) == pytest.approx(exact, rel=1e-12)
    # empirical quantile function at the midpoints of equal-size samples = the sorted sample
    np.testing.assert_allclose(np.asarray(empirical_quantiles(x[:10], quantile_levels(10))), np.sort(x[:10]))


def test_sinkhorn_through_ott_approaches_exact_discrete_ot():
    """The entropic plan's cost <P_eps, C> lies within eps log(n) of the exact W2^2 (the entropy of any coupling
    of two uniform n-point measures is between log n and 2 log n); the exact value comes from an independent
    assignment solver; the Gelbrich bound lies below it."""
    rng = np.random.default_rng(6)
    n, eps = 64, 1e-2
    x = rng.standard_normal((n, 2))
    y = np.array([1.0, -0.5]) + 0.7 * rng.standard_normal((n, 2))
    exact = w2_assignment_sq(x, y)
    ent = float(sinkhorn_w2_sq(x, y, epsilon=eps, max_iterations=5000, threshold=1e-6))
    assert abs(ent - exact) <= eps * np.log(n)
    assert float(gelbrich_bound_sq(x, y)) <= exact + 1e-9


def test_gaussian_geodesic_endpoints_and_constant_speed():
    rng = np.random.default_rng(7)
    m0, m1 = rng.standard_normal((2, 3))
    S0, S1 = _random_spd(rng, 3), _random_spd(rng, 3, 3.0)
    D = np.sqrt(float(w2_gaussian_sq(m0, S0, m1, S1)))
    for t, (mt, St) in ((0.0, (m0, S0)), (1.0, (m1, S1))):
        a, B = gaussian_geodesic(m0, S0, m1, S1, t)
        np.testing.assert_allclose(a, mt, atol=1e-12)
        np.testing.assert_allclose(B, St, rtol=1e-9, atol=1e-10)
    for t in (0.1, 0.37, 0.8):
        mt, St = gaussian_geodesic(m0, S0, m1, S1, t)
        assert np.sqrt(float(w2_gaussian_sq(m0, S0, mt, St))) == pytest.approx(t * D, rel=1e-8)
        assert np.sqrt(float(w2_gaussian_sq(mt, St, m1, S1))) == pytest.approx((1 - t) * D, rel=1e-8)


def test_exp_map_inverts_log_map():
    rng = np.random.default_rng(8)
    m0, m1 = rng.standard_normal((2, 2))
    S0, S1 = _random_spd(rng, 2), _random_spd(rng, 2)
    dm, V = gaussian_log_map(m0, S0, m1, S1)
    m, S = gaussian_exp_map(m0, S0, dm, V)
    np.testing.assert_allclose(m, m1, atol=1e-12)
    np.testing.assert_allclose(S, S1, rtol=1e-9, atol=1e-11)
    # |log|^2 in L2(pi0) = |dm|^2 + tr(V S0 V) = W2^2
    sq = np.sum(np.asarray(dm) ** 2) + np.trace(np.asarray(V) @ S0 @ np.asarray(V))
    assert sq == pytest.approx(float(w2_gaussian_sq(m0, S0, m1, S1)), rel=1e-9)


def test_quantile_geodesic_constant_speed():
    rng = np.random.default_rng(9)
    q0 = np.sort(rng.standard_normal(32))
    q1 = np.sort(3.0 + 2.0 * rng.standard_normal(32))
    D = np.sqrt(float(w2_quantile_sq(q0, q1)))
    np.testing.assert_allclose(quantile_geodesic(q0, q1, 0.0), q0)
    np.testing.assert_allclose(quantile_geodesic(q0, q1, 1.0), q1)
    for t in (0.25, 0.6):
        qt = np.asarray(quantile_geodesic(q0, q1, t))
        assert np.all(np.diff(qt) >= 0)
        assert np.sqrt(float(w2_quantile_sq(q0, qt))) == pytest.approx(t * D, rel=1e-12)
        # the interpolated quantiles are the exact empirical W2 geodesic (sorted samples)
        assert np.sqrt(float(w2_1d_samples_sq(qt, q1))) == pytest.approx((1 - t) * D, rel=1e-12)


def test_policy_metric_weights_and_bilinearity():
    rng = np.random.default_rng(10)
    v, w = rng.standard_normal((2, 5, 8, 2))
    d = rng.uniform(0.1, 1.0, 5)
    ref = np.sum(d / d.sum() * np.mean(np.sum(v * w, -1), -1))
    assert float(policy_inner(v, w, d)) == pytest.approx(ref, rel=1e-12)
    assert float(policy_inner(v, 2 * w + v, d)) == pytest.approx(
        2 * ref + float(policy_norm_sq(v, d)), rel=1e-12)
    assert float(policy_inner(v, w)) == pytest.approx(np.mean(np.sum(v * w, -1)), rel=1e-12)


def test_policy_distance_closed_form_against_samples():
    """E_s W2^2 between per-state diagonal Gaussians (1-D actions) against the exact empirical quantile W2 of
    4000 samples per state; the sample estimate's bias is O(log log n / n) per state."""
    rng = np.random.default_rng(11)
    S = 6
    mu1, mu2 = rng.standard_normal((2, S, 1))
    sd1, sd2 = rng.uniform(0.2, 1.5, (2, S, 1))
    d = rng.uniform(0.1, 1.0, S)
    closed = float(policy_w2_sq_diag_gaussian(mu1, sd1, mu2, sd2, d))
    n = 4000
    a1 = mu1[:, None, :] + sd1[:, None, :] * rng.standard_normal((S, n, 1))
    a2 = mu2[:, None, :] + sd2[:, None, :] * rng.standard_normal((S, n, 1))
    est = float(policy_w2_sq_samples(a1, a2, d))
    assert est == pytest.approx(closed, rel=0.02)


def test_policy_distance_samples_sinkhorn_2d_is_jittable():
    """A translation by c moves every state's cloud by W2^2 = |c|^2 exactly (checked by the assignment solver);
    the debiased Sinkhorn divergence (ott-jax, jitted and vmapped over states) recovers it within eps-size
    error (eps = 1e-2 against |c|^2 = 0.25)."""
    rng = np.random.default_rng(12)
    S, n = 3, 48
    mu1 = rng.standard_normal((S, 2))
    a1 = mu1[:, None, :] + 0.3 * rng.standard_normal((S, n, 2))
    a2 = a1 + np.array([0.5, 0.0])
    exact = np.mean([w2_assignment_sq(a1[i], a2[i]) for i in range(S)])
    assert exact == pytest.approx(0.25, rel=1e-9)
    f = jax.jit(lambda x, y: policy_w2_sq_samples(x, y, method="divergence", epsilon=1e-2))
    assert float(f(a1, a2)) == pytest.approx(exact, abs=1e-2)


def test_linear_gaussian_policy_distance_against_monte_carlo():
    rng = np.random.default_rng(13)
    n, m = 3, 2
    K1, K2 = rng.standard_normal((2, m, n))
    S1, S2 = _random_spd(rng, m), _random_spd(rng, m)
    X = _random_spd(rng, n)
    mu = rng.standard_normal(n)
    closed = float(policy_w2_sq_linear_gaussian(K1, S1, K2, S2, X, mu))
    s = mu + rng.standard_normal((200_000, n)) @ np.linalg.cholesky(X).T
    per_state = np.sum(((K1 - K2) @ s.T) ** 2, axis=0) + float(bures_distance_sq(S1, S2))
    se = per_state.std() / np.sqrt(len(per_state))
    assert abs(per_state.mean() - closed) < 5 * se

"""WPPG's split step and projection pieces: the transport and heat steps, the sample flow against the Gaussian
closed form (wrl.exact.split_step), its geometric convergence and O(eta) bias against the soft optimum, the
Gaussian-mixture entropy estimator, and the ``wrl flow wppg`` toy (implicit sampler keeps both optima)."""

from __future__ import annotations

import itertools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from wrl.exact import split_step as ss
from wrl.exact.lqr import solve_discrete_lyapunov
from wrl.flows.velocity import heat_step, langevin_step, transport_step, velocity_at
from wrl.geometry import gaussian_entropy, gaussian_mixture_entropy_bias, mixture_entropy
from wrl.lab.flows import wppg as wppg_toy

H2 = np.array([[2.0, 0.6], [0.6, 1.0]])  # SPD, non-diagonal; eigenvalues 1.5 +- sqrt(0.61)
A_STARS = np.array([[0.3, -0.2], [-0.5, 0.4]])  # a* of two states (B = 2)
Z_SE = 5.0  # standard errors allowed per checked statistic (two-sided p ~ 6e-7 each)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _quadratic_q(hess: np.ndarray):
    """Q(s, a) = -(a - a*_s)^T H (a - a*_s) / 2 with the state s = a*_s: (B, D), (B, D) -> (B,)."""
    H = jnp.asarray(hess)

    def q_fn(obs, action):
        d = action - obs
        return -0.5 * jnp.einsum("bi,ij,bj->b", d, H, d)

    return q_fn


@pytest.mark.slow
def test_transport_step_moves_by_eta_grad_q(x64):
    key = jax.random.key(0)
    eta = 0.37
    actions = jax.random.normal(key, (64, 2, 2), jnp.float64)  # (N, B, D)
    obs = jnp.asarray(A_STARS)
    samples = velocity_at(_quadratic_q(H2), obs, actions)
    analytic = (obs[None] - actions) @ jnp.asarray(H2).T  # grad_a Q = H (a* - a)
    np.testing.assert_allclose(samples.dq_da, analytic, rtol=0, atol=1e-13)
    moved = transport_step(actions, samples.dq_da, eta)
    np.testing.assert_allclose(moved - actions, eta * analytic, rtol=0, atol=1e-13)
    np.testing.assert_allclose(moved, actions + eta * analytic, rtol=0, atol=1e-13)


def test_heat_step_adds_covariance_2_tau_eta(x64):
    n, d, tau, eta = 200_000, 3, 0.3, 0.05
    actions = jax.random.uniform(jax.random.key(1), (n, 1, d), jnp.float64, -1.0, 1.0)
    xi = np.asarray(heat_step(jax.random.key(2), actions, tau, eta) - actions)[:, 0]
    var = 2.0 * tau * eta
    # mean: SE sqrt(var / n); second moments (1/n) sum xi xi^T about the known zero mean: for a Gaussian,
    # Var(xi_i xi_j) = C_ii C_jj + C_ij^2, i.e. 2 var^2 on the diagonal and var^2 off it.
    np.testing.assert_array_less(np.abs(xi.mean(0)), Z_SE * math.sqrt(var / n))
    second = xi.T @ xi / n
    se = var * np.sqrt((1.0 + np.eye(d)) / n)
    np.testing.assert_array_less(np.abs(second - var * np.eye(d)), Z_SE * se)
    # tau = 0 is the identity
    np.testing.assert_array_equal(heat_step(jax.random.key(3), actions, 0.0, eta), actions)


@pytest.mark.slow
def test_sample_flow_follows_the_gaussian_closed_form(x64):
    n, steps, eta, tau = 100_000, 6, 0.1, 0.2
    m0 = np.array([-1.0, 1.0])
    C0 = np.array([[0.5, 0.1], [0.1, 0.3]])
    key = jax.random.key(4)
    z = jax.random.normal(key, (n, 2, 2), jnp.float64)
    actions = jnp.asarray(m0) + z @ jnp.asarray(np.linalg.cholesky(C0)).T  # N(m0, C0) at both states
    obs = jnp.asarray(A_STARS)
    q_fn = _quadratic_q(H2)
    closed = [ss.split_iterate(m0, C0, A_STARS[b], H2, eta, tau, steps) for b in range(2)]
    for k in range(1, steps + 1):
        samples = velocity_at(q_fn, obs, actions)
        actions = langevin_step(jax.random.fold_in(key, k), actions, samples.dq_da, eta, tau)
        a = np.asarray(actions)
        for b in range(2):
            mean, cov = np.asarray(closed[b][0][k]), np.asarray(closed[b][1][k])
            sample_mean = a[:, b].mean(0)
            sample_cov = np.cov(a[:, b].T)
            # the particles are i.i.d. N(m_k, C_k): SE of the mean sqrt(C_ii / n), of the sample covariance
            # sqrt((C_ii C_jj + C_ij^2) / n)
            np.testing.assert_array_less(np.abs(sample_mean - mean), Z_SE * np.sqrt(np.diag(cov) / n))
            se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
            np.testing.assert_array_less(np.abs(sample_cov - cov), Z_SE * se_cov)
    # the closed form moved far from the start compared with the tolerances (the check is not vacuous)
    assert np.linalg.norm(closed[0][0][-1] - m0) > 100 * math.sqrt(C0[0, 0] / n)


def test_closed_form_converges_geometrically_to_the_split_fixed_point(x64):
    # eta = 0.3: M has eigenvalues 0.784 and 0.316, so the slow direction dominates after a few dozen steps
    eta, tau, steps = 0.3, 0.2, 60
    a_star = A_STARS[0]
    m0 = np.array([-1.0, 1.0])
    C0 = np.array([[0.5, 0.1], [0.1, 0.3]])
    mean_star, cov_star = (np.asarray(x) for x in ss.split_fixed_point(a_star, H2, eta, tau))
    np.testing.assert_array_equal(mean_star, a_star)
    # it is a fixed point, and equals tau H^-1 (I - eta H / 2)^-1
    m1, c1 = ss.split_step(mean_star, cov_star, a_star, H2, eta, tau)
    np.testing.assert_allclose(m1, mean_star, rtol=0, atol=1e-15)
    np.testing.assert_allclose(c1, cov_star, rtol=0, atol=1e-14)
    np.testing.assert_allclose(cov_star, tau * np.linalg.inv(H2 - eta * H2 @ H2 / 2), rtol=1e-12)

    rho, rho_cov = (float(x) for x in ss.split_rates(H2, eta))
    lam = np.linalg.eigvalsh(H2)
    assert rho == pytest.approx(np.max(np.abs(1 - eta * lam)), rel=1e-14)
    assert rho_cov == pytest.approx(rho**2, rel=1e-14)
    means, covs = (np.asarray(x) for x in ss.split_iterate(m0, C0, a_star, H2, eta, tau, steps))
    err_m = np.linalg.norm(means - mean_star, axis=-1)
    err_c = np.linalg.norm(covs - cov_star, axis=(-2, -1))
    k = np.arange(steps + 1)
    # M is symmetric, so ||M^k e|| <= rho^k ||e|| and ||M^k D M^k||_F <= rho^2k ||D||_F at every step
    assert np.all(err_m <= rho**k * err_m[0] * (1 + 1e-12))
    assert np.all(err_c <= rho_cov**k * err_c[0] * (1 + 1e-12) + 1e-15)
    # and the rate is attained: the per-step contraction tends to rho (resp. rho^2) once the faster
    # eigendirection has died out ((0.316 / 0.784)^25 ~ 1e-10), while the errors are still far above the
    # float64 floor of C* (~1e-15): err_m[60] ~ 0.784^60 ~ 5e-7, err_c[35] ~ 0.615^35 ~ 4e-8
    np.testing.assert_allclose(err_m[26:] / err_m[25:-1], rho, rtol=1e-6)
    np.testing.assert_allclose(err_c[26:36] / err_c[25:35], rho_cov, rtol=1e-6)
    assert err_m[-1] < 1e-5 * err_m[0] and err_c[-1] < 1e-10 * err_c[0]


def test_split_fixed_point_bias_is_order_eta(x64):
    tau = 0.2
    etas = 0.2 * 0.5 ** np.arange(7)
    # scalar: C* = tau / (h (1 - eta h / 2)) solves the 1-D Lyapunov equation, and
    # (C* - tau / h) / eta = tau / (2 (1 - eta h / 2)) exactly, -> tau / 2
    h = 1.7
    scalar = []
    for eta in etas:
        c_star = float(ss.scalar_fixed_point_variance(h, eta, tau))
        lyap = float(solve_discrete_lyapunov(jnp.array([[1 - eta * h]]), jnp.array([[2 * tau * eta]]))[0, 0])
        assert c_star == pytest.approx(lyap, rel=1e-12)
        bias_over_eta = (c_star - tau / h) / eta
        predicted = tau / h * (eta * h / 2) / (1 - eta * h / 2) / eta
        assert bias_over_eta == pytest.approx(predicted, rel=1e-9)
        scalar.append(bias_over_eta - tau / 2)
    scalar = np.asarray(scalar)
    # O(eta) convergence to tau / 2: the remainder is tau h / 4 * eta + O(eta^2)
    assert np.all(np.abs(scalar / etas - tau * h / 4) <= etas * h * tau * h / 4)
    assert np.all(np.diff(np.abs(scalar)) < 0)

    # 2-D: the Lyapunov fixed point against the soft optimum N(a*, tau H^-1)
    a_star = A_STARS[1]
    soft_mean, soft_cov = (np.asarray(x) for x in ss.soft_optimum(a_star, H2, tau))
    np.testing.assert_allclose(soft_cov, tau * np.linalg.inv(H2), rtol=1e-14)
    remainders = []
    for eta in etas:
        mean_star, cov_star = (np.asarray(x) for x in ss.split_fixed_point(a_star, H2, eta, tau))
        np.testing.assert_array_equal(mean_star, soft_mean)  # the mean is unbiased
        bias = cov_star - soft_cov
        np.testing.assert_allclose(bias, np.asarray(ss.fixed_point_bias(H2, eta, tau)), rtol=0, atol=1e-13)
        # (C*_eta - tau H^-1) / eta = tau / 2 (I - eta H / 2)^-1 = tau / 2 I + eta tau H / 4 + O(eta^2)
        remainders.append(np.linalg.norm((bias / eta - tau / 2 * np.eye(2)) / eta - tau * H2 / 4))
    remainders = np.asarray(remainders)
    # the remainder is itself O(eta): exactly tau eta / 8 ||H^2 (I - eta H / 2)^-1||_F, so halving eta scales it
    # by a factor in [(1 - eta l / 2) / 2, 1 / 2] (l = lambda_max(H)), and remainder / eta -> tau ||H^2||_F / 8
    # with relative error <= (eta l / 2) / (1 - eta l / 2) < eta l (eta l < 1 here)
    lam_max = np.linalg.eigvalsh(H2).max()
    ratios = remainders[1:] / remainders[:-1]
    assert np.all(ratios <= 0.5 + 1e-9) and np.all(ratios >= 0.5 * (1 - etas[:-1] * lam_max / 2) - 1e-9)
    limit = tau * np.linalg.norm(H2 @ H2) / 8
    assert np.all(np.abs(remainders / etas - limit) <= etas * lam_max * limit)


def _entropy_replicates(key, mean, cov, sigma, m, l_pts, reps):
    """Independent estimates of H(N(mean, cov) * N(0, sigma^2 I)); replicates ride on the batch axis in chunks
    that keep the (M, L, chunk, D) pairwise array small."""
    chol = jnp.asarray(np.linalg.cholesky(cov))
    d = cov.shape[0]
    chunk = max(1, min(reps, (1 << 21) // (m * l_pts)))
    out = []
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        k1, k2, k3 = jax.random.split(jax.random.fold_in(key, start), 3)
        centres = mean + jax.random.normal(k1, (m, n, d), jnp.float64) @ chol.T
        points = mean + jax.random.normal(k2, (l_pts, n, d), jnp.float64) @ chol.T
        out.append(np.asarray(mixture_entropy(k3, centres, points, sigma)))
    return np.concatenate(out)


@pytest.mark.slow
def test_mixture_entropy_converges_to_the_smoothed_gaussian_entropy(x64):
    mean = jnp.array([0.4, -0.3])
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    sigma = 0.5
    smoothed = cov + sigma**2 * np.eye(2)
    exact = float(gaussian_entropy(smoothed))
    assert exact == pytest.approx(scipy.stats.multivariate_normal(cov=smoothed).entropy(), rel=1e-12)
    # batch axes pass through
    assert mixture_entropy(jax.random.key(0), jnp.zeros((5, 2, 3, 2)), jnp.ones((7, 2, 3, 2)), 0.3).shape == (2, 3)

    reps = 16
    key = jax.random.key(5)
    sizes = [16, 128, 1024]
    rmse, means, sds = [], [], []
    for i, n in enumerate(sizes):
        est = _entropy_replicates(jax.random.fold_in(key, i), mean, cov, sigma, n, n, reps)
        err = est - exact
        rmse.append(math.sqrt(np.mean(err**2)))
        means.append(est.mean())
        sds.append(est.std(ddof=1))
    # the error shrinks like 1/sqrt(M) (at least): 8x the samples -> RMSE ratio <= 1/sqrt(8) ~ 0.354, up to the
    # sampling error of an RMSE from 16 replicates (relative SE ~ 1/sqrt(2 * 16) ~ 0.18 each, ~ 0.25 for a
    # ratio of two; three SEs of the ratio: 0.354 * (1 + 3 * 0.25) ~ 0.62)
    for prev, nxt in itertools.pairwise(rmse):
        assert nxt < 0.62 * prev
    # at M = L = 1024 the mean of the replicates is within a few standard errors of the closed form, once the
    # leading O(1/M) Jensen bias (det(I + C / sigma^2) - 1) / (2M) is accounted for
    bias = float(gaussian_mixture_entropy_bias(jnp.asarray(cov), sigma, sizes[-1]))
    se = sds[-1] / math.sqrt(reps)
    assert abs(means[-1] - exact - bias) < 4.0 * se
    assert 4.0 * se < 0.02 * abs(exact)  # the tolerance is tight compared with the entropy itself


@pytest.mark.slow
def test_wppg_toy_implicit_keeps_both_optima(tmp_path, capsys):
    out = tmp_path / "wppg"
    assert wppg_toy.run(wppg_toy.Options(out=str(out), iterations=60, samples=128, eval_samples=4096)) == 0
    printed = capsys.readouterr().out
    assert "implicit" in printed and "tanh-Gaussian" in printed
    assert (out / "wppg.png").stat().st_size > 0
    final = json.loads((out / "summary.json").read_text())["final"]
    implicit, tanh_gaussian = final["implicit"], final["tanh_gaussian"]
    # binomial SE of a fraction near 0.2 from 4096 samples is ~0.006, far below the margins
    assert implicit["near_minus"] >= 0.2 and implicit["near_plus"] >= 0.2
    assert min(tanh_gaussian["near_minus"], tanh_gaussian["near_plus"]) < 0.2
    assert implicit["mean_q"] > tanh_gaussian["mean_q"]

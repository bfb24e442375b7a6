"""Particle density-gradient estimators (Blob, GFSD, GFSF) and SVGD against closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.errors import ConfigError
from wrl.flows.particles import blob_repulsion, gfsd_repulsion, gfsf_repulsion, particle_velocity
from wrl.geometry import w2_gaussian_sq
from wrl.geometry.kernels import median_bandwidth, rbf_kernel

COV = np.array([[1.0, 0.6], [0.6, 2.0]])
MEAN = np.array([3.0, -1.0])


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_median_heuristic_and_kernel_on_known_inputs():
    x = jnp.array([[0.0], [1.0], [3.0]])  # pair distances^2: 1, 9, 4 -> median 4
    h = median_bandwidth(x)
    assert float(h) == pytest.approx(4.0 / (2.0 * math.log(4.0)))
    k = rbf_kernel(x, 2.0)
    assert float(k[0, 1]) == pytest.approx(math.exp(-1.0 / 4.0)) and float(k[0, 2]) == pytest.approx(math.exp(-9 / 4))
    np.testing.assert_allclose(np.diag(k), 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("name,fn,ratio", [("blob", blob_repulsion, 0.5), ("gfsd", gfsd_repulsion, 0.6),
                                           ("gfsf", lambda x, h: gfsf_repulsion(x, h, 0.1), 0.85)])
def test_estimators_approach_the_exact_score_as_m_grows(name, fn, ratio):
    """On particles from N(0, C) each estimate of -grad log q(x) = C^-1 x improves from M = 100 to M = 1000
    (relative squared error averaged over five draws)."""
    chol, prec = np.linalg.cholesky(COV), np.linalg.inv(COV)
    errors = []
    for m in (100, 1000):
        e = []
        for r in range(5):
            x = jax.random.normal(jax.random.key(r), (m, 2)) @ jnp.asarray(chol.T)
            exact = x @ jnp.asarray(prec.T)
            est = fn(x, median_bandwidth(x))
            e.append(float(jnp.mean(jnp.sum((est - exact) ** 2, -1)) / jnp.mean(jnp.sum(exact**2, -1))))
        errors.append(np.mean(e))
    assert errors[1] < ratio * errors[0], (name, errors)
    if name != "gfsf":  # the smoothed-density estimators are also close in absolute terms at M = 1000
        assert errors[1] < 0.15, (name, errors)


def test_svgd_with_one_particle_is_gradient_ascent_on_log_p():
    x = jnp.array([[0.3, -0.2]])
    score = jnp.array([[1.5, 2.5]])
    np.testing.assert_allclose(particle_velocity(x, score, "svgd"), score)
    for method in ("blob", "gfsd"):  # one particle: no repulsion either
        np.testing.assert_allclose(particle_velocity(x, score, method), score, atol=1e-12)


@pytest.mark.parametrize("method", ["svgd", "blob", "gfsd", "gfsf"])
def test_particle_flow_converges_to_a_gaussian_target_in_w2(method):
    """100 particles started at N(0, 0.25 I) flow towards N(m, C): W2^2 of their moments' Gaussian to the target
    (closed form) falls from above 10 to below 0.1."""
    prec, mean = jnp.asarray(np.linalg.inv(COV)), jnp.asarray(MEAN)
    x = 0.5 * jax.random.normal(jax.random.key(9), (100, 2))
    flow = jax.jit(lambda x: jax.lax.fori_loop(
        0, 600, lambda _, y: y + 0.1 * particle_velocity(y, -(y - mean) @ prec.T, method), x))
    start = float(w2_gaussian_sq(jnp.mean(x, 0), jnp.cov(x.T), mean, jnp.asarray(COV)))
    x = flow(x)
    end = float(w2_gaussian_sq(jnp.mean(x, 0), jnp.cov(x.T), mean, jnp.asarray(COV)))
    assert start > 10 and end < 0.1, (start, end)
    assert end < 1e-2 * start


@pytest.mark.slow
def test_batch_of_particle_sets_and_bad_method():
    xs = jax.random.normal(jax.random.key(0), (3, 4, 20, 2))
    scores = -xs
    batched = particle_velocity(xs, scores, "blob")
    np.testing.assert_allclose(batched[2, 1], particle_velocity(xs[2, 1], scores[2, 1], "blob"), rtol=1e-12)
    with pytest.raises(ConfigError):
        particle_velocity(xs, scores, "langevin")


@pytest.mark.slow
@pytest.mark.parametrize("h", [0.2, 0.5])
def test_gfsd_fixed_point_is_the_target_deconvolved_by_the_kernel(h):
    """GFSD moves particles until the kernel-smoothed density q * N(0, h I), not q, matches p. For p = N(0, I)
    and particles close to N(0, sigma^2 I) that is sigma^2 + h = 1: the particle variance ends at 1 - h
    (the estimator's known bias, which the median heuristic makes large when h exceeds a mode's variance)."""
    x = jax.random.normal(jax.random.key(3), (400, 2))
    flow = jax.jit(lambda x: jax.lax.fori_loop(
        0, 1500, lambda _, y: y + 0.05 * particle_velocity(y, -y, "gfsd", bandwidth=h), x))
    var = np.diag(np.cov(np.asarray(flow(x)).T))
    np.testing.assert_allclose(var, 1.0 - h, atol=0.05)


@pytest.mark.slow
def test_flow_particles_command(tmp_path):
    import json

    from wrl.lab.cli import main

    out = tmp_path / "fp"
    args = ["flow", "particles", "--out", str(out), "--particles", "60", "--iterations", "200", "--record-every",
            "50", "--bandwidth", "0.05", "--cost-sizes", "10", "20"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"svgd", "blob", "gfsd", "gfsf"}
    for method, r in summary["methods"].items():
        assert len(r["w2"]) == 5 and r["w2"][0] == summary["w2_start"], method  # steps 0, 50, ..., 200
        assert r["w2_final"] < 0.5 * summary["w2_start"], method  # every estimator spreads out to the 4 modes
    assert set(summary["cost_us_per_evaluation"]["blob"]) == {"10", "20"}
    assert (out / "particles.png").stat().st_size > 0
    assert main(args) == 2  # a non-empty --out is never overwritten without --overwrite
    assert main(["flow", "particles", "--out", str(tmp_path / "x"), "--particles", "1"]) == 2

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


def test_batch_of_particle_sets_and_bad_method():
    xs = jax.random.normal(jax.random.key(0), (3, 4, 20, 2))
    scores = -xs
    batched = particle_velocity(xs, scores, "blob")
    np.testing.assert_allclose(batched[2, 1], particle_velocity(xs[2, 1], scores[2, 1], "blob"), rtol=1e-12)
    with pytest.raises(ConfigError):
        particle_velocity(xs, scores, "langevin")

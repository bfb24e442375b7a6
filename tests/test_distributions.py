"""Distribution pytrees: closed forms against scipy / numpy, sampling moments, dispatch."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import wrl.distributions as D
from wrl.distributions import DiagGaussian, GaussianMixture, gaussian, mixture


def _gauss(batch=(3,), dim=2, seed=0):
    rng = np.random.default_rng(seed)
    return DiagGaussian(
        mean=jnp.asarray(rng.normal(size=(*batch, dim)), jnp.float32),
        std=jnp.asarray(rng.uniform(0.3, 2.0, size=(*batch, dim)), jnp.float32),
    )


def _mix(seed=0, batch=(3,), k=3, dim=2):
    rng = np.random.default_rng(seed)
    return GaussianMixture(
        logits=jnp.asarray(rng.normal(size=(*batch, k)), jnp.float32),
        means=jnp.asarray(3 * rng.normal(size=(*batch, k, dim)), jnp.float32),
        stds=jnp.asarray(rng.uniform(0.3, 1.5, size=(*batch, k, dim)), jnp.float32),
    )


def test_gaussian_log_prob_matches_scipy_and_broadcasts_samples():
    g = _gauss()
    a = D.sample(jax.random.key(1), g, (5,))
    assert a.shape == (5, 3, 2)
    lp = D.log_prob(g, a)
    assert lp.shape == (5, 3)
    ref = stats.norm.logpdf(np.asarray(a), np.asarray(g.mean), np.asarray(g.std)).sum(-1)
    np.testing.assert_allclose(lp, ref, rtol=1e-5, atol=1e-5)


def test_gaussian_sampling_moments_and_entropy():
    g = _gauss(batch=(2,))
    n = 100_000
    a = np.asarray(D.sample(jax.random.key(2), g, (n,)))
    se_mean = np.asarray(g.std) / np.sqrt(n)
    assert np.all(np.abs(a.mean(0) - np.asarray(g.mean)) < 5 * se_mean)
    assert np.allclose(a.std(0), np.asarray(g.std), rtol=0.02)
    ref = stats.norm.entropy(np.asarray(g.mean), np.asarray(g.std)).sum(-1)
    np.testing.assert_allclose(D.entropy(g), ref, rtol=1e-5)


def test_gaussian_kl_closed_form_matches_sample_estimate():
    p, q = _gauss(batch=(2,), seed=3), _gauss(batch=(2,), seed=4)
    kl = np.asarray(D.kl_divergence(p, q))
    n = 200_000
    a = D.sample(jax.random.key(5), p, (n,))
    log_ratio = np.asarray(D.log_prob(p, a) - D.log_prob(q, a), np.float64)
    est, se = log_ratio.mean(0), log_ratio.std(0) / np.sqrt(n)
    assert np.all(np.abs(est - kl) < 5 * se), (est, kl, se)
    assert np.all(np.asarray(D.kl_divergence(p, p)) < 1e-6)


def test_std_parameterisation():
    assert float(D.std_from_raw(0.0, init_std=0.7, min_std=1e-3)) == pytest.approx(0.7, rel=1e-6)
    assert float(D.std_from_raw(-50.0, init_std=0.7, min_std=1e-3)) == pytest.approx(1e-3, rel=1e-4)
    raw = jnp.linspace(-4.0, 4.0, 9)
    back = jax.jit(lambda r: D.raw_from_std(D.std_from_raw(r, 2.0, 0.01), 2.0, 0.01))(raw)
    np.testing.assert_allclose(back, raw, atol=1e-4)
    g = D.diag_gaussian(jnp.zeros(3), jnp.zeros(3), init_std=0.3)
    np.testing.assert_allclose(g.std, 0.3, rtol=1e-6)
    with pytest.raises(ValueError):
        D.std_from_raw(0.0, init_std=0.1, min_std=0.2)


@pytest.mark.slow
def test_mixture_log_prob_matches_numpy():
    m = _mix()
    a = D.sample(jax.random.key(0), m, (7,))
    assert a.shape == (7, 3, 2)
    lp = np.asarray(D.log_prob(m, a))
    w = np.asarray(jax.nn.softmax(m.logits, -1))
    dens = stats.norm.pdf(np.asarray(a)[..., None, :], np.asarray(m.means), np.asarray(m.stds)).prod(-1)
    ref = np.log((w * dens).sum(-1))
    np.testing.assert_allclose(lp, ref, rtol=1e-4, atol=1e-4)
    r = mixture.responsibilities(m, a)
    np.testing.assert_allclose(np.asarray(r).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_mixture_normalises_and_samples_follow_weights():
    m = GaussianMixture(
        logits=jnp.log(jnp.array([0.2, 0.8])), means=jnp.array([[-3.0], [2.0]]), stds=jnp.array([[0.5], [1.0]])
    )
    grid = jnp.linspace(-12, 12, 20001)[:, None]
    dens = np.exp(np.asarray(D.log_prob(m, grid), np.float64))
    mass = dens.sum() * 24.0 / 20000
    assert mass == pytest.approx(1.0, abs=1e-4)
    n = 100_000
    a = np.asarray(D.sample(jax.random.key(3), m, (n,)))[:, 0]
    frac_left = np.mean(a < -0.5)
    assert abs(frac_left - 0.2) < 5 * np.sqrt(0.2 * 0.8 / n) + 1e-3
    assert np.mean(a) == pytest.approx(float(mixture.mean(m)[0]), abs=5 * np.std(a) / np.sqrt(n))


def test_dispatch_and_registration():
    class Point(NamedTuple):
        x: jax.Array

    with pytest.raises(TypeError, match="not a registered distribution family"):
        D.log_prob(Point(jnp.zeros(2)), jnp.zeros(2))
    assert D.family_of(_gauss()).log_prob is gaussian.log_prob
    assert D.family_of(_mix()).log_prob is mixture.log_prob
    with pytest.raises(TypeError, match="closed-form entropy"):
        D.entropy(_mix())
    # dispatch works under jit: the family is static (the pytree type)
    lp = jax.jit(D.log_prob)(_mix(), jnp.zeros((4, 3, 2)))
    assert lp.shape == (4, 3)

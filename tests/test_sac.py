"""SAC's squashed-Gaussian log-density against a numeric density, and agent update sanity."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from wrl.distributions.tanh_gaussian import tanh_gaussian_log_prob, tanh_gaussian_sample


def numeric_density_1d(a, mu, sigma, h=1e-5):
    """d/da P(tanh(U) <= a) by central differences of the Gaussian CDF (no change-of-variables formula)."""
    cdf = lambda x: norm.cdf((np.arctanh(x) - mu) / sigma)  # noqa: E731
    return (cdf(a + h) - cdf(a - h)) / (2 * h)


def test_log_prob_matches_numeric_density():
    jax.config.update("jax_enable_x64", True)
    try:
        for mu, sigma in [(0.0, 1.0), (0.7, 0.3), (-1.5, 2.0)]:
            for a in [-0.95, -0.3, 0.0, 0.42, 0.9]:
                lp = float(tanh_gaussian_log_prob(jnp.array([a]), jnp.array([mu]), jnp.log(jnp.array([sigma]))))
                np.testing.assert_allclose(np.exp(lp), numeric_density_1d(a, mu, sigma), rtol=1e-5)
        # independent dimensions multiply
        a, mu, ls = jnp.array([0.2, -0.6]), jnp.array([0.1, -0.4]), jnp.log(jnp.array([0.5, 1.3]))
        joint = float(tanh_gaussian_log_prob(a, mu, ls))
        parts = sum(np.log(numeric_density_1d(float(a[i]), float(mu[i]), float(jnp.exp(ls[i])))) for i in range(2))
        np.testing.assert_allclose(joint, parts, rtol=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_sampled_log_prob_agrees_with_log_prob_of_the_sample():
    mean, log_std = jnp.array([[0.3, -1.0, 2.0]]), jnp.array([[-0.5, 0.2, -1.0]])
    a, lp = tanh_gaussian_sample(jax.random.key(0), mean, log_std)
    # away from the saturated edge the atanh round trip is exact enough in float32
    np.testing.assert_allclose(lp, tanh_gaussian_log_prob(a, mean, log_std), rtol=2e-3)


def test_log_prob_stable_at_saturation():
    u = jnp.array([30.0])
    from wrl.distributions.tanh_gaussian import log_det_tanh_jacobian

    assert np.isfinite(float(log_det_tanh_jacobian(u)))
    np.testing.assert_allclose(float(log_det_tanh_jacobian(u)), 2 * (np.log(2) - 30.0), rtol=1e-6)

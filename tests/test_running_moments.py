"""Running observation moments: merged batch by batch they equal the moments of all vectors seen."""

import jax
import jax.numpy as jnp
import numpy as np

from wrl.running_moments import moments_init, moments_update, normalize


def test_batches_merge_to_the_moments_of_their_concatenation_in_any_order():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=rng.normal(size=3) * 5, scale=rng.uniform(0.1, 4, size=3), size=(n, 3))
               for n in (7, 1, 40, 13)]
    every = np.concatenate(batches)
    with jax.enable_x64(True):
        _check_orders(batches, every)


def _check_orders(batches, every):
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        m = moments_init(3, jnp.float64)
        for i in order:
            m = moments_update(m, jnp.asarray(batches[i]))
        np.testing.assert_allclose(m.mean, every.mean(0), rtol=1e-12)
        np.testing.assert_allclose(m.var, every.var(0), rtol=1e-10)
        assert float(m.count) == len(every)


def test_leading_axes_are_sample_axes_and_a_fresh_normaliser_is_the_identity():
    with jax.enable_x64(True):
        _check_axes_and_identity(np.random.default_rng(1).normal(size=(4, 5, 2)) * 3 + 1)


def _check_axes_and_identity(x):
    m = moments_update(moments_init(2, jnp.float64), jnp.asarray(x))
    np.testing.assert_allclose(m.mean, x.reshape(-1, 2).mean(0), rtol=1e-12)
    z = np.asarray(normalize(m, jnp.asarray(x)))
    np.testing.assert_allclose(z.reshape(-1, 2).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.reshape(-1, 2).std(0), 1, rtol=1e-6)
    fresh = moments_init(2, jnp.float64)
    np.testing.assert_allclose(normalize(fresh, jnp.asarray(x[0])), x[0], rtol=1e-7)


def test_normalised_values_are_clipped():
    m = moments_update(moments_init(1), jnp.array([[0.0], [2.0]]))  # mean 1, std 1
    np.testing.assert_allclose(normalize(m, jnp.array([[1e6], [-1e6], [3.0]]), clip=5.0), [[5.0], [-5.0], [2.0]],
                               rtol=1e-6)

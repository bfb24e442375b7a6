"""Gaussian mixture with diagonal components as a plain pytree plus pure functions.

    pi(a) = sum_k w_k N(a; means_k, diag(stds_k^2)),   w = softmax(logits).

Shapes: ``logits`` (*batch, K), ``means`` and ``stds`` (*batch, K, D). Actions are (*sample, *batch, D).
Sampling picks a component and then a Gaussian draw; it is not reparameterisable through the component
choice, which WPO does not need (it stops the gradient at the sampled action and differentiates log pi).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from wrl.distributions.base import normal_log_density, register_family

Array = jax.Array


class GaussianMixture(NamedTuple):
    """sum_k softmax(logits)_k N(means_k, diag(stds_k^2)); logits (*batch, K), means/stds (*batch, K, D)."""

    logits: Array
    means: Array
    stds: Array


def weights(dist: GaussianMixture) -> Array:
    """Component weights w = softmax(logits), shape (*batch, K)."""
    return jax.nn.softmax(dist.logits, axis=-1)


def component_log_probs(dist: GaussianMixture, a: Array) -> Array:
    """log w_k + log N(a; means_k, stds_k^2) for every component k, shape (*sample, *batch, K)."""
    per_dim = normal_log_density(a[..., None, :], dist.means, dist.stds)  # (..., K, D)
    return jax.nn.log_softmax(dist.logits, axis=-1) + jnp.sum(per_dim, axis=-1)


def log_prob(dist: GaussianMixture, a: Array) -> Array:
    """log pi(a) = logsumexp_k (log w_k + log N(a; means_k, stds_k^2)), shape (*sample, *batch)."""
    return jax.nn.logsumexp(component_log_probs(dist, a), axis=-1)


def responsibilities(dist: GaussianMixture, a: Array) -> Array:
    """Posterior component probabilities r_k(a) = w_k N_k(a) / pi(a), shape (*sample, *batch, K)."""
    return jax.nn.softmax(component_log_probs(dist, a), axis=-1)


def sample(key: jax.Array, dist: GaussianMixture, sample_shape: tuple[int, ...] = ()) -> Array:
    """k ~ Categorical(w), then a = means_k + stds_k * eps; shape ``sample_shape + batch + (D,)``."""
    k_comp, k_noise = jax.random.split(key)
    batch = jnp.shape(dist.logits)[:-1]
    n_comp, dim = jnp.shape(dist.means)[-2:]
    shape = tuple(sample_shape) + batch
    comp = jax.random.categorical(k_comp, dist.logits, axis=-1, shape=shape)
    idx = comp[..., None, None]
    means = jnp.broadcast_to(dist.means, (*shape, n_comp, dim))
    stds = jnp.broadcast_to(dist.stds, (*shape, n_comp, dim))
    mean_k = jnp.take_along_axis(means, idx, axis=-2)[..., 0, :]
    std_k = jnp.take_along_axis(stds, idx, axis=-2)[..., 0, :]
    eps = jax.random.normal(k_noise, (*shape, dim), dtype=jnp.result_type(dist.means))
    return mean_k + std_k * eps


def mean(dist: GaussianMixture) -> Array:
    """E[a] = sum_k w_k means_k, shape (*batch, D)."""
    return jnp.sum(weights(dist)[..., None] * dist.means, axis=-2)


register_family(GaussianMixture, log_prob=log_prob, sample=sample)

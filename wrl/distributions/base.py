"""Shared pieces of the distribution families: a small dispatch table and numeric helpers.

A distribution is a plain pytree (a ``NamedTuple`` of arrays). Its family is its Python type, and the
family's functions (``log_prob``, ``sample``, ``entropy``) are found through :func:`register_family`,
so generic code such as the WPO loss can take "any distribution with a differentiable log-prob":

    log_prob(dist, a)                  -> log pi(a), shape = broadcast(sample dims, batch dims)
    sample(key, dist, sample_shape)    -> actions of shape sample_shape + batch_shape + event_shape
    entropy(dist)                      -> H[pi], shape = batch_shape

Conventions every family follows: the event (action) axis is the last axis of an action; sample
dimensions are leading axes and broadcast against the distribution's batch axes, so
``log_prob(dist, sample(key, dist, (n,)))`` has shape ``(n, *batch_shape)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
PRNGKey = jax.Array

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Family(NamedTuple):
    """The functions of one distribution family (see the module docstring for their contracts)."""

    log_prob: Callable[[Any, Array], Array]
    sample: Callable[[PRNGKey, Any, tuple[int, ...]], Array]
    entropy: Callable[[Any], Array] | None = None


_FAMILIES: dict[type, Family] = {}


def register_family(
    cls: type,
    *,
    log_prob: Callable[[Any, Array], Array],
    sample: Callable[[PRNGKey, Any, tuple[int, ...]], Array],
    entropy: Callable[[Any], Array] | None = None,
) -> None:
    """Make the pytree type ``cls`` usable with the generic log_prob, sample and entropy."""
    _FAMILIES[cls] = Family(log_prob=log_prob, sample=sample, entropy=entropy)


def family_of(dist: Any) -> Family:
    """The registered :class:`Family` of ``dist``'s type; ``TypeError`` if the type was never registered."""
    try:
        return _FAMILIES[type(dist)]
    except KeyError:
        known = ", ".join(sorted(c.__name__ for c in _FAMILIES)) or "none"
        raise TypeError(
            f"{type(dist).__name__} is not a registered distribution family (known: {known}); "
            "call wrl.distributions.register_family first"
        ) from None


def log_prob(dist: Any, a: Array) -> Array:
    """log pi(a) for any registered family; sample axes of ``a`` lead and broadcast over batch axes."""
    return family_of(dist).log_prob(dist, a)


def sample(key: PRNGKey, dist: Any, sample_shape: tuple[int, ...] = ()) -> Array:
    """Draw actions of shape ``sample_shape + batch_shape + event_shape`` from any registered family."""
    return family_of(dist).sample(key, dist, tuple(sample_shape))


def entropy(dist: Any) -> Array:
    """Differential entropy H[pi] = -E[log pi(a)] in closed form, where the family provides one."""
    fn = family_of(dist).entropy
    if fn is None:
        raise TypeError(f"{type(dist).__name__} has no closed-form entropy")
    return fn(dist)


def softplus_inverse(y: Array) -> Array:
    """x with softplus(x) = log(1 + e^x) = y, for y > 0: x = y + log(1 - e^-y), computed stably."""
    y = jnp.asarray(y)
    return y + jnp.log(-jnp.expm1(-y))


def normal_log_density(x: Array, mean: Array, std: Array) -> Array:
    """Elementwise log N(x; mean, std^2) = -((x - mean)/std)^2 / 2 - log std - log sqrt(2 pi)."""
    z = (x - mean) / std
    return -0.5 * z * z - jnp.log(std) - LOG_SQRT_2PI

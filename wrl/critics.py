"""Critic pieces shared by every agent: ensembles of Q networks, TD targets, target networks, grad_a Q.

Every method in wrl follows the same flow through grad_a Q(s, a) (DESIGN section 1); the critic that
provides it is built here once.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from wrl.networks import QNetwork, ensemble_apply
from wrl.replay import Batch


def td_target(batch: Batch, next_value: jax.Array) -> jax.Array:
    """y = R^(n) + gamma^m (1 - terminated) V(s'_m); the discount already folds in termination."""
    return jax.lax.stop_gradient(batch.reward + batch.discount * next_value)


def ensemble_td_loss(qnet: QNetwork, params, batch: Batch, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """sum over members of mean_b (Q_i(s, a) - y)^2 / 2; returns (loss, Q values)."""
    q = ensemble_apply(qnet, params, batch.obs, batch.action)  # (members, B)
    return 0.5 * jnp.sum(jnp.mean((q - target[None]) ** 2, axis=1)), q


def polyak(target, online, tau: float):
    """theta_target <- tau * theta + (1 - tau) * theta_target."""
    return optax.incremental_update(online, target, tau)


def action_gradient(q_fn: Callable[[jax.Array, jax.Array], jax.Array], obs: jax.Array,
                    action: jax.Array) -> jax.Array:
    """grad_a Q(s, a) for a batch: the Wasserstein gradient of the return at (s, a)."""
    return jax.grad(lambda a: jnp.sum(q_fn(obs, a)))(action)

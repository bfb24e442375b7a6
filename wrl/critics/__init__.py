"""Critic pieces shared by every agent: TD targets, the bootstrap value, the critic step, target networks.

Every method in wrl follows the same flow through grad_a Q(s, a) (:mod:`wrl.flows.velocity`); the critic
that provides it is trained here once, for every agent:

    y = R^(n) + gamma^m (1 - d) V(s'_m),   V(s') = reduce_n [ min_i Q_target_i(s', a'_n) ] (+ a bonus),
    L(phi) = sum_i mean_b (Q_i(s_b, a_b) - y_b)^2 / 2,

with a'_n sampled from the (target) policy at s' and the target parameters following the online ones by
Polyak averaging or periodic copies.
"""

from __future__ import annotations

from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wrl.networks import ensemble_apply
from wrl.replay import Batch

Array = jax.Array
Params = Any


def td_target(batch: Batch, next_value: Array) -> Array:
    """y = R^(n) + gamma^m (1 - terminated) V(s'_m); the batch's discount already folds in termination."""
    return jax.lax.stop_gradient(batch.reward + batch.discount * next_value)


def bootstrap_value(qnet: nn.Module, target_params: Params, next_obs: Array, actions: Array,
                    reduce: Literal["mean", "max"] = "mean") -> Array:
    """V(s') = reduce_n min_i Q_target_i(s', a'_n): the min over the target ensemble at each sampled action,
    then the mean (or max) over the N samples. ``actions`` is (N, B, D), or (B, D) for a single sample
    (then V(s') = min_i Q_target_i(s', a'))."""

    def twin_min(a: Array) -> Array:
        return ensemble_apply(qnet, target_params, next_obs, a).min(0)

    if actions.ndim == 2:
        return twin_min(actions)
    q = jax.vmap(twin_min)(actions)  # (N, B)
    return q.mean(0) if reduce == "mean" else q.max(0)


def ensemble_td_loss(qnet: nn.Module, params: Params, batch: Batch, target: Array) -> tuple[Array, Array]:
    """sum over members of mean_b (Q_i(s, a) - y)^2 / 2; returns (loss, Q values (members, B))."""
    q = ensemble_apply(qnet, params, batch.obs, batch.action)  # (members, B)
    return 0.5 * jnp.sum(jnp.mean((q - target[None]) ** 2, axis=1)), q


def critic_step(qnet: nn.Module, tx: optax.GradientTransformation, params: Params, opt_state: optax.OptState,
                batch: Batch, target: Array) -> tuple[Params, optax.OptState, Array, Array]:
    """One optimizer step on :func:`ensemble_td_loss` towards the fixed targets ``target`` (B,).

    Returns (new params, new optimizer state, loss, Q values (members, B) before the step).
    """
    (loss, q), grads = jax.value_and_grad(lambda p: ensemble_td_loss(qnet, p, batch, target), has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, q


def polyak(target: Params, online: Params, rate: float) -> Params:
    """theta_target <- rate * theta + (1 - rate) * theta_target."""
    return optax.incremental_update(online, target, rate)


def target_update(target: Params, online: Params, step: Array, mode: Literal["polyak", "periodic"],
                  rate: float, period: int) -> Params:
    """The target network after update number ``step``: :func:`polyak` with ``rate``, or a periodic copy
    theta_target <- theta when step % period == 0, else unchanged (``optax.periodic_update``)."""
    if mode == "polyak":
        return polyak(target, online, rate)
    return optax.periodic_update(online, target, step, period)

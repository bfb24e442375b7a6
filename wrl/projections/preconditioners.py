"""Parameter-space Fisher preconditioning of the WPO direction, for any distribution with a log-prob.

The unpreconditioned direction E[grad_theta grad_a log pi . v] is exact by autodiff (a mixed second
derivative) of :func:`wrl.projections.fisher.wpo_policy_loss` at given velocity samples; F^-1 is a damped
empirical Fisher where the parameter count is small, or a per-group (per-leaf) or per-parameter diagonal
rescaling where it is not.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from wrl.distributions.base import log_prob
from wrl.errors import ConfigError
from wrl.flows.velocity import PolicyFn, VelocitySamples
from wrl.projections.fisher import sample_weights, wpo_policy_loss

Array = jax.Array
PRNGKey = jax.Array
Params = Any
Obs = Any
Preconditioner = Literal["none", "fisher", "group", "diagonal"]


def wpo_direction(
    params: Params,
    obs: Obs,
    samples: VelocitySamples,
    *,
    policy_fn: PolicyFn,
    mask: Array | None = None,
) -> Params:
    """The unpreconditioned WPO ascent direction for any distribution with a differentiable log-prob:

        d(theta) = E_s E_{a~pi}[ grad_theta ( grad_a log pi_theta(a|s) . stopgrad(v(s, a)) ) ]

    at the actions and velocity of ``samples`` (drawn from ``policy_fn(params, obs)``), computed exactly by
    differentiating the autodiff action-gradient of log pi in theta (a mixed second derivative): -grad_theta
    of :func:`wrl.projections.fisher.wpo_policy_loss` without adaptor or trust region. Returns d as a params
    pytree.
    """
    grads = jax.grad(lambda p: wpo_policy_loss(policy_fn(p, obs), samples, mask=mask)[0])(params)
    return jax.tree.map(jnp.negative, grads)


def score_vectors(params: Params, obs: Obs, actions: Array, *, policy_fn: PolicyFn) -> Params:
    """Per-sample scores g_nb = grad_theta log pi_theta(a_nb | s_b) as a pytree with leaves (N, B, *leaf).

    Each state is evaluated as a batch of one, so this assumes ``policy_fn`` treats batch rows
    independently (no batch statistics).
    """

    def per_state(obs_b: Obs, actions_b: Array) -> Params:
        # One policy forward per state; per-sample cotangents on the distribution parameters are pulled
        # back through the same VJP (linear in N, unlike a Jacobian of the N stacked log-probs).
        dist_b, pullback = jax.vjp(lambda p: policy_fn(p, jax.tree.map(lambda x: x[None], obs_b)), params)
        score_dist = jax.vmap(lambda a: jax.grad(lambda d: log_prob(d, a[None])[0])(dist_b))(actions_b)
        return jax.vmap(pullback)(score_dist)[0]  # leaves (N, *leaf)

    per_b = jax.vmap(per_state, in_axes=(0, 1))(obs, jax.lax.stop_gradient(actions))  # (B, N, *leaf)
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), per_b)


def _flat_scores(scores: Params) -> Array:
    """(M, P) matrix of flattened scores, columns in ``ravel_pytree`` order."""
    leaves = jax.tree.leaves(scores)
    n, b = leaves[0].shape[:2]
    return jnp.concatenate([x.reshape(n * b, -1) for x in leaves], axis=1)


def empirical_fisher_solve(
    direction: Params, scores: Params, *, damping: float = 1e-3, mask: Array | None = None
) -> Params:
    """x = (F + lambda I)^-1 d with the empirical Fisher F = E[g g^T] over the per-sample scores g.

    ``scores`` has leaves (N, B, *leaf) (see :func:`score_vectors`); the expectation weights samples
    uniformly and states by ``mask``. Solves in parameter space (P x P) when M = N*B >= P, otherwise
    through the Woodbury identity in sample space (M x M):
    (lambda I + S^T S)^-1 d = (d - S^T (lambda I + S S^T)^-1 S d) / lambda, S = rows sqrt(w_m) g_m.
    """
    flat_d, unravel = ravel_pytree(direction)
    s = _flat_scores(scores)
    leaves = jax.tree.leaves(scores)
    n, b = leaves[0].shape[:2]
    w = sample_weights(n, b, mask, s.dtype).reshape(-1)
    s = s * jnp.sqrt(w)[:, None]
    m, p = s.shape
    if m >= p:
        fisher = s.T @ s + damping * jnp.eye(p, dtype=s.dtype)
        x = jnp.linalg.solve(fisher, flat_d)
    else:
        gram = s @ s.T + damping * jnp.eye(m, dtype=s.dtype)
        x = (flat_d - s.T @ jnp.linalg.solve(gram, s @ flat_d)) / damping
    return unravel(x)


def group_fisher_rescale(
    direction: Params,
    scores: Params,
    *,
    damping: float = 1e-3,
    per_element: bool = False,
    mask: Array | None = None,
) -> Params:
    """Block-diagonal Fisher preconditioning: d_G / (f_G + lambda) for every parameter group G (pytree leaf).

    f_G = E[ mean_{i in G} g_i^2 ] is the group's average diagonal Fisher (one scalar per leaf, which
    keeps the relative geometry inside a layer); with ``per_element=True`` f_i = E[g_i^2] per parameter
    (the diagonal Fisher). For large networks where the full Fisher solve is out of reach.
    """
    leaves = jax.tree.leaves(scores)
    n, b = leaves[0].shape[:2]
    w = sample_weights(n, b, mask, leaves[0].dtype)

    def rescale(d: Array, g: Array) -> Array:
        second = jnp.tensordot(w, jnp.square(g), axes=([0, 1], [0, 1]))  # (*leaf,)
        f = second if per_element else jnp.mean(second)
        return d / (f + damping)

    return jax.tree.map(rescale, direction, scores)


def natural_wpo_direction(
    params: Params,
    obs: Obs,
    samples: VelocitySamples,
    *,
    policy_fn: PolicyFn,
    preconditioner: Preconditioner = "fisher",
    damping: float = 1e-3,
    mask: Array | None = None,
) -> Params:
    """Preconditioned WPO ascent direction Delta theta ~ F^-1 E[grad_theta grad_a log pi . v] at ``samples``.

    ``preconditioner``: 'fisher' (damped empirical Fisher over the same samples, small parameter
    counts), 'group' (one Fisher scalar per parameter group), 'diagonal' (per-parameter Fisher) or
    'none'. Apply as theta <- theta + lr * direction (it is an ascent direction, not a loss gradient).
    """
    if preconditioner not in ("none", "fisher", "group", "diagonal"):
        raise ConfigError(
            f"unknown preconditioner {preconditioner!r}; use 'fisher', 'group', 'diagonal' or 'none'"
        )
    direction = wpo_direction(params, obs, samples, policy_fn=policy_fn, mask=mask)
    if preconditioner == "none":
        return direction
    scores = score_vectors(params, obs, samples.actions, policy_fn=policy_fn)
    if preconditioner == "fisher":
        return empirical_fisher_solve(direction, scores, damping=damping, mask=mask)
    return group_fisher_rescale(direction, scores, damping=damping, per_element=preconditioner == "diagonal",
                                mask=mask)

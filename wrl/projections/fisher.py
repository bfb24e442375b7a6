"""The Fisher (KL) projection of WPO (Pfau et al., ICML 2025): the flow's velocity brought back to a density.

The Wasserstein gradient of the return at pi(.|s) is the velocity field grad_a Q(s, a)
(:mod:`wrl.flows.velocity`). Projecting it onto a parametric family with the Fisher metric gives WPO:

    Delta theta = F(theta)^-1 E_s E_{a~pi_theta(.|s)}[ grad_theta grad_a log pi_theta(a|s) . grad_a Q(s, a) ]

with F the Fisher information of pi_theta. This module holds the surrogate whose gradient is that
direction (:func:`wpo_surrogate`, the paper's central equation), the inverse Fisher in the
distribution's own parameters, applied as a gradient rescaling that leaves forward values unchanged:
closed form for a diagonal Gaussian (:func:`natural_gradient_adaptor`), Monte Carlo per state for any
family (:func:`output_fisher_adaptor`), and the one WPO policy loss that assembles them with the KL trust
region (:func:`wpo_policy_loss`, what the agent, the toy and the tests use). The velocity comes in as
:class:`~wrl.flows.velocity.VelocitySamples`, already transformed (squash, box pull, link: see
:mod:`wrl.flows.velocity`). Parameter-space preconditioners are in :mod:`wrl.projections.preconditioners`,
the KL trust region in :mod:`wrl.projections.kl`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from wrl.distributions.base import log_prob, sample
from wrl.distributions.gaussian import DiagGaussian
from wrl.errors import ConfigError
from wrl.flows.velocity import VelocitySamples
from wrl.projections.kl import KLAux, KLConfig, KLDuals, decoupled_kl_loss

Array = jax.Array
PRNGKey = jax.Array
Params = Any
Obs = Any

_EPS = 1e-8


Adaptor = Callable[[Any], Any]


class WPOStats(NamedTuple):
    """Diagnostics of one WPO policy loss (means over samples and states, constants)."""

    surrogate: Array
    """The value of :func:`wpo_surrogate` (its gradient is what matters)."""
    kl_penalty: Array
    """The decoupled KL penalty added to the surrogate (zero without an anchor)."""
    kl: KLAux | None
    """Batch-mean decoupled KLs and the weights used; None without an anchor."""
    q_mean: Array
    q_min: Array
    q_max: Array
    velocity_norm: Array
    """E |v(s, a)| of the velocity the loss was given."""


def sample_weights(num_samples: int, batch: int, mask: Array | None, dtype: Any) -> Array:
    """Weights w_nb >= 0 summing to 1: uniform over samples, ``mask``-weighted over states."""
    m = jnp.ones((batch,), dtype) if mask is None else jnp.asarray(mask, dtype)
    per_state = m / jnp.maximum(jnp.sum(m), _EPS)
    return jnp.broadcast_to(per_state / num_samples, (num_samples, batch))


def _rescale_gradient(x: Array, scale: Array) -> Array:
    """Identity in the forward pass; multiplies the incoming gradient by ``scale`` (held constant)."""
    x_const = jax.lax.stop_gradient(x)
    return x_const + jax.lax.stop_gradient(scale) * (x - x_const)


def natural_gradient_adaptor(dist: DiagGaussian) -> DiagGaussian:
    """Pre-multiply the gradient reaching (mu, sigma) by the inverse Fisher diag(sigma^2, sigma^2 / 2).

    For N(mu, sigma^2) per dimension the Fisher of (mu, sigma) is diag(1/sigma^2, 2/sigma^2). The adaptor
    returns a distribution with identical values whose mean passes gradients scaled by sigma^2 and whose
    standard deviation passes gradients scaled by sigma^2/2, so any loss built on it yields the natural
    gradient in (mu, sigma) coordinates, chained into the network parameters:

        grad_theta L = (dmu/dtheta)^T sigma^2 dL/dmu + (dsigma/dtheta)^T (sigma^2/2) dL/dsigma.

    With the WPO surrogate this makes the update of the distribution parameters (per dimension)

        d_mu = E_{a~pi}[grad_a Q(a)],   d_sigma = E_{a~pi}[((a - mu)/sigma) grad_a Q(a)],

    i.e. the mean moves like a deterministic policy gradient evaluated at sampled actions, and
    neither term blows up as 1/sigma^2 when the policy sharpens.
    """
    if not isinstance(dist, DiagGaussian):
        raise ConfigError(
            f"the natural-gradient adaptor needs a DiagGaussian policy, got {type(dist).__name__}; "
            "use output_fisher_adaptor, or no adaptor and precondition with natural_wpo_direction"
        )
    var = jnp.square(dist.std)
    return DiagGaussian(mean=_rescale_gradient(dist.mean, var), std=_rescale_gradient(dist.std, 0.5 * var))


def output_fisher_adaptor(dist: Any, key: PRNGKey, num_samples: int = 256, damping: float = 1e-3) -> Any:
    """Pre-multiply the gradient reaching each state's distribution parameters eta by (F_eta + lambda I)^-1.

    F_eta = E_{a~pi_eta}[ grad_eta log pi_eta(a) grad_eta log pi_eta(a)^T ] is the Fisher information of
    the distribution in its own parameters (all leaves of ``dist`` for one state, flattened), estimated
    per state with ``num_samples`` actions drawn from pi itself. The returned distribution has identical
    values; a loss built on it gives, per state b,

        grad_theta L = sum_b (d eta_b / d theta)^T (F_b + lambda I)^-1 dL/d eta_b,

    the Fisher-metric (natural) gradient in distribution-parameter space chained into the network. For a
    diagonal Gaussian in (mu, sigma) this tends to :func:`natural_gradient_adaptor`'s closed form
    diag(sigma^2, sigma^2 / 2); it makes WPO's projection work for any registered family with a
    differentiable log-prob (e.g. a Gaussian mixture) at the cost of one P x P solve per state
    (P = parameters per state, e.g. K (1 + 2 D) for a K-component mixture). Leaves need a leading batch axis.
    """
    leaves, treedef = jax.tree.flatten(jax.lax.stop_gradient(dist))
    b = leaves[0].shape[0]
    sizes = [math.prod(x.shape[1:]) for x in leaves]
    splits = list(itertools.accumulate(sizes))[:-1]

    def unflatten(flat: Array) -> Any:
        parts = jnp.split(flat, splits, axis=-1)
        return jax.tree.unflatten(treedef, [p.reshape(x.shape) for p, x in zip(parts, leaves, strict=True)])

    const = jnp.concatenate([x.reshape(b, -1) for x in leaves], axis=1)  # (B, P)
    actions = sample(key, unflatten(const), (num_samples,))  # (M, B, D)
    # Rows are independent, so the gradient of the batch sum gives every state's score at once.
    scores = jax.vmap(lambda a: jax.grad(lambda f: jnp.sum(log_prob(unflatten(f), a)))(const))(actions)
    fisher = jnp.einsum("mbp,mbq->bpq", scores, scores) / num_samples
    precond = jnp.linalg.inv(fisher + damping * jnp.eye(const.shape[1], dtype=const.dtype))  # (B, P, P)
    flat = jnp.concatenate([x.reshape(b, -1) for x in jax.tree.leaves(dist)], axis=1)
    adapted = const + jnp.einsum("bpq,bq->bp", jax.lax.stop_gradient(precond), flat - const)
    return unflatten(adapted)


def wpo_surrogate(dist: Any, samples: VelocitySamples, *, mask: Array | None = None) -> Array:
    """Surrogate L(theta) = -E_s E_{a~pi}[ grad_a log pi_theta(a|s) . stopgrad(v(s, a)) ], v = ``samples.dq_da``.

    Its gradient is grad_theta L = -E[ grad_theta grad_a log pi_theta(a|s) . v(s, a) ] (actions and v are
    constants), the negative of the (unpreconditioned) WPO direction; the expectation is the sample mean
    over the N actions per state and the ``mask``-weighted mean over states. Any distribution whose
    registered ``log_prob`` is differentiable in the action and the parameters works.
    """
    actions = jax.lax.stop_gradient(samples.actions)
    v = jax.lax.stop_gradient(samples.dq_da)
    grad_log_pi = jax.grad(lambda a: jnp.sum(log_prob(dist, a)))(actions)  # (N, B, D), depends on theta
    inner = jnp.sum(grad_log_pi * v, axis=-1)  # (N, B)
    n, b = inner.shape
    w = sample_weights(n, b, mask, inner.dtype)
    return -jnp.sum(w * inner)


def wpo_policy_loss(
    dist: Any,
    samples: VelocitySamples,
    *,
    adaptor: Adaptor | None = None,
    anchor: Any | None = None,
    duals: KLDuals | None = None,
    kl_config: KLConfig | None = None,
    mask: Array | None = None,
) -> tuple[Array, WPOStats]:
    """The WPO policy loss: the surrogate on the Fisher-adapted policy plus the decoupled KL penalty,

        L(theta) = -E_s E_{a~pi}[ grad_a log A(pi_theta)(a|s) . stopgrad(v(s, a)) ]
                   + sum_d [ alpha_mean_d E_s KL_mean_d(pi_anchor, pi_theta) + alpha_std_d E_s KL_std_d ],

    with ``dist`` = pi_theta(.|s) (a function of theta), ``samples`` the actions drawn from it and the velocity
    v at them (constants: see :mod:`wrl.flows.velocity`), A the ``adaptor`` (identity in the forward pass,
    the inverse Fisher on the gradient: :func:`natural_gradient_adaptor` or a partial of
    :func:`output_fisher_adaptor`; None: no preconditioning) and the KL terms of
    :func:`wrl.projections.kl.decoupled_kl_loss` towards ``anchor`` (the target policy; None: no trust region)
    under ``duals`` and ``kl_config``. Sign: minimising L follows the WPO ascent direction on the return;
    with the Gaussian adaptor the gradient reaching (mu, sigma) is -(d_mu, d_sigma), d_mu = E[v],
    d_sigma = E[((a - mu)/sigma) v], plus the KL terms'.

    Returns (loss, :class:`WPOStats`).
    """
    surrogate = wpo_surrogate(dist if adaptor is None else adaptor(dist), samples, mask=mask)
    if anchor is None:
        loss, penalty, kl_aux = surrogate, jnp.zeros((), surrogate.dtype), None
    else:
        if duals is None or kl_config is None:
            raise ConfigError("the KL trust region needs duals and a kl_config with its anchor")
        penalty, _, kl_aux = decoupled_kl_loss(dist, anchor, duals, kl_config, mask)
        loss = surrogate + penalty
    stats = WPOStats(
        surrogate=surrogate,
        kl_penalty=penalty,
        kl=kl_aux,
        q_mean=jnp.mean(samples.q),
        q_min=jnp.min(samples.q),
        q_max=jnp.max(samples.q),
        velocity_norm=jnp.mean(jnp.linalg.norm(samples.dq_da, axis=-1)),
    )
    return loss, jax.lax.stop_gradient(stats)

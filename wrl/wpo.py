"""Wasserstein Policy Optimization (Pfau et al., ICML 2025): the policy update, independent of training.

The Wasserstein gradient of the return at pi(.|s) is the action-space velocity field grad_a Q(s, a).
Projecting that flow onto a parametric family with the Fisher metric (a KL projection) gives WPO:

    Delta theta = F(theta)^-1 E_s E_{a~pi_theta(.|s)}[ grad_theta grad_a log pi_theta(a|s) . grad_a Q(s, a) ]

with F the Fisher information of pi_theta. This module provides, as pure jit-able functions over pytrees:

- :func:`wpo_policy_loss`: a surrogate whose theta-gradient is -E[grad_theta grad_a log pi . grad_a Q]
  (we minimise losses, so a gradient-descent step on it is an ascent step on the return);
- :func:`natural_gradient_adaptor`: the closed-form inverse Fisher of a diagonal Gaussian in (mu, sigma),
  applied as a gradient rescaling that leaves forward values unchanged;
- :func:`decoupled_kl_loss` and :func:`dual_ascent_update`: the KL regularisation towards a target policy,
  split into a mean term and a standard-deviation term, soft (fixed weights) or hard (dual ascent);
- :func:`wpo_direction`, :func:`score_vectors`, :func:`empirical_fisher_solve`,
  :func:`group_fisher_rescale`, :func:`natural_wpo_direction`: WPO for any distribution with a
  differentiable log-prob (e.g. a Gaussian mixture), with a damped empirical Fisher for small parameter
  counts or a per-parameter-group Fisher rescaling for large ones.

Shapes: observations carry a leading batch axis B (any pytree), actions are (N, B, D) for N samples per
state. ``policy_fn(params, obs) -> dist`` returns a registered distribution pytree with batch shape (B,);
``q_fn(obs, action) -> Q`` maps (B, ...) observations and (B, D) actions to (B,) values, one per state,
with no coupling between batch rows. The critic is evaluated on the *unclipped* sampled action, so
grad_a Q is never silently zero for samples outside the action box (the environment receives the
clipped action; clipping is the acting code's job, never the critic's).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from wrl.distributions.base import log_prob, sample
from wrl.distributions.gaussian import DiagGaussian, kl_divergence_per_dim
from wrl.distributions.mixture import GaussianMixture
from wrl.distributions.mixture import weights as mixture_weights
from wrl.errors import ConfigError

Array = jax.Array
PRNGKey = jax.Array
Params = Any
Obs = Any
PolicyFn = Callable[[Params, Obs], Any]
QFn = Callable[[Obs, Array], Array]
Squash = Literal["identity", "cbrt"]
Preconditioner = Literal["none", "fisher", "group", "diagonal"]

# Lower bound of the unconstrained dual parameters (softplus(-18) ~ 1.5e-8), as a floor that keeps
# a multiplier that has been driven to zero able to rise again quickly.
MIN_RAW_ALPHA = -18.0
_ALPHA_EPS = 1e-8


# --------------------------------------------------------------------------------------------------
# Samples, critic gradients, squashing
# --------------------------------------------------------------------------------------------------


class WPOSamples(NamedTuple):
    """Actions drawn from the current policy and the critic at them, all held constant (stop-gradient).

    actions: (N, B, D) unclipped samples a_n ~ pi(.|s_b); q: (N, B) Q(s_b, a_n); dq_da: (N, B, D) grad_a Q.
    """

    actions: Array
    q: Array
    dq_da: Array


class WPOAux(NamedTuple):
    """Diagnostics of one WPO policy loss (means over samples and states)."""

    q_mean: Array
    q_min: Array
    q_max: Array
    dq_da_norm: Array


def action_value_gradients(q_fn: QFn, obs: Obs, actions: Array) -> tuple[Array, Array]:
    """Q(s_b, a_nb) and grad_a Q(s_b, a_nb) for actions (N, B, D); both returned under stop-gradient.

    The critic is differentiated at the action exactly as sampled (no clipping to the action box), so
    the velocity field grad_a Q is the critic's, never an artefact of a clip.
    """
    q_many = jax.vmap(q_fn, in_axes=(None, 0))

    def total(a: Array) -> tuple[Array, Array]:
        q = q_many(obs, a)
        return jnp.sum(q), q

    dq_da, q = jax.grad(total, has_aux=True)(jax.lax.stop_gradient(actions))
    return jax.lax.stop_gradient(q), jax.lax.stop_gradient(dq_da)


def sample_actions(key: PRNGKey, dist: Any, obs: Obs, q_fn: QFn, num_samples: int) -> WPOSamples:
    """Draw N actions per state from ``dist`` (with the given, fresh key) and evaluate Q, grad_a Q there.

    The key must be new at every update (split it from the training key); a fixed sampling seed makes
    every update use the same noise, which is a known fault of the reference implementation.
    """
    actions = jax.lax.stop_gradient(sample(key, jax.lax.stop_gradient(dist), (num_samples,)))
    q, dq_da = action_value_gradients(q_fn, obs, actions)
    return WPOSamples(actions=actions, q=q, dq_da=dq_da)


def squash_action_gradient(dq_da: Array, squash: Squash = "identity") -> Array:
    """g = dq_da ("identity") or g = cbrt(dq_da) elementwise ("cbrt"), damping large critic gradients."""
    if squash == "identity":
        return dq_da
    if squash == "cbrt":
        return jnp.cbrt(dq_da)
    raise ConfigError(f"unknown squash {squash!r}; use 'identity' or 'cbrt'")


def box_pull(dq_da: Array, actions: Array, weight: float, low: float = -1.0, high: float = 1.0) -> Array:
    """g = grad_a Q - w * rms(grad_a Q) * (a - clip(a, low, high)): the velocity field of the penalised value

        Q(s, a) - (w rms / 2) * dist(a, [low, high]^D)^2,

    which equals grad_a Q inside the action box and pulls samples outside it back. The environment only
    ever executes clip(a), so outside the box the critic's gradient is an extrapolation from data on the
    boundary; left alone it can push the policy mean ever further out (saturating a bounded mean at the
    box edge). ``rms`` is the root-mean-square of grad_a Q over the batch (held constant), so ``weight``
    is scale-free: at distance 1/w outside the box the pull matches a typical critic gradient.
    """
    if weight == 0:
        return dq_da
    scale = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(jnp.square(dq_da))))
    return dq_da - weight * scale * (actions - jnp.clip(actions, low, high))


def _sample_weights(num_samples: int, batch: int, mask: Array | None, dtype: Any) -> Array:
    """Weights w_nb >= 0 summing to 1: uniform over samples, ``mask``-weighted over states."""
    m = jnp.ones((batch,), dtype) if mask is None else jnp.asarray(mask, dtype)
    per_state = m / jnp.maximum(jnp.sum(m), _ALPHA_EPS)
    return jnp.broadcast_to(per_state / num_samples, (num_samples, batch))


# --------------------------------------------------------------------------------------------------
# The WPO surrogate and the diagonal-Gaussian Fisher adaptor
# --------------------------------------------------------------------------------------------------


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


def wpo_surrogate(
    dist: Any,
    samples: WPOSamples,
    *,
    squash: Squash = "identity",
    mask: Array | None = None,
) -> Array:
    """Surrogate L(theta) = -E_s E_{a~pi}[ grad_a log pi_theta(a|s) . stopgrad(g(s, a)) ], g = squash(dQ/da).

    Its gradient is grad_theta L = -E[ grad_theta grad_a log pi_theta(a|s) . g(s, a) ] (actions and g are
    constants), the negative of the (unpreconditioned) WPO direction; the expectation is the sample mean
    over the N actions per state and the ``mask``-weighted mean over states. Any distribution whose
    registered ``log_prob`` is differentiable in the action and the parameters works.
    """
    actions = jax.lax.stop_gradient(samples.actions)
    g = jax.lax.stop_gradient(squash_action_gradient(samples.dq_da, squash))
    grad_log_pi = jax.grad(lambda a: jnp.sum(log_prob(dist, a)))(actions)  # (N, B, D), depends on theta
    inner = jnp.sum(grad_log_pi * g, axis=-1)  # (N, B)
    n, b = inner.shape
    w = _sample_weights(n, b, mask, inner.dtype)
    return -jnp.sum(w * inner)


def wpo_policy_loss(
    params: Params,
    key: PRNGKey,
    obs: Obs,
    *,
    policy_fn: PolicyFn,
    q_fn: QFn,
    num_samples: int,
    adaptor: bool = True,
    squash: Squash = "identity",
    mask: Array | None = None,
) -> tuple[Array, WPOAux]:
    """WPO policy loss: L(theta) = -E_s E_{a~pi_theta}[ grad_a log pi_theta(a|s) . stopgrad(g(s, a)) ].

    Steps: dist = policy_fn(params, obs); a_n ~ dist (N per state, fresh ``key``, unclipped, held
    constant); g = squash(grad_a Q(s, a_n)) from ``q_fn`` under stop-gradient; L as above with
    grad_a log pi by autodiff. Sign: grad_theta L = -E[grad_theta grad_a log pi . g], so *minimising*
    L follows the WPO ascent direction on the return.

    ``adaptor=True`` (diagonal Gaussian only) applies :func:`natural_gradient_adaptor` to the
    distribution inside the loss, so the gradient reaching (mu, sigma) is -(d_mu, d_sigma) with
    d_mu = E[g], d_sigma = E[((a-mu)/sigma) g]. Use ``adaptor=False`` for other families and
    precondition with :func:`natural_wpo_direction` instead.

    Returns (loss, :class:`WPOAux`).
    """
    dist = policy_fn(params, obs)
    if adaptor and not isinstance(dist, DiagGaussian):
        raise ConfigError(
            f"the natural-gradient adaptor needs a DiagGaussian policy, got {type(dist).__name__}; "
            "pass adaptor=False and precondition with natural_wpo_direction"
        )
    samples = sample_actions(key, dist, obs, q_fn, num_samples)
    if adaptor:
        dist = natural_gradient_adaptor(dist)
    loss = wpo_surrogate(dist, samples, squash=squash, mask=mask)
    aux = WPOAux(
        q_mean=jnp.mean(samples.q),
        q_min=jnp.min(samples.q),
        q_max=jnp.max(samples.q),
        dq_da_norm=jnp.mean(jnp.linalg.norm(samples.dq_da, axis=-1)),
    )
    return loss, aux


# --------------------------------------------------------------------------------------------------
# Decoupled KL regularisation towards a target policy
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KLConfig:
    """Decoupled KL regularisation of a diagonal Gaussian policy towards a target policy."""

    mode: Literal["soft", "hard", "off"] = "soft"
    """'soft': fixed weights alpha; 'hard': alphas are Lagrange multipliers adapted by dual ascent; 'off'."""
    alpha_mean: float = 0.6931471805599453
    """Weight on KL_mean (fixed in soft mode, initial value in hard mode); default softplus(0) as in Acme."""
    alpha_std: float = 1e4
    """Weight on KL_std (fixed in soft mode, initial value in hard mode); Acme's default pins the std hard."""
    epsilon_mean: float = 2.5e-3
    """Hard mode: bound on the batch-mean KL_mean (per action dimension if per_dim)."""
    epsilon_std: float = 1e-6
    """Hard mode: bound on the batch-mean KL_std (per action dimension if per_dim)."""
    per_dim: bool = True
    """One constraint and multiplier per action dimension (True) or one on the KL summed over dimensions."""
    dual_learning_rate: float = 1e-2
    """Step size of :func:`dual_ascent_update` on the softplus-parameterised multipliers."""

    def __post_init__(self) -> None:
        if self.mode not in ("soft", "hard", "off"):
            raise ConfigError(f"kl mode must be 'soft', 'hard' or 'off', got {self.mode!r}")
        for name in ("alpha_mean", "alpha_std", "epsilon_mean", "epsilon_std", "dual_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"kl {name} must be > 0, got {getattr(self, name)}")


class KLDuals(NamedTuple):
    """Unconstrained multipliers: alpha = softplus(raw) + 1e-8. Shape (D,) if per_dim, else ()."""

    raw_alpha_mean: Array
    raw_alpha_std: Array


class KLAux(NamedTuple):
    """Batch-mean KLs (shape (D,) if per_dim, else ()) and the weights used."""

    kl_mean: Array
    kl_std: Array
    alpha_mean: Array
    alpha_std: Array


def decoupled_kl(online: DiagGaussian, target: DiagGaussian) -> tuple[Array, Array]:
    """Per-dimension decoupled KLs of the online policy from the target policy, each of shape (*batch, D):

        KL_mean = KL( N(mu_t, sigma_t) || N(mu, sigma_t) ) = (mu - mu_t)^2 / (2 sigma_t^2)
        KL_std  = KL( N(mu_t, sigma_t) || N(mu_t, sigma) ) = log(sigma/sigma_t) + sigma_t^2/(2 sigma^2) - 1/2

    The target comes first (as in Acme's WPO and MPO losses). KL_mean depends on the online mean only
    (the online mean with the target std), KL_std on the online std only (the online std with the target
    mean), so each term regularises one parameter group with its own weight.
    """
    target = jax.lax.stop_gradient(target)
    with_target_std = DiagGaussian(mean=online.mean, std=target.std)
    with_target_mean = DiagGaussian(mean=target.mean, std=online.std)
    return kl_divergence_per_dim(target, with_target_std), kl_divergence_per_dim(target, with_target_mean)


def mixture_decoupled_kl(online: GaussianMixture, target: GaussianMixture) -> tuple[Array, Array]:
    """Decoupled KLs of a Gaussian-mixture policy from its target, each of shape (*batch, D):

        KL_mean_d = sum_k w_t,k KL_mean_k,d + KL(w_t || w) / D,    KL_std_d = sum_k w_t,k KL_std_k,d

    with the per-component terms of :func:`decoupled_kl` and the categorical KL of the weights spread
    evenly over the dimensions (it moves mass between locations, so it joins the mean term). By the chain
    rule of KL over (component, action), KL_mean + KL_std summed over d bounds the joint KL from above
    when the decoupled terms are replaced by the full component KLs; the split keeps one weight per
    parameter group as for the Gaussian.
    """
    target = jax.lax.stop_gradient(target)
    kl_m, kl_s = decoupled_kl(DiagGaussian(online.means, online.stds), DiagGaussian(target.means, target.stds))
    w_t = mixture_weights(target)
    cat = jnp.sum(w_t * (jax.nn.log_softmax(target.logits, -1) - jax.nn.log_softmax(online.logits, -1)), -1)
    dim = online.means.shape[-1]
    kl_mean = jnp.sum(w_t[..., None] * kl_m, axis=-2) + cat[..., None] / dim
    return kl_mean, jnp.sum(w_t[..., None] * kl_s, axis=-2)


def init_kl_duals(config: KLConfig, action_dim: int) -> KLDuals:
    """Multipliers that start at (config.alpha_mean, config.alpha_std), per dimension if config.per_dim."""
    shape = (action_dim,) if config.per_dim else ()

    def raw(alpha: float) -> Array:
        a = jnp.asarray(alpha - _ALPHA_EPS, jnp.float32)
        return jnp.full(shape, a + jnp.log(-jnp.expm1(-a)), jnp.float32)  # softplus^-1

    return KLDuals(raw_alpha_mean=raw(config.alpha_mean), raw_alpha_std=raw(config.alpha_std))


def kl_weights(duals: KLDuals) -> tuple[Array, Array]:
    """(alpha_mean, alpha_std) = softplus(raw) + 1e-8."""
    return (
        jax.nn.softplus(duals.raw_alpha_mean) + _ALPHA_EPS,
        jax.nn.softplus(duals.raw_alpha_std) + _ALPHA_EPS,
    )


def _batch_mean_kl(kl: Array, per_dim: bool, mask: Array | None) -> Array:
    """Mean over every batch axis (``mask``-weighted over the leading one) of KLs of shape (*batch, D)."""
    if not per_dim:
        kl = jnp.sum(kl, axis=-1)[..., None]
    if kl.ndim == 1:
        kl = kl[None]
    flat = kl.reshape((kl.shape[0], -1, kl.shape[-1]))
    if mask is None:
        out = jnp.mean(flat, axis=(0, 1))
    else:
        m = jnp.asarray(mask, flat.dtype)[:, None, None]
        out = jnp.sum(m * flat, axis=(0, 1)) / jnp.maximum(jnp.sum(m) * flat.shape[1], _ALPHA_EPS)
    return out if per_dim else out[0]


def decoupled_kl_loss(
    online: DiagGaussian | GaussianMixture,
    target: DiagGaussian | GaussianMixture,
    duals: KLDuals,
    config: KLConfig,
    mask: Array | None = None,
) -> tuple[Array, Array, KLAux]:
    """Penalty and dual loss of the decoupled KL regularisation; returns (penalty, dual_loss, aux).

        penalty   = sum_d [ sg(alpha_mean_d) E_s KL_mean_d + sg(alpha_std_d) E_s KL_std_d ]
        dual_loss = sum_d [ alpha_mean_d (eps_mean - sg(E_s KL_mean_d))
                            + alpha_std_d (eps_std - sg(E_s KL_std_d)) ]

    Add ``penalty`` to the policy loss (gradients reach the online policy only). ``dual_loss`` is zero
    unless ``config.mode == 'hard'``; minimising it in ``duals`` (see :func:`dual_ascent_update`) raises
    alpha while its KL exceeds epsilon and lowers it otherwise. In soft mode the duals are constants
    holding the fixed weights. Without ``per_dim`` every sum runs over a single KL summed over dimensions.
    Gaussian mixtures use :func:`mixture_decoupled_kl` for the two KL terms.
    """
    kl_fn = mixture_decoupled_kl if isinstance(online, GaussianMixture) else decoupled_kl
    kl_m, kl_s = kl_fn(online, target)
    mean_kl_m = _batch_mean_kl(kl_m, config.per_dim, mask)
    mean_kl_s = _batch_mean_kl(kl_s, config.per_dim, mask)
    alpha_m, alpha_s = kl_weights(duals)
    zero = jnp.zeros((), mean_kl_m.dtype)
    if config.mode == "off":
        aux = KLAux(mean_kl_m, mean_kl_s, jnp.zeros_like(alpha_m), jnp.zeros_like(alpha_s))
        return zero, zero, jax.lax.stop_gradient(aux)
    penalty = jnp.sum(jax.lax.stop_gradient(alpha_m) * mean_kl_m) + jnp.sum(
        jax.lax.stop_gradient(alpha_s) * mean_kl_s
    )
    dual_loss = kl_dual_loss(duals, mean_kl_m, mean_kl_s, config) if config.mode == "hard" else zero
    aux = KLAux(
        kl_mean=jax.lax.stop_gradient(mean_kl_m),
        kl_std=jax.lax.stop_gradient(mean_kl_s),
        alpha_mean=jax.lax.stop_gradient(alpha_m),
        alpha_std=jax.lax.stop_gradient(alpha_s),
    )
    return penalty, dual_loss, aux


def kl_dual_loss(duals: KLDuals, kl_mean: Array, kl_std: Array, config: KLConfig) -> Array:
    """Lagrange dual loss sum [alpha_mean (eps_mean - sg(kl_mean)) + alpha_std (eps_std - sg(kl_std))].

    ``kl_mean``/``kl_std`` are the batch-mean KLs (shape of the duals). d(loss)/d(alpha) = eps - KL, so
    gradient descent on the duals raises a weight whose KL exceeds its epsilon and lowers it otherwise.
    """
    alpha_m, alpha_s = kl_weights(duals)
    return jnp.sum(alpha_m * (config.epsilon_mean - jax.lax.stop_gradient(kl_mean))) + jnp.sum(
        alpha_s * (config.epsilon_std - jax.lax.stop_gradient(kl_std))
    )


def dual_ascent_update(duals: KLDuals, kl_mean: Array, kl_std: Array, config: KLConfig) -> KLDuals:
    """One dual step: raw <- max(raw - lr * d kl_dual_loss / d raw, MIN_RAW_ALPHA).

    Explicitly raw_alpha += lr * sigmoid(raw_alpha) * (KL - epsilon): the multiplier rises while the
    batch-mean KL exceeds epsilon and falls otherwise. Returns ``duals`` unchanged unless mode is 'hard'.
    """
    if config.mode != "hard":
        return duals
    grads = jax.grad(kl_dual_loss)(duals, kl_mean, kl_std, config)
    return jax.tree.map(
        lambda r, g: jnp.maximum(r - config.dual_learning_rate * g, MIN_RAW_ALPHA), duals, grads
    )


# --------------------------------------------------------------------------------------------------
# General distributions: exact mixed derivatives and Fisher preconditioning
# --------------------------------------------------------------------------------------------------


def wpo_direction(
    params: Params,
    key: PRNGKey,
    obs: Obs,
    *,
    policy_fn: PolicyFn,
    q_fn: QFn,
    num_samples: int,
    squash: Squash = "identity",
    mask: Array | None = None,
) -> tuple[Params, WPOSamples]:
    """The unpreconditioned WPO ascent direction for any distribution with a differentiable log-prob:

        d(theta) = E_s E_{a~pi}[ grad_theta ( grad_a log pi_theta(a|s) . stopgrad(g(s, a)) ) ]

    computed exactly by differentiating the autodiff action-gradient of log pi in theta (a mixed second
    derivative). Equals -grad_theta of :func:`wpo_surrogate`. Returns (d as a params pytree, samples).
    """
    dist = policy_fn(params, obs)
    samples = sample_actions(key, dist, obs, q_fn, num_samples)
    grads = jax.grad(lambda p: wpo_surrogate(policy_fn(p, obs), samples, squash=squash, mask=mask))(params)
    return jax.tree.map(jnp.negative, grads), samples


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
    w = _sample_weights(n, b, mask, s.dtype).reshape(-1)
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
    w = _sample_weights(n, b, mask, leaves[0].dtype)

    def rescale(d: Array, g: Array) -> Array:
        second = jnp.tensordot(w, jnp.square(g), axes=([0, 1], [0, 1]))  # (*leaf,)
        f = second if per_element else jnp.mean(second)
        return d / (f + damping)

    return jax.tree.map(rescale, direction, scores)


def natural_wpo_direction(
    params: Params,
    key: PRNGKey,
    obs: Obs,
    *,
    policy_fn: PolicyFn,
    q_fn: QFn,
    num_samples: int,
    preconditioner: Preconditioner = "fisher",
    damping: float = 1e-3,
    squash: Squash = "identity",
    mask: Array | None = None,
) -> tuple[Params, WPOSamples]:
    """Preconditioned WPO ascent direction Delta theta ~ F^-1 E[grad_theta grad_a log pi . g].

    ``preconditioner``: 'fisher' (damped empirical Fisher over the same samples, small parameter
    counts), 'group' (one Fisher scalar per parameter group), 'diagonal' (per-parameter Fisher) or
    'none'. Apply as theta <- theta + lr * direction (it is an ascent direction, not a loss gradient).
    """
    direction, samples = wpo_direction(
        params, key, obs, policy_fn=policy_fn, q_fn=q_fn, num_samples=num_samples, squash=squash, mask=mask
    )
    if preconditioner == "none":
        return direction, samples
    scores = score_vectors(params, obs, samples.actions, policy_fn=policy_fn)
    if preconditioner == "fisher":
        return empirical_fisher_solve(direction, scores, damping=damping, mask=mask), samples
    if preconditioner in ("group", "diagonal"):
        out = group_fisher_rescale(
            direction, scores, damping=damping, per_element=preconditioner == "diagonal", mask=mask
        )
        return out, samples
    raise ConfigError(
        f"unknown preconditioner {preconditioner!r}; use 'fisher', 'group', 'diagonal' or 'none'"
    )

"""The decoupled KL trust region of WPO: the policy is kept near a target policy, mean and std apart.

One term moves the mean with the target's standard deviation, the other moves the standard deviation
with the target's mean, each with its own weight: fixed ('soft') or a Lagrange multiplier adapted by dual
ascent ('hard'). Without it the Fisher projection of the flow (:mod:`wrl.projections.fisher`) lets the
variance collapse early.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from wrl.config import hp, validate
from wrl.distributions.gaussian import DiagGaussian, kl_divergence_per_dim
from wrl.distributions.mixture import GaussianMixture
from wrl.distributions.mixture import weights as mixture_weights

Array = jax.Array

# Lower bound of the unconstrained dual parameters (softplus(-18) ~ 1.5e-8), as a floor that keeps
# a multiplier that has been driven to zero able to rise again quickly.
MIN_RAW_ALPHA = -18.0
_ALPHA_EPS = 1e-8


@dataclasses.dataclass(frozen=True)
class KLConfig:
    """Decoupled KL regularisation of a policy towards a target policy: the one declaration of its settings.

    The fields carry the names, defaults, help and bounds of the command line's options (``--kl-mode``, ...,
    ``--dual-lr``): :class:`wrl.agents.wpo.WPOConfig` extends this class, so the agent's config *is* its KL
    config. Acme's WPO starts alpha_mean at softplus(0) and alpha_std at 1e4, for a loss summed over its samples
    (the acme preset divides them by its N = 20). Whether there is one constraint and multiplier per action
    dimension or one on the KL summed over dimensions is the shape of the duals (:func:`init_kl_duals`).
    """

    kl_mode: str = hp("soft", "decoupled KL to the target policy: fixed weights (soft), multipliers adapted by dual "
                              "ascent (hard), or none (off)", choices=("soft", "hard", "off"))
    kl_alpha_mean: float = hp(1.0, "weight of KL_mean (initial multiplier in hard mode)", gt=0)
    kl_alpha_std: float = hp(100.0, "weight of KL_std (initial multiplier in hard mode)", gt=0)
    kl_epsilon_mean: float = hp(2.5e-3, "hard mode: bound on E_s KL_mean per dimension", gt=0)
    kl_epsilon_std: float = hp(1e-5, "hard mode: bound on E_s KL_std per dimension", gt=0)
    dual_lr: float = hp(1e-2, "Adam step size of the KL dual ascent", gt=0)

    def __post_init__(self) -> None:
        validate(self, of=KLConfig)


class KLDuals(NamedTuple):
    """Unconstrained multipliers: alpha = softplus(raw) + 1e-8. Shape (D,): one per action dimension, or (): one
    on the KL summed over dimensions (:func:`init_kl_duals`)."""

    raw_alpha_mean: Array
    raw_alpha_std: Array


class KLAux(NamedTuple):
    """Batch-mean KLs (the shape of the duals: (D,) or ()) and the weights used."""

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


def init_kl_duals(config: KLConfig, action_dim: int, per_dim: bool = True) -> KLDuals:
    """Multipliers that start at (config.kl_alpha_mean, config.kl_alpha_std): one per action dimension
    (``per_dim``, shape (D,)), or one on the KL summed over dimensions (shape ()). The losses and the dual ascent
    follow the shape of the duals they are given."""
    shape = (action_dim,) if per_dim else ()

    def raw(alpha: float) -> Array:
        a = jnp.asarray(alpha - _ALPHA_EPS)  # the default float: float64 under jax_enable_x64
        return jnp.full(shape, a + jnp.log(-jnp.expm1(-a)), a.dtype)  # softplus^-1

    return KLDuals(raw_alpha_mean=raw(config.kl_alpha_mean), raw_alpha_std=raw(config.kl_alpha_std))


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
    unless ``config.kl_mode == 'hard'``; minimising it in ``duals`` (see :func:`dual_ascent_update`) raises
    alpha while its KL exceeds epsilon and lowers it otherwise. In soft mode the duals are constants
    holding the fixed weights. With scalar duals (:func:`init_kl_duals` without ``per_dim``) every sum runs
    over a single KL summed over dimensions.
    Gaussian mixtures use :func:`mixture_decoupled_kl` for the two KL terms.
    """
    kl_fn = mixture_decoupled_kl if isinstance(online, GaussianMixture) else decoupled_kl
    kl_m, kl_s = kl_fn(online, target)
    per_dim = jnp.ndim(duals.raw_alpha_mean) > 0
    mean_kl_m = _batch_mean_kl(kl_m, per_dim, mask)
    mean_kl_s = _batch_mean_kl(kl_s, per_dim, mask)
    alpha_m, alpha_s = kl_weights(duals)
    zero = jnp.zeros((), mean_kl_m.dtype)
    if config.kl_mode == "off":
        aux = KLAux(mean_kl_m, mean_kl_s, jnp.zeros_like(alpha_m), jnp.zeros_like(alpha_s))
        return zero, zero, jax.lax.stop_gradient(aux)
    penalty = jnp.sum(jax.lax.stop_gradient(alpha_m) * mean_kl_m) + jnp.sum(
        jax.lax.stop_gradient(alpha_s) * mean_kl_s
    )
    dual_loss = kl_dual_loss(duals, mean_kl_m, mean_kl_s, config) if config.kl_mode == "hard" else zero
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
    return jnp.sum(alpha_m * (config.kl_epsilon_mean - jax.lax.stop_gradient(kl_mean))) + jnp.sum(
        alpha_s * (config.kl_epsilon_std - jax.lax.stop_gradient(kl_std))
    )


def dual_optimizer(config: KLConfig) -> optax.GradientTransformation:
    """Adam on the raw multipliers. The raw gradient eps - KL is tiny (KLs ~ 1e-5), so a plain gradient
    step would leave the weights frozen; Adam's normalisation makes the step size ``dual_lr``."""
    return optax.adam(config.dual_lr)


def dual_ascent_update(
    duals: KLDuals, opt_state: optax.OptState, kl_mean: Array, kl_std: Array, config: KLConfig
) -> tuple[KLDuals, optax.OptState]:
    """One dual step: raw <- max(raw + Adam(-d kl_dual_loss / d raw), MIN_RAW_ALPHA), with :func:`dual_optimizer`.

    d kl_dual_loss / d raw = sigmoid(raw) (eps - KL): the multiplier rises while the batch-mean KL exceeds
    epsilon and falls otherwise. Returns the inputs unchanged unless mode is 'hard'.
    """
    if config.kl_mode != "hard":
        return duals, opt_state
    grads = jax.grad(kl_dual_loss)(duals, kl_mean, kl_std, config)
    updates, opt_state = dual_optimizer(config).update(grads, opt_state, duals)
    duals = jax.tree.map(lambda r: jnp.maximum(r, MIN_RAW_ALPHA), optax.apply_updates(duals, updates))
    return duals, opt_state

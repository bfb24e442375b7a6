"""WPO: Wasserstein Policy Optimization (Pfau et al., ICML 2025) as an off-policy actor-critic.

The policy follows the Wasserstein gradient flow of the return, da/dt = grad_a Q(s, a), projected into
parameter space with the Fisher metric:

    Delta theta = F(theta)^-1 E_s E_{a~pi_theta}[ grad_theta grad_a log pi_theta(a|s) . grad_a Q(s, a) ]

For the diagonal Gaussian policy (the default), F^-1 is applied in closed form by
:func:`wrl.projections.fisher.natural_gradient_adaptor`, so the update of (mu, sigma) is d_mu = E[grad_a Q],
d_sigma = E[((a - mu)/sigma) grad_a Q]. With ``--policy mixture`` (K Gaussian components) the mixed
derivative grad_theta grad_a log pi is exact (autodiff of the mixture log-density) and F^-1 is the damped
per-state Fisher of the mixture parameters, estimated by Monte Carlo
(:func:`wrl.projections.fisher.output_fisher_adaptor`); its KL to the target policy is the componentwise
decoupled KL plus the weights' KL (:func:`wrl.projections.kl.mixture_decoupled_kl`). No
reparameterisation is used: actions are sampled, held constant, and only grad_a log pi carries theta. The
policy is regularised towards a target policy by the decoupled KL (mean and std terms with their own
weights, soft or by dual ascent).

Critic: n-step TD (n = 5 by default, Acme's) towards a target critic, a LayerNorm MLP by default (chosen with n = 5
by the comparison on seven tasks in docs/wpo-history.md), bootstrapping on the mean (or max) of the target Q over
``num_bootstrap_samples`` actions from the target policy; the min over twin critics when ``num_critics = 2``.
How the policy meets the action box [-1, 1]^D is one choice, ``action_box`` (:data:`ACTION_BOXES`). By default
(``pull``) actions outside the box are not clipped inside the critic: the environment receives the clipped action
(that is what the replay stores), while grad_a Q is evaluated at the sampled action itself, so it is never a
silent zero; Acme's critic clips its action instead (``clip``: in the velocity and in the TD bootstrap). Outside
the box that gradient is the critic's extrapolation beyond its data and can point outwards without end (the std
then runs away), so ``pull`` pulls the velocity of such samples back to the box (weight ``box_pull = 1``,
:func:`wrl.flows.velocity.box_pull`), chosen by the comparison on four tasks in docs/wpo-history.md. With
``tanh`` the policy's sample u is latent and the environment executes tanh(u): the flow runs on u with the
velocity grad_u Q(s, tanh(u)) (:func:`wrl.flows.velocity.tanh_link`), the bootstrap evaluates Q'(s', tanh(u')),
and no action ever leaves the box. These velocity transforms are chained once (:func:`box_velocity`), and the
policy loss that ``update`` differentiates is :func:`actor_loss`, around the one WPO loss
:func:`wrl.projections.fisher.wpo_policy_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import ActorCriticConfig, Agent, Preset, check_velocity
from wrl.config import hp, redefault
from wrl.critics import CriticConfig, make_critic, target_update
from wrl.distributions.base import sample
from wrl.distributions.gaussian import DiagGaussian, diag_gaussian
from wrl.distributions.mixture import GaussianMixture
from wrl.distributions.mixture import weights as mixture_weights
from wrl.errors import ConfigError
from wrl.flows import velocity
from wrl.flows.velocity import QFn, VelocityConfig, VelocitySamples, sample_actions
from wrl.geometry.policy_metric import policy_w2_sq_diag_gaussian
from wrl.networks import MLP
from wrl.projections.fisher import WPOStats, natural_gradient_adaptor, output_fisher_adaptor, wpo_policy_loss
from wrl.projections.kl import KLConfig, KLDuals, dual_ascent_update, dual_optimizer, init_kl_duals
from wrl.replay import Batch


class ActionBox(NamedTuple):
    """What one ``action_box`` choice does: a row of :data:`ACTION_BOXES`."""

    link: str
    """The action the environment executes for a policy sample u: ``clip`` (clip(u, -1, 1)) or ``tanh`` (tanh(u))."""
    bounded_mean: bool
    """The policy mean is tanh-bounded to the box (its samples are not)."""
    executed_velocity: bool
    """The velocity is that of the executed action's value, grad_u Q(s, link(u)) (zero outside the box under the
    clip link); else the critic's gradient at the raw sample, grad_a Q(s, a)."""
    executed_bootstrap: bool
    """The TD bootstrap evaluates the target critic at the executed actions link(u'); else at the raw samples u'."""
    pull: bool
    """The velocity of samples outside the box is pulled back with weight ``box_pull``
    (:func:`wrl.flows.velocity.box_pull`)."""


# The choices of --action-box. `pull` is the default (docs/wpo-history.md: the best of three candidates on four
# tasks); `clip` is Acme's critic, which clips its action (ClipToSpec) everywhere; `tanh` is the tanh link; the two
# `executed-*` rows are the pull with one half of Acme's clip, the ablations of docs/wpo-history.md.
ACTION_BOXES: dict[str, ActionBox] = {
    "pull": ActionBox("clip", bounded_mean=True, executed_velocity=False, executed_bootstrap=False, pull=True),
    "clip": ActionBox("clip", bounded_mean=False, executed_velocity=True, executed_bootstrap=True, pull=False),
    "tanh": ActionBox("tanh", bounded_mean=False, executed_velocity=True, executed_bootstrap=True, pull=False),
    "executed-velocity": ActionBox("clip", bounded_mean=True, executed_velocity=True, executed_bootstrap=False,
                                   pull=True),
    "executed-bootstrap": ActionBox("clip", bounded_mean=True, executed_velocity=False, executed_bootstrap=True,
                                    pull=True),
}
"""The choices of ``--action-box``, each an :class:`ActionBox`: what the environment executes, whether the policy
mean is bounded, whether the velocity and the TD bootstrap read the critic at the executed action, and whether
the velocity is pulled back into the box (the table of the WPO page, section 7)."""

# The four fields that `action_box` replaced (with `box_pull`, which stays), and their defaults then.
_OLD_BOX_FIELDS: dict[str, Any] = {"bounded_mean": True, "bootstrap_actions": "raw", "off_box": "extrapolate",
                                   "action_link": "clip"}


@dataclass(frozen=True)
class WPOConfig(KLConfig, VelocityConfig, ActorCriticConfig):
    """WPO's settings: the actor-critic ones, those of the decoupled KL trust region (:class:`KLConfig`, declared
    once there: ``kl_mode``, ``kl_alpha_mean``, ``kl_alpha_std``, ``kl_epsilon_mean``, ``kl_epsilon_std``,
    ``dual_lr``), the velocity's order (:class:`VelocityConfig`: ``velocity``, ``newton_damping``) and its own."""

    critic: str = redefault(CriticConfig, "critic", "layernorm")
    actor_layer_norm: bool = hp(False, "LayerNorm in the policy MLP")
    grad_clip: float = hp(40.0, "global-norm gradient clip of both networks (applied; 0 disables)", ge=0)
    init_std: float = hp(0.7, "policy standard deviation at initialisation (the std itself; wgf-indirect's "
                              "--init-log-std takes its log)", gt=0)
    min_std: float = hp(1e-3, "floor of the policy standard deviation", ge=0)
    policy: str = hp("gaussian", "action distribution: gaussian, a diagonal Gaussian N(mu(s), sigma(s)^2) whose "
                                 "samples are not squashed (the environment executes clip(a), or tanh(a) with "
                                 "--action-box tanh; not WPPG's tanh-Gaussian), or mixture, a mixture of "
                                 "--num-components such Gaussians", choices=("gaussian", "mixture"))
    num_components: int = hp(4, "mixture policy: number of Gaussian components", ge=2)
    fisher_samples: int = hp(64, "mixture policy: actions per state for the Monte Carlo Fisher", ge=1)
    fisher_damping: float = hp(1e-3, "mixture policy: damping lambda of (F + lambda I)^-1", gt=0)
    num_samples: int = hp(4, "actions sampled per state for the WPO update (as --num-samples of wppg and "
                             "wgf-direct)", ge=1)
    num_bootstrap_samples: int = hp(2, "target-policy actions per next state in the TD target", ge=1)
    bootstrap: str = hp("mean", "reduce the target Q over the bootstrap samples", choices=("mean", "max"))
    policy_critic: str = hp("first", "critic member(s) giving grad_a Q: the first, the mean or the min over the "
                                     "--num-critics members; WPO's default is Acme's (first), the other agents' the "
                                     "twin minimum (min) of SAC and TD3", choices=("first", "mean", "min"))
    squash: str = hp("identity", "squash grad_a Q elementwise", choices=("identity", "cbrt"))
    action_box: str = hp("pull", "how the policy meets the action box [-1, 1]: pull (the environment executes "
                                 "clip(a); tanh-bounded mean, grad_a Q at the raw sample a pulled back into the box "
                                 "with weight --box-pull, the TD bootstrap at the raw a'), clip (Acme's: the critic "
                                 "clips its action, in the velocity grad_a Q(s, clip(a)) and in the bootstrap "
                                 "Q'(s', clip(a')); unbounded mean, no pull), tanh (the sample u is latent, the "
                                 "environment executes tanh(u), the flow runs on u with grad_u Q(s, tanh(u)) and the "
                                 "bootstrap is at tanh(u'); unbounded mean, no pull); executed-velocity and "
                                 "executed-bootstrap are pull with the critic clipping in the velocity only or in "
                                 "the bootstrap only (the ablations of docs/wpo-history.md)",
                         choices=tuple(ACTION_BOXES))
    box_pull: float = hp(1.0, "weight w of the pull back into the box, grad_a Q - w rms(grad_a Q) (a - clip(a)), for "
                              "--action-box pull, executed-velocity and executed-bootstrap (0 disables); clip and "
                              "tanh ignore it", ge=0)
    target_update: str = hp("periodic", "target networks: hard copies or Polyak", choices=("periodic", "polyak"))
    target_period: int = hp(100, "updates between hard target copies", ge=1)
    target_tau: float = hp(0.005, "Polyak rate of the targets (with --target-update polyak)", gt=0, le=1)

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """A recorded WPO config (``config.json``, ``group.json``, a checkpoint's) of a wrl before ``action_box``,
        in today's fields: the four fields ``bounded_mean``, ``bootstrap_actions``, ``off_box`` and ``action_link``
        become the ``action_box`` whose row of :data:`ACTION_BOXES` they spelled with ``box_pull`` (a missing one
        had its default then: True, "raw", "extrapolate", "clip"):

        - the clip link with a bounded mean and the raw bootstrap: ``pull`` (``off_box = "extrapolate"``) or
          ``executed-velocity`` (``"executed"``), any ``box_pull``; with ``bootstrap_actions = "executed"`` and
          ``off_box = "extrapolate"``: ``executed-bootstrap``;
        - the clip link with ``bounded_mean = False``, ``off_box`` and ``bootstrap_actions`` ``"executed"`` and
          ``box_pull = 0``: ``clip`` (Acme's);
        - ``action_link = "tanh"`` (under which ``bounded_mean`` and ``box_pull`` did not apply, and the executed
          options were an error): ``tanh``.

        Where the choice ignores ``box_pull`` (``clip``, ``tanh``) the record takes its default. Any other
        combination (none was used in a recorded result) has no choice and is a ConfigError. Applied by
        :func:`wrl.config.upgrade` wherever a recorded config is read; a record without the old fields is
        returned as it is.
        """
        old = {k: data.pop(k) for k in _OLD_BOX_FIELDS if k in data}
        if not old:
            return data
        if "action_box" in data:
            raise ConfigError(f"a WPO config holds both action_box and the fields it replaced ({', '.join(old)})")
        o = {**_OLD_BOX_FIELDS, **old}
        weight = data.get("box_pull", WPOConfig.box_pull)
        choice = None
        if o["action_link"] == "tanh":
            choice = "tanh" if (o["off_box"], o["bootstrap_actions"]) == ("extrapolate", "raw") else None
        elif o["action_link"] == "clip":
            row = ("clip", o["bounded_mean"], o["off_box"] == "executed", o["bootstrap_actions"] == "executed")
            choice = next((name for name, box in ACTION_BOXES.items() if box[:4] == row and (box.pull or weight == 0)),
                          None)
        if choice is None:
            spelled = ", ".join(f"{k} = {v!r}" for k, v in {**o, "box_pull": weight}.items())
            raise ConfigError(f"the WPO action-box settings {spelled} have no --action-box equivalent (choices: "
                              f"{', '.join(ACTION_BOXES)}); use the wrl version that wrote them")
        data["action_box"] = choice
        if not ACTION_BOXES[choice].pull:
            data["box_pull"] = WPOConfig.box_pull
        return data


# WPO's training defaults where they depart from the shared ones: n-step 5 returns (Acme's), chosen with the
# LayerNorm critic by the comparison on Pendulum-v1, HalfCheetah-v5 and five DMC tasks in docs/wpo-history.md.
# On the average objective the shared n-step 1 applies instead (the rule of wrl.training.options: one-step returns
# reach the LQR optimum there and n-step 5 does not, docs/benchmarks/lqr_average_wpo.md).
TRAIN_DEFAULTS: dict[str, Any] = {"n_step": 5}

# Acme's loss sums over its N = 20 samples where ours averages: its KL weights, softplus(0) and softplus(1e4),
# weigh a loss N times larger, so the same balance of policy loss and KL is N times smaller weights here.
_ACME_N = 20

PRESETS = {
    "acme": Preset(
        help="the official Acme WPO configuration (google-deepmind/acme, agents/jax/wpo): LayerNorm MLPs "
             "(256, 256, 256) / (512, 512, 256), one critic, n-step 5, 20 samples, 128 bootstrap samples, KL "
             "weights softplus(0) and softplus(1e4) for a sum over 20 samples, hard target copies every 100 "
             "updates, Adam 1e-4 (duals 1e-2), 1 update per 8 steps (samples per insert 32 at batch 256), "
             "std 0.7 at init and >= 1e-6, no gradient clip, --action-box clip (the critic's action clipped to the "
             "box, in the velocity and the bootstrap; unbounded mean)",
        agent={"actor_hidden": (256, 256, 256), "actor_layer_norm": True, "critic_hidden": (512, 512, 256),
               "critic": "layernorm", "num_critics": 1, "actor_lr": 1e-4, "critic_lr": 1e-4, "dual_lr": 1e-2,
               "grad_clip": 0.0, "num_samples": _ACME_N, "num_bootstrap_samples": 128, "bootstrap": "mean",
               "policy_critic": "first", "target_update": "periodic", "target_period": 100, "init_std": 0.7,
               "min_std": 1e-6, "kl_mode": "soft",
               # Acme's critic clips its action (ClipToSpec): in the velocity and in the bootstrap; unbounded
               # mean, no pull
               "action_box": "clip",
               "kl_alpha_mean": math.log(2.0) / _ACME_N,  # softplus(0) = log 2
               "kl_alpha_std": 1e4 / _ACME_N,  # softplus(1e4) = 1e4 to float precision
               "kl_epsilon_mean": 2.5e-3, "kl_epsilon_std": 1e-6},
        train={"batch_size": 256, "gamma": 0.99, "n_step": 5, "utd": 1, "update_every": 8,
               "learning_starts": 1000, "buffer_size": 1_000_000},
    ),
}


@flax.struct.dataclass
class WPOState:
    actor: dict
    target_actor: dict
    critic: dict
    target_critic: dict
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    duals: KLDuals
    dual_opt: optax.OptState
    step: jax.Array


def policy_mode(dist: DiagGaussian | GaussianMixture) -> jax.Array:
    """Deterministic action: the Gaussian mean, or the mean of the mixture's heaviest component."""
    if isinstance(dist, GaussianMixture):
        k = jnp.argmax(mixture_weights(dist), axis=-1)[..., None, None]
        return jnp.take_along_axis(dist.means, k, axis=-2)[..., 0, :]
    return dist.mean


Policy = DiagGaussian | GaussianMixture
PolicyFn = Callable[[Any, jax.Array], Policy]


def make_policy(cfg: WPOConfig, act_dim: int) -> tuple[MLP, PolicyFn]:
    """The policy network and pi_theta(.|s) = policy(theta, obs): a diagonal Gaussian, or a K-component Gaussian
    mixture, whose means are tanh-bounded where the ``action_box`` choice says so."""
    mixture = cfg.policy == "mixture"
    n_out = cfg.num_components * (1 + 2 * act_dim) if mixture else 2 * act_dim
    actor = MLP(cfg.actor_hidden, n_out, layer_norm=cfg.actor_layer_norm, out_scale=1e-2)
    bounded_mean = ACTION_BOXES[cfg.action_box].bounded_mean

    def policy(params, obs) -> Policy:
        out = actor.apply(params, obs)
        if mixture:
            k = cfg.num_components
            logits, rest = out[..., :k], out[..., k:].reshape(*out.shape[:-1], k, 2 * act_dim)
            mean, raw_std = jnp.split(rest, 2, axis=-1)
        else:
            mean, raw_std = jnp.split(out, 2, axis=-1)
        if bounded_mean:
            mean = jnp.tanh(mean)
        gauss = diag_gaussian(mean, raw_std, cfg.init_std, cfg.min_std)
        return GaussianMixture(logits, gauss.mean, gauss.std) if mixture else gauss

    return actor, policy


def box_velocity(cfg: WPOConfig) -> velocity.VelocityTransform:
    """The field the policy's samples follow, as the ``action_box`` and ``velocity`` choices make grad_a Q (before
    the squash):

    grad_a Q(s, a) at the raw sample, or the field of the executed action's value, grad_a Q(s, clip(a)) or
    grad_u Q(s, tanh(u)); under ``velocity = newton`` preconditioned by that value's Hessian,
    (lambda I + |H|)^-1 grad; then (``pull``, ``executed-*``) pulled back into the box with weight ``box_pull``.
    """
    box = ACTION_BOXES[cfg.action_box]
    if not box.executed_velocity:
        link = velocity.identity()
    else:  # under the tanh link every executed tanh(u) lies inside the box
        link = velocity.tanh_link() if box.link == "tanh" else velocity.executed_action()
    pull = (velocity.box_pull(cfg.box_pull),) if box.pull else ()
    return velocity.chain(link, cfg.second_order(), *pull)


def actor_loss(params: Any, key: jax.Array, obs: jax.Array, *, policy: PolicyFn, q_fn: QFn, anchor: Policy,
               duals: KLDuals, cfg: WPOConfig) -> tuple[jax.Array, tuple[WPOStats, VelocitySamples, Policy]]:
    """The WPO agent's policy loss at the actor parameters theta, the function ``update`` differentiates:

        L(theta) = wpo_policy_loss(pi_theta, v, adaptor = F^-1, anchor = pi_target)

    with N = ``num_samples`` actions per state drawn from pi_theta(.|s) with ``key`` (held constant), the
    velocity v = squash(box_velocity(grad_a Q)) of the critic ``q_fn`` at them, F^-1 the closed-form Gaussian
    :func:`~wrl.projections.fisher.natural_gradient_adaptor` or, for the mixture, the Monte Carlo
    :func:`~wrl.projections.fisher.output_fisher_adaptor`, and the decoupled KL to ``anchor`` under ``duals``.
    For the Gaussian the gradient reaching (mu, sigma) is -(E[v], E[((a - mu)/sigma) v]) plus the KL terms'.

    Returns (loss, (stats, the velocity samples before the squash, pi_theta)).
    """
    dist = policy(params, obs)
    field = box_velocity(cfg)(sample_actions(key, dist, obs, q_fn, cfg.num_samples), q_fn, obs)
    v = velocity.squash(cfg.squash)(field, q_fn, obs)
    if cfg.policy == "mixture":  # the mixture's Fisher samples: a stream apart from the policy samples'
        adaptor = partial(output_fisher_adaptor, key=jax.random.fold_in(key, 1), num_samples=cfg.fisher_samples,
                          damping=cfg.fisher_damping)
    else:
        adaptor = natural_gradient_adaptor
    loss, stats = wpo_policy_loss(dist, v, adaptor=adaptor, anchor=anchor, duals=duals, kl_config=cfg)
    return loss, (stats, field, dist)


def make_agent(cfg: WPOConfig, obs_dim: int, act_dim: int) -> Agent:
    if cfg.min_std >= cfg.init_std:
        raise ConfigError(f"--min-std ({cfg.min_std}) must be below --init-std ({cfg.init_std})")
    check_velocity(cfg)
    mixture = cfg.policy == "mixture"
    box = ACTION_BOXES[cfg.action_box]
    tanh_link = box.link == "tanh"

    def link(u: jax.Array) -> jax.Array:
        """The executed action of a policy sample u: tanh(u), or clip(u, -1, 1) (the critic never clips)."""
        return jnp.tanh(u) if tanh_link else jnp.clip(u, -1.0, 1.0)
    actor, policy = make_policy(cfg, act_dim)
    critic = make_critic(cfg, lambda lr: cfg.optimizer(lr, cfg.grad_clip))
    actor_tx = cfg.optimizer(cfg.actor_lr, cfg.grad_clip)
    dual_tx = dual_optimizer(cfg)
    obs0 = jnp.zeros((1, obs_dim))

    def init(key: jax.Array) -> WPOState:
        ka, kc = jax.random.split(key)
        actor_params = actor.init(ka, obs0)
        critic_vars = critic.init(kc, obs_dim, act_dim)
        duals = init_kl_duals(cfg, act_dim)
        return WPOState(actor_params, actor_params, critic_vars, critic_vars if critic.has_target else None,
                        actor_tx.init(actor_params), critic.init_opt(critic_vars), duals, dual_tx.init(duals),
                        jnp.zeros((), jnp.int32))

    def act(state: WPOState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        dist = policy(state.actor, obs)
        return link(policy_mode(dist) if deterministic else sample(key, dist))  # the env acts in [-1, 1]

    def update(state: WPOState, batch: Batch, key: jax.Array):
        k_boot, k_pi = jax.random.split(key)
        # Critic: bootstrap on target-policy samples at the next state.
        a_next = sample(k_boot, policy(state.target_actor, batch.next_obs), (cfg.num_bootstrap_samples,))
        if box.executed_bootstrap:  # V(s') = E_a' min_i Q'_i(s', link(a')): as executed
            a_next = link(a_next)
        critic_vars, critic_opt, critic_loss, q = critic.update(state.critic, state.critic_opt, batch, a_next,
                                                                state.target_critic, reduce=cfg.bootstrap)

        # Policy: the WPO loss on the Fisher-adapted policy plus the decoupled KL to the target policy.
        anchor = policy(state.target_actor, batch.obs)
        q_fn = critic.q_fn(critic_vars, cfg.policy_critic)
        (loss, (stats, samples, old_dist)), grads = jax.value_and_grad(
            lambda p: actor_loss(p, k_pi, batch.obs, policy=policy, q_fn=q_fn, anchor=anchor, duals=state.duals,
                                 cfg=cfg), has_aux=True)(state.actor)
        updates, actor_opt = actor_tx.update(grads, state.actor_opt, state.actor)
        actor_params = optax.apply_updates(state.actor, updates)
        kl_aux = stats.kl
        duals, dual_opt = dual_ascent_update(state.duals, state.dual_opt, kl_aux.kl_mean, kl_aux.kl_std, cfg)

        step = state.step + 1
        target_actor = target_update(state.target_actor, actor_params, step, cfg.target_update, cfg.target_tau,
                                     cfg.target_period)
        target_critic = (target_update(state.target_critic, critic_vars, step, cfg.target_update, cfg.target_tau,
                                       cfg.target_period) if critic.has_target else None)

        mode = policy_mode(old_dist)
        mode = jnp.tanh(mode) if tanh_link else mode  # the clip link reports the mean unclipped
        metrics = {
            "losses/critic_loss": critic_loss, "losses/policy_loss": loss, "losses/wpo_surrogate": stats.surrogate,
            "losses/q_mean": jnp.mean(q), "losses/dq_da_norm": jnp.mean(jnp.linalg.norm(samples.dq_da, axis=-1)),
            "policy/kl_mean": jnp.sum(kl_aux.kl_mean), "policy/kl_std": jnp.sum(kl_aux.kl_std),
            "policy/alpha_mean": jnp.mean(kl_aux.alpha_mean), "policy/alpha_std": jnp.mean(kl_aux.alpha_std),
            "policy/std": jnp.mean(old_dist.stds if mixture else old_dist.std),
            # share of sampled coordinates outside the box (none under the tanh link)
            "policy/out_of_box": jnp.mean(jnp.abs(samples.actions) > 1.0) if not tanh_link else jnp.zeros(()),
            "policy/mean_abs": jnp.mean(jnp.abs(mode)),  # near 1: the deterministic actions sit at the edge
        }
        if not mixture:  # how far this update moved the policy: E_s W2^2(pi_old(.|s), pi_new(.|s))
            new_dist = policy(actor_params, batch.obs)
            metrics["policy/w2_sq_move"] = policy_w2_sq_diag_gaussian(old_dist.mean, old_dist.std, new_dist.mean,
                                                                      new_dist.std)
        return WPOState(actor_params, target_actor, critic_vars, target_critic, actor_opt, critic_opt, duals,
                        dual_opt, step), metrics

    return Agent(init, act, update)

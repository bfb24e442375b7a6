"""WPPG: Wasserstein Proximal Policy Gradient (arXiv 2603.02576) as an off-policy actor-critic.

Per state the policy takes the Wasserstein proximal (JKO) step of the entropy-regularised return,

    pi_{k+1}(.|s) = argmax_pi <Q(s, .), pi> + tau H(pi) - W2^2(pi, pi_k(.|s)) / (2 eta),

split (Lie-Trotter) into the transport a -> a + eta grad_a min(Q1, Q2)(s, a) and the heat step a -> a + xi,
xi ~ N(0, 2 tau eta I) (the velocity and the steps: :mod:`wrl.flows.velocity`; ``--velocity newton`` moves
along (lambda I + |Hess_a Q|)^-1 grad_a Q instead, a damped Newton step of size eta), then projected onto the
policy class by least squares on the moved samples with the same noise
(:func:`wrl.projections.w2_regression.w2_projection_loss`):

    L(theta) = mean_{s, k} || g_theta(s, z_k) - stopgrad(a0_k + eta grad_a Q(s, a0_k) + xi_k) ||^2,
    a0_k = g_theta_k(s, z_k).

No log-density appears anywhere. Two policy classes (``--policy``):

- ``gaussian`` (WPPG): a tanh-Gaussian used only through its samples, g(s, z) = tanh(mu(s) + sigma(s) z),
  z ~ N(0, I_D);
- ``implicit`` (WPPG-I): g(s, z) = tanh(f_theta([s, z])), z ~ N(0, I_m), any distribution the network can
  push the latent noise to (multimodal included).

With a single regression step (``inner_steps = 1``) the displacement g_theta(s, z) - a0 is zero at the
evaluation point, so the step is -2 (da/dtheta)^T (eta grad_a Q + xi) / (K B): a K-sample deterministic
policy gradient scaled by 2 eta, whose scale Adam largely cancels. With several inner steps on the same
targets the regression actually moves g towards the proximal targets, so eta sets how far the policy moves
per update.

Critic: twin critics with Polyak targets; the bootstrap averages over the K policy samples at s' the min of
the twin target critics, plus tau times a sample-based entropy estimate of pi(.|s')
(:func:`wrl.geometry.entropy.mixture_entropy`, the plug-in Gaussian-mixture estimator over the same samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import ActorCriticConfig, Agent, Preset
from wrl.agents.samplers import (
    POLICY_CLASSES,
    SamplerCriticState,
    make_sampler_critic,
    sampler_metrics,
    soft_critic_update,
)
from wrl.config import hp
from wrl.flows.velocity import VelocityConfig, velocity_at
from wrl.projections.w2_regression import proximal_targets, w2_projection_loss
from wrl.replay import Batch


@dataclass(frozen=True)
class WPPGConfig(VelocityConfig, ActorCriticConfig):
    policy: str = hp("gaussian", "policy class: gaussian, a tanh-Gaussian tanh(mu(s) + sigma(s) z) used through "
                                 "its samples (WPPG; not WPO's unsquashed Gaussian), or implicit, tanh(f([s, z])) "
                                 "(WPPG-I)", choices=POLICY_CLASSES)
    latent_dim: int = hp(0, "implicit policy: size m of the latent noise z ~ N(0, I_m); 0: max(1, round(obs_dim/3))",
                         ge=0)
    num_samples: int = hp(2, "K: noise draws per state for the projection and the bootstrap (published: 32; "
                             "the default is chosen by learning per wall-clock second, docs/wppg-history.md)", ge=1)
    eta: float = hp(0.1, "proximal step size eta: transport a -> a + eta grad_a Q", gt=0)
    entropy_tau: float = hp(1e-4, "entropy temperature tau, fixed: the weight of the entropy in Q + tau H (SAC's "
                                  "alpha, wgf-direct's --alpha): the heat step N(0, 2 tau eta I) and the bonus tau H "
                                  "in the critic target", ge=0)
    inner_steps: int = hp(1, "regression steps of the projection on the same moved targets", ge=1)
    policy_critic: str = hp("min", "critic member(s) giving grad_a Q: the first, the mean or the min over the "
                                   "--num-critics members (default: the twin minimum of SAC and TD3; WPO's is "
                                   "Acme's first)", choices=("first", "mean", "min"))
    target_tau: float = hp(0.005, "Polyak rate of the target critic", gt=0, le=1)
    entropy_sigma: float = hp(0.2, "kernel width sigma of the Gaussian-mixture entropy estimate", gt=0)
    entropy_centres: int = hp(0, "M: mixture centres per state, the first M of the K bootstrap samples; 0: all K",
                              ge=0)
    entropy_points: int = hp(4, "L: further policy samples per state at which the mixture density is evaluated",
                             ge=1)


PRESETS = {
    "published": Preset(
        help="arXiv 2603.02576: K 32, eta 0.1, tau 1e-4, lr 3e-4, batch 256, (256, 256) ReLU, Polyak 0.005, UTD 1",
        agent={"num_samples": 32, "eta": 0.1, "entropy_tau": 1e-4, "actor_lr": 3e-4, "critic_lr": 3e-4,
               "actor_hidden": (256, 256), "critic_hidden": (256, 256), "num_critics": 2, "target_tau": 0.005,
               "inner_steps": 1, "policy_critic": "min"},
        train={"batch_size": 256, "gamma": 0.99, "utd": 1, "update_every": 1, "n_step": 1},
    ),
}


WPPGState = SamplerCriticState  # sampler, critic ensemble, target critic, optimizer states


def make_agent(cfg: WPPGConfig, obs_dim: int, act_dim: int) -> Agent:
    parts = make_sampler_critic(cfg, obs_dim, act_dim)
    sampler, critic, actor_tx = parts.sampler, parts.critic, parts.actor_tx
    k_samples = cfg.num_samples

    def init(key: jax.Array) -> WPPGState:
        return parts.init(key, obs_dim, act_dim)

    def update(state: WPPGState, batch: Batch, key: jax.Array):
        k_next, k_points, k_entropy, k_pi, k_heat = jax.random.split(key, 5)
        b = batch.obs.shape[0]

        # Critic: mean over K policy samples at s' of the twin-min target Q, plus tau H(pi(.|s')).
        critic_vars, critic_opt, critic_loss, q, entropy = soft_critic_update(
            critic, state, sampler, batch, (k_next, k_points, k_entropy), k_samples, cfg.entropy_tau,
            cfg.entropy_sigma, cfg.entropy_centres, cfg.entropy_points)

        # Policy: one split proximal step of K samples per state, then the W2 regression onto g_theta.
        z = sampler.noise(k_pi, k_samples, b)
        q_fn = critic.q_fn(critic_vars, cfg.policy_critic)
        samples = cfg.second_order()(velocity_at(q_fn, batch.obs, sampler.apply(state.actor, batch.obs, z)), q_fn,
                                     batch.obs)
        targets = proximal_targets(k_heat, samples, cfg.eta, cfg.entropy_tau)

        def regression_step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(
                lambda p: w2_projection_loss(sampler.apply(p, batch.obs, z), targets))(params)
            updates, opt_state = actor_tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (actor_params, actor_opt), losses = jax.lax.scan(regression_step, (state.actor, state.actor_opt), None,
                                                         length=cfg.inner_steps)
        moved = sampler.apply(actor_params, batch.obs, z)
        new = WPPGState(actor_params, critic_vars, parts.target(state, critic_vars, cfg.target_tau), actor_opt,
                        critic_opt)
        displacement = targets - samples.actions
        metrics = {
            "losses/critic_loss": critic_loss, "losses/q_mean": jnp.mean(q),
            "losses/projection_loss": losses[0], "losses/projection_loss_last": losses[-1],
            "policy/target_move": jnp.mean(jnp.sum(jnp.square(displacement), axis=-1)),  # E |b - a0|^2
            **sampler_metrics(samples, moved, entropy),
        }
        return new, metrics

    return Agent(init, parts.act, update)

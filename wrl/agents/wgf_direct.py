"""The direct method of "Policy Optimization as Wasserstein Gradient Flows" (Zhang et al., ICML 2018).

Per state s the policy pi(.|s) follows the Wasserstein gradient flow of KL(pi(.|s) || p_s) with the target
p_s(a) proportional to exp(Q(s, a) / alpha). An amortised sampler a = f_phi(s, xi), xi ~ N(0, I)
(:mod:`wrl.agents.samplers`), draws M action particles a_j = f_phi(s, xi_j) per state; each moves with the
particle velocity (:func:`wrl.flows.particles.particle_velocity`, the estimator chosen by ``--method``)

    v_j = grad_a Q(s, a_j) / alpha + (estimate of -grad_a log pi(a_j|s))      (blob, gfsd, gfsf)
    v_j = (1/M) sum_l [K_jl grad_a Q(s, a_l) / alpha + grad_{a_l} k(a_l, a_j)]  (svgd, the comparator),

with grad_a Q from the twin critics (:mod:`wrl.flows.velocity`); ``--velocity newton`` preconditions v_j by
(lambda I + |Hess_a Q(s, a_j)| / alpha)^-1, a Newton step on the log-target. phi follows the particles by
back-propagating the velocity through the sampler (amortisation,
:func:`wrl.projections.amortised.amortised_particle_loss`):

    phi <- phi + lr * (1 / (B M)) sum_{s, j} (d f_phi(s, xi_j) / d phi)^T v_j.

The critic is soft: twin critics with Polyak targets, bootstrapped by the mean over the M particles at s'
of the twin-min target Q plus alpha times the sample-based entropy estimate
(:func:`wrl.agents.samplers.soft_bootstrap`), so that the critic and the flow share one temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import ActorCriticConfig, Agent
from wrl.agents.samplers import (
    POLICY_CLASSES,
    Sampler,
    SamplerCriticState,
    make_sampler_critic,
    sampler_metrics,
    soft_critic_update,
)
from wrl.config import hp
from wrl.errors import ConfigError
from wrl.flows.particles import METHODS, particle_velocity
from wrl.flows.velocity import QFn, VelocityConfig, VelocitySamples, velocity_at
from wrl.projections.amortised import amortised_particle_loss
from wrl.replay import Batch


@dataclass(frozen=True)
class WGFDirectConfig(VelocityConfig, ActorCriticConfig):
    method: str = hp("blob", "particle velocity estimator: blob, gfsd, gfsf (smoothed functions) or svgd",
                     choices=METHODS)
    num_samples: int = hp(8, "M: action particles (samples) per state, for the flow, the bootstrap and the entropy "
                             "estimate (as --num-samples of wpo and wppg; formerly --num-particles, still accepted)",
                          ge=2)
    alpha: float = hp(0.05, "entropy temperature alpha, fixed: the target exp(Q / alpha) of the flow and the "
                            "critic's entropy bonus alpha H, the weight of the entropy in Q + alpha H (SAC's alpha, "
                            "WPPG's --entropy-tau; not wgf-indirect's --alpha)", gt=0)
    bandwidth: float = hp(0.0, "RBF kernel bandwidth h on the action particles; 0: the median heuristic per state",
                          ge=0)
    lam: float = hp(0.1, "GFSF's ridge lambda in (K + lambda I)^-1 (conditioning; biases the estimate to zero)", ge=0)
    policy: str = hp("implicit", "sampler class: implicit, tanh(f([s, xi])), or gaussian, a tanh-Gaussian "
                                 "tanh(mu(s) + sigma(s) xi) through its samples (WPPG's; not WPO's unsquashed "
                                 "Gaussian)", choices=POLICY_CLASSES)
    latent_dim: int = hp(0, "implicit sampler: size of the noise xi ~ N(0, I_m); 0: max(1, round(obs_dim/3))", ge=0)
    policy_critic: str = hp("min", "critic member(s) giving grad_a Q: the first, the mean or the min over the "
                                   "--num-critics members (default: the twin minimum of SAC and TD3; WPO's is "
                                   "Acme's first)", choices=("first", "mean", "min"))
    target_tau: float = hp(0.005, "Polyak rate of the target critic", gt=0, le=1)
    entropy_sigma: float = hp(0.2, "kernel width sigma of the Gaussian-mixture entropy estimate", gt=0)
    entropy_points: int = hp(4, "further policy samples per state at which the mixture density is evaluated",
                             ge=1)

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """A recorded wgf-direct config (or settings) of a wrl before ``num_samples`` in today's fields: the action
        particles per state were ``num_particles`` (the name the indirect method keeps for its M policies), the same
        value under the new name. Applied by :func:`wrl.config.upgrade` to recorded configs, settings files and
        ``wrl train`` options, so ``--algo wgf-direct --num-particles 8`` still means ``--num-samples 8``."""
        if "num_particles" not in data:
            return data
        if "num_samples" in data:
            raise ConfigError("wgf-direct: num_particles (--num-particles) is the old name of num_samples "
                              "(--num-samples, action particles per state); give only the new one")
        data["num_samples"] = data.pop("num_particles")
        return data


WGFDirectState = SamplerCriticState  # sampler, critic ensemble, target critic, optimizer states


def direct_policy_step(sampler: Sampler, tx: optax.GradientTransformation, params: Any, opt_state: Any,
                       q_fn: QFn, obs: jax.Array, xi: jax.Array, cfg: WGFDirectConfig):
    """One step of the direct method on the sampler parameters phi, for noise xi (M, B, m).

    The particles a_j = f_phi(s, xi_j) per state get v_j = particle_velocity(a, grad_a Q / alpha) under
    ``cfg.method``; phi moves along (1 / (B M)) sum (d f_phi / d phi)^T v_j through the optimizer ``tx``
    (the gradient of -mean <stopgrad(v), f_phi(s, xi)>). Under ``velocity = newton`` each v_j is first
    preconditioned by the Hessian of the log-target, v_j <- (lambda I + |Hess_a log p_s(a_j)|)^-1 v_j,
    log p_s = Q(s, .) / alpha (:func:`wrl.flows.velocity.newton`; as Stein variational Newton preconditions by
    the Hessian of -log p). Returns (phi, opt_state, the particles' velocity
    samples (M, B, D), the velocity v (M, B, D), the score grad_a Q / alpha (M, B, D)).
    """
    samples = velocity_at(q_fn, obs, sampler.apply(params, obs, xi))
    score = samples.dq_da / cfg.alpha  # grad_a log p_s, p_s proportional to exp(Q(s, .) / alpha)
    per_state = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731  (M, B, D) <-> (B, M, D): one particle set per state
    velocity = per_state(particle_velocity(per_state(samples.actions), per_state(score), cfg.method,
                                           cfg.bandwidth or None, cfg.lam))
    log_p = lambda o, a: q_fn(o, a) / cfg.alpha  # noqa: E731  (Newton: preconditioned by Hess_a log p_s)
    velocity = cfg.second_order()(VelocitySamples(samples.actions, samples.q / cfg.alpha, velocity), log_p, obs).dq_da

    grads = jax.grad(lambda p: amortised_particle_loss(sampler.apply(p, obs, xi), velocity))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, samples, velocity, score


def make_agent(cfg: WGFDirectConfig, obs_dim: int, act_dim: int) -> Agent:
    parts = make_sampler_critic(cfg, obs_dim, act_dim)
    sampler, critic, actor_tx = parts.sampler, parts.critic, parts.actor_tx
    m = cfg.num_samples

    def init(key: jax.Array) -> WGFDirectState:
        return parts.init(key, obs_dim, act_dim)

    def update(state: WGFDirectState, batch: Batch, key: jax.Array):
        k_next, k_points, k_entropy, k_pi = jax.random.split(key, 4)
        b = batch.obs.shape[0]

        # Soft critic: V(s') = mean over the M particles of the twin-min target Q + alpha H(pi(.|s')).
        critic_vars, critic_opt, critic_loss, q, entropy = soft_critic_update(
            critic, state, sampler, batch, (k_next, k_points, k_entropy), m, cfg.alpha,
            cfg.entropy_sigma, 0, cfg.entropy_points)

        # Policy: M particles per state, their velocity under the chosen estimator, back-propagated into phi.
        q_fn = critic.q_fn(critic_vars, cfg.policy_critic)
        xi = sampler.noise(k_pi, m, b)
        actor_params, actor_opt, samples, velocity, score = direct_policy_step(
            sampler, actor_tx, state.actor, state.actor_opt, q_fn, batch.obs, xi, cfg)
        moved = sampler.apply(actor_params, batch.obs, xi)
        new = WGFDirectState(actor_params, critic_vars, parts.target(state, critic_vars, cfg.target_tau), actor_opt,
                             critic_opt)
        repulsion = velocity - score if cfg.method != "svgd" else velocity
        metrics = {
            "losses/critic_loss": critic_loss, "losses/q_mean": jnp.mean(q),
            "policy/velocity_norm": jnp.mean(jnp.linalg.norm(velocity, axis=-1)),
            # the density-gradient (repulsive) part of the velocity; for SVGD the whole smoothed direction
            "policy/repulsion_norm": jnp.mean(jnp.linalg.norm(repulsion, axis=-1)),
            **sampler_metrics(samples, moved, entropy),  # the noise xi is the coupling of the W2 move
        }
        return new, metrics

    return Agent(init, parts.act, update)

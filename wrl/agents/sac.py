"""SAC: soft actor-critic with twin critics (one vmapped ensemble) and automatic entropy tuning.

Haarnoja et al. (2018). With a = tanh(u), u ~ N(mu_phi(s), sigma_phi(s)):
  critic:  y = R^(n) + gamma^m (1 - d) [ min_i Q_target_i(s', a') - alpha log pi(a'|s') ],  a' ~ pi(.|s')
  actor:   min_phi E_s E_{a~pi_phi} [ alpha log pi_phi(a|s) - min_i Q_i(s, a) ]  (reparameterised)
  alpha:   min_alpha E[ -alpha (log pi(a|s) + H_target) ],  H_target = -|A| by default
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import ActorCriticConfig, Agent
from wrl.config import hp
from wrl.critics import bootstrap_value, critic_step, polyak, td_target
from wrl.distributions.tanh_gaussian import squash_log_std, tanh_gaussian_sample
from wrl.flows.velocity import critic_q_fn
from wrl.networks import MLP, QNetwork, ensemble_init
from wrl.replay import Batch


@dataclass(frozen=True)
class SACConfig(ActorCriticConfig):
    alpha_lr: float = hp(3e-4, "entropy temperature learning rate", gt=0)
    target_tau: float = hp(0.005, "Polyak rate of the target critic", gt=0, le=1)
    init_alpha: float = hp(1.0, "initial entropy temperature", gt=0)
    target_entropy_scale: float = hp(1.0, "target entropy = -scale * action_dim")
    autotune: bool = hp(True, "tune alpha towards the target entropy (else alpha stays fixed)")


@flax.struct.dataclass
class SACState:
    actor: dict
    critic: dict
    target_critic: dict
    log_alpha: jax.Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState


def make_agent(cfg: SACConfig, obs_dim: int, act_dim: int) -> Agent:
    actor = MLP(cfg.actor_hidden, 2 * act_dim)
    qnet = QNetwork(cfg.critic_hidden, cfg.critic_layer_norm)
    actor_tx, critic_tx, alpha_tx = cfg.optimizer(cfg.actor_lr), cfg.optimizer(cfg.critic_lr), optax.adam(cfg.alpha_lr)
    target_entropy = -cfg.target_entropy_scale * act_dim
    obs0, act0 = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))

    def policy(params, obs):
        mean, raw = jnp.split(actor.apply(params, obs), 2, axis=-1)
        return mean, squash_log_std(raw)

    def init(key: jax.Array) -> SACState:
        ka, kc = jax.random.split(key)
        actor_params = actor.init(ka, obs0)
        critic_params = ensemble_init(qnet, kc, cfg.num_critics, obs0, act0)
        log_alpha = jnp.asarray(jnp.log(cfg.init_alpha), jnp.float32)
        return SACState(actor_params, critic_params, critic_params, log_alpha, actor_tx.init(actor_params),
                        critic_tx.init(critic_params), alpha_tx.init(log_alpha))

    def act(state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        mean, log_std = policy(state.actor, obs)
        if deterministic:
            return jnp.tanh(mean)
        return tanh_gaussian_sample(key, mean, log_std)[0]

    def update(state: SACState, batch: Batch, key: jax.Array):
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        # Critic: soft TD target with the min over the target ensemble.
        next_a, next_logp = tanh_gaussian_sample(k_next, *policy(state.actor, batch.next_obs))
        target = td_target(batch, bootstrap_value(qnet, state.target_critic, batch.next_obs, next_a)
                           - alpha * next_logp)
        critic, critic_opt, critic_loss, q = critic_step(qnet, critic_tx, state.critic, state.critic_opt, batch,
                                                         target)

        # Actor: reparameterised soft policy improvement against the updated critic.
        def actor_loss_fn(p):
            a, logp = tanh_gaussian_sample(k_pi, *policy(p, batch.obs))
            q_pi = critic_q_fn(qnet, critic, "min")(batch.obs, a)
            return jnp.mean(alpha * logp - q_pi), logp

        (actor_loss, logp), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(state.actor)
        updates, actor_opt = actor_tx.update(grads, state.actor_opt, state.actor)
        actor_params = optax.apply_updates(state.actor, updates)

        # Temperature: match the policy entropy to the target.
        log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
        entropy = -jnp.mean(logp)
        if cfg.autotune:
            alpha_grad = jax.grad(lambda la: -la * jax.lax.stop_gradient(target_entropy - entropy))(log_alpha)
            updates, alpha_opt = alpha_tx.update(alpha_grad, alpha_opt, log_alpha)
            log_alpha = optax.apply_updates(log_alpha, updates)

        new = SACState(actor_params, critic, polyak(state.target_critic, critic, cfg.target_tau), log_alpha,
                       actor_opt, critic_opt, alpha_opt)
        metrics = {"losses/critic_loss": critic_loss, "losses/actor_loss": actor_loss,
                   "losses/alpha": alpha, "losses/entropy": entropy, "losses/q_mean": jnp.mean(q)}
        return new, metrics

    return Agent(init, act, update)

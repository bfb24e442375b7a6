"""SAC: soft actor-critic with twin critics (one vmapped ensemble) and automatic entropy tuning.

Haarnoja et al. (2018). With a = tanh(u), u ~ N(mu_phi(s), sigma_phi(s)):
  critic:  y = R^(n) + gamma^m (1 - d) [ min_i Q_target_i(s', a') - alpha log pi(a'|s') ],  a' ~ pi(.|s')
  actor:   min_phi E_s E_{a~pi_phi} [ alpha log pi_phi(a|s) - min_i Q_i(s, a) ]  (reparameterised)
  alpha:   min_alpha E[ -alpha (log pi(a|s) + H_target) ],  H_target = -|A| by default
The critic is the shared component of :mod:`wrl.critics` (``--critic``; CrossQ bootstraps from its own joint pass
instead of a target network); actor and temperature update once every ``policy_delay`` critic updates.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import ActorCriticConfig, Agent
from wrl.config import hp
from wrl.critics import make_critic, polyak
from wrl.distributions.tanh_gaussian import squash_log_std, tanh_gaussian_sample
from wrl.networks import MLP
from wrl.replay import Batch


@dataclass(frozen=True)
class SACConfig(ActorCriticConfig):
    alpha_lr: float = hp(3e-4, "entropy temperature learning rate", gt=0)
    target_tau: float = hp(0.005, "Polyak rate of the target critic", gt=0, le=1)
    init_alpha: float = hp(1.0, "initial entropy temperature alpha, the weight of the entropy in Q + alpha H (WPPG's "
                                "--entropy-tau, wgf-direct's --alpha, both fixed)", gt=0)
    target_entropy_scale: float = hp(1.0, "target entropy = -scale * action_dim")
    autotune: bool = hp(True, "tune alpha towards the target entropy (--no-autotune: alpha stays at --init-alpha)")
    policy_delay: int = hp(1, "critic updates per actor and temperature update (CrossQ: 3)", ge=1)


@flax.struct.dataclass
class SACState:
    actor: dict
    critic: dict
    target_critic: dict
    log_alpha: jax.Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    step: jax.Array  # critic updates done


def make_agent(cfg: SACConfig, obs_dim: int, act_dim: int) -> Agent:
    actor = MLP(cfg.actor_hidden, 2 * act_dim)
    critic = make_critic(cfg, cfg.optimizer)
    actor_tx, alpha_tx = cfg.optimizer(cfg.actor_lr), optax.adam(cfg.alpha_lr)
    target_entropy = -cfg.target_entropy_scale * act_dim
    obs0 = jnp.zeros((1, obs_dim))

    def policy(params, obs):
        mean, raw = jnp.split(actor.apply(params, obs), 2, axis=-1)
        return mean, squash_log_std(raw)

    def init(key: jax.Array) -> SACState:
        ka, kc = jax.random.split(key)
        actor_params = actor.init(ka, obs0)
        critic_vars = critic.init(kc, obs_dim, act_dim)
        log_alpha = jnp.asarray(jnp.log(cfg.init_alpha), jnp.float32)
        return SACState(actor_params, critic_vars, critic_vars if critic.has_target else None, log_alpha,
                        actor_tx.init(actor_params), critic.init_opt(critic_vars), alpha_tx.init(log_alpha),
                        jnp.zeros((), jnp.int32))

    def act(state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        mean, log_std = policy(state.actor, obs)
        if deterministic:
            return jnp.tanh(mean)
        return tanh_gaussian_sample(key, mean, log_std)[0]

    def update(state: SACState, batch: Batch, key: jax.Array):
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        # Critic: soft TD target with the min over the target ensemble (or CrossQ's joint pass).
        next_a, next_logp = tanh_gaussian_sample(k_next, *policy(state.actor, batch.next_obs))
        critic_vars, critic_opt, critic_loss, q = critic.update(state.critic, state.critic_opt, batch, next_a,
                                                                state.target_critic, -alpha * next_logp)
        step = state.step + 1
        state = state.replace(critic=critic_vars, critic_opt=critic_opt, step=step,
                              target_critic=(polyak(state.target_critic, critic_vars, cfg.target_tau)
                                             if critic.has_target else None))

        def actor_step(s: SACState):
            # Actor: reparameterised soft policy improvement against the updated critic (read in evaluation mode).
            def actor_loss_fn(p):
                a, logp = tanh_gaussian_sample(k_pi, *policy(p, batch.obs))
                q_pi = critic.q_fn(s.critic, "min")(batch.obs, a)
                return jnp.mean(alpha * logp - q_pi), logp

            (actor_loss, logp), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(s.actor)
            updates, actor_opt = actor_tx.update(grads, s.actor_opt, s.actor)
            actor_params = optax.apply_updates(s.actor, updates)

            # Temperature: match the policy entropy to the target.
            log_alpha, alpha_opt = s.log_alpha, s.alpha_opt
            entropy = -jnp.mean(logp)
            if cfg.autotune:
                alpha_grad = jax.grad(lambda la: -la * jax.lax.stop_gradient(target_entropy - entropy))(log_alpha)
                updates, alpha_opt = alpha_tx.update(alpha_grad, alpha_opt, log_alpha)
                log_alpha = optax.apply_updates(log_alpha, updates)
            return s.replace(actor=actor_params, actor_opt=actor_opt, log_alpha=log_alpha, alpha_opt=alpha_opt), \
                (actor_loss, entropy)

        if cfg.policy_delay == 1:
            state, (actor_loss, entropy) = actor_step(state)
        else:
            state, (actor_loss, entropy) = jax.lax.cond(
                step % cfg.policy_delay == 0, actor_step, lambda s: (s, (jnp.nan, jnp.nan)), state)
        metrics = {"losses/critic_loss": critic_loss, "losses/actor_loss": actor_loss,
                   "losses/alpha": alpha, "losses/entropy": entropy, "losses/q_mean": jnp.mean(q)}
        return state, metrics

    return Agent(init, act, update)

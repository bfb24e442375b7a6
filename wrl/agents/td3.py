"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al., 2018).

  critic: y = R^(n) + gamma^m (1 - d) min_i Q_target_i(s', clip(mu_target(s') + clip(eps, -c, c), -1, 1)),
          eps ~ N(0, sigma_target^2)
  actor (every ``policy_delay`` updates): max_theta E_s Q_1(s, mu_theta(s)); targets move by Polyak then.
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
from wrl.networks import MLP
from wrl.replay import Batch


@dataclass(frozen=True)
class TD3Config(ActorCriticConfig):
    target_tau: float = hp(0.005, "Polyak rate of the target networks", gt=0, le=1)
    policy_delay: int = hp(2, "critic updates per actor/target update", ge=1)
    exploration_noise: float = hp(0.1, "std of the Gaussian exploration noise", ge=0)
    target_noise: float = hp(0.2, "std of the target policy smoothing noise", ge=0)
    target_noise_clip: float = hp(0.5, "clip of the target policy smoothing noise", ge=0)


@flax.struct.dataclass
class TD3State:
    actor: dict
    target_actor: dict
    critic: dict
    target_critic: dict
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    step: jax.Array


def make_agent(cfg: TD3Config, obs_dim: int, act_dim: int) -> Agent:
    actor = MLP(cfg.actor_hidden, act_dim)
    critic = make_critic(cfg, cfg.optimizer)
    actor_tx = cfg.optimizer(cfg.actor_lr)
    obs0 = jnp.zeros((1, obs_dim))

    def mu(params, obs):
        return jnp.tanh(actor.apply(params, obs))

    def init(key: jax.Array) -> TD3State:
        ka, kc = jax.random.split(key)
        actor_params = actor.init(ka, obs0)
        critic_vars = critic.init(kc, obs_dim, act_dim)
        return TD3State(actor_params, actor_params, critic_vars, critic_vars if critic.has_target else None,
                        actor_tx.init(actor_params), critic.init_opt(critic_vars), jnp.zeros((), jnp.int32))

    def act(state: TD3State, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        a = mu(state.actor, obs)
        if deterministic:
            return a
        return jnp.clip(a + cfg.exploration_noise * jax.random.normal(key, a.shape), -1.0, 1.0)

    def update(state: TD3State, batch: Batch, key: jax.Array):
        a_next = mu(state.target_actor, batch.next_obs)
        noise = jnp.clip(cfg.target_noise * jax.random.normal(key, a_next.shape),
                         -cfg.target_noise_clip, cfg.target_noise_clip)
        a_next = jnp.clip(a_next + noise, -1.0, 1.0)
        critic_vars, critic_opt, critic_loss, q = critic.update(state.critic, state.critic_opt, batch, a_next,
                                                                state.target_critic)
        state = state.replace(critic=critic_vars, critic_opt=critic_opt, step=state.step + 1)

        def actor_step(s: TD3State):
            def loss_fn(p):
                return -jnp.mean(critic.q_fn(s.critic, "first")(batch.obs, mu(p, batch.obs)))

            loss, grads = jax.value_and_grad(loss_fn)(s.actor)
            updates, actor_opt = actor_tx.update(grads, s.actor_opt, s.actor)
            actor_params = optax.apply_updates(s.actor, updates)
            return s.replace(actor=actor_params, actor_opt=actor_opt,
                             target_actor=polyak(s.target_actor, actor_params, cfg.target_tau),
                             target_critic=(polyak(s.target_critic, s.critic, cfg.target_tau)
                                            if critic.has_target else None)), loss

        def skip(s: TD3State):
            return s, jnp.nan

        state, actor_loss = jax.lax.cond(state.step % cfg.policy_delay == 0, actor_step, skip, state)
        return state, {"losses/critic_loss": critic_loss, "losses/actor_loss": actor_loss,
                       "losses/q_mean": jnp.mean(q)}

    return Agent(init, act, update)

"""Policies used only through their samples, a = g_theta(s, z) with z ~ N(0, I), and their soft bootstrap.

Shared by the agents that never evaluate a log-density (WPPG and the direct particle method):

- :func:`make_sampler`: the tanh-Gaussian g(s, z) = tanh(mu(s) + sigma(s) z), z ~ N(0, I_D), or the implicit
  g(s, z) = tanh(f([s, z])), z ~ N(0, I_m);
- :func:`soft_bootstrap`: the K samples of the policy at s' and the entropy bonus of the soft state value
      V(s') = (1/K) sum_k min_i Q_i'(s', a_k) + temperature * H(pi(.|s')),
  with H the plug-in Gaussian-mixture estimate (:func:`wrl.geometry.entropy.mixture_entropy`), and
  :func:`soft_critic_update`, the critic's TD step on that target (:meth:`wrl.critics.Critic.update`);
- :class:`SamplerCriticState`: a sampler, a critic ensemble, its target and their optimizer states;
- :func:`sampler_metrics`: the metrics every update of such a sampler logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from wrl.agents.base import check_velocity
from wrl.critics import Critic, make_critic, polyak
from wrl.distributions.tanh_gaussian import squash_log_std
from wrl.flows.velocity import VelocitySamples
from wrl.geometry.entropy import mixture_entropy
from wrl.networks import MLP
from wrl.replay import Batch

POLICY_CLASSES = ("gaussian", "implicit")


@dataclass(frozen=True)
class Sampler:
    """A policy known through its samples: ``apply(params, obs (B, O), z (..., B, z_dim)) -> (..., B, D)``."""

    kind: str
    z_dim: int
    init: Callable[[jax.Array], Any]
    apply: Callable[[Any, jax.Array, jax.Array], jax.Array]

    def noise(self, key: jax.Array, n: int, batch: int) -> jax.Array:
        """n draws of z per state: (n, batch, z_dim)."""
        return jax.random.normal(key, (n, batch, self.z_dim))

    def act(self, params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        """One action per state; deterministic: z = 0 (the tanh-Gaussian's mode tanh(mu), the implicit g(s, 0))."""
        shape = (obs.shape[0], self.z_dim)
        z = jnp.zeros(shape) if deterministic else jax.random.normal(key, shape)
        return self.apply(params, obs, z)


def latent_size(kind: str, latent_dim: int, obs_dim: int, act_dim: int) -> int:
    """Size of the noise z: D for the tanh-Gaussian, m for the implicit policy (0: max(1, round(O / 3)))."""
    if kind == "gaussian":
        return act_dim
    return latent_dim or max(1, round(obs_dim / 3))


def make_sampler(kind: str, hidden: tuple[int, ...], obs_dim: int, act_dim: int, latent_dim: int = 0) -> Sampler:
    """The tanh-Gaussian (``gaussian``) or implicit (``implicit``) sampler with an MLP of widths ``hidden``."""
    implicit = kind == "implicit"
    z_dim = latent_size(kind, latent_dim, obs_dim, act_dim)
    net = MLP(hidden, act_dim if implicit else 2 * act_dim)

    def init(key: jax.Array) -> Any:
        return net.init(key, jnp.zeros((1, obs_dim + z_dim if implicit else obs_dim)))

    def apply(params: Any, obs: jax.Array, z: jax.Array) -> jax.Array:
        if implicit:
            x = jnp.concatenate([jnp.broadcast_to(obs, (*z.shape[:-1], obs.shape[-1])), z], axis=-1)
            return jnp.tanh(net.apply(params, x))
        mean, raw = jnp.split(net.apply(params, obs), 2, axis=-1)
        return jnp.tanh(mean + jnp.exp(squash_log_std(raw)) * z)

    return Sampler(kind, z_dim, init, apply)


def soft_bootstrap(sampler: Sampler, params: Any, next_obs: jax.Array, keys: tuple[jax.Array, jax.Array, jax.Array],
                   num_samples: int, temperature: float, entropy_sigma: float, entropy_centres: int,
                   entropy_points: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The K policy samples a_k = g(s', z_k) at which V(s') = (1/K) sum_k min_i Q_i'(s', a_k) + temperature H is
    bootstrapped, and the bonus temperature * H(pi(.|s')).

    H is the plug-in mixture estimate over the first ``entropy_centres`` (0: all K) samples as centres and
    ``entropy_points`` further samples (skipped, and 0, when temperature is 0). ``keys``: for the K samples,
    the further samples and the estimator's kernel noise. Returns (the K samples (K, B, D), bonus, H (B,)).
    """
    k_next, k_points, k_entropy = keys
    b = next_obs.shape[0]
    a_next = sampler.apply(params, next_obs, sampler.noise(k_next, num_samples, b))  # (K, B, D)
    entropy = jnp.zeros((b,))
    if temperature > 0:
        m_centres = min(entropy_centres or num_samples, num_samples)
        points = sampler.apply(params, next_obs, sampler.noise(k_points, entropy_points, b))
        entropy = mixture_entropy(k_entropy, a_next[:m_centres], points, entropy_sigma)
        return a_next, temperature * entropy, entropy
    return a_next, jnp.zeros(()), entropy


@flax.struct.dataclass
class SamplerCriticState:
    actor: dict
    critic: dict
    target_critic: dict
    actor_opt: optax.OptState
    critic_opt: optax.OptState


def init_sampler_critic(key: jax.Array, sampler: Sampler, critic: Critic, actor_tx: optax.GradientTransformation,
                        obs_dim: int, act_dim: int) -> SamplerCriticState:
    """A fresh sampler and critic ensemble; the target critic starts equal to the critic (none for CrossQ)."""
    ka, kc = jax.random.split(key)
    actor_params = sampler.init(ka)
    critic_vars = critic.init(kc, obs_dim, act_dim)
    return SamplerCriticState(actor_params, critic_vars, critic_vars if critic.has_target else None,
                              actor_tx.init(actor_params), critic.init_opt(critic_vars))


def soft_critic_update(critic: Critic, state: SamplerCriticState, sampler: Sampler, batch: Batch,
                       keys: tuple[jax.Array, jax.Array, jax.Array], num_samples: int, temperature: float,
                       entropy_sigma: float, entropy_centres: int, entropy_points: int):
    """One TD step of the critic towards r + discount * V(s'), V at the samples of :func:`soft_bootstrap`.

    Returns (critic variables, critic optimizer state, critic loss, Q at the batch, H(pi(.|s')) (B,)).
    """
    a_next, bonus, entropy = soft_bootstrap(sampler, state.actor, batch.next_obs, keys, num_samples, temperature,
                                            entropy_sigma, entropy_centres, entropy_points)
    critic_vars, critic_opt, loss, q = critic.update(state.critic, state.critic_opt, batch, a_next,
                                                     state.target_critic, bonus, "mean")
    return critic_vars, critic_opt, loss, q, entropy


@dataclass(frozen=True)
class SamplerCritic:
    """The static parts of a sampler-and-critic agent, and its ``init`` and ``act``."""

    sampler: Sampler
    critic: Critic
    actor_tx: optax.GradientTransformation

    def init(self, key: jax.Array, obs_dim: int, act_dim: int) -> SamplerCriticState:
        return init_sampler_critic(key, self.sampler, self.critic, self.actor_tx, obs_dim, act_dim)

    def act(self, state: SamplerCriticState, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        return self.sampler.act(state.actor, obs, key, deterministic)

    def target(self, state: SamplerCriticState, critic_vars: Any, rate: float) -> Any:
        """The target critic after an update: Polyak-averaged towards ``critic_vars`` (None without targets)."""
        return polyak(state.target_critic, critic_vars, rate) if self.critic.has_target else None


def make_sampler_critic(cfg: Any, obs_dim: int, act_dim: int) -> SamplerCritic:
    """Sampler (``cfg.policy``, ``cfg.actor_hidden``, ``cfg.latent_dim``), critic and actor optimizer from an agent
    config with those fields, the :class:`~wrl.agents.base.ActorCriticConfig` ones and the
    :class:`~wrl.flows.velocity.VelocityConfig` ones (checked against the critic: :func:`check_velocity`)."""
    check_velocity(cfg)
    return SamplerCritic(make_sampler(cfg.policy, cfg.actor_hidden, obs_dim, act_dim, cfg.latent_dim),
                         make_critic(cfg, cfg.optimizer), cfg.optimizer(cfg.actor_lr))


def sampler_metrics(samples: VelocitySamples, moved: jax.Array, entropy: jax.Array) -> dict[str, jax.Array]:
    """The metrics of a sampler's update shared by WPPG and the direct particle method, from the samples
    a = g_old(s, z) and the velocity at them (``samples``: actions (K, B, D)), the updated sampler's samples at
    the same noise, g_new(s, z) (``moved``), and the soft critic's entropy estimate H(pi(.|s')) (``entropy``, (B,)):

    - ``losses/dq_da_norm``: E |grad_a Q| at the samples;
    - ``policy/w2_sq_move``: E |g_new(s, z) - g_old(s, z)|^2, an upper bound on E_s W2^2(pi_old, pi_new) through
      the coupling z;
    - ``policy/sample_std``: the std of the samples over z, averaged over states and action dimensions;
    - ``policy/saturated``: the share of sampled coordinates with |a| > 0.99 (tanh near its bounds);
    - ``policy/entropy``: the mean entropy estimate.
    """
    return {
        "losses/dq_da_norm": jnp.mean(jnp.linalg.norm(samples.dq_da, axis=-1)),
        "policy/w2_sq_move": jnp.mean(jnp.sum(jnp.square(moved - samples.actions), axis=-1)),
        "policy/sample_std": jnp.mean(jnp.std(samples.actions, axis=0)),
        "policy/saturated": jnp.mean(jnp.abs(samples.actions) > 0.99),
        "policy/entropy": jnp.mean(entropy),
    }

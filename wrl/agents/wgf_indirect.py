"""The indirect method of "Policy Optimization as Wasserstein Gradient Flows" (Zhang et al., ICML 2018).

M policies theta_1..theta_M (particles in parameter space) follow the Wasserstein gradient flow of
KL(q || p) towards the posterior p(theta) proportional to exp(J(theta) / alpha) prior(theta). Each particle
acts in its own environments (env e of the vector belongs to particle e mod M) and estimates its
policy gradient on-policy, by advantage actor-critic with its own learned value baseline V_i:

    g_i = (1 / (T E)) sum_{t, e} A_t grad_theta log pi_theta_i(a_t | s_t),
    A_t = sum_l (gamma lambda)^l delta_{t+l},  delta_t = r_t + gamma (1 - d_t) V_i(s_{t+1}) - V_i(s_t)   (GAE),

over the last T = ``update_every`` steps of each of its E environments. The score of the target is
grad log p(theta_i) = g_i / alpha + grad log prior(theta_i) (a flat prior, or N(0, prior_std^2 I)), and the
particles move with the chosen estimator's velocity on the flattened parameter vectors
(:func:`wrl.flows.particles.particle_velocity`): Blob, GFSD, GFSF, or SVGD, which makes this SVPG
(Liu et al., 2017). ``independent`` drops the interaction: each particle ascends its own g_i, i.e. M
independent A2C agents. The velocity v_i drives Adam (the update is Adam's step on -v_i); the value
networks regress the GAE returns A_t + V_i(s_t). Everything is vmapped over the particles in one program.

As in every on-policy learner for continuous control, each particle standardises its observations by the
running mean and variance of the observations it has seen (:mod:`wrl.running_moments`; its own, so the
particles stay independent when they do not interact), and the rewards can be scaled before the advantages
and value targets (``reward_scale``) so that the value networks fit returns of order one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from wrl.agents.base import Agent
from wrl.config import hp
from wrl.distributions.tanh_gaussian import tanh_gaussian_log_prob
from wrl.errors import ConfigError
from wrl.flows.particles import METHODS, particle_velocity
from wrl.networks import MLP
from wrl.replay import Rollout
from wrl.running_moments import Moments, moments_init, moments_update, normalize

INDEPENDENT = "independent"


@dataclass(frozen=True)
class WGFIndirectConfig:
    method: str = hp("blob", "particle interaction: blob, gfsd, gfsf, svgd (SVPG) or independent (M separate "
                             "A2C agents)", choices=(*METHODS, INDEPENDENT))
    num_particles: int = hp(8, "M: policies trained side by side (--num-envs must be a multiple of M)", ge=1)
    alpha: float = hp(1.0, "temperature alpha of the posterior exp(J / alpha) prior over the policies' parameters: "
                           "it weighs the M policies' spread against their returns (not an entropy weight on "
                           "actions, as SAC's alpha and wgf-direct's --alpha)", gt=0)
    prior_std: float = hp(0.0, "std of the Gaussian prior on the policy parameters; 0: a flat prior", ge=0)
    bandwidth: float = hp(0.0, "RBF bandwidth h on the parameter vectors; 0: the median heuristic", ge=0)
    lam: float = hp(0.1, "GFSF's ridge lambda in (K + lambda I)^-1 (conditioning; biases the estimate to zero)", ge=0)
    actor_hidden: tuple[int, ...] = hp((64, 64), "policy MLP hidden sizes (tanh)", ge=1)
    critic_hidden: tuple[int, ...] = hp((64, 64), "value MLP hidden sizes (tanh)", ge=1)
    actor_lr: float = hp(1e-3, "Adam learning rate of the particles' moves", gt=0)
    critic_lr: float = hp(1e-3, "Adam learning rate of the value networks", gt=0)
    gae_lambda: float = hp(0.95, "GAE lambda of the advantages", ge=0, le=1)
    normalize_advantages: bool = hp(True, "standardise each particle's advantages over its rollout")
    init_log_std: float = hp(0.0, "initial log standard deviation of the (pre-tanh) Gaussian policy (0: std 1; "
                                  "WPO's --init-std takes the std itself)")
    normalize_observations: bool = hp(True, "standardise observations by each particle's running mean and "
                                            "variance (of the observations it has seen)")
    reward_scale: float = hp(1.0, "multiplies the rewards before the advantages and value targets", gt=0)


# An on-policy learner: 4 environments per particle (32 for the default M = 8), an update every 5 steps on the
# last 5 steps of every env (A2C's usual rollout), from the first step (docs/particles.md: the settings study).
TRAIN_DEFAULTS: dict[str, Any] = {"num_envs": 32, "learning_starts": 0, "update_every": 5, "buffer_size": 4096,
                                  "eval_episodes": 8}

# The off-policy training settings this on-policy learner does not use, each with why: given explicitly (an option,
# a settings file), they are an error rather than silently ignored (wrl.training.options.resolve).
UNUSED_TRAIN_SETTINGS: dict[str, str] = {
    "batch_size": "an on-policy update takes the whole rollout, not a minibatch",
    "utd": "one on-policy update per rollout of --update-every steps",
    "n_step": "the returns are GAE's, set by --gae-lambda",
}


def check_train_config(cfg: Any, agent_cfg: WGFIndirectConfig) -> None:
    """The training settings an on-policy particle run needs."""
    m = agent_cfg.num_particles
    if cfg.num_envs % m:
        raise ConfigError(f"--num-envs ({cfg.num_envs}) must be a multiple of --num-particles ({m}): each policy "
                          "steps num_envs / M environments of its own")
    if cfg.learning_starts:
        raise ConfigError("--learning-starts must be 0 for wgf-indirect: its on-policy rollouts must come from the "
                          "current policies, not from uniform actions")
    if cfg.utd != 1 or cfg.n_step != 1 or cfg.objective != "discounted":
        raise ConfigError("wgf-indirect learns on-policy from its rollouts: --utd 1, --n-step 1 and the discounted "
                          "objective only (the rollout length is --update-every)")
    if cfg.buffer_size < cfg.update_every * cfg.num_envs:
        raise ConfigError(f"--buffer-size ({cfg.buffer_size}) must hold one rollout, --update-every x --num-envs = "
                          f"{cfg.update_every * cfg.num_envs} transitions")


@flax.struct.dataclass
class WGFIndirectState:
    policy: dict  # M stacked policies: {"net": MLP params, "log_std": (D,)} with a leading particle axis
    value: dict  # M stacked value networks
    policy_opt: optax.OptState
    value_opt: optax.OptState
    obs_moments: Moments  # each particle's running observation moments: (M, O), (M, O), (M,)


def gae(reward: jax.Array, value: jax.Array, next_value: jax.Array, discount: jax.Array, trace: jax.Array,
        lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates over a rollout (T, E): A_t = delta_t + lam trace_t A_{t+1},
    delta_t = r_t + discount_t V(s'_t) - V(s_t), with discount_t = gamma (1 - terminated_t) and
    trace_t = gamma (1 - ended_t) (an episode's end cuts the sum). Returns (A, A + V)."""
    delta = reward + discount * next_value - value

    def back(carry: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        d, c = x
        carry = d + lam * c * carry
        return carry, carry

    _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, trace), reverse=True)
    return adv, adv + value


def posterior_velocity(theta: jax.Array, grad_j: jax.Array, cfg: WGFIndirectConfig) -> tuple[jax.Array, jax.Array]:
    """The particles' velocity towards p(theta) proportional to exp(J(theta) / alpha) prior(theta).

    theta, grad_j: (M, P) parameter vectors and their policy-gradient estimates. The score is
    s_i = grad_j_i / alpha + grad log prior(theta_i) (0 for the flat prior, -theta_i / prior_std^2 for the
    Gaussian one); the velocity is the chosen estimator's (:func:`wrl.flows.particles.particle_velocity`), or s_i
    itself for ``independent``. Returns (velocity, score), both (M, P).
    """
    score = grad_j / cfg.alpha
    if cfg.prior_std > 0:
        score = score - theta / cfg.prior_std**2
    if cfg.method == INDEPENDENT:
        return score, score
    return particle_velocity(theta, score, cfg.method, cfg.bandwidth or None, cfg.lam), score


def make_agent(cfg: WGFIndirectConfig, obs_dim: int, act_dim: int) -> Agent:
    m = cfg.num_particles
    net = MLP(cfg.actor_hidden, act_dim, activation=nn.tanh, out_scale=0.01)
    vnet = MLP(cfg.critic_hidden, 1, activation=nn.tanh)
    policy_tx, value_tx = optax.adam(cfg.actor_lr), optax.adam(cfg.critic_lr)

    def init_policy(key: jax.Array) -> dict:
        return {"net": net.init(key, jnp.zeros((1, obs_dim))), "log_std": jnp.full((act_dim,), cfg.init_log_std)}

    template = jax.eval_shape(init_policy, jax.random.key(0))
    _, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template))

    def init(key: jax.Array) -> WGFIndirectState:
        kp, kv = jax.random.split(key)
        policy = jax.vmap(init_policy)(jax.random.split(kp, m))
        value = jax.vmap(lambda k: vnet.init(k, jnp.zeros((1, obs_dim))))(jax.random.split(kv, m))
        moments = jax.vmap(lambda _: moments_init(obs_dim))(jnp.arange(m))
        return WGFIndirectState(policy, value, policy_tx.init(policy), value_tx.init(value), moments)

    def observe(moments: Moments, obs: jax.Array) -> jax.Array:
        return normalize(moments, obs) if cfg.normalize_observations else obs

    def mean_of(policy: dict, obs: jax.Array) -> jax.Array:
        return net.apply(policy["net"], obs)

    def act(state: WGFIndirectState, obs: jax.Array, key: jax.Array, deterministic: bool = False) -> jax.Array:
        """Row i of ``obs`` is acted on by particle i mod M (the training envs and the evaluation episodes)."""
        owner = jnp.arange(obs.shape[0]) % m
        rows = jax.tree.map(lambda p: p[owner], state.policy)
        moments = jax.tree.map(lambda x: x[owner], state.obs_moments)
        mean = jax.vmap(lambda p, mo, o: mean_of(p, observe(mo, o)[None])[0])(rows, moments, obs)
        if deterministic:
            return jnp.tanh(mean)
        return jnp.tanh(mean + jnp.exp(rows["log_std"]) * jax.random.normal(key, mean.shape))

    def per_particle(x: jax.Array) -> jax.Array:
        """(T, N, ...) with env e of particle e mod M -> (M, T, E, ...)."""
        t, n = x.shape[:2]
        return jnp.moveaxis(x.reshape(t, n // m, m, *x.shape[2:]), 2, 0)

    def particle_gradients(policy: dict, value: dict, moments: Moments, ro: Rollout):
        """One particle: (policy gradient g (tree), value loss gradient (tree), its observation moments with the
        rollout merged, metrics) on its rollout (T, E)."""
        moments = moments_update(moments, ro.obs)
        ro = ro._replace(obs=observe(moments, ro.obs), next_obs=observe(moments, ro.next_obs),
                         reward=cfg.reward_scale * ro.reward)
        v = vnet.apply(value, ro.obs)[..., 0]
        v_next = vnet.apply(value, ro.next_obs)[..., 0]
        adv, ret = gae(ro.reward, v, v_next, ro.discount, ro.trace, cfg.gae_lambda)
        adv, ret = jax.lax.stop_gradient(adv), jax.lax.stop_gradient(ret)
        if cfg.normalize_advantages:
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)

        def objective(p: dict) -> jax.Array:  # (1/(T E)) sum A log pi: its gradient is g
            return jnp.mean(adv * tanh_gaussian_log_prob(ro.action, mean_of(p, ro.obs), p["log_std"]))

        def value_loss(q: dict) -> jax.Array:
            return 0.5 * jnp.mean(jnp.square(vnet.apply(q, ro.obs)[..., 0] - ret))

        obj, g = jax.value_and_grad(objective)(policy)
        vloss, gv = jax.value_and_grad(value_loss)(value)
        return g, gv, moments, {"objective": obj, "value_loss": vloss, "advantage_std": jnp.std(adv)}

    def rollout_update(state: WGFIndirectState, ro: Rollout, key: jax.Array):
        del key  # the update is a deterministic function of the rollout
        ro = jax.tree.map(per_particle, ro)
        g, gv, moments, parts = jax.vmap(particle_gradients)(state.policy, state.value, state.obs_moments, ro)
        theta = jax.vmap(lambda p: ravel_pytree(p)[0])(state.policy)  # (M, P)
        g_flat = jax.vmap(lambda t: ravel_pytree(t)[0])(g)
        velocity, score = posterior_velocity(theta, g_flat, cfg)
        ascent = jax.vmap(unravel)(-velocity)  # Adam minimises: its gradient is -v
        updates, policy_opt = policy_tx.update(ascent, state.policy_opt, state.policy)
        updates_v, value_opt = value_tx.update(gv, state.value_opt, state.value)
        new = WGFIndirectState(optax.apply_updates(state.policy, updates), optax.apply_updates(state.value, updates_v),
                               policy_opt, value_opt, moments)
        diff = theta[:, None, :] - theta[None, :, :]
        pairwise = jnp.sqrt(jnp.sum(diff * diff, axis=-1) + 1e-12)
        spread = jnp.sum(jnp.where(jnp.eye(m, dtype=bool), 0.0, pairwise)) / max(m * (m - 1), 1)
        metrics = {
            "losses/value_loss": jnp.mean(parts["value_loss"]),
            "losses/policy_objective": jnp.mean(parts["objective"]),
            "policy/advantage_std": jnp.mean(parts["advantage_std"]),
            "policy/grad_norm": jnp.mean(jnp.linalg.norm(g_flat, axis=-1)),
            # what the interaction adds to each particle's own (tempered) gradient
            "policy/interaction_norm": jnp.mean(jnp.linalg.norm(velocity - score, axis=-1)),
            "policy/particle_spread": spread,  # mean |theta_i - theta_j| over pairs
            "policy/log_std": jnp.mean(state.policy["log_std"]),
        }
        return new, metrics

    return Agent(init, act, None, rollout_update)

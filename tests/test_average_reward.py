"""The average-reward objective of the trainer against the exact LQR optimum J* (``objective="average"``).

The wiring under test (:mod:`wrl.training.step`): every stored transition moves the running average reward

    rho <- rho + beta (mean_i r^i - rho),       beta = avg_reward_rate,

and the critic of every off-policy agent then learns from the differential targets (gamma = 1)

    y = r - rho + (1 - d) V(s'),                V(s') = min_j Q_target_j(s', a').

With the optimal linear policy a = -K* s held fixed on ``wrl/LQR-v0``, rho must settle at -J*, J* = tr(P* W).
The agent here is a probe whose actor is frozen at K* and whose update only computes the TD target with the
shared critic pieces (:func:`wrl.critics.td_target`, :meth:`wrl.critics.Critic.next_atoms`) and keeps it in its
state, so the targets the trainer's compiled step produced can be compared with an independent NumPy computation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wrl.agents.base import Agent
from wrl.critics import CriticConfig, make_critic, td_target
from wrl.envs import VecEnv, env_factory
from wrl.envs.lqr import ENV_ID
from wrl.training.config import TrainConfig
from wrl.training.step import Transition, init_train_state, make_step_fns

ENV = f"gym:{ENV_ID}"
HIDDEN = (16,)
CRITIC = make_critic(CriticConfig(critic_hidden=HIDDEN), optax.adam)  # mlp, mse, two members


class ProbeState(NamedTuple):
    obs: jax.Array  # (B, n): the sampled batch of the last update
    reward: jax.Array  # (B,)
    discount: jax.Array  # (B,)
    target: jax.Array  # (B,): y = R + discount * V(s')


def probe_agent(gain: np.ndarray, action_bound: float, q_params, obs_dim: int, batch_size: int) -> Agent:
    """An agent whose actor is frozen at a = -K s (in the env's [-1, 1] action units) and whose update stores the
    differential TD target of its sampled batch instead of taking a gradient step."""
    k_scaled = jnp.asarray(gain / action_bound, jnp.float32)

    def act(state, obs, key, deterministic=False):
        return jnp.clip(-obs @ k_scaled.T, -1.0, 1.0)

    def init(key):
        z = jnp.zeros((batch_size,), jnp.float32)
        return ProbeState(jnp.zeros((batch_size, obs_dim), jnp.float32), z, z, z)

    def update(state, batch, key):
        y = td_target(batch, CRITIC.next_atoms(q_params, batch.next_obs, act(None, batch.next_obs, key)))[:, 0]
        return ProbeState(batch.obs, batch.reward, batch.discount, y), {"probe/target": jnp.mean(y)}

    return Agent(init, act, update)


def numpy_q_min(q_params, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
    """min_j Q_j(s, a) of the QNetwork ensemble (Dense -> relu -> Dense on [s, a]), in float64 NumPy."""
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), q_params)["params"]["MLP_0"]
    x = np.concatenate([obs, action], -1)
    h = np.maximum(np.einsum("bi,jio->jbo", x, p["Dense_0"]["kernel"]) + p["Dense_0"]["bias"][:, None], 0.0)
    q = np.einsum("jbi,jio->jbo", h, p["Dense_1"]["kernel"]) + p["Dense_1"]["bias"][:, None]
    return q[..., 0].min(0)


def reward_autocovariance(A_K: np.ndarray, X: np.ndarray, M: np.ndarray, lags: int) -> np.ndarray:
    """C(k) = Cov(r_t, r_{t+k}) for r_t = -s_t^T M s_t on the stationary chain s' = A_K s + w, s ~ N(0, X):
    Cov(s_t, s_{t+k}) = X A_K^{k T}, and for jointly Gaussian x, y, Cov(x^T M x, y^T M y) = 2 tr(M C_xy M C_xy^T)."""
    out, Y = np.empty(lags), X.copy()
    for k in range(lags):
        out[k] = 2.0 * np.trace(M @ Y @ M @ Y.T)
        Y = A_K @ Y
    return out


def ema_std(beta: float, steps: int, autocov: np.ndarray, num_envs: int) -> float:
    """Standard deviation of rho_T = beta sum_{t=1..T} (1 - beta)^{T-t} rbar_t, rbar_t the mean reward of
    ``num_envs`` independent stationary chains with autocovariance ``autocov``:

        Var = (beta^2 / n) [C(0) S_0 + 2 sum_{k>=1} C(k) S_k],
        S_k = sum_t w_t w_{t+k} = c^k (1 - c^{2(T-k)}) / (1 - c^2),

    with w_t = c^{T-t}, c = 1 - beta. Episode resets (to the stationary law) only cut correlations, which are all
    >= 0 here, so this is an upper bound for the trainer's rho."""
    c = 1.0 - beta
    k = np.arange(min(len(autocov), steps))
    s = c**k * (1.0 - c ** (2 * (steps - k))) / (1.0 - c**2)
    var = beta**2 / num_envs * (autocov[0] * s[0] + 2.0 * np.sum(autocov[1:len(k)] * s[1:]))
    return float(np.sqrt(var))


def test_running_average_reward_of_the_optimal_policy_is_minus_j_star():
    """The trainer's compiled step, fed the transitions of ``num_envs`` LQR envs under a = -K* s: rho equals the
    NumPy running average of the rewards it was given, and lies within bias + 5 sd of -J*."""
    num_envs, steps, beta, seed = 16, 1500, 8e-3, 0
    cfg = TrainConfig(algo="probe", env=ENV, num_envs=num_envs, buffer_size=64 * num_envs, batch_size=4,
                      learning_starts=10**9, objective="average", avg_reward_rate=beta)
    envs = VecEnv([env_factory(ENV)] * num_envs, seed=seed)
    lqr = envs.envs[0].unwrapped
    opt, sys = lqr.optimum, lqr.system
    n, m = sys.n, sys.m
    q_params = CRITIC.init(jax.random.key(1), n, m)
    agent = probe_agent(opt.K, lqr.action_bound, q_params, n, cfg.batch_size)
    _, learn_step = make_step_fns(agent, cfg)
    ts = init_train_state(agent, cfg, n, m)
    k_scaled = opt.K / lqr.action_bound  # the env's actions are rescaled to [-1, 1]

    obs = envs.reset()
    rho_np, rewards = 0.0, []
    for _ in range(steps):
        action = np.clip(-obs @ k_scaled.T, -1.0, 1.0).astype(np.float32)  # a = -K* s
        out = envs.step(action)
        ts = learn_step(ts, Transition(obs, action, out.reward, out.next_obs, out.terminated, out.truncated))
        rho_np += beta * (np.mean(out.reward, dtype=np.float64) - rho_np)
        rewards.append(out.reward)
        obs = out.obs
    rho = float(ts.avg_reward)
    assert int(ts.env_steps) == steps * num_envs and int(ts.updates) == 0
    np.testing.assert_allclose(rho, rho_np, rtol=1e-4)  # float32 accumulation over the run

    j_star = lqr.optimal_average_cost
    A_K = sys.A - sys.B @ opt.K
    autocov = reward_autocovariance(A_K, opt.X, sys.Qc + opt.K.T @ sys.R @ opt.K, lags=2000)
    assert autocov[-1] < 1e-12 * autocov[0]  # the truncated lags do not matter
    # The policy fed to the trainer is the optimal one: the plain mean reward is -J* within 5 sd, where
    # Var(mean) <= (C(0) + 2 sum_{k>=1} C(k)) / (n T) for n independent chains of T steps.
    sd_mean = np.sqrt((autocov[0] + 2.0 * autocov[1:].sum()) / (num_envs * steps))
    assert abs(np.mean(rewards) + j_star) <= 5.0 * sd_mean, (np.mean(rewards), -j_star, sd_mean)
    bias = j_star * (1.0 - beta) ** steps  # rho starts at 0
    sd = ema_std(beta, steps, autocov, num_envs)
    assert sd < 0.1 * j_star  # the check below is a sharp one
    assert abs(rho + j_star) <= bias + 5.0 * sd, (rho, -j_star, bias, sd)
    print(f"rho {rho:.5f}  -J* {-j_star:.5f}  bias {bias:.2e}  sd {sd:.5f}  mean reward {np.mean(rewards):.5f} "
          f"(sd {sd_mean:.5f})")


def test_differential_td_target_on_a_hand_built_batch():
    """One learn step on a replay holding hand-built transitions (one terminated, one truncated): every sampled
    target is y = r - rho + (1 - terminated) min_j Q_j(s', -K s'), rho already moved by the stored transition
    (from two starting values of rho; the compiled step is the same)."""
    rng = np.random.default_rng(3)
    n, m, rows, beta = 2, 1, 6, 0.25
    cfg = TrainConfig(algo="probe", env=ENV, num_envs=1, buffer_size=32, batch_size=64, learning_starts=rows,
                      objective="average", avg_reward_rate=beta, gamma=0.9)  # gamma is unused by this objective
    gain, bound = np.array([[0.8, 1.3]]), 2.0
    q_params = CRITIC.init(jax.random.key(2), n, m)
    agent = probe_agent(gain, bound, q_params, n, cfg.batch_size)
    _, learn_step = make_step_fns(agent, cfg)

    obs = rng.normal(size=(rows, n)).astype(np.float32)
    action = rng.uniform(-1, 1, size=(rows, m)).astype(np.float32)
    reward = rng.normal(-1.0, 1.0, size=rows).astype(np.float32)
    next_obs = rng.normal(size=(rows, n)).astype(np.float32)
    terminated = np.zeros(rows, bool)
    truncated = np.zeros(rows, bool)
    terminated[1], truncated[3] = True, True
    next_a = np.clip(-next_obs.astype(np.float64) @ (gain / bound).T, -1.0, 1.0)
    q_next = numpy_q_min(q_params, next_obs.astype(np.float64), next_a)  # (rows,)

    for rho0 in (0.0, -0.75):
        ts = init_train_state(agent, cfg, n, m)._replace(avg_reward=jnp.float32(rho0))
        rho = rho0
        for i in range(rows):
            ts = learn_step(ts, Transition(obs[i:i + 1], action[i:i + 1], reward[i:i + 1], next_obs[i:i + 1],
                                           terminated[i:i + 1], truncated[i:i + 1]))
            rho += beta * (float(reward[i]) - rho)
        assert int(ts.updates) == 1  # only the last step updated
        np.testing.assert_allclose(float(ts.avg_reward), rho, rtol=1e-6)

        probe: ProbeState = ts.agent
        idx = np.array([int(np.argmin(np.abs(obs - o).sum(1))) for o in np.asarray(probe.obs)])
        np.testing.assert_array_equal(obs[idx], np.asarray(probe.obs))  # every sampled row is one of ours
        assert len(set(idx.tolist())) == rows  # 64 samples of 6 rows: all of them, the terminated one included
        expected = reward[idx] - rho + (1.0 - terminated[idx]) * q_next[idx]
        np.testing.assert_allclose(np.asarray(probe.discount), 1.0 - terminated[idx])
        np.testing.assert_allclose(np.asarray(probe.reward), reward[idx] - rho, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(probe.target), expected, rtol=1e-5, atol=1e-5)

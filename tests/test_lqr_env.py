"""The ergodic LQR Gymnasium environment ``wrl/LQR-v0`` and its known optimum."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg as sla

import wrl.envs.lqr as lqr_env
from wrl.errors import EnvError


def test_registered_and_continuing():
    env = gym.make(lqr_env.ENV_ID)
    assert env.spec.id == "wrl/LQR-v0" and env.spec.max_episode_steps == 200
    assert env.observation_space.shape == (2,) and env.action_space.shape == (1,)
    assert isinstance(env.action_space, gym.spaces.Box)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, r, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert not terminated  # a continuing task never terminates
        assert r == pytest.approx(-info["cost"]) and r <= 0
    assert steps == 200 and truncated  # only the TimeLimit ends an episode


@pytest.mark.slow
def test_registration_in_a_fresh_process_and_idempotent():
    """A fresh interpreter that never imports wrl makes the env through Gymnasium's ``module:id`` form (Gymnasium
    1.x has no plugin entry points); importing the module again, re-registering and reloading it afterwards
    neither warns (warnings are errors here) nor changes the registered spec."""
    code = textwrap.dedent("""
        import importlib, sys, warnings
        warnings.simplefilter("error")
        import gymnasium as gym
        assert not any(m == "wrl" or m.startswith("wrl.") for m in sys.modules)
        env = gym.make("wrl.envs.lqr:wrl/LQR-v0")
        assert env.spec.id == "wrl/LQR-v0" and env.spec.max_episode_steps == 200
        obs, _ = env.reset(seed=0)
        env.step(env.action_space.sample())
        spec = gym.spec("wrl/LQR-v0")
        import wrl.envs.lqr as m
        m.register_envs()
        importlib.reload(m)
        assert gym.spec("wrl/LQR-v0") == spec
        assert sum(k == "wrl/LQR-v0" for k in gym.registry) == 1
        gym.make("wrl/LQR-v0").reset(seed=0)
        print("LQR-OK")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    assert res.returncode == 0 and "LQR-OK" in res.stdout, res.stderr[-3000:]
    assert "warn" not in res.stderr.lower(), res.stderr[-3000:]


def test_optimum_is_the_riccati_solution():
    env = gym.make(lqr_env.ENV_ID).unwrapped
    sys = env.system
    P = sla.solve_discrete_are(sys.A, sys.B, sys.Qc, sys.R)
    assert env.optimal_average_cost == pytest.approx(np.trace(P @ sys.W), rel=1e-9)
    assert env.optimal_average_reward == pytest.approx(-np.trace(P @ sys.W), rel=1e-9)
    K = np.linalg.solve(sys.R + sys.B.T @ P @ sys.B, sys.B.T @ P @ sys.A)
    np.testing.assert_allclose(env.optimal_gain, K, rtol=1e-9)
    tau = 0.1
    ent = env.entropic_optimum(tau)
    np.testing.assert_allclose(ent.Sigma, 0.5 * tau * np.linalg.inv(sys.R + sys.B.T @ P @ sys.B), rtol=1e-9)


def test_dynamics_and_reward():
    """Same seed, same noise: two copies that differ only in the action differ by B (a - a') in the next state,
    and the reward is -(s^T Qc s + a^T R a) at the current state."""
    e1 = gym.make(lqr_env.ENV_ID, system="random", state_dim=3, action_dim=2, system_seed=4).unwrapped
    e2 = gym.make(lqr_env.ENV_ID, system="random", state_dim=3, action_dim=2, system_seed=4).unwrapped
    s1, _ = e1.reset(seed=3)
    s2, _ = e2.reset(seed=3)
    np.testing.assert_array_equal(s1, s2)
    sys = e1.system
    s = e1._s.copy()
    a, b = np.array([0.3, -0.2]), np.array([-0.1, 0.4])
    _n1, r1, *_ = e1.step(a)
    _n2, r2, *_ = e2.step(b)
    np.testing.assert_allclose(e1._s - e2._s, sys.B @ (a - b), rtol=1e-12, atol=1e-12)
    assert r1 == pytest.approx(-(s @ sys.Qc @ s + a @ sys.R @ a), rel=1e-12)
    assert r2 == pytest.approx(-(s @ sys.Qc @ s + b @ sys.R @ b), rel=1e-12)
    # actions are clipped to the box: the cost is charged for (and the state moved by) the clipped action
    s = e1._s.copy()
    _, r, *_ = e1.step(np.full(2, 10 * e1.action_bound))
    clipped = np.full(2, e1.action_bound)
    assert r == pytest.approx(-(s @ sys.Qc @ s + clipped @ sys.R @ clipped), rel=1e-12)


def test_optimal_policy_earns_minus_j_star():
    """The long-run average reward of a = -K* s is -J*: batch means over 40 batches of 1500 steps (after a
    burn-in) estimate the standard error; the estimate must lie within 5 of them."""
    env = gym.make(lqr_env.ENV_ID, system="scalar").unwrapped
    obs, _ = env.reset(seed=0)
    rewards = np.empty(40 * 1500)
    for _ in range(200):
        obs, *_ = env.step(env.optimal_action(obs))
    for t in range(rewards.size):
        obs, rewards[t], *_ = env.step(env.optimal_action(obs))
    batches = rewards.reshape(40, -1).mean(axis=1)
    se = batches.std(ddof=1) / np.sqrt(len(batches))
    assert abs(rewards.mean() - env.optimal_average_reward) < 5 * se
    # and a worse gain earns less
    env.reset(seed=1)
    worse = []
    obs = env._s
    for _ in range(20_000):
        obs, r, *_ = env.step(np.array([-0.5 * env.optimal_gain[0, 0] * obs[0]]))
        worse.append(r)
    assert np.mean(worse) < env.optimal_average_reward


def test_systems_and_bad_input():
    env = gym.make(lqr_env.ENV_ID, system="double_integrator").unwrapped
    assert env.system.n == 2 and np.max(np.abs(np.linalg.eigvals(env.system.A))) >= 1.0  # open-loop unstable
    A = np.array([[0.5]])
    env = gym.make(lqr_env.ENV_ID, A=A, B=[[1.0]], Qc=[[1.0]], R=[[2.0]], W=[[0.5]]).unwrapped
    assert env.system.n == 1 and env.optimal_average_cost > 0
    with pytest.raises(EnvError):
        gym.make(lqr_env.ENV_ID, system="nope")
    with pytest.raises(EnvError):
        gym.make(lqr_env.ENV_ID, R=[[-1.0]])
    with pytest.raises(EnvError):
        gym.make(lqr_env.ENV_ID, B=np.ones((3, 1)))
    # a run-away policy on the unstable system is truncated, not terminated
    env = gym.make(lqr_env.ENV_ID, system="double_integrator", state_limit=5.0).unwrapped
    env.reset(seed=0)
    for _ in range(10_000):
        _obs, _r, term, trunc, _ = env.step(np.array([env.action_bound]))
        assert not term
        if trunc:
            break
    assert trunc


def test_rgb_render():
    env = gym.make(lqr_env.ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8

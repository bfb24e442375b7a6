"""Environments by id: ``gym:<id>`` (any registered Gymnasium env) and ``dmc:<domain>-<task>``.

Every environment comes out with the same contract: a flat float32 observation vector (dict
observations are flattened) and a Box action space rescaled to [-1, 1], so agents always act there. With
``action_repeat`` K > 1 one step of the environment is K steps (frames) of the underlying one
(:class:`ActionRepeat`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from wrl.envs.render import configure_offscreen_rendering
from wrl.errors import EnvError
from wrl.optional import ensure


@dataclass(frozen=True)
class EnvSpec:
    """Shapes an agent needs to be built for an environment."""

    env_id: str
    obs_dim: int
    act_dim: int


class Float32Observation(gym.ObservationWrapper):
    """Cast a flat observation to float32 (the agents' dtype)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(np.asarray(space.low, np.float32),
                                                np.asarray(space.high, np.float32), dtype=np.float32)

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)


class ActionRepeat(gym.Wrapper):
    """Each action repeated ``repeat`` times (frames): the step's reward is the sum of the frames' rewards, and
    it stops at the first frame that terminates or truncates the episode (its observation and flags are the
    step's). ``info["frames_stepped"]`` says how many frames the step took."""

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        if repeat < 1:
            raise EnvError(f"action_repeat must be >= 1 (got {repeat})")
        self.repeat = int(repeat)

    def step(self, action):
        total, frames = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            frames += 1
            if terminated or truncated or frames == self.repeat:
                return obs, total, terminated, truncated, {**info, "frames_stepped": frames}


def import_env_modules(modules: str | list[str] | tuple[str, ...] | None) -> None:
    """Import user modules that register Gymnasium environments (``--env-module mypkg``)."""
    if not modules:
        return
    if isinstance(modules, str):
        modules = [m for m in modules.split(",") if m]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise EnvError(f"cannot import env module {name!r} ({e}); make it importable (pip install it "
                           "or add its folder to PYTHONPATH)") from None


def _make_raw(env_id: str, render_mode: str | None) -> gym.Env:
    kind, _, name = env_id.partition(":")
    configure_offscreen_rendering()  # before MuJoCo or dm_control is first imported
    if kind == "gym" and name:
        if name.startswith("wrl/"):
            importlib.import_module("wrl.envs.lqr")
        try:
            return gym.make(name, **({"render_mode": render_mode} if render_mode else {}))
        except gym.error.Error as e:
            raise EnvError(f"unknown Gymnasium env {name!r} ({type(e).__name__}: {e}); check the id, or pass "
                           "--env-module with the module that registers it") from None
    if kind == "dmc" and name:
        domain, _, task = name.partition("-")
        ensure("dm_control", env_id)
        from wrl.envs.dmc import DMCEnv, dmc_tasks

        if f"{domain}-{task}" not in dmc_tasks():
            raise EnvError(f"unknown DeepMind Control task {name!r}; use dmc:<domain>-<task>, e.g. "
                           "dmc:cartpole-swingup")
        return DMCEnv(domain, task, render_mode=render_mode)
    raise EnvError(f"unknown env id {env_id!r}; use gym:<id> (e.g. gym:Pendulum-v1) or dmc:<domain>-<task> "
                   "(e.g. dmc:walker-walk)")


def make_env(env_id: str, render_mode: str | None = None, action_repeat: int = 1) -> gym.Env:
    """One environment with flat float32 observations and actions in [-1, 1], each action repeated
    ``action_repeat`` times (:class:`ActionRepeat`; 1: the environment as it is)."""
    env = _make_raw(env_id, render_mode)
    if not isinstance(env.action_space, gym.spaces.Box):
        env.close()
        raise EnvError(f"{env_id} has a {type(env.action_space).__name__} action space; wrl's agents need a "
                       "continuous Box action space")
    low, high = env.action_space.low, env.action_space.high
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        env.close()
        raise EnvError(f"{env_id} has an unbounded action space; wrap it with finite bounds to use it")
    if not isinstance(env.observation_space, gym.spaces.Box | gym.spaces.Dict | gym.spaces.Tuple):
        env.close()
        raise EnvError(f"{env_id} has a {type(env.observation_space).__name__} observation space; "
                       "wrl needs Box, Dict or Tuple observations")
    if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
        env = gym.wrappers.FlattenObservation(env)
    env = Float32Observation(env)
    if not (np.all(low == -1.0) and np.all(high == 1.0)):
        ones = np.ones(env.action_space.shape, env.action_space.dtype)
        env = gym.wrappers.RescaleAction(env, -ones, ones)
    return ActionRepeat(env, action_repeat) if action_repeat != 1 else env


def env_spec(env_id: str) -> EnvSpec:
    """Observation and action sizes of ``env_id`` (builds the env once)."""
    env = make_env(env_id)
    spec = EnvSpec(env_id, int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape)))
    env.close()
    return spec


def env_factory(env_id: str, render_mode: str | None = None, action_repeat: int = 1) -> Callable[[], gym.Env]:
    return lambda: make_env(env_id, render_mode, action_repeat)

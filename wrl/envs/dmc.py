"""DeepMind Control Suite tasks as Gymnasium environments.

``dmc:<domain>-<task>`` loads ``dm_control.suite.load(domain, task)``. Observations (an ordered dict of
arrays) are concatenated into one float64 vector in the suite's order; the action spec becomes a Box.
The suite's time limit ends an episode with discount 1 (truncation: bootstrap); a step with discount 0
is a termination.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from wrl.envs.render import configure_offscreen_rendering
from wrl.optional import require


def _suite(what: str) -> ModuleType:
    """``dm_control.suite``, imported after the offscreen rendering backend is chosen; a missing dm_control
    raises :class:`~wrl.errors.MissingDependencyError` saying that ``what`` needs it."""
    configure_offscreen_rendering()
    return require("dm_control.suite", what)


def _flat_size(spec: Any) -> int:
    return int(np.prod(spec.shape)) if spec.shape else 1


class DMCEnv(gym.Env):
    """A Gymnasium view of one dm_control suite task."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, domain: str, task: str, render_mode: str | None = None,
                 render_size: tuple[int, int] = (480, 480), camera_id: int = 0):
        suite = _suite(f"dmc:{domain}-{task}")
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
        self._env = suite.load(domain, task, task_kwargs={"random": 0})
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32),
                                           dtype=np.float32)
        dim = sum(_flat_size(s) for s in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float64)
        self.render_mode = render_mode
        self._render_size = render_size
        self._camera_id = camera_id

    @staticmethod
    def _flatten(observation: dict) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in observation.values()])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
        ts = self._env.reset()
        return self._flatten(ts.observation), {}

    def step(self, action):
        ts = self._env.step(np.asarray(action, dtype=np.float64))
        reward = float(ts.reward or 0.0)
        last = ts.last()
        terminated = bool(last and ts.discount == 0.0)
        truncated = bool(last and not terminated)
        return self._flatten(ts.observation), reward, terminated, truncated, {}

    def render(self):
        h, w = self._render_size
        return self._env.physics.render(height=h, width=w, camera_id=self._camera_id)

    def close(self):
        self._env.close()


def dmc_tasks() -> list[str]:
    """Every suite task as ``domain-task``."""
    suite = _suite("the DeepMind Control Suite")
    return [f"{d}-{t}" for d, t in suite.ALL_TASKS]

"""A synchronous vector of environments with same-step reset and exact-resume support.

When an episode ends at step t, the transition keeps the true final observation as ``next_obs`` and the
environment is reset in the same call; the observation the agent acts from next is the reset one. So no
transition ever links the end of one episode to the start of the next (the "step after the episode ends"
of Gymnasium's next-step autoreset never exists, and never reaches the replay buffer).

Every episode k of environment i is reset with its own seed derived from (seed, i, k), and the actions of
the current episode are recorded. That makes the environments' state reproducible from plain arrays:
:meth:`VecEnv.state_dict` / :meth:`VecEnv.load_state_dict` rebuild any mid-episode state by resetting
with the same seed and replaying the recorded actions (MuJoCo is deterministic on one machine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import gymnasium as gym
import numpy as np

from wrl.errors import CheckpointError


def episode_seed(seed: int, env_index: int, episode: int) -> int:
    """Seed of episode ``episode`` of environment ``env_index``, independent across (i, k)."""
    return int(np.random.SeedSequence([seed, env_index, episode]).generate_state(1)[0])


class VecStep(NamedTuple):
    next_obs: np.ndarray  # (n, obs_dim) observation after the action (final obs when an episode ended)
    reward: np.ndarray  # (n,)
    terminated: np.ndarray  # (n,) bool: the MDP ended; no bootstrap
    truncated: np.ndarray  # (n,) bool: cut by a time limit; bootstrap from next_obs
    obs: np.ndarray  # (n, obs_dim) observation to act from next (reset obs where an episode ended)
    episode_returns: list[float]  # returns of the episodes that ended in this step
    episode_lengths: list[int]  # their lengths in frames (steps of the env under any action repeat)


class VecEnv:
    """``n`` environments stepped in lockstep with same-step reset."""

    def __init__(self, env_fns: list[Callable[[], gym.Env]], seed: int):
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.seed = int(seed)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self._episode = np.zeros(self.num_envs, np.int64)
        self._actions: list[list[np.ndarray]] = [[] for _ in self.envs]
        self._return = np.zeros(self.num_envs, np.float64)
        self._frames = np.zeros(self.num_envs, np.int64)
        self._obs = None

    def _reset_one(self, i: int) -> np.ndarray:
        obs, _ = self.envs[i].reset(seed=episode_seed(self.seed, i, int(self._episode[i])))
        self._actions[i] = []
        self._return[i] = 0.0
        self._frames[i] = 0
        return obs

    def reset(self) -> np.ndarray:
        self._episode[:] = 0
        self._obs = np.stack([self._reset_one(i) for i in range(self.num_envs)])
        return self._obs.copy()

    def step(self, actions: np.ndarray) -> VecStep:
        n = self.num_envs
        next_obs = np.empty_like(self._obs)
        obs = np.empty_like(self._obs)
        reward = np.zeros(n, np.float32)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        returns, lengths = [], []
        for i, env in enumerate(self.envs):
            a = np.asarray(actions[i], dtype=np.float32)
            o, r, term, trunc, info = env.step(a)
            self._actions[i].append(a)
            self._return[i] += float(r)
            self._frames[i] += info.get("frames_stepped", 1)
            next_obs[i], reward[i], terminated[i], truncated[i] = o, r, term, trunc
            if term or trunc:
                returns.append(float(self._return[i]))
                lengths.append(int(self._frames[i]))
                self._episode[i] += 1
                o = self._reset_one(i)
            obs[i] = o
        self._obs = obs
        return VecStep(next_obs, reward, terminated, truncated, obs.copy(), returns, lengths)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays from which :meth:`load_state_dict` rebuilds the current state exactly."""
        act_dim = int(np.prod(self.single_action_space.shape))
        state = {"episode": self._episode.copy(), "obs": self._obs.copy()}
        for i in range(self.num_envs):
            acts = self._actions[i]
            state[f"actions_{i}"] = np.stack(acts) if acts else np.zeros((0, act_dim), np.float32)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> np.ndarray:
        """Reset each env with its episode seed and replay its recorded actions; return the current obs."""
        episode = np.asarray(state["episode"], np.int64)
        if episode.shape != (self.num_envs,):
            raise CheckpointError(f"checkpoint holds {episode.shape[0]} environments, the run has "
                                  f"{self.num_envs}; resume with the same --num-envs")
        self._episode = episode.copy()
        obs = []
        for i in range(self.num_envs):
            o = self._reset_one(i)
            for a in np.asarray(state[f"actions_{i}"], np.float32):
                o, r, term, trunc, info = self.envs[i].step(a)
                self._actions[i].append(a)
                self._return[i] += float(r)
                self._frames[i] += info.get("frames_stepped", 1)
                if term or trunc:
                    raise CheckpointError("replaying the environment's episode ended it early: the env is "
                                          "not deterministic, so this run cannot be resumed exactly")
            obs.append(o)
        self._obs = np.stack(obs)
        if not np.array_equal(self._obs, np.asarray(state["obs"])):
            raise CheckpointError("replaying the environment did not reproduce the saved observation: the env "
                                  "is not deterministic, so this run cannot be resumed exactly")
        return self._obs.copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()

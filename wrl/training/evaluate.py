"""Evaluation: deterministic actions over several episodes, one per environment, stepped as a batch."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from wrl.envs.vector import episode_seed


def eval_seed(seed: int, episode: int, evaluation: int) -> int:
    """Seed of episode ``episode`` of evaluation number ``evaluation`` (disjoint from training seeds)."""
    return episode_seed(seed + 1_000_003, episode, evaluation)


def evaluate(policy: Callable[[np.ndarray], np.ndarray], envs: list[gym.Env], seeds: list[int],
             frames: list | None = None) -> np.ndarray:
    """Undiscounted return of one episode per env, with actions ``policy(obs_batch)``.

    Environments are stepped together; one that has finished is no longer stepped. When ``frames`` is a
    list, the first env's rendered frames are appended to it.
    """
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)])
    returns = np.zeros(len(envs))
    active = np.ones(len(envs), bool)
    if frames is not None:
        frames.append(envs[0].render())
    while active.any():
        actions = np.asarray(policy(obs))
        for i in np.flatnonzero(active):
            o, r, term, trunc, _ = envs[i].step(actions[i])
            obs[i] = o
            returns[i] += r
            if frames is not None and i == 0:
                frames.append(envs[0].render())
            if term or trunc:
                active[i] = False
    return returns

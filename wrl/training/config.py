"""The training configuration shared by every algorithm (the agent's own config sits beside it).

Step counts (``total_steps``, ``learning_starts``, ``eval_every``, ``checkpoint_every``, ``log_every``,
``reset_at``) are environment frames summed over the environments: with ``action_repeat`` K and ``num_envs`` n,
each agent step is n K frames (as DrQ, TD-MPC and SimbaV2 count). ``utd`` and ``update_every`` count agent
steps: one replay transition per agent step and environment, ``utd`` updates per agent step and environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from wrl.config import hp


@dataclass(frozen=True)
class TrainConfig:
    algo: str = hp("wpo", "algorithm: wpo, wppg, wgf-direct, wgf-indirect, sac, td3")
    env: str = hp("gym:Pendulum-v1", "environment id: gym:<id> or dmc:<domain>-<task>")
    env_module: str = hp("", "comma-separated modules to import first (they register Gymnasium envs)")
    seed: int = hp(0, "random seed (same seed, same machine: same numbers)", ge=0)
    total_steps: int = hp(10_000, "environment steps (frames) to train for", gt=0)
    num_envs: int = hp(1, "environments stepped in lockstep", ge=1)
    buffer_size: int = hp(1_000_000, "replay capacity in transitions", gt=0)
    batch_size: int = hp(256, "minibatch size of each gradient update", gt=0)
    learning_starts: int = hp(1_000, "uniform-random environment steps (frames) before updates start", ge=0)
    utd: int = hp(1, "gradient updates per update round (per agent step when --update-every is 1)", ge=1)
    update_every: int = hp(1, "agent steps (per env) between update rounds", ge=1)
    action_repeat: int = hp(1, "each agent action is repeated K times in the environment (rewards summed); "
                               "step counts stay in frames, --utd and --update-every in agent steps", ge=1)
    objective: str = hp("discounted", "discounted return, or average reward (differential critic, gamma unused)",
                        choices=("discounted", "average"))
    gamma: float = hp(0.99, "discount factor (discounted objective)", gt=0, le=1)
    avg_reward_rate: float = hp(1e-3, "average objective: step size of the running average reward", gt=0, le=1)
    n_step: int = hp(1, "n-step return length", ge=1)
    eval_every: int = hp(2_000, "environment steps (frames) between evaluations", gt=0)
    eval_episodes: int = hp(10, "deterministic episodes per evaluation", gt=0)
    checkpoint_every: int = hp(10_000, "environment steps (frames) between checkpoints", gt=0)
    log_every: int = hp(1_000, "environment steps (frames) between metric rows", gt=0)
    reset_at: tuple[int, ...] = hp((), "environment steps (frames) at which the agent's parameters and optimizer "
                                       "states are initialised afresh (replay and statistics kept), e.g. BRO's "
                                       "15000 50000 250000 500000 750000", gt=0)
    normalize_obs: bool = hp(False, "normalise observations by their running mean and variance")
    normalize_reward: bool = hp(False, "divide rewards by the running scale of the discounted return (SimbaV2)")
    reward_norm_g_max: float = hp(5.0, "--normalize-reward: the scale is at least max |G| / this, so normalised "
                                       "returns stay within it (SimbaV2's G_max)", gt=0)
    target_return: float | None = hp(None, "stop at the first evaluation whose mean return reaches this")

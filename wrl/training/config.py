"""The training configuration shared by every algorithm (the agent's own config sits beside it)."""

from __future__ import annotations

from dataclasses import dataclass

from wrl.config import hp


@dataclass(frozen=True)
class TrainConfig:
    algo: str = hp("wpo", "algorithm: wpo, wppg, wgf-direct, wgf-indirect, sac, td3")
    env: str = hp("gym:Pendulum-v1", "environment id: gym:<id> or dmc:<domain>-<task>")
    env_module: str = hp("", "comma-separated modules to import first (they register Gymnasium envs)")
    seed: int = hp(0, "random seed (same seed, same machine: same numbers)", ge=0)
    total_steps: int = hp(10_000, "environment steps to train for", gt=0)
    num_envs: int = hp(1, "environments stepped in lockstep", ge=1)
    buffer_size: int = hp(1_000_000, "replay capacity in transitions", gt=0)
    batch_size: int = hp(256, "minibatch size of each gradient update", gt=0)
    learning_starts: int = hp(1_000, "uniform-random steps before updates start", ge=0)
    utd: int = hp(1, "gradient updates per update round (per environment step when --update-every is 1)", ge=1)
    update_every: int = hp(1, "environment steps (per env) between update rounds", ge=1)
    objective: str = hp("discounted", "discounted return, or average reward (differential critic, gamma unused)",
                        choices=("discounted", "average"))
    gamma: float = hp(0.99, "discount factor (discounted objective)", gt=0, le=1)
    avg_reward_rate: float = hp(1e-3, "average objective: step size of the running average reward", gt=0, le=1)
    n_step: int = hp(1, "n-step return length", ge=1)
    eval_every: int = hp(2_000, "environment steps between evaluations", gt=0)
    eval_episodes: int = hp(10, "deterministic episodes per evaluation", gt=0)
    checkpoint_every: int = hp(10_000, "environment steps between checkpoints", gt=0)
    log_every: int = hp(1_000, "environment steps between metric rows", gt=0)
    target_return: float | None = hp(None, "stop at the first evaluation whose mean return reaches this")

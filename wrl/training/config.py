"""The training configuration shared by every algorithm (the agent's own config sits beside it).

Step counts (``total_steps``, ``learning_starts``, ``eval_every``, ``checkpoint_every``, ``log_every``,
``reset_at``) are environment frames summed over the environments: with ``action_repeat`` K and ``num_envs`` n,
each agent step is n K frames (as DrQ, TD-MPC and SimbaV2 count). ``utd`` and ``update_every`` count agent
steps: one replay transition per agent step and environment, ``utd`` updates per agent step and environment.

A config is built for its algorithm: ``TrainConfig(algo="wpo")`` carries WPO's own training defaults (n-step 5),
``TrainConfig(algo="wgf-indirect")`` the indirect particle method's (32 environments, ...), the settings that
``wrl train --algo NAME`` starts from. A field declared with :func:`algo_hp` and not given (or given as None)
takes the algorithm's default (its module's ``TRAIN_DEFAULTS``; on the average objective the n-step length stays
the shared one, see :data:`DISCOUNTED_ONLY`), else the shared default of the declaration. ``dataclasses.replace``
keeps the values a config already holds: build a new config to change the algorithm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from wrl.config import hp

# The training defaults of an algorithm that hold on the discounted objective only: on the average one every
# algorithm starts from the shared n-step length (1). The later terms of an n-step differential return are the
# behaviour policy's rewards, uncorrected, and no discount shrinks them: WPO at its n-step 5 misses the LQR optimum
# that n-step 1 reaches (docs/benchmarks/lqr_average_wpo.md). An n-step set by a preset, a file or an option wins.
DISCOUNTED_ONLY = ("n_step",)


def algo_hp(shared: Any, help: str, **constraints: Any) -> Any:
    """A :func:`wrl.config.hp` field whose default depends on the algorithm: left out (None), it is the
    algorithm's ``TRAIN_DEFAULTS`` entry, else ``shared`` (kept in the field's metadata as ``shared``)."""
    f = hp(None, help, **constraints)
    return dataclasses.field(default=None, metadata={**f.metadata, "shared": shared})


def shared_default(name: str) -> Any:
    """The default of TrainConfig field ``name`` shared by every algorithm (before an algorithm's own)."""
    f = TrainConfig.__dataclass_fields__[name]
    return f.metadata["shared"] if "shared" in f.metadata else f.default


def algorithm_train_defaults(algo: str, objective: str = "discounted") -> dict[str, Any]:
    """The training settings in which ``algo`` departs from the shared defaults (its module's ``TRAIN_DEFAULTS``),
    without those of :data:`DISCOUNTED_ONLY` on the average objective; none for a name that is not a registered
    algorithm (which :func:`wrl.training.trainer.validate_configs` reports)."""
    from wrl.agents import ALGOS, train_defaults

    if algo not in ALGOS:
        return {}
    own = train_defaults(algo)
    return {k: v for k, v in own.items() if k not in DISCOUNTED_ONLY} if objective == "average" else own


@dataclass(frozen=True)
class TrainConfig:
    algo: str = hp("wpo", "the algorithm (any of wrl.agents.ALGOS)")
    env: str = hp("gym:Pendulum-v1", "environment id: gym:<id> or dmc:<domain>-<task>")
    env_module: str = hp("", "comma-separated modules to import first (they register Gymnasium envs)")
    seed: int = hp(0, "random seed (same seed, same machine: same numbers)", ge=0)
    total_steps: int = hp(10_000, "environment steps (frames) to train for, rounded up to a whole step of the "
                                  "--num-envs environments (x --action-repeat; the run says so when it is)", gt=0)
    num_envs: int = algo_hp(1, "environments stepped in lockstep", ge=1)
    buffer_size: int = algo_hp(1_000_000, "replay capacity in transitions", gt=0)
    batch_size: int = hp(256, "minibatch size of each gradient update", gt=0)
    learning_starts: int = algo_hp(1_000, "uniform-random environment steps (frames) before updates start", ge=0)
    utd: int = hp(1, "gradient updates per update round (per agent step when --update-every is 1)", ge=1)
    update_every: int = algo_hp(1, "agent steps (per env) between update rounds", ge=1)
    action_repeat: int = hp(1, "each agent action is repeated K times in the environment (rewards summed); "
                               "step counts stay in frames, --utd and --update-every in agent steps", ge=1)
    objective: str = hp("discounted", "discounted return, or average reward (differential critic, gamma unused)",
                        choices=("discounted", "average"))
    gamma: float = hp(0.99, "discount factor (discounted objective)", gt=0, le=1)
    avg_reward_rate: float = hp(1e-3, "average objective: step size of the running average reward", gt=0, le=1)
    n_step: int = algo_hp(1, "n-step return length", ge=1)
    eval_every: int = hp(2_000, "environment steps (frames) between evaluations", gt=0)
    eval_episodes: int = algo_hp(10, "deterministic episodes per evaluation", gt=0)
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

    def __post_init__(self) -> None:
        own = algorithm_train_defaults(self.algo, self.objective)
        for f in dataclasses.fields(self):
            if "shared" in f.metadata and getattr(self, f.name) is None:
                object.__setattr__(self, f.name, own.get(f.name, f.metadata["shared"]))

    def frames_run(self) -> int:
        """The environment steps (frames) the run takes: ``total_steps`` rounded up to a multiple of ``num_envs``
        x ``action_repeat``, the frames of one step of the environment vector (the trainer never steps part of
        it)."""
        per_step = self.num_envs * self.action_repeat
        return -(-self.total_steps // per_step) * per_step

    def rounding_note(self) -> str | None:
        """One line when :meth:`frames_run` exceeds ``total_steps`` (``--total-steps 300`` with 32 environments
        runs 320 frames), else None."""
        run = self.frames_run()
        if run == self.total_steps:
            return None
        repeat = f" x --action-repeat {self.action_repeat}" if self.action_repeat > 1 else ""
        return (f"--total-steps {self.total_steps} runs as {run} environment steps: each step of the "
                f"{self.num_envs} environments{repeat} is {self.num_envs * self.action_repeat} frames; give a "
                f"multiple of {self.num_envs * self.action_repeat} to run exactly that many")

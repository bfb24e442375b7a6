"""A trained policy to use outside wrl: :class:`Policy`, actions in the environment's own units.

wrl's agents act in [-1, 1] (every environment is wrapped so that its Box action space is rescaled there, see
:func:`wrl.envs.make_env`). ``Policy.predict`` maps those actions back onto the environment's Box, so they can be
fed to ``gym.make(...)`` as it is::

    policy = wrl.Policy.load("runs/x")          # a run directory, or a file written by Policy.save
    env = gymnasium.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, _ = env.step(policy.predict(obs))

A policy file (``Policy.save``) is an ``.npz`` archive of arrays and JSON metadata (the run's configuration, the
action bounds), never pickled code, like a run's checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from wrl import config as C
from wrl.errors import CheckpointError, ConfigError

POLICY_KIND = "wrl-policy"
EVAL_SEED = 12345  # the first episode's seed of `wrl eval` and Policy.evaluate (episode i: seed + i)


def to_env_units(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Actions in [-1, 1] mapped linearly onto the Box [low, high] (the inverse of the rescaling the agents train
    behind, Gymnasium's ``RescaleAction``)."""
    a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
    return low + (high - low) * (a + 1.0) / 2.0


def _env_bounds(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The Box bounds of the environment's own action space."""
    from wrl.envs.make import _make_raw

    env = _make_raw(env_id, None)
    try:
        return np.asarray(env.action_space.low, np.float64), np.asarray(env.action_space.high, np.float64)
    finally:
        env.close()


@dataclasses.dataclass
class Policy:
    """The deterministic policy of a trained run (the one its evaluations measure).

    ``predict(obs)`` returns actions in the environment's units; ``predict_normalised(obs)`` the agent's own
    actions in [-1, 1] (what :func:`wrl.training.trainer.load_policy` returns). Observations are the
    environment's (flattened to one vector when they are not one already, as wrl does); a single observation
    gives one action, a batch (leading axis) a batch. A run trained with ``--action-repeat K`` repeats each
    action K times in its environment.
    """

    config: Any  # TrainConfig of the run
    agent_config: Any
    params: Any  # (agent state, observation moments or None): what the deterministic action needs
    low: np.ndarray  # the environment's action bounds
    high: np.ndarray
    env_steps: int  # environment steps the policy was trained for
    obs_dim: int
    _act: Any = dataclasses.field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """The policy of a run directory (its checkpoint), of a checkpoint file, or of a file written by
        :meth:`save`."""
        from wrl.agents import config_class
        from wrl.checkpoint import load_tree, read_meta
        from wrl.runs import CHECKPOINT
        from wrl.training.config import TrainConfig

        path = Path(path)
        file = path / CHECKPOINT if path.is_dir() else path
        if not file.exists():
            raise CheckpointError(f"{path} is neither a run directory with a checkpoint nor a policy file; give "
                                  "the directory of a trained run or a file written by Policy.save")
        meta = read_meta(file)
        try:
            cfg = C.from_dict(TrainConfig, meta["config"])
            agent_cfg = C.from_dict(config_class(cfg.algo), meta["agent_config"])
        except (KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f"{file} has a config this wrl cannot read ({e}); use the wrl version that wrote "
                                  "it") from None
        from wrl.envs import import_env_modules

        import_env_modules(cfg.env_module)
        if meta.get("kind") == POLICY_KIND:
            low, high, steps = np.asarray(meta["low"]), np.asarray(meta["high"]), int(meta["env_steps"])
            obs_dim = int(meta["obs_dim"])
        else:
            from wrl.envs import env_spec

            low, high = _env_bounds(cfg.env)
            steps, obs_dim = int(meta["host"]["env_steps"]), env_spec(cfg.env).obs_dim
        tree = load_tree(file, _template(cfg, agent_cfg, obs_dim, low.size), "state/")
        return cls(cfg, agent_cfg, (tree["agent"], tree["obs_moments"]), low, high, steps, obs_dim)

    def predict_normalised(self, obs: Any) -> np.ndarray:
        """The agent's deterministic action(s) in [-1, 1] for ``obs`` (one observation or a batch)."""
        import jax.numpy as jnp

        if self._act is None:
            from wrl.agents import make_agent
            from wrl.training.step import make_act_deterministic

            self._act = make_act_deterministic(make_agent(self.config.algo, self.agent_config, self.obs_dim,
                                                          self.low.size))
        x = np.asarray(obs, np.float32)
        single = x.ndim <= 1
        batch = x.reshape(1, -1) if single else x.reshape(x.shape[0], -1)
        if batch.shape[1] != self.obs_dim:
            raise ConfigError(f"observations of size {batch.shape[1]} given; this policy ({self.config.env}) takes "
                              f"{self.obs_dim}")
        actions = np.asarray(self._act(self.params, jnp.asarray(batch)))
        return actions[0] if single else actions

    def predict(self, obs: Any) -> np.ndarray:
        """The deterministic action(s) for ``obs`` in the environment's units: [-1, 1] rescaled onto its action
        Box, ready for ``env.step``."""
        return to_env_units(self.predict_normalised(obs), self.low, self.high).astype(np.float32)

    def evaluate(self, env_id: str | None = None, episodes: int = 10, seed: int = EVAL_SEED) -> np.ndarray:
        """Undiscounted returns of ``episodes`` deterministic episodes (seeds ``seed``, ``seed + 1``, ...) on
        ``env_id`` (default: the run's environment; ``gym:ID``, ``dmc:DOMAIN-TASK``, or a bare Gymnasium id), as
        ``wrl eval`` measures them."""
        from wrl.envs import make_env
        from wrl.training.evaluate import evaluate

        env_id = env_id or self.config.env
        if ":" not in env_id:
            env_id = f"gym:{env_id}"
        if episodes <= 0:
            raise ConfigError(f"episodes must be > 0 (got {episodes})")
        envs = [make_env(env_id, action_repeat=self.config.action_repeat) for _ in range(episodes)]
        try:
            return evaluate(self.predict_normalised, envs, [seed + i for i in range(episodes)])
        finally:
            for env in envs:
                env.close()

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the policy alone (parameters and configuration, no replay) to ``path`` (``.npz`` added when
        missing); :meth:`load` reads it back. Arrays and JSON only, written atomically; an existing file is
        replaced only with ``overwrite``."""
        import wrl
        from wrl.checkpoint import save_checkpoint

        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        if path.is_dir():
            raise ConfigError(f"{path} is a directory; give a file name for the policy")
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} exists; give another name, or overwrite=True to replace it")
        meta = {"kind": POLICY_KIND, "version": wrl.__version__, "config": C.to_dict(self.config),
                "agent_config": C.to_dict(self.agent_config), "low": self.low.tolist(), "high": self.high.tolist(),
                "env_steps": self.env_steps, "obs_dim": self.obs_dim, "algo": self.config.algo,
                "env": self.config.env}
        save_checkpoint(path, {"agent": self.params[0], "obs_moments": self.params[1]}, {}, meta)
        return path


def _template(cfg: Any, agent_cfg: Any, obs_dim: int, act_dim: int) -> Any:
    """The shapes of (agent state, observation moments) of a run, without computing them."""
    import jax

    from wrl.agents import make_agent
    from wrl.running_moments import moments_init

    agent = make_agent(cfg.algo, agent_cfg, obs_dim, act_dim)
    agent_state = jax.eval_shape(agent.init, jax.random.key(0))
    moments = jax.eval_shape(lambda: moments_init(obs_dim)) if cfg.normalize_obs else None
    return {"agent": agent_state, "obs_moments": moments}

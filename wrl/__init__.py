"""wrl: Wasserstein reinforcement learning in JAX.

The library in four names, imported on first use::

    import wrl

    cfg, agent_cfg = wrl.configs("wpo", env="gym:Pendulum-v1", total_steps=10_000)  # as `wrl train` builds them
    summary = wrl.train(cfg, agent_cfg, "runs/x")  # the run directory of `wrl train`, learning curve included
    policy = wrl.Policy.load("runs/x")             # predict(obs): actions in the environment's units
    returns = policy.evaluate(episodes=10)

``wrl.TrainConfig(algo=...)`` is the training config with that algorithm's defaults.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("wrl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from wrl.errors import (
    CheckpointError,
    ConfigError,
    DivergenceError,
    EnvError,
    Interrupted,
    MissingDependencyError,
    RunDirError,
    WriteError,
    WrlError,
)

# name -> module, imported on first use (importing wrl stays cheap: no JAX until one is used)
_LAZY = {"configs": "wrl.training.options", "train": "wrl.training.trainer", "Policy": "wrl.policy",
         "TrainConfig": "wrl.training.config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wrl' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ConfigError",
    "DivergenceError",
    "EnvError",
    "Interrupted",
    "MissingDependencyError",
    "Policy",
    "RunDirError",
    "TrainConfig",
    "WriteError",
    "WrlError",
    "__version__",
    "configs",
    "train",
]

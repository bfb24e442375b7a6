"""Agents by name. Each module has a ``*Config`` dataclass and ``make_agent(cfg, obs_dim, act_dim)``."""

from __future__ import annotations

import importlib
from typing import Any

from wrl.agents.base import Agent, Preset
from wrl.errors import ConfigError

# name -> (module, config class)
ALGOS: dict[str, tuple[str, str]] = {
    "sac": ("wrl.agents.sac", "SACConfig"),
    "td3": ("wrl.agents.td3", "TD3Config"),
    "wpo": ("wrl.agents.wpo", "WPOConfig"),
    "wppg": ("wrl.agents.wppg", "WPPGConfig"),
    "wgf-direct": ("wrl.agents.wgf_direct", "WGFDirectConfig"),
    "wgf-indirect": ("wrl.agents.wgf_indirect", "WGFIndirectConfig"),
}


def _module(algo: str):
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    return importlib.import_module(ALGOS[algo][0])


def config_class(algo: str) -> type:
    return getattr(_module(algo), ALGOS[algo][1])


def presets(algo: str) -> dict[str, Preset]:
    """The named presets of ``algo`` (its module's ``PRESETS``), possibly none."""
    return dict(getattr(_module(algo), "PRESETS", {}))


def train_defaults(algo: str) -> dict[str, Any]:
    """Training settings in which ``algo`` departs from the shared defaults (its module's ``TRAIN_DEFAULTS``; on
    the average objective :func:`wrl.training.options.algorithm_train_defaults` drops its n-step)."""
    return dict(getattr(_module(algo), "TRAIN_DEFAULTS", {}))


def check_train_config(algo: str, cfg: Any, agent_cfg: Any) -> None:
    """Raise a ConfigError if the training settings do not suit ``algo`` (its module's ``check_train_config``)."""
    check = getattr(_module(algo), "check_train_config", None)
    if check is not None:
        check(cfg, agent_cfg)


def make_agent(algo: str, cfg: Any, obs_dim: int, act_dim: int) -> Agent:
    return _module(algo).make_agent(cfg, obs_dim, act_dim)


__all__ = ["ALGOS", "Agent", "Preset", "check_train_config", "config_class", "make_agent", "presets",
           "train_defaults"]

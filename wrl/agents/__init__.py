"""Agents by name. Each module has a ``*Config`` dataclass and ``make_agent(cfg, obs_dim, act_dim)``."""

from __future__ import annotations

import dataclasses
from typing import Any

from wrl.agents.base import Agent, Preset
from wrl.critics import CriticConfig
from wrl.critics.presets import CRITIC_PRESETS
from wrl.registry import Entry, Registry

ALGOS = Registry("algorithm", {
    "sac": Entry("wrl.agents.sac", "soft actor-critic (baseline)", "SACConfig"),
    "td3": Entry("wrl.agents.td3", "twin delayed DDPG (baseline)", "TD3Config"),
    "wpo": Entry("wrl.agents.wpo", "Wasserstein Policy Optimization", "WPOConfig"),
    "wppg": Entry("wrl.agents.wppg", "Wasserstein Proximal Policy Gradient", "WPPGConfig"),
    "wgf-direct": Entry("wrl.agents.wgf_direct", "particle Wasserstein gradient flow in action space",
                        "WGFDirectConfig"),
    "wgf-indirect": Entry("wrl.agents.wgf_indirect", "particle Wasserstein gradient flow over policies",
                          "WGFIndirectConfig"),
})



def config_class(algo: str) -> type:
    return ALGOS.config_class(algo)


def presets(algo: str) -> dict[str, Preset]:
    """The named presets of ``algo``: its module's ``PRESETS`` and, for an agent with a critic, the frontier critics'
    published configurations (:data:`wrl.critics.presets.CRITIC_PRESETS`; settings the agent lacks, such as an
    actor delay, are left out)."""
    own = dict(getattr(ALGOS.load(algo), "PRESETS", {}))
    cls = config_class(algo)
    if issubclass(cls, CriticConfig):
        names = {f.name for f in dataclasses.fields(cls)}
        for name, preset in CRITIC_PRESETS.items():
            own.setdefault(name, dataclasses.replace(
                preset, agent={k: v for k, v in preset.agent.items() if k in names}))
    return own


def train_defaults(algo: str) -> dict[str, Any]:
    """Training settings in which ``algo`` departs from the shared defaults (its module's ``TRAIN_DEFAULTS``; on
    the average objective :func:`wrl.training.options.algorithm_train_defaults` drops its n-step)."""
    return dict(getattr(ALGOS.load(algo), "TRAIN_DEFAULTS", {}))


def unused_train_settings(algo: str) -> dict[str, str]:
    """Training settings that ``algo`` does not use, each with why (its module's ``UNUSED_TRAIN_SETTINGS``):
    given explicitly, they are an error."""
    return dict(getattr(ALGOS.load(algo), "UNUSED_TRAIN_SETTINGS", {}))


def check_train_config(algo: str, cfg: Any, agent_cfg: Any) -> None:
    """Raise a ConfigError if the training settings do not suit ``algo`` (its module's ``check_train_config``)."""
    check = getattr(ALGOS.load(algo), "check_train_config", None)
    if check is not None:
        check(cfg, agent_cfg)


def make_agent(algo: str, cfg: Any, obs_dim: int, act_dim: int) -> Agent:
    return ALGOS.load(algo).make_agent(cfg, obs_dim, act_dim)


__all__ = ["ALGOS", "Agent", "Preset", "check_train_config", "config_class", "make_agent", "presets",
           "train_defaults", "unused_train_settings"]

"""Settings to configurations: the one place where the layers of a training run's settings are resolved.

The command line (`wrl train`), suites, sweeps and library users all turn settings into a
(:class:`~wrl.training.config.TrainConfig`, agent config) pair here. Layers, each later one winning:

1. the shared ``TrainConfig`` defaults;
2. the algorithm's own training defaults (its module's ``TRAIN_DEFAULTS``), less those that hold on the discounted
   objective only (``DISCOUNTED_ONLY``: the n-step length) when any later layer sets ``objective = "average"``;
3. a named preset of the algorithm (``PRESETS``);
4. a settings file: a flat TOML or JSON table of field names (e.g. the ``best.toml`` of a sweep);
5. the settings given explicitly.

Settings are field names of ``TrainConfig`` and of the agents' configs; an agent setting that belongs to
another algorithm than the one chosen is an error naming it, as is an unknown name.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wrl.agents import ALGOS, config_class, presets, train_defaults
from wrl.errors import ConfigError
from wrl.training.config import TrainConfig

# The training defaults of an algorithm that hold on the discounted objective only: on the average one every
# algorithm starts from the shared n-step length (1). The later terms of an n-step differential return are the
# behaviour policy's rewards, uncorrected, and no discount shrinks them: WPO at its n-step 5 misses the LQR optimum
# that n-step 1 reaches (docs/benchmarks/lqr_average_wpo.md). An n-step set by a preset, a file or an option wins.
DISCOUNTED_ONLY = ("n_step",)


def algorithm_train_defaults(algo: str, objective: str = "discounted") -> dict[str, Any]:
    """Layer 2 on ``objective``: the training settings in which ``algo`` departs from the shared defaults (its
    module's ``TRAIN_DEFAULTS``), without those of ``DISCOUNTED_ONLY`` on the average objective."""
    own = train_defaults(algo)
    return {k: v for k, v in own.items() if k not in DISCOUNTED_ONLY} if objective == "average" else own


def objective_default_notes(algo: str) -> dict[str, str]:
    """For the help of ``wrl train``: the defaults of ``algo`` that the average objective changes, e.g.
    ``{"n_step": "1 with --objective average"}``."""
    own, shared = train_defaults(algo), TrainConfig()
    return {k: f"{getattr(shared, k)!r} with --objective average" for k in DISCOUNTED_ONLY
            if k in own and own[k] != getattr(shared, k)}


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _plain(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """The settings of a file: a flat TOML (or ``.json``) table of ``TrainConfig`` and agent config field names,
    e.g. ``algo = "sac"``, ``env = "gym:Hopper-v5"``, ``actor_lr = 1e-3``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path} does not exist; give a TOML or JSON file of wrl train settings")
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path} cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a table of settings")
    return data


def split_settings(data: Mapping[str, Any], cls: type, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``TrainConfig`` fields, ``cls`` fields) of a table of settings; a name that is neither is an error."""
    train_fields, agent_fields = _field_names(TrainConfig), _field_names(cls)
    unknown = set(data) - train_fields - agent_fields
    if unknown:
        raise ConfigError(f"{source} has settings that are neither training nor {cls.__name__} options: "
                          f"{', '.join(sorted(unknown))}")
    return ({k: _plain(v) for k, v in data.items() if k in train_fields},
            {k: _plain(v) for k, v in data.items() if k in agent_fields})


def agent_field_names() -> set[str]:
    """Every field name of every agent's config."""
    return set().union(*(_field_names(config_class(a)) for a in ALGOS))


def default_train_config(algo: str, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` for ``algo``: layers 1-2 on the objective of ``overrides``, then ``overrides``."""
    ALGOS.check(algo)
    objective = overrides.get("objective", TrainConfig().objective)
    return dataclasses.replace(TrainConfig(), algo=algo, **{**algorithm_train_defaults(algo, objective), **overrides})


def resolve(given: Mapping[str, Any] | None = None, *, preset: str | None = None,
            file: str | Path | None = None) -> tuple[TrainConfig, Any]:
    """(TrainConfig, agent config) from the layers of the module docstring: ``given`` holds the settings given
    explicitly (field names; None values are not given), ``preset`` names a preset of the algorithm, ``file``
    is a settings file. The algorithm is ``given['algo']``, else the file's, else the default."""
    given = {k: _plain(v) for k, v in (given or {}).items() if v is not None}
    unknown = set(given) - _field_names(TrainConfig) - agent_field_names()
    if unknown:
        raise ConfigError(f"unknown settings {', '.join(sorted(unknown))}; see `wrl train --help`")
    table = read_settings_file(file) if file else {}
    algo = given.get("algo") or table.get("algo") or TrainConfig().algo
    ALGOS.check(algo)
    cls = config_class(algo)
    available = presets(algo)
    if preset is not None and preset not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(f"--algo {algo} has no preset {preset!r}; its presets: {names}")
    chosen = available.get(preset) if preset else None
    file_train, file_agent = split_settings({k: v for k, v in table.items() if k != "algo"}, cls,
                                            f"--config {file or ''}")
    given_train = {k: v for k, v in given.items() if k in _field_names(TrainConfig)}
    given_agent = {k: v for k, v in given.items() if k in agent_field_names()}
    # the algorithm's defaults may depend on the objective, which any later layer may set
    preset_train = chosen.train if chosen else {}
    objective = {**preset_train, **file_train, **given_train}.get("objective")
    train_base = dataclasses.replace(
        default_train_config(algo, **{**preset_train, **({"objective": objective} if objective else {})}),
        **file_train)
    cfg = dataclasses.replace(train_base, **given_train)
    foreign = set(given_agent) - _field_names(cls)
    if foreign:
        opts = ", ".join("--" + n.replace("_", "-") for n in sorted(foreign))
        verb = "does" if len(foreign) == 1 else "do"
        raise ConfigError(f"{opts} {verb} not apply to --algo {cfg.algo}; drop them or choose the algorithm they "
                          "belong to")
    agent_base = dataclasses.replace(cls(), **{**(chosen.agent if chosen else {}), **file_agent})
    return cfg, dataclasses.replace(agent_base, **given_agent)

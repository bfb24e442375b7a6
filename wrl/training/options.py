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
another algorithm than the one chosen is an error naming it, as is an unknown name (with the closest valid ones).
A field's old name (one its config's ``upgrade`` maps, :func:`wrl.config.upgrade`) is read as the new one.

From Python, :func:`configs` is this resolution with keyword settings (``wrl.configs``); ``wrl train`` calls it
too, so a config built either way is the same.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wrl.agents import ALGOS, config_class, presets, train_defaults, unused_train_settings
from wrl.config import option_name, unknown_names, upgrade, validate
from wrl.errors import ConfigError
from wrl.training.config import DISCOUNTED_ONLY, TrainConfig, algorithm_train_defaults, shared_default

__all__ = ["DISCOUNTED_ONLY", "agent_config", "algorithm_train_defaults", "configs", "default_train_config",
           "resolve"]


def objective_default_notes(algo: str) -> dict[str, str]:
    """For the help of ``wrl train``: the defaults of ``algo`` that the average objective changes, e.g.
    ``{"n_step": "1 with --objective average"}``."""
    own = train_defaults(algo)
    return {k: f"{shared_default(k)!r} with --objective average" for k in DISCOUNTED_ONLY
            if k in own and own[k] != shared_default(k)}


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
    """(``TrainConfig`` fields, ``cls`` fields) of a table of settings, the old names of ``cls``'s fields read
    through its upgrade (:func:`wrl.config.upgrade`); a name that is neither is an error."""
    train_fields, agent_fields = _field_names(TrainConfig), _field_names(cls)
    agent = upgrade(cls, {k: v for k, v in data.items() if k not in train_fields})
    unknown = set(agent) - agent_fields
    if unknown:
        raise unknown_names(unknown, train_fields | agent_fields, f"setting in {source}")
    return ({k: _plain(v) for k, v in data.items() if k in train_fields},
            {k: _plain(v) for k, v in agent.items()})


def agent_field_names() -> set[str]:
    """Every field name of every agent's config."""
    return set().union(*(_field_names(config_class(a)) for a in ALGOS))


def algorithms_with(name: str) -> list[str]:
    """The algorithms whose config has the field ``name``, in the order of ``wrl.agents.ALGOS``."""
    return [a for a in ALGOS if name in _field_names(config_class(a))]


def foreign_settings(names: set[str], algo: str) -> ConfigError:
    """The error for agent settings that ``algo`` does not have: each option with the algorithms that have it and
    the help page that lists it, e.g. ``--eta does not apply to --algo sac: it is an option of wppg (`wrl train
    --algo wppg --help` lists it)``."""
    parts = []
    for name in sorted(names):
        owners = algorithms_with(name)
        parts.append(f"{option_name(name)} is an option of {' and '.join(owners)} "
                     f"(`wrl train --algo {owners[0]} --help` lists it)")
    opts = ", ".join(option_name(n) for n in sorted(names))
    verb = "does" if len(names) == 1 else "do"
    return ConfigError(f"{opts} {verb} not apply to --algo {algo}: {'; '.join(parts)}")


def default_train_config(algo: str, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` for ``algo``: layers 1-2 on the objective of ``overrides``, then ``overrides``."""
    ALGOS.check(algo)
    return TrainConfig(algo=algo, **overrides)


def agent_config(algo: str, settings: Mapping[str, Any] | None = None) -> Any:
    """The agent config of ``algo``: its defaults with ``settings`` (field names) applied and validated; a name
    that is not a field of it is a ConfigError naming the closest ones."""
    ALGOS.check(algo)
    cls = config_class(algo)
    settings = upgrade(cls, {k: _plain(v) for k, v in (settings or {}).items()})
    unknown = set(settings) - _field_names(cls)
    if unknown:
        raise unknown_names(unknown, _field_names(cls), f"{cls.__name__} setting")
    cfg = dataclasses.replace(cls(), **settings)
    validate(cfg)
    return cfg


def configs(algo: str | None = None, *, preset: str | None = None, file: str | Path | None = None,
            **settings: Any) -> tuple[TrainConfig, Any]:
    """(TrainConfig, agent config) for ``algo`` (default: WPO), exactly as ``wrl train --algo ALGO`` builds them:
    the algorithm's own defaults, then ``preset``, the settings ``file``, and ``settings`` (field names of
    ``TrainConfig`` and of the algorithm's config, e.g. ``total_steps=20_000, actor_lr=1e-3``). A name that is
    no setting is a ConfigError naming the closest valid ones; values are validated.

    >>> cfg, agent_cfg = configs("wpo", env="gym:Pendulum-v1", total_steps=5_000)
    >>> cfg.n_step  # WPO's own default, as on the command line
    5
    """
    given = {**settings, **({"algo": algo} if algo is not None else {})}
    cfg, agent_cfg = resolve(given, preset=preset, file=file)
    validate(cfg)
    validate(agent_cfg)
    return cfg, agent_cfg


def resolve(given: Mapping[str, Any] | None = None, *, preset: str | None = None,
            file: str | Path | None = None) -> tuple[TrainConfig, Any]:
    """(TrainConfig, agent config) from the layers of the module docstring: ``given`` holds the settings given
    explicitly (field names; None values are not given), ``preset`` names a preset of the algorithm, ``file``
    is a settings file. The algorithm is ``given['algo']``, else the file's, else the default."""
    given = {k: _plain(v) for k, v in (given or {}).items() if v is not None}
    table = read_settings_file(file) if file else {}
    algo = given.get("algo") or table.get("algo") or shared_default("algo")
    ALGOS.check(algo)
    cls = config_class(algo)
    unknown = set(given) - _field_names(TrainConfig) - agent_field_names()
    if unknown:
        raise unknown_names(unknown, _field_names(TrainConfig) | _field_names(cls), "setting")
    available = presets(algo)
    if preset is not None and preset not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(f"--algo {algo} has no preset {preset!r}; its presets: {names}")
    chosen = available.get(preset) if preset else None
    file_train, file_agent = split_settings({k: v for k, v in table.items() if k != "algo"}, cls,
                                            f"--config {file or ''}")
    given_train = {k: v for k, v in given.items() if k in _field_names(TrainConfig)}
    unused = unused_train_settings(algo)
    ignored = sorted(set(unused) & (set(given_train) | set(file_train)))
    if ignored:
        why = "; ".join(f"{option_name(k)}: {unused[k]}" for k in ignored)
        verb = "does" if len(ignored) == 1 else "do"
        raise ConfigError(f"{', '.join(map(option_name, ignored))} {verb} not apply to --algo {algo} ({why}); "
                          f"drop {'it' if len(ignored) == 1 else 'them'}")
    given_agent = upgrade(cls, {k: v for k, v in given.items() if k in agent_field_names()})  # old names too
    # the algorithm's defaults may depend on the objective, which any later layer may set
    preset_train = chosen.train if chosen else {}
    objective = {**preset_train, **file_train, **given_train}.get("objective")
    train_base = dataclasses.replace(
        default_train_config(algo, **{**preset_train, **({"objective": objective} if objective else {})}),
        **file_train)
    cfg = dataclasses.replace(train_base, **given_train)
    foreign = set(given_agent) - _field_names(cls)
    if foreign:
        raise foreign_settings(foreign, cfg.algo)
    agent_base = dataclasses.replace(cls(), **{**(chosen.agent if chosen else {}), **file_agent})
    return cfg, dataclasses.replace(agent_base, **given_agent)

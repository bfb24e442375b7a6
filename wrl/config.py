"""Config dataclasses: fields with one-line help and bounds, validation, JSON round trip.

A field is declared with :func:`hp`, e.g. ``lr: float = hp(3e-4, "learning rate", gt=0)``. The same
metadata validates values (``gt``, ``ge``, ``le``, ``lt``, ``choices``; each element of a tuple) and, on the
command line's side, generates ``--lr`` options (``wrl.lab.cli.add_options``). Four more keys only shape the
command line: ``positional=True`` (an argument named by the field, not an option), ``nargs`` (``"+"``: a tuple
field takes one value or more; the default ``"*"`` allows none), ``metavar`` (the placeholder shown in
``--help``) and ``exclusive`` (options sharing one such name cannot be given together); ``cli=False`` keeps a
field off the command line. ``hp(REQUIRED, ...)`` declares a field without a default (a required option or
argument).

Recorded configs (``to_dict`` written by an older wrl) are read through :func:`upgrade`: a config class that
replaced some of its fields provides a static ``upgrade(data) -> data`` that maps the old keys onto today's (e.g.
:meth:`wrl.agents.wpo.WPOConfig.upgrade`), the one place where that mapping lives.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from wrl.errors import ConfigError

# hp(REQUIRED, ...): a field without a default
REQUIRED: Any = dataclasses.MISSING

CLI_KEYS = ("positional", "nargs", "metavar", "exclusive", "cli")


def hp(default: Any, help: str, **constraints: Any) -> Any:
    """A config field with its one-line help, optional bounds (gt, ge, lt, le, choices) and command-line keys
    (positional, nargs, metavar, exclusive, cli; see the module docstring)."""
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults")
    unknown = set(constraints) - {"gt", "ge", "lt", "le", "choices", *CLI_KEYS}
    if unknown:
        raise TypeError(f"unknown hp keys {sorted(unknown)}")
    return dataclasses.field(default=default, metadata={"help": help, **constraints})


def redefault(cls: type, name: str, default: Any) -> Any:
    """Field ``name`` of the config class ``cls`` with another default (same help and bounds), for a subclass
    whose method departs from the shared default: ``critic: str = redefault(CriticConfig, "critic", "layernorm")``."""
    return dataclasses.field(default=default, metadata=cls.__dataclass_fields__[name].metadata)


# words users spell out where wrl's names abbreviate them (learning_rate -> actor_lr, critic_lr, ...)
ABBREVIATIONS = {"learning_rate": "lr", "lr_rate": "lr", "steps": "steps", "environments": "envs",
                 "episodes": "episodes", "nstep": "n_step"}


def closest_names(name: str, valid: Any, n: int = 3) -> list[str]:
    """Up to ``n`` names of ``valid`` closest to ``name``: near spellings, then those sharing a word with it
    (abbreviations as wrl spells them: ``learning_rate`` is ``lr``), shortest first, then looser spellings."""
    import difflib

    valid = sorted(valid)
    short = name
    for long, abbrev in ABBREVIATIONS.items():
        short = short.replace(long, abbrev)
    words = {w for w in short.split("_") if len(w) > 1}
    near = difflib.get_close_matches(short, valid, n=n, cutoff=0.8)
    sharing = sorted((v for v in valid if words & set(v.split("_"))), key=len)
    spelled = difflib.get_close_matches(short, valid, n=n, cutoff=0.5)
    return list(dict.fromkeys([*near, *sharing, *spelled]))[:n]


def unknown_names(unknown: Any, valid: Any, what: str) -> ConfigError:
    """The error for names that are not among ``valid``: names them, the closest valid names first, then every
    valid name, e.g. ``unknown SACConfig setting 'learning_rate' (closest: actor_lr, ...); valid: ...``."""
    unknown, valid = sorted(unknown), sorted(valid)
    close = list(dict.fromkeys(c for name in unknown for c in closest_names(name, valid)))
    plural = "s" if len(unknown) > 1 else ""
    hint = f" (closest: {', '.join(close)})" if close else ""
    return ConfigError(f"unknown {what}{plural} {', '.join(map(repr, unknown))}{hint}; valid: {', '.join(valid)}")


def option_name(name: str) -> str:
    """The command-line option of a field: ``actor_lr`` -> ``--actor-lr``."""
    return "--" + name.replace("_", "-")


def validate(cfg: Any, prefix: str = "", of: type | None = None) -> None:
    """Raise ConfigError naming the first field outside its declared bounds (only the fields of the dataclass
    ``of``, a base of ``cfg``'s class, when given)."""
    for f in dataclasses.fields(of or cfg):
        v = getattr(cfg, f.name)
        m = f.metadata
        opt = f.name if m.get("positional") else option_name(prefix + f.name)
        if v is None:
            continue
        values = v if isinstance(v, tuple) else (v,)
        for x in values:
            if "choices" in m and x not in m["choices"]:
                raise ConfigError(f"{opt} must be one of {', '.join(map(str, m['choices']))} (got {x!r})")
        checks = {"gt": (">", lambda a, b: a > b), "ge": (">=", lambda a, b: a >= b),
                  "lt": ("<", lambda a, b: a < b), "le": ("<=", lambda a, b: a <= b)}
        for x in values:
            if not isinstance(x, int | float) or isinstance(x, bool):
                continue
            if any(k in m and not ok(x, m[k]) for k, (_, ok) in checks.items()):
                bounds = " and ".join(f"{word} {m[k]}" for k, (word, _) in checks.items() if k in m)
                raise ConfigError(f"{opt} must be {bounds} (got {x!r})")


def base_type(tp: Any) -> Any:
    """The type of a field without ``| None``: ``float | None`` -> ``float``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return base_type(args[0])
    return tp


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def upgrade(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """A recorded config of ``cls`` (a :func:`to_dict`, maybe of an older wrl) in today's fields: the ``upgrade``
    of every class in ``cls``'s hierarchy that defines one (bases first; e.g. the critic's, then WPO's) applied to
    a copy. A record that no field of today can express is a ConfigError."""
    data = dict(data)
    for klass in reversed(cls.__mro__):
        hook = klass.__dict__.get("upgrade")
        if hook is not None:
            data = hook(data)
    return data


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict` (of this wrl or, through :func:`upgrade`, an older one); unknown keys are an
    error (a config from another version)."""
    data = upgrade(cls, data)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in data.items():
        if isinstance(v, list) and typing.get_origin(base_type(hints[k])) is tuple:
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


@dataclass(frozen=True)
class Preset:
    """A named set of settings (``wrl train --algo NAME --preset PRESET``); options given explicitly win."""

    help: str
    """One line: where the settings come from."""
    agent: dict[str, Any] = field(default_factory=dict)
    """Agent config fields."""
    train: dict[str, Any] = field(default_factory=dict)
    """TrainConfig fields (batch size, update ratio, n-step, ...)."""

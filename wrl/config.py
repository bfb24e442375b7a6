"""Config dataclasses: fields with one-line help and bounds, validation, JSON round trip.

A field is declared with :func:`hp`, e.g. ``lr: float = hp(3e-4, "learning rate", gt=0)``. The same
metadata validates values (``gt``, ``ge``, ``le``, ``lt``, ``choices``) and, on the command line's side,
generates ``--lr`` options (``wrl.lab.cli``).

Recorded configs (``to_dict`` written by an older wrl) are read through :func:`upgrade`: a config class that
replaced some of its fields provides a static ``upgrade(data) -> data`` that maps the old keys onto today's (e.g.
:meth:`wrl.agents.wpo.WPOConfig.upgrade`), the one place where that mapping lives.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from wrl.errors import ConfigError


def hp(default: Any, help: str, **constraints: Any) -> Any:
    """A config field with its one-line help and optional bounds (gt, ge, lt, le, choices)."""
    if isinstance(default, list | dict | set):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata={"help": help, **constraints})


def option_name(name: str) -> str:
    """The command-line option of a field: ``actor_lr`` -> ``--actor-lr``."""
    return "--" + name.replace("_", "-")


def validate(cfg: Any, prefix: str = "", of: type | None = None) -> None:
    """Raise ConfigError naming the first field outside its declared bounds (only the fields of the dataclass
    ``of``, a base of ``cfg``'s class, when given)."""
    for f in dataclasses.fields(of or cfg):
        v = getattr(cfg, f.name)
        m = f.metadata
        opt = option_name(prefix + f.name)
        if v is None:
            continue
        if "choices" in m and v not in m["choices"]:
            raise ConfigError(f"{opt} must be one of {', '.join(map(str, m['choices']))} (got {v!r})")
        values = v if isinstance(v, tuple) else (v,)
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
    """A recorded config of ``cls`` (a :func:`to_dict`, maybe of an older wrl) in today's fields: ``cls.upgrade``
    applied to a copy where the class provides one, else the copy as it is. A record that no field of today
    can express is a ConfigError."""
    hook = getattr(cls, "upgrade", None)
    return hook(dict(data)) if hook is not None else dict(data)


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

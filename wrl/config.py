"""Config dataclasses: fields with one-line help and bounds, validation, JSON round trip, CLI options.

A field is declared with :func:`hp`, e.g. ``lr: float = hp(3e-4, "learning rate", gt=0)``. The same
metadata validates values (``gt``, ``ge``, ``le``, ``lt``, ``choices``) and generates ``--lr`` options.
"""

from __future__ import annotations

import argparse
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


def _cli_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def validate(cfg: Any, prefix: str = "") -> None:
    """Raise ConfigError naming the first field outside its declared bounds."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        m = f.metadata
        opt = _cli_name(prefix + f.name)
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


def _base_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


def add_options(parser: argparse.ArgumentParser, cls: type, prefix: str = "",
                skip: tuple[str, ...] = (), hidden: bool = False, defaults: dict[str, Any] | None = None,
                default_notes: dict[str, str] | None = None) -> None:
    """One ``--option`` per field of dataclass ``cls``; defaults are left as None (unset).

    ``hidden`` options are parsed but not listed in ``--help``; ``defaults`` replaces the default shown in the
    help for some fields (an algorithm's own training defaults); ``default_notes`` adds to it (e.g. "1 with
    --objective average").
    """
    defaults = defaults or {}
    default_notes = default_notes or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("cli") is False:
            continue
        tp = _base_type(hints[f.name])
        name = _cli_name(prefix + f.name)
        shown = defaults.get(f.name, f.default)
        note = f"; {default_notes[f.name]}" if f.name in default_notes else ""
        help_text = argparse.SUPPRESS if hidden else f"{f.metadata.get('help', '')} (default: {shown!r}{note})"
        kwargs: dict[str, Any] = {"dest": prefix + f.name, "default": None, "help": help_text}
        if tp is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0]
            parser.add_argument(name, type=inner, nargs="*", metavar=inner.__name__.upper(), **kwargs)
            continue
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(name, type=tp, metavar=tp.__name__.upper(), **kwargs)


def from_args(cls: type, args: argparse.Namespace, base: Any | None = None, prefix: str = "") -> Any:
    """Build ``cls`` from parsed options, starting from ``base`` (or the defaults)."""
    base = base if base is not None else cls()
    changes = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, prefix + f.name, None)
        if v is not None:
            changes[f.name] = tuple(v) if isinstance(v, list) else v
    return dataclasses.replace(base, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict`; unknown keys are an error (a config from another version)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in data.items():
        if isinstance(v, list) and typing.get_origin(_base_type(hints[k])) is tuple:
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)

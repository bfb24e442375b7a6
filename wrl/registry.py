"""Registries of named modules, imported on first use: the algorithms (:data:`wrl.agents.ALGOS`) and, in the
lab, the ``wrl flow`` and ``wrl bench`` commands.

An entry names a module, says in one line what it is, and names the module's settings dataclass (an agent's
``*Config``, a command's ``Options``).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType

from wrl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Entry:
    module: str  # dotted module path, imported on first use
    help: str  # one line, for listings and --help
    config: str = "Options"  # the module's settings dataclass


class Registry(Mapping[str, Entry]):
    """Names -> :class:`Entry`, in the order given; ``kind`` names the things registered in error messages."""

    def __init__(self, kind: str, entries: Mapping[str, Entry]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name: str) -> None:
        """ConfigError unless ``name`` is registered."""
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {', '.join(sorted(self._entries))}")

    def load(self, name: str) -> ModuleType:
        """The module of ``name`` (imported now)."""
        self.check(name)
        return importlib.import_module(self._entries[name].module)

    def config_class(self, name: str) -> type:
        """The settings dataclass of ``name``."""
        return getattr(self.load(name), self._entries[name].config)

"""Optional dependencies: each one belongs to an extra of the package (``pip install -e '.[EXTRA]'``).

The library imports them only inside the functions that need them. :func:`require` imports one and, when
it is missing, raises :class:`~wrl.errors.MissingDependencyError` with one line naming what needed it and
the command that installs it; :func:`ensure` raises the same error without importing anything (a command
checks before it starts a long computation), and :func:`is_installed` lets a step that is not essential
(a figure) be skipped with one line built from :func:`install_hint`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from wrl.errors import MissingDependencyError

__all__ = ["EXTRAS", "ensure", "install_hint", "is_installed", "require"]

# top-level module -> (distribution to install, extra of wrl that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "dm_control": ("dm_control", "dmc"),
    "matplotlib": ("matplotlib", "plots"),
    "ott": ("ott-jax", "ot"),
    "rliable": ("rliable", "bench"),
}


def install_hint(module: str) -> str:
    """The command that installs ``module`` through its extra, e.g. ``pip install -e '.[plots]'``."""
    return f"pip install -e '.[{EXTRAS[module][1]}]'"


def _message(module: str, what: str) -> str:
    return f"{what} needs {EXTRAS[module][0]}, which is not installed: {install_hint(module)}"


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported (it is found; nothing is imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def ensure(module: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` (``what`` needs ``module``, and how to install it) when
    ``module`` is not installed. Nothing is imported."""
    if not is_installed(module):
        raise MissingDependencyError(_message(module, what))


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` (a name from :data:`EXTRAS`, or one of its submodules); when its package is not
    installed, raise :class:`MissingDependencyError` saying that ``what`` needs it and how to install it.
    Any other import failure (an installed package that is broken) propagates unchanged."""
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        if is_installed(top):  # installed but broken (a module of its own or of a dependency is missing)
            raise
        raise MissingDependencyError(_message(top, what)) from None

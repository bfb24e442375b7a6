"""Shared pieces of the ``wrl flow`` commands: output directory, options, animated GIFs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wrl.errors import ConfigError, RunDirError

__all__ = ["add_out_options", "add_typed_options", "check_positive", "prepare_out_dir", "save_gif"]


def prepare_out_dir(out: str, overwrite: bool) -> Path:
    """Create the output directory; refuse an existing non-empty one unless overwrite (files are replaced)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} exists and is not a directory; choose another --out")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RunDirError(f"output directory {path} already exists and is not empty; pass --overwrite to replace "
                          "its plots or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_out_options(parser: Any, default_out: str) -> None:
    """``--out DIR`` (default ``default_out``) and ``--overwrite``."""
    parser.add_argument("--out", type=Path, default=Path(default_out), help="output directory (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")


def add_typed_options(parser: Any, options: list[tuple[str, type, Any, str]]) -> None:
    """One option per (flag, type, default, help) row, the default shown in the help."""
    for flag, kind, default, text in options:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: %(default)s)")


def save_gif(path: Path, fig: Any, update: Callable[[int], None], n_frames: int, fps: int = 12) -> None:
    """Render update(i) for i < n_frames into an animated GIF (matplotlib + Pillow)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    anim = FuncAnimation(fig, update, frames=n_frames, blit=False)
    anim.save(str(path), writer=PillowWriter(fps=fps))


def check_positive(name: str, value: float | int | None, allow_zero: bool = False) -> None:
    """ConfigError unless value > 0 (or >= 0 with allow_zero); None passes (means automatic)."""
    if value is None:
        return
    if not (value >= 0 if allow_zero else value > 0):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}; pass a valid {name}")

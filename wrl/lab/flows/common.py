"""Shared pieces of the ``wrl flow`` commands: output directory, options, animated GIFs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wrl.config import hp
from wrl.errors import RunDirError

__all__ = ["out_option", "overwrite_option", "prepare_out_dir", "save_gif"]


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


def out_option(default: str) -> Any:
    """The field of ``--out DIR``."""
    return hp(default, "output directory for plots and summary.json", metavar="DIR")


def overwrite_option() -> Any:
    """The field of ``--overwrite``."""
    return hp(False, "replace the plots in an existing, non-empty --out")


def save_gif(path: Path, fig: Any, update: Callable[[int], None], n_frames: int, fps: int = 12) -> None:
    """Render update(i) for i < n_frames into an animated GIF (matplotlib + Pillow)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    anim = FuncAnimation(fig, update, frames=n_frames, blit=False)
    anim.save(str(path), writer=PillowWriter(fps=fps))

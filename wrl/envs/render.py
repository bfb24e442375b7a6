"""Choose an offscreen MuJoCo rendering backend before MuJoCo or dm_control is imported.

Without a display, GLFW cannot open a context. OSMesa renders on the CPU when ``libOSMesa`` is installed
(``apt-get install libosmesa6``); otherwise rendering is disabled and :func:`rendering_unavailable_reason`
says why, so ``wrl eval`` can report it instead of failing.
"""

from __future__ import annotations

import ctypes.util
import os


def configure_offscreen_rendering() -> None:
    """Set ``MUJOCO_GL``/``PYOPENGL_PLATFORM`` when the user has not, and there is no display.

    Called where wrl builds an environment (not when wrl is imported): the variables are read when MuJoCo
    and dm_control are first imported.
    """
    if "MUJOCO_GL" in os.environ or os.environ.get("DISPLAY"):
        return
    if ctypes.util.find_library("OSMesa"):
        os.environ["MUJOCO_GL"] = "osmesa"
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    else:
        os.environ["MUJOCO_GL"] = "disable"


def rendering_unavailable_reason() -> str | None:
    """None when offscreen rendering should work, else a one-line reason with the fix."""
    configure_offscreen_rendering()
    backend = os.environ.get("MUJOCO_GL", "")
    if backend.lower() in ("off", "disable", "disabled", "false", "0"):
        return ("offscreen rendering is unavailable: no display and no OSMesa "
                "(install it with `apt-get install libosmesa6`, or set MUJOCO_GL)")
    return None

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


PYGAME_FAMILIES = ("classic_control", "box2d", "toy_text")  # Gymnasium envs that draw with pygame


def renderer_of(env_id: str | None) -> str:
    """What draws ``env_id``'s frames: ``"pygame"`` (Gymnasium's classic control, Box2D and toy text),
    ``"gl"`` (MuJoCo and DeepMind Control, through MUJOCO_GL) or ``"unknown"`` (another env, or none given)."""
    if not env_id:
        return "unknown"
    kind, _, name = env_id.partition(":")
    if kind == "dmc":
        return "gl"
    try:
        import gymnasium as gym

        entry = str(gym.spec(name).entry_point)
    except Exception:  # an env its module registers later, or no such env: nothing to tell in advance
        return "unknown"
    if "mujoco" in entry:
        return "gl"
    return "pygame" if any(f in entry for f in PYGAME_FAMILIES) else "unknown"


def rendering_unavailable_reason(env_id: str | None = None) -> str | None:
    """None when offscreen rendering of ``env_id`` should work, else a one-line reason naming what is missing
    and how to get it: pygame for Gymnasium's classic control, Box2D and toy text envs; an offscreen OpenGL
    (OSMesa, or MUJOCO_GL) for MuJoCo and DeepMind Control (and when no env is named)."""
    import importlib.util

    renderer = renderer_of(env_id)
    if renderer == "pygame":
        if importlib.util.find_spec("pygame") is None:
            return (f"{env_id} draws its frames with pygame, which is not installed (`pip install pygame`, or "
                    "`pip install 'gymnasium[classic-control]'`)")
        return None
    if renderer == "unknown" and env_id:
        return None  # tried; a failure is reported with its own message
    configure_offscreen_rendering()
    backend = os.environ.get("MUJOCO_GL", "")
    if backend.lower() in ("off", "disable", "disabled", "false", "0"):
        return ("offscreen rendering is unavailable: no display and no OSMesa "
                "(install it with `apt-get install libosmesa6`, or set MUJOCO_GL)")
    return None

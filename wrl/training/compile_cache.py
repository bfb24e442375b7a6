"""JAX's persistent compilation cache, so that repeating a command does not compile again (warm starts).

Compiled programs are stored in a user cache directory (``$WRL_COMPILE_CACHE``, else
``$XDG_CACHE_HOME/wrl/jax``, else ``~/.cache/wrl/jax``); ``off`` disables the cache. Entries are keyed by
JAX on the program, the JAX/XLA versions and the machine, so a cache is never used across incompatible
builds; deleting the directory is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = "off"


def default_cache_dir() -> str:
    """``$WRL_COMPILE_CACHE``, else ``$XDG_CACHE_HOME/wrl/jax``, else ``~/.cache/wrl/jax``."""
    if os.environ.get("WRL_COMPILE_CACHE"):
        return os.environ["WRL_COMPILE_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "wrl" / "jax")


def enable_compile_cache(cache_dir: str | None = None) -> str | None:
    """Turn on the persistent cache in ``cache_dir`` (default :func:`default_cache_dir`); returns the directory
    in use, or None when the cache is ``off``. Every compiled program is cached, however quick to compile."""
    import jax

    path = cache_dir or default_cache_dir()
    if path == OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path

"""Float64 for the exact solvers without touching the global JAX configuration.

The training stack runs in float32; flipping ``jax_enable_x64`` at import time would change its dtypes.
The exact solvers need float64 to reach Riccati-level accuracy, so their drivers run inside this context
manager (thread-local, restored on exit) and hand back NumPy float64 arrays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

__all__ = ["float64"]


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Enable 64-bit JAX types inside a ``with`` block (``jax.enable_x64(True)``), restored on exit."""
    with jax.enable_x64(True):
        yield

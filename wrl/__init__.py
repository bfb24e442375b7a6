"""wrl: Wasserstein reinforcement learning in JAX."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wrl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from wrl.errors import (
    CheckpointError,
    ConfigError,
    DivergenceError,
    EnvError,
    Interrupted,
    MissingDependencyError,
    RunDirError,
    WriteError,
    WrlError,
)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DivergenceError",
    "EnvError",
    "Interrupted",
    "MissingDependencyError",
    "RunDirError",
    "WriteError",
    "WrlError",
    "__version__",
]

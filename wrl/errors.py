"""Typed exceptions. The CLI turns each into one line on stderr and exit status 2 (3 for a diverged run)."""


class WrlError(Exception):
    """Base class of every error a user can cause and fix. The message names the problem and the fix."""


class ConfigError(WrlError, ValueError):
    """An invalid hyperparameter, unknown algorithm or inconsistent option."""


class EnvError(WrlError, ValueError):
    """An unknown environment id, an unsupported action space or an env module that does not import."""


class RunDirError(WrlError):
    """A run directory that already exists (without --resume/--overwrite) or does not hold a run."""


class CheckpointError(WrlError):
    """A missing, corrupt or mismatched checkpoint."""


class MissingDependencyError(WrlError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


class DivergenceError(WrlError):
    """Training produced a non-finite parameter, loss or action; the run stopped with its last finite checkpoint.

    Not a bad input: the CLI exits with status 3 (``exit_status``) so that scripts can tell the two apart.
    """

    exit_status = 3

"""Typed exceptions. The CLI turns each into one line on stderr and exit status 2 (3 for a diverged run, 4 for a
failed write; an interrupted run exits with 128 + the signal number)."""

from __future__ import annotations


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


class WriteError(WrlError):
    """A file of a run could not be written (disk full, file-size or quota limit, I/O error, permission).

    The run keeps its last complete checkpoint; the CLI exits with status 4 (``exit_status``).
    """

    exit_status = 4

    def __init__(self, path: object, error: OSError, context: str = ""):
        self.path, self.error = path, error
        reason = error.strerror or str(error)
        super().__init__(f"cannot write {path} ({reason}){context}")

    def with_context(self, context: str) -> WriteError:
        """The same failure with what was kept and how to go on appended to its message."""
        return WriteError(self.path, self.error, context)


class Interrupted(WrlError):
    """A run stopped by SIGTERM or SIGINT after writing a checkpoint at its current step.

    Not an error of the user's: the CLI prints the message (the step, the checkpoint, the resume command) and
    exits with the conventional status 128 + the signal number (``exit_status``).
    """

    def __init__(self, signum: int, message: str):
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(message)

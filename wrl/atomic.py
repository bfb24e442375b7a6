"""Durable file writes: a file is replaced atomically or not at all, and a failed write names its file.

A kill (or a power cut) at any moment leaves either the old file or the new one, never a mix: the new
content goes to a temporary file in the same directory, is flushed and fsynced, renamed over the old one
(an atomic operation on POSIX file systems), and the directory is fsynced so the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from wrl.errors import WriteError


def fsync_dir(directory: str | Path) -> None:
    """Make the entries of ``directory`` (a rename, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised while ``path`` is written (ENOSPC, EFBIG, EDQUOT, EIO, EACCES, EROFS, ...) into a
    :class:`~wrl.errors.WriteError` naming it."""
    try:
        yield
    except OSError as e:
        raise WriteError(Path(path), e) from None


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None] | bytes) -> None:
    """Replace ``path`` with what ``write(file)`` writes (or the given bytes), atomically (see the module). A
    failure at any point leaves ``path`` as it was and no temporary file behind, and raises WriteError."""
    path = Path(path)
    with writing(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(write, bytes):
                    f.write(write)
                else:
                    write(f)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; these are ordinary files
            os.replace(tmp, path)
            fsync_dir(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def write_json(path: str | Path, data: Any, default: Callable[[Any], Any] | None = None) -> None:
    """``data`` as indented JSON (two spaces, a final newline) in ``path``, atomically (:func:`atomic_write`).

    ``default`` converts what JSON cannot hold (as in :func:`json.dumps`), e.g. ``float`` for NumPy scalars.
    """
    atomic_write(path, (json.dumps(data, indent=2, default=default) + "\n").encode())

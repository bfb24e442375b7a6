"""Archives of run files: deterministic ``.tar.xz`` files, read in memory or through a temporary copy.

An archive holds regular files under plain relative names (no absolute path, no ``..``), members sorted by
name with a fixed mtime, owner and mode, so packing the same files again gives the same bytes. A directory
inside an archive can be named as if the archive were unpacked next to it (:func:`archive_of`), and
:class:`Unpacked` reads such names from a copy extracted once into a temporary directory.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from types import TracebackType

from wrl.errors import WrlError

ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz")


class ResultsError(WrlError):
    """A results folder, manifest or archive that cannot be read (not a mismatch: those the check reports)."""


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def pack(files: dict[str, bytes]) -> bytes:
    """A deterministic ``.tar.xz`` of ``files`` (archive name -> contents): members sorted by name, regular
    files only, with a fixed mtime, owner and mode, so the same files always give the same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(_member_name(name))
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _member_name(name: str) -> str:
    """``name`` if it is a relative path inside an archive (no absolute path, no ``..``), else a ResultsError."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or str(path) != name:
        raise ResultsError(f"{name!r} is not a plain relative path inside an archive")
    return name


def read_archive(archive: Path) -> dict[str, bytes]:
    """Every file of ``archive`` (name -> contents), read in memory; an archive that does not open, or holds
    anything but regular files with plain relative names, is a ResultsError."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isreg():
                    raise ResultsError(f"{archive}: {member.name!r} is not a regular file")
                data = tar.extractfile(member)
                files[_member_name(member.name)] = data.read() if data is not None else b""
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ResultsError(f"{archive} is not a readable archive ({e})") from e
    return files


def extract(archive: Path, dest: Path) -> None:
    """Write the files of ``archive`` under ``dest`` (see :func:`read_archive`)."""
    for name, data in read_archive(archive).items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def archive_of(path: Path) -> tuple[Path, PurePosixPath] | None:
    """The archive that holds ``path`` and the path inside it, or None: ``results/suite_runs/dmc5/runs/sac`` is
    ``runs/sac`` in ``results/suite_runs/dmc5.tar.xz`` (a directory named as its archive without the suffix),
    and so is ``results/suite_runs/dmc5.tar.xz/runs/sac``."""
    for above in (path, *path.parents):
        if not above.name:
            continue
        inner = PurePosixPath(path.relative_to(above).as_posix())
        if above.name.endswith(ARCHIVE_SUFFIXES) and above.is_file():
            return above, inner
        for suffix in ARCHIVE_SUFFIXES:
            if (candidate := above.with_name(above.name + suffix)).is_file():
                return candidate, inner
    return None


class Unpacked:
    """Directories that may be inside archives of results: :meth:`path` gives a directory as it is, and a
    path inside an archive (:func:`archive_of`) in a copy of the archive extracted once into a temporary
    directory, removed by :meth:`close` (or at the end of a ``with`` block)."""

    def __init__(self) -> None:
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._extracted: dict[Path, Path] = {}

    def path(self, where: str | Path) -> Path:
        """Where the files of ``where`` can be read: ``where`` itself if it exists or no archive holds it,
        else its place in the extracted archive."""
        path = Path(where)
        if path.exists() or (found := archive_of(path)) is None:
            return path
        archive, inner = found
        key = archive.resolve()
        if key not in self._extracted:
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="wrl-results-")
            dest = Path(self._scratch.name) / str(len(self._extracted))
            extract(archive, dest)
            self._extracted[key] = dest
        return self._extracted[key].joinpath(*inner.parts)

    def close(self) -> None:
        """Remove the extracted copies."""
        if self._scratch is not None:
            self._scratch.cleanup()
        self._scratch, self._extracted = None, {}

    def __enter__(self) -> Unpacked:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

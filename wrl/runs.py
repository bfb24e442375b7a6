"""The run directory: the one owner of every file a run, or a group of seeds, writes.

Layout of a run (``wrl train``)::

    RUN/config.json        the configurations, written once when the run starts (atomically)
    RUN/checkpoint.npz     parameters, optimiser states, replay, RNG keys, counters (replaced atomically)
    RUN/metrics.jsonl      one JSON row per logged step (appended; a cut last line is tolerated)
    RUN/summary.json       the run's record when it stopped or finished (replaced atomically)
    RUN/tb/                TensorBoard events
    RUN/.lock              the writer's lock (held by the kernel while a process writes the run)

A group of seeds (``wrl train --seeds ...``) is ``GROUP/group.json`` (seeds and configurations),
``GROUP/summary.json``, ``GROUP/commit.json`` (the step of the last checkpoint every seed holds) and one
ordinary run directory per seed, ``GROUP/seed-S``.

Crash safety, in one place:

- every file that is replaced is written atomically (:func:`atomic_write`: a temporary file in the same
  directory, fsync, rename, fsync of the directory), so a kill leaves the old version or the new one;
- every file that is appended to is read back tolerating a cut last line (:func:`read_jsonl`), and
  :func:`truncate_jsonl` cuts it back to a checkpoint's step on resume;
- one writer per run directory: :class:`RunLock` takes an OS-level lock (``flock``), which the kernel drops
  when the process dies, so a crash never leaves a stale lock;
- a group's checkpoints are committed together (:func:`commit_group`): every seed's new checkpoint is written
  beside the old one, then ``commit.json`` records the step, then each replaces the old one. A kill before
  the record keeps every seed at the previous step; a kill after it is rolled forward when the group is
  opened again (:func:`recover_group`);
- a write that fails (disk full, file-size or quota limit, I/O error, permission) is a :class:`WriteError`
  naming the file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wrl.atomic import atomic_write, fsync_dir, write_json, writing
from wrl.checkpoint import read_meta
from wrl.errors import CheckpointError, RunDirError, WriteError

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
TENSORBOARD = "tb"
LEARNING_CURVE = "learning_curve.png"
GROUP = "group.json"
COMMIT = "commit.json"
LOCK = ".lock"
PENDING_SUFFIX = ".pending"  # a group seed's next checkpoint, before the group commits it
RUN_FILES = (CONFIG, CHECKPOINT, SUMMARY, GROUP)  # any of these marks a directory as wrl's


def slug(env_id: str) -> str:
    """``env_id`` as one path component: every ``:`` and ``/`` becomes ``-``
    (``gym:wrl/LQR-v0`` -> ``gym-wrl-LQR-v0``)."""
    return env_id.replace(":", "-").replace("/", "-")


def default_run_dir(algo: str, env_id: str, tag: str) -> Path:
    """Where a run goes when no directory is given: ``runs/ALGO-ENV-TAG-TIME`` (TAG: ``sSEED`` or
    ``seedsFIRST-LAST``)."""
    import time

    return Path(f"runs/{algo}-{slug(env_id)}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}")


def seed_dir(group_dir: str | Path, seed: int) -> Path:
    """Where seed ``seed`` of a group lives: GROUP/seed-SEED (an ordinary run directory)."""
    return Path(group_dir) / f"seed-{seed}"


def is_group(path: str | Path) -> bool:
    """Whether ``path`` holds a group of seeds trained side by side."""
    return (Path(path) / GROUP).exists()


def read_json(path: str | Path) -> Any:
    """The JSON document in ``path``; a missing or unreadable one is a :class:`RunDirError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist; check the path") from None
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} cannot be read ({type(e).__name__}: {e}); the run directory is damaged") from None


# --- appended files ------------------------------------------------------------------------------------


@dataclass
class JsonlContents:
    """The rows of an appended JSON-lines file, and whether its last line was cut (a kill mid-write)."""

    rows: list[dict] = field(default_factory=list)
    torn: bool = False


def scan_jsonl(path: str | Path) -> JsonlContents:
    """Every row of a JSON-lines file; a last line that does not parse, or has no newline, was cut by a kill and
    is dropped (``torn``). A line before the last that does not parse is damage, not a kill: a RunDirError."""
    path = Path(path)
    if not path.exists():
        return JsonlContents()
    data = path.read_bytes()
    lines = data.split(b"\n")
    last = lines.pop()  # after the final newline: b"" when the file ends with one
    out = JsonlContents(torn=bool(last.strip()))
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.rows.append(json.loads(line))
        except ValueError:
            if i == len(lines) - 1 and not last:
                out.torn = True  # the last complete-looking line is cut (e.g. its newline landed, not its end)
                continue
            raise RunDirError(f"line {i + 1} of {path} is not JSON: the file is damaged (not by a kill, which "
                              "only cuts the last line); move it aside to resume") from None
    return out


def read_jsonl(path: str | Path, note: bool = True) -> list[dict]:
    """The rows of a JSON-lines file, tolerating a cut last line (dropped, with a one-line note on stderr)."""
    contents = scan_jsonl(path)
    if contents.torn and note:
        print(f"wrl: note: the last line of {path} was cut (a kill while it was written); it is ignored",
              file=sys.stderr)
    return contents.rows


def truncate_jsonl(path: str | Path, step: int) -> None:
    """Keep the rows of ``path`` up to ``step`` (their ``step`` field) and drop a cut last line, atomically: a
    resumed run continues the file from its checkpoint with no duplicate and no torn row."""
    path = Path(path)
    if not path.exists():
        return
    rows = [r for r in scan_jsonl(path).rows if r.get("step", 0) <= step]
    atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


# --- the writer's lock ---------------------------------------------------------------------------------


class RunLock:
    """One writer per run directory: an exclusive ``flock`` on ``DIR/.lock``, taken without waiting.

    The kernel drops the lock when its process ends however it ends (exit, kill -9, crash), so it is never
    stale. The holder writes its process id into the file, so a refused writer can name it.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        with writing(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise WriteError(self.path, e) from None
            holder = lock_holder(self.directory)
            who = f"process {holder}" if holder else "another process"
            raise RunDirError(f"{self.directory} is being written by {who}; wait for it to end (or stop it) before "
                              "training into it again") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(directory: str | Path) -> int | None:
    """The process id holding the writer's lock of ``directory``, or None when no process writes it (read only:
    a shared lock is tried and released at once)."""
    path = Path(directory) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.read(fd, 64).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- creating a run directory --------------------------------------------------------------------------


def _holds_files(directory: Path) -> bool:
    return any(p.name != LOCK for p in directory.iterdir())


def create(directory: str | Path, overwrite: bool) -> RunLock:
    """Create ``directory`` for a new run (or group) and lock it; returns the held lock.

    An existing directory with files in it is kept unless ``overwrite`` is explicit, and then only if it is a
    wrl run directory that no live process writes; its contents are removed under the lock.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or _holds_files(directory)):
        if not overwrite:
            raise RunDirError(f"run directory {directory} already exists; pass --resume {directory} to continue "
                              "it, --overwrite to replace it, or choose another --run-dir")
        if not any((directory / name).exists() for name in RUN_FILES):
            raise RunDirError(f"{directory} is not a wrl run directory; refusing to delete it with --overwrite")
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    lock = RunLock(directory).acquire()
    try:
        with writing(directory):
            for p in directory.iterdir():
                if p.name == LOCK:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    except BaseException:
        lock.release()
        raise
    return lock


# --- groups of seeds: checkpoints committed together ---------------------------------------------------


def pending_checkpoint(run_dir: str | Path) -> Path:
    """Where a group seed's next checkpoint waits for the group's commit."""
    return Path(run_dir) / (CHECKPOINT + PENDING_SUFFIX)


def commit_group(group_dir: str | Path, run_dirs: list[Path], step: int) -> None:
    """Make the pending checkpoints of every seed (already written and fsynced) the group's checkpoints at
    ``step``: record the step in ``commit.json`` (the commit point), then replace each seed's checkpoint."""
    write_json(Path(group_dir) / COMMIT, {"step": int(step)})
    for run_dir in run_dirs:
        with writing(run_dir / CHECKPOINT):
            os.replace(pending_checkpoint(run_dir), run_dir / CHECKPOINT)
            fsync_dir(run_dir)


def committed_step(group_dir: str | Path) -> int | None:
    """The step of the group's last commit, or None before its first."""
    path = Path(group_dir) / COMMIT
    return int(read_json(path)["step"]) if path.exists() else None


def recover_group(group_dir: str | Path, run_dirs: list[Path], checkpoint_step: Callable[[Path], int]) -> None:
    """Finish or undo a commit that a kill interrupted: a pending checkpoint at the committed step replaces the
    seed's checkpoint (roll forward); any other pending checkpoint is removed (the commit never happened)."""
    step = committed_step(group_dir)
    for run_dir in run_dirs:
        pending = pending_checkpoint(run_dir)
        if not pending.exists():
            continue
        with writing(pending):
            if step is not None and checkpoint_step(pending) == step:
                os.replace(pending, run_dir / CHECKPOINT)
                fsync_dir(run_dir)
            else:
                pending.unlink()


# --- the state of a run --------------------------------------------------------------------------------

State = Literal["new", "interrupted", "finished", "running", "damaged"]


@dataclass
class RunState:
    """What a run directory holds: ``new`` (nothing to resume), ``interrupted`` (resumable from ``step``),
    ``finished``, ``running`` (a live process writes it) or ``damaged`` (``reason`` says why)."""

    state: State
    step: int | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def summary_finished(path: str | Path) -> bool:
    """Whether ``path`` has a summary saying its run (or group) finished."""
    summary = Path(path) / SUMMARY
    if not summary.exists():
        return False
    try:
        return bool(json.loads(summary.read_text()).get("finished"))
    except (OSError, ValueError):
        return False


def quick_state(path: str | Path) -> Literal["new", "interrupted", "finished"]:
    """The state of a run or group from which files exist (cheap: reads summaries only): finished, interrupted
    (a checkpoint of every seed is there to resume) or new."""
    path = Path(path)
    if summary_finished(path):
        return "finished"
    if is_group(path):
        try:
            seeds = read_json(path / GROUP)["seeds"]
        except (RunDirError, KeyError, TypeError):
            return "new"
        # a pending checkpoint counts once a commit is recorded (it is then rolled forward); before the group's
        # first commit it is discarded on resume, so the seed has nothing to resume from
        committed = (path / COMMIT).exists()
        runs = [seed_dir(path, s) for s in seeds]
        return "interrupted" if runs and all((r / CHECKPOINT).exists() or (committed and pending_checkpoint(r).exists())
                                             for r in runs) else "new"
    return "interrupted" if (path / CHECKPOINT).exists() else "new"


def inspect(path: str | Path) -> RunState:
    """A run's (or group's) state, checked file by file without changing anything: what ``wrl doctor`` says."""
    path = Path(path)
    if not path.is_dir():
        return RunState("damaged", reason=f"{path} is not a directory")
    holder = lock_holder(path)
    if holder is not None:
        return RunState("running", reason=f"process {holder} is writing it")
    if is_group(path):
        return _inspect_group(path)
    if not any((path / name).exists() for name in RUN_FILES):
        return RunState("damaged", reason="not a wrl run directory (no config.json, checkpoint.npz or summary.json)")
    notes: list[str] = []
    try:
        metrics = scan_jsonl(path / METRICS)
    except RunDirError as e:
        return RunState("damaged", reason=str(e))
    if metrics.torn:
        notes.append(f"the last line of {METRICS} was cut; resuming drops it")
    if not (path / CHECKPOINT).exists():
        if (path / CONFIG).exists():
            return RunState("new", reason="no checkpoint was written; start it again (with --overwrite)", notes=notes)
        return RunState("damaged", reason=f"neither {CONFIG} nor {CHECKPOINT} is there", notes=notes)
    try:
        meta = read_meta(path / CHECKPOINT)
        step = int(meta["host"]["env_steps"])
        total = int(meta["config"]["total_steps"])
    except CheckpointError as e:
        return RunState("damaged", reason=str(e), notes=notes)
    except (KeyError, TypeError, ValueError) as e:
        return RunState("damaged", reason=f"{CHECKPOINT} has incomplete metadata ({e})", notes=notes)
    ahead = [r["step"] for r in metrics.rows if r.get("step", 0) > step]
    if ahead:
        notes.append(f"{len(ahead)} metric rows past the checkpoint (up to step {max(ahead)}); resuming drops them")
    if summary_finished(path) or step >= total:
        return RunState("finished", step=step, notes=notes)
    return RunState("interrupted", step=step, notes=notes)


def _inspect_group(path: Path) -> RunState:
    try:
        seeds = list(read_json(path / GROUP)["seeds"])
    except (RunDirError, KeyError, TypeError) as e:
        return RunState("damaged", reason=f"{GROUP} cannot be read ({e})")
    states = {s: inspect(seed_dir(path, s)) for s in seeds}
    notes = [f"seed {s}: {n}" for s, st in states.items() for n in st.notes]
    committed = committed_step(path)
    for s in seeds:
        pending = pending_checkpoint(seed_dir(path, s))
        if pending.exists():
            pending_step = int(read_meta(pending)["host"]["env_steps"])
            fate = "completes" if pending_step == committed else "discards"
            notes.append(f"seed {s}: a checkpoint of step {pending_step} waits for the group's commit; resuming "
                         f"{fate} it")
            if pending_step == committed:
                states[s] = RunState("interrupted" if states[s].state != "finished" else "finished", step=committed)
    damaged = [f"seed {s}: {st.reason}" for s, st in states.items() if st.state == "damaged"]
    if damaged:
        return RunState("damaged", reason="; ".join(damaged), notes=notes)
    if summary_finished(path) or all(st.state == "finished" for st in states.values()):
        return RunState("finished", step=min(st.step or 0 for st in states.values()), notes=notes)
    steps = {st.step for st in states.values()}
    if None in steps:
        return RunState("new", reason="not every seed has a checkpoint; start it again (with --overwrite)",
                        notes=notes)
    if len(steps) > 1:
        return RunState("damaged", reason=f"the seeds' checkpoints are at different steps ({sorted(steps)})",
                        notes=notes)
    return RunState("interrupted", step=steps.pop(), notes=notes)

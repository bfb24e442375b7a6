"""The `wrl train` processes of a suite or sweep: started, retried from their checkpoints, stopped cleanly.

A *unit* is one run directory (or group of seeds) that one `wrl train` process brings to its end. Its command
is chosen from what the directory holds when the process starts (:meth:`Unit.argv`): ``--resume`` when a
checkpoint is there, else the options that start it anew. So a unit whose process dies (a kill, a preempted
node, a crash) is retried from its last checkpoint, a bounded number of times, with the reason on stderr,
while the other units go on; a retried unit ends with the numbers of one never killed (exact resume).

A stop request (:class:`Stopper`: SIGTERM or SIGINT to the suite's process) is forwarded to every live
`wrl train` process, each of which writes a checkpoint at its current step and exits; no unit starts after it.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrl.lab.bench.common import process_env
from wrl.runs import quick_state

# exit statuses of `wrl train` that a retry cannot change: bad input, divergence, a failed write
FINAL_STATUSES = {2: "bad input", 3: "diverged", 4: "a write failed"}


@dataclass(frozen=True)
class Unit:
    """One `wrl train` process: the run (or group) in ``path`` and the options that start it anew."""

    path: Path
    fresh: tuple[str, ...]

    def argv(self) -> list[str]:
        """``--resume PATH`` when a checkpoint is there to continue from, else the options that start it anew
        (replacing whatever a process killed before its first checkpoint left)."""
        if quick_state(self.path) == "interrupted":
            return ["--resume", str(self.path)]
        return [*self.fresh, "--overwrite"]


@dataclass
class UnitResult:
    """How a unit ended: ``ok``, ``interrupted`` (stopped on request, its checkpoint written) or failed with
    ``reason``; ``attempts`` processes were started for it."""

    unit: Unit
    ok: bool = False
    interrupted: bool = False
    reason: str = ""
    attempts: int = 0
    retries: list[str] = field(default_factory=list)  # why each retry happened


def _describe(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    if returncode > 128:
        with contextlib.suppress(ValueError):
            return f"stopped by {signal.Signals(returncode - 128).name} (exit {returncode})"
    return f"exit {returncode}"


@dataclass
class Stopper:
    """A stop request shared by the threads that run units: set by :meth:`request` (a signal handler), it is
    forwarded to every live `wrl train` process and keeps new ones from starting."""

    signum: int | None = None
    _procs: set[subprocess.Popen] = field(default_factory=set)
    _lock: Any = field(default_factory=threading.RLock)  # re-entrant: the signal handler runs on the main thread

    def request(self, signum: int, frame: Any = None) -> None:
        with self._lock:
            first = self.signum is None
            self.signum = self.signum or signum
            procs = list(self._procs)
        if first:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def start(self, cmd: list[str], env: dict[str, str]) -> subprocess.Popen | None:
        """Start ``cmd`` unless a stop was requested (then None)."""
        with self._lock:
            if self.signum is not None:
                return None
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            self._procs.add(proc)
            return proc

    def finished(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    @contextlib.contextmanager
    def handling_signals(self):
        """Route SIGTERM and SIGINT of this process to :meth:`request` (from the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self.request) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_unit(unit: Unit, single_thread: bool, retries: int = 2, stopper: Stopper | None = None) -> UnitResult:
    """Bring ``unit`` to its end with `wrl train` processes: a process that dies for a reason a retry can mend
    (killed, crashed, stopped by a signal the suite did not send) is followed by another from the unit's last
    checkpoint, at most ``retries`` times; each retry is announced on stderr with its reason."""
    stopper = stopper or Stopper()
    env = process_env(single_thread)
    result = UnitResult(unit)
    while True:
        argv = unit.argv()
        cmd = [sys.executable, "-m", "wrl", "train", "--no-progress", *argv]
        proc = stopper.start(cmd, env)
        if proc is None:
            result.interrupted = True
            return result
        result.attempts += 1
        try:
            _, stderr = proc.communicate()
        except KeyboardInterrupt:  # a Ray task cancelled: stop the run cleanly, then give up
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise
        finally:
            stopper.finished(proc)
        code = proc.returncode
        if code == 0:
            result.ok = True
            return result
        last = (stderr or "").strip().splitlines()[-1:] or [""]
        if stopper.signum is not None and code in (128 + stopper.signum, -stopper.signum):
            result.interrupted = True
            return result
        why = _describe(code)
        if code in FINAL_STATUSES:
            result.reason = f"{FINAL_STATUSES[code]}: {last[0].removeprefix('wrl: error: ')}"
            return result
        if result.attempts > retries:
            result.reason = f"{why} {result.attempts} times; last: {last[0] or 'no message'}"
            return result
        note = (f"`wrl train {shlex.join(argv)}` {why}; retrying from its last checkpoint (retry {result.attempts} "
                f"of {retries})")
        result.retries.append(note)
        print(f"[suite] {note}", file=sys.stderr, flush=True)

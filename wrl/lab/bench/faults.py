"""`wrl bench faults`: random faults against a short run; how many ended with nothing lost.

Each trial starts a short `wrl train` run (TD3 on Pendulum-v1 by default), injects one fault, then resumes the
run until it finishes, and compares it with the same run never interrupted: the same metric rows (wall-clock
columns aside) and the same final checkpoint, array for array, is "nothing lost". The faults:

- ``sigterm`` / ``sigint``: the signal at a random environment step, inside a random evaluation or inside a
  random checkpoint save (sometimes a second signal inside the save the first one causes);
- ``kill``: SIGKILL at a random moment (no chance to save), then ``--resume``;
- ``torn``: SIGKILL, then the metrics file cut at a random byte of a row past the checkpoint, as a kill in the
  middle of a write leaves it;
- ``second-writer``: a second ``wrl train --resume`` on the live run (must be refused with exit 2);
- ``fsize``: a file-size limit (``ulimit -f``) just above the current checkpoint, so the next save fails
  (exit 4), then a resume without it;
- ``erofs``: a random checkpoint write fails as on a read-only file system (exit 4).

The module is also the injector the trials use: ``python -m wrl.lab.bench.faults inject FAULT MOMENT N -- ARGS``
runs ``wrl ARGS`` with FAULT (SIGTERM, SIGINT, or EROFS) at MOMENT (setup, step, step+save, eval, save) number
N, at a precise point of the real code path.
"""

from __future__ import annotations

import errno
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wrl import runs
from wrl.config import hp
from wrl.lab.bench.common import machine_info, machine_line, process_env

KINDS = ("sigterm", "sigint", "kill", "torn", "second-writer", "fsize", "erofs")
TIMING = {"charts/SPS", "eval/seconds"}


# --- the injector -------------------------------------------------------------------------------------


def inject(fault: str, moment: str, n: int, argv: list[str]) -> int:
    """Run ``wrl ARGV`` in this process with ``fault`` injected at the ``n``-th ``moment`` (see the module)."""
    import wrl.checkpoint as checkpoint
    import wrl.envs.vector
    import wrl.training.trainer as trainer
    from wrl.lab.cli import main as wrl_main

    def send() -> None:
        os.kill(os.getpid(), getattr(signal, fault))

    def at_call(owner: Any, name: str, nth: int, then_save: bool = False) -> None:
        original, calls = getattr(owner, name), [0]

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == nth:
                send()
                if then_save:
                    at_call(trainer, "save_checkpoint", 1)
            return original(*args, **kwargs)

        setattr(owner, name, wrapped)

    if moment == "save" and fault == "EROFS":
        original, calls = checkpoint.atomic_write, [0]

        def failing(path: Any, write: Any) -> None:
            calls[0] += 1
            if calls[0] != n:
                return original(path, write)

            def fail(f: Any) -> None:
                f.write(b"partial")
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))

            return original(path, fail)

        checkpoint.atomic_write = failing
    elif moment == "setup":
        at_call(trainer, "compiled_step_fns", 1)
    elif moment in ("step", "step+save"):
        at_call(wrl.envs.vector.VecEnv, "step", n, then_save=moment == "step+save")
    elif moment == "eval":
        at_call(trainer, "evaluate", n)
    elif moment == "save":
        at_call(trainer, "save_checkpoint", n)
    else:
        raise SystemExit(f"unknown moment {moment!r}")
    return wrl_main(argv)


def injector_command(fault: str, moment: str, n: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "wrl.lab.bench.faults", "inject", fault, moment, str(n), "--", *argv]


# --- comparing runs -----------------------------------------------------------------------------------


def metric_rows(run: Path) -> list[dict]:
    """The run's metric rows without the wall-clock columns."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in runs.read_jsonl(run / runs.METRICS, False)]


def differences(run: Path, reference: Path) -> list[str]:
    """What ``run`` lost or changed against ``reference`` (empty: nothing lost)."""
    if not runs.summary_finished(run):
        return ["not finished"]
    out = []
    if metric_rows(run) != metric_rows(reference):
        out.append("metric rows differ")
    with np.load(run / runs.CHECKPOINT) as a, np.load(reference / runs.CHECKPOINT) as b:
        names = set(a.files) - {"__meta__"}
        if names != set(b.files) - {"__meta__"}:
            out.append("checkpoint arrays differ in name")
        else:
            out += [f"checkpoint array {k} differs" for k in sorted(names) if not np.array_equal(a[k], b[k])]
    return out


# --- one trial ----------------------------------------------------------------------------------------


class Trial:
    """One fault against a fresh run directory; :meth:`finish` resumes it to its end."""

    def __init__(self, run: Path, train: list[str], env: dict[str, str], total: int, rng: random.Random):
        self.run, self.train, self.env, self.total, self.rng = run, train, env, total, rng
        self.statuses: list[int] = []
        self.problems: list[str] = []  # what the fault itself got wrong (e.g. a second writer let in)

    def wrl(self, cmd: list[str], fsize: int | None = None) -> subprocess.CompletedProcess:
        limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))) if fsize else None
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env, preexec_fn=limit, timeout=900)
        self.statuses.append(proc.returncode)
        return proc

    def start_cmd(self) -> list[str]:
        return ["train", *self.train, "--run-dir", str(self.run)]

    def plain(self, argv: list[str]) -> list[str]:
        return [sys.executable, "-m", "wrl", *argv]

    def finish(self) -> None:
        for _ in range(5):
            state = runs.quick_state(self.run)
            if state == "finished":
                return
            argv = ["train", "--resume", str(self.run), "--no-progress"] if state == "interrupted" else \
                [*self.start_cmd(), "--overwrite"]
            self.wrl(self.plain(argv))

    def popen(self) -> subprocess.Popen:
        return subprocess.Popen(self.plain(self.start_cmd()), env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def wait_for_step(self, proc: subprocess.Popen, step: int) -> bool:
        """Wait until the live run has logged past ``step`` (False if it ended first)."""
        while proc.poll() is None:
            rows = runs.read_jsonl(self.run / runs.METRICS, False) if (self.run / runs.METRICS).exists() else []
            if rows and rows[-1]["step"] >= step:
                return True
            time.sleep(0.02)
        return False

    def run_fault(self, kind: str) -> str:
        """Inject one fault of ``kind``; returns a description of what was done."""
        rng, total = self.rng, self.total
        if kind in ("sigterm", "sigint"):
            sig = "SIGTERM" if kind == "sigterm" else "SIGINT"
            moment = rng.choice(["setup", "step", "step", "eval", "save", "step+save"])
            n = {"setup": 1, "step": rng.randrange(1, total), "step+save": rng.randrange(1, total),
                 "eval": rng.randrange(1, 3), "save": rng.randrange(1, 3)}[moment]
            self.wrl(injector_command(sig, moment, n, self.start_cmd()))
            return f"{sig} at {moment} {n}"
        if kind in ("kill", "torn"):
            proc = self.popen()
            at = rng.randrange(1, total)
            self.wait_for_step(proc, at)
            proc.kill()
            proc.wait()
            self.statuses.append(proc.returncode)
            if kind == "torn" and (self.run / runs.METRICS).exists():
                row = (json.dumps({"step": total + 1, "charts/episodic_return": -1.0}) + "\n").encode()
                cut = rng.randrange(1, len(row))
                with open(self.run / runs.METRICS, "ab") as f:
                    f.write(row[:cut])
                return f"SIGKILL after step {at}, metrics cut {cut} bytes into a row"
            return f"SIGKILL after step {at}"
        if kind == "second-writer":
            proc = self.popen()
            while proc.poll() is None and runs.lock_holder(self.run) is None:
                time.sleep(0.02)
            if proc.poll() is None:
                time.sleep(rng.uniform(0, 1))
            alive = proc.poll() is None
            if alive:
                proc.send_signal(signal.SIGSTOP)  # held mid-run, its lock with it, while the second one tries
            try:
                second = self.wrl(self.plain(["train", "--resume", str(self.run), "--no-progress"]))
            finally:
                if alive:
                    proc.send_signal(signal.SIGCONT)
            proc.wait()
            self.statuses.append(proc.returncode)
            if alive and second.returncode != 2:
                self.problems.append(f"the second writer was not refused (exit {second.returncode})")
            return f"second writer while the first {'ran' if alive else 'had ended'} (exit {second.returncode})"
        if kind == "fsize":
            proc = self.popen()
            self.wait_for_step(proc, rng.randrange(1, total // 2))
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            self.statuses.append(proc.returncode)
            size = (self.run / runs.CHECKPOINT).stat().st_size if (self.run / runs.CHECKPOINT).exists() else 0
            if runs.quick_state(self.run) == "interrupted":
                self.wrl(self.plain(["train", "--resume", str(self.run), "--no-progress"]), fsize=size + 64)
            return f"file-size limit {size + 64} bytes"
        if kind == "erofs":
            n = rng.randrange(1, 4)
            self.wrl(injector_command("EROFS", "save", n, self.start_cmd()))
            return f"EROFS on save {n}"
        raise ValueError(kind)


# --- the benchmark ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench faults``."""

    trials: int = hp(50, "random faults to inject", ge=1)
    seed: int = hp(0, "seed of the faults' choice")
    total_steps: int = hp(1200, "steps of each run", ge=400)
    kinds: tuple[str, ...] = hp(KINDS, "fault kinds to draw from", choices=KINDS, nargs="+")
    out: str | None = hp(None, "write the report here (FILE.md, and FILE.json beside it; default: none)")
    resume: bool = hp(False, "keep the trials already in --out's JSON")


def run(opts: Options) -> int:
    total = opts.total_steps
    train = ["--algo", "td3", "--env", "gym:Pendulum-v1", "--total-steps", str(total), "--learning-starts", "200",
             "--batch-size", "64", "--eval-every", str(total // 3), "--eval-episodes", "2", "--checkpoint-every",
             str(total // 3), "--log-every", "100", "--no-progress", "--no-tensorboard"]
    out = Path(opts.out) if opts.out else None
    records: list[dict[str, Any]] = []
    machine = machine_info()
    if out and opts.resume and out.with_suffix(".json").exists():
        kept = json.loads(out.with_suffix(".json").read_text())
        records, machine = kept["trials"][:opts.trials], kept.get("machine", machine)
    with tempfile.TemporaryDirectory(prefix="wrl-faults-") as tmp:
        env = process_env(True, WRL_COMPILE_CACHE=str(Path(tmp) / "cache"))
        reference = Path(tmp) / "reference"
        ref = subprocess.run([sys.executable, "-m", "wrl", "train", *train, "--run-dir", str(reference)],
                             capture_output=True, text=True, env=env)
        if ref.returncode != 0:
            raise RuntimeError(f"the reference run failed: {ref.stderr.strip().splitlines()[-1:]}")
        rng = random.Random(opts.seed)
        draws = [(rng.choice(opts.kinds), rng.randrange(2**31)) for _ in range(opts.trials)]
        for i, (kind, trial_seed) in enumerate(draws):
            if i < len(records):
                continue
            run_dir = Path(tmp) / f"trial-{i}"
            trial = Trial(run_dir, train, env, total, random.Random(trial_seed))
            start = time.perf_counter()
            what = trial.run_fault(kind)
            trial.finish()
            lost = trial.problems + differences(run_dir, reference)
            records.append({"trial": i, "kind": kind, "fault": what, "exit_statuses": trial.statuses,
                            "nothing_lost": not lost, "lost": lost, "seconds": time.perf_counter() - start})
            print(f"trial {i}: {kind}: {what}; exits {trial.statuses}; "
                  f"{'nothing lost' if not lost else 'LOST: ' + ', '.join(lost)}", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
            if out:
                _write(out, records, opts, machine)
    if out:
        _write(out, records, opts, machine)
    ok = sum(r["nothing_lost"] for r in records)
    print(f"{ok} of {len(records)} faults ended with nothing lost")
    return 0 if ok == len(records) else 1


def _write(out: Path, records: list[dict[str, Any]], opts: Options, machine: dict[str, Any]) -> None:
    """The report (``out``, markdown) and its data (JSON beside it: the trials and the machine that ran them)."""
    from wrl.atomic import write_json

    ok = sum(r["nothing_lost"] for r in records)
    lines = ["# Fault injection: what survives which fault", "",
             f"Command: `wrl bench faults --trials {opts.trials} --seed {opts.seed} --total-steps {opts.total_steps} "
             "--out docs/benchmarks/faults.md`", "", machine_line(machine), "",
             f"**{ok} of {len(records)} faults ended with nothing lost** (the resumed run's metric rows, wall-clock "
             "columns aside, and every array of its final checkpoint equal those of the run never interrupted).", "",
             "Exit statuses, in the order of the trial's processes: 0 done, 2 refused (a second writer), 4 a write "
             "failed, 130 / 143 stopped by SIGINT / SIGTERM after a checkpoint, -9 killed by SIGKILL (no status of "
             "its own).", "",
             "| kind | trials | nothing lost | exit statuses seen |", "|---|---|---|---|"]
    for kind in KINDS:
        rs = [r for r in records if r["kind"] == kind]
        if rs:
            seen = sorted({s for r in rs for s in r["exit_statuses"]})
            lines.append(f"| {kind} | {len(rs)} | {sum(r['nothing_lost'] for r in rs)} | {', '.join(map(str, seen))} |")
    lines += ["", "Every trial:", "", "| # | kind | fault | exit statuses | result |", "|---|---|---|---|---|"]
    for r in records:
        result = "nothing lost" if r["nothing_lost"] else "lost: " + "; ".join(r["lost"])
        lines.append(f"| {r['trial']} | {r['kind']} | {r['fault']} | {', '.join(map(str, r['exit_statuses']))} | "
                     f"{result} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"machine": machine, "trials": records})


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "inject":
        fault, moment, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        return inject(fault, moment, n, sys.argv[sys.argv.index("--") + 1:])
    from wrl.lab.cli import parse_options

    return run(parse_options(Options, sys.argv[1:], prog="python -m wrl.lab.bench.faults"))


if __name__ == "__main__":
    raise SystemExit(main())

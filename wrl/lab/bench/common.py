"""Shared pieces of the benchmarks: wrl runs in fresh processes, tables, and result files."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import wrl
from wrl import atomic, runs
from wrl.errors import ConfigError

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


# Pins itself to the cores in argv[1], then becomes ``python argv[2:]`` (exec: the same process, pinned).
_PINNED = ("import os, sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); "
           "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


def _portable(train_args: list[str]) -> list[str]:
    """The arguments as a command anyone can rerun: a compilation-cache directory (a temporary path of the
    machine that ran it) is written as DIR."""
    return ["DIR" if prev == "--compile-cache" and a != "off" else a
            for prev, a in zip([None, *train_args], train_args, strict=False)]


def process_env(single_thread: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a child `wrl` process: this one's, with one XLA thread appended to ``XLA_FLAGS`` when
    ``single_thread`` (for processes that share the cores), and ``extra`` variables set."""
    env = {**os.environ, **extra}
    if single_thread:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    return env


def run_wrl(train_args: list[str], timeout: float | None = None, single_thread: bool = False,
            keep_dir: str | Path | None = None, cores: set[int] | None = None) -> dict[str, Any]:
    """``wrl train ARGS`` in a fresh Python process (no compilation cache shared with the caller).

    ``single_thread`` pins XLA to one thread, for runs that share the machine with other runs; ``cores``
    pins the process to those CPU cores.
    ``keep_dir`` (must not exist) keeps the run directory there instead of in a temporary place.
    Returns the run's summary.json plus its metric rows (``rows``) and ``process_seconds``.
    """
    with tempfile.TemporaryDirectory(prefix="wrl-bench-") as tmp:
        run_dir = Path(keep_dir) if keep_dir is not None else Path(tmp) / "run"
        cmd = [sys.executable, "-m", "wrl", "train", "--run-dir", str(run_dir), "--no-progress",
               "--no-tensorboard", *train_args]
        start = time.perf_counter()
        env = process_env(single_thread)
        launch = [sys.executable, "-c", _PINNED, ",".join(map(str, sorted(cores))), *cmd[1:]] if cores else cmd
        proc = subprocess.run(launch, capture_output=True, text=True, timeout=timeout, check=False, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
            if proc.returncode == 2:
                raise ConfigError(tail.splitlines()[-1] if tail else "wrl train rejected its arguments")
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
        summary = runs.read_json(run_dir / runs.SUMMARY)
        # a group of seeds (--seeds): the rows of its first seed (the seeds share the clock)
        rows_dir = run_dir / summary["runs"][0] if "runs" in summary else run_dir
        summary["rows"] = runs.read_jsonl(rows_dir / runs.METRICS)
        summary["process_seconds"] = elapsed
        summary["command"] = "wrl train " + " ".join(_portable(train_args))
        return summary


def machine_info() -> dict[str, Any]:
    import jax

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    device = jax.devices()[0]
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "wrl": wrl.__version__, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M"),
            "device": f"{device.platform} ({device.device_kind}, {jax.device_count()} device(s))"}


def machine_line(m: dict[str, Any]) -> str:
    """One line describing where and with what a benchmark ran."""
    device = f", JAX device {m['device']}" if "device" in m else ""
    return (f"Machine: {m['cpus']} CPUs{device}, {m['platform']}, Python {m['python']}, jax {m['jax']}, "
            f"wrl {m['wrl']} (commit {m['commit']}), {m['date']}.")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(x: Any) -> str:
        if isinstance(x, float):
            return f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"
        return str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str | Path | None, data: dict) -> None:
    """:func:`wrl.atomic.write_json` into ``path``, creating its directory; no path (None or "") writes nothing."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, data)


def write_report(out: str | Path, title: str, results: dict, body: str) -> None:
    """OUT.json (``results``, with its ``command`` and ``machine``) and OUT.md: the title, the command, the
    machine line, then ``body``."""
    out = Path(out)
    write_json(out.with_suffix(".json"), results)
    out.with_suffix(".md").write_text(f"# {title}\n\nCommand: `{results['command']}`\n\n"
                                      f"{machine_line(results['machine'])}\n\n{body}\n")


def command_line() -> str:
    """The command that is running, as a user types it: ``wrl ...`` for the console script and for
    ``python -m wrl`` (never a path of this machine)."""
    prog = Path(sys.argv[0])
    is_wrl = prog.name == "wrl" or (prog.name == "__main__.py" and prog.parent.name == "wrl")
    return "wrl " + shlex.join(sys.argv[1:]) if is_wrl else shlex.join(sys.argv)


def parse_variant(spec: str) -> tuple[str, str, list[str]]:
    """An ``--algos`` entry: ``ALGO`` or ``LABEL=ALGO [wrl train options]`` -> (label, algo, options).

    E.g. ``"wppg-i=wppg --policy implicit"`` runs ``wrl train --algo wppg --policy implicit`` reported as
    ``wppg-i``; ``"wppg-k32=wppg --preset published"`` the published WPPG settings.
    """
    tokens = shlex.split(spec)
    if not tokens:
        raise ConfigError("an empty --algos entry; give ALGO or 'LABEL=ALGO [options]'")
    label, _, algo = tokens[0].rpartition("=")
    return (label or algo), algo, tokens[1:]


def load_toml_dataclass(path: Path, cls: type, what: str, tuples: tuple[str, ...], **defaults: Any) -> Any:
    """``cls`` from the TOML file ``path`` (a ``what`` file): unknown keys, bad TOML and missing fields are one-line
    ConfigErrors; the ``tuples`` fields become tuples; ``defaults`` fill absent keys."""
    import dataclasses
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} file {path} is not valid TOML ({e})") from None
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"{what} file {path} has unknown keys {sorted(unknown)}; allowed: {sorted(fields)}")
    data = {**defaults, **data}
    try:
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})
    except TypeError as e:
        raise ConfigError(f"{what} file {path}: {e}") from None

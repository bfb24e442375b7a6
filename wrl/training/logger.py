"""Metrics to ``metrics.jsonl`` and TensorBoard (CleanRL-style names: charts/episodic_return, charts/SPS,
losses/..., eval/mean_return)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from wrl import runs
from wrl.atomic import writing


def summary_writer_class() -> type:
    """tensorboardX's ``SummaryWriter``, imported without importing PyTorch.

    tensorboardX imports ``torch`` when it is installed (about 1.4 s on a 2-core machine, in every run's
    set-up) only to accept torch tensors; wrl logs Python floats. While tensorboardX is imported for the first
    time, ``import torch`` is made to fail (a ``None`` entry in ``sys.modules``, which tensorboardX's optional
    import handles); a process that has already imported torch keeps it.
    """
    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


class Logger:
    """Append-only JSONL rows keyed by environment step, mirrored to TensorBoard.

    On resume, rows past the checkpoint's step (written by a run killed after its last checkpoint) and a last
    row cut by a kill are dropped, and TensorBoard is told to purge the steps past it, so the resumed curve has
    no duplicates. A failed write is a :class:`~wrl.errors.WriteError` naming the file.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = run_dir / runs.METRICS
        if resume_step is not None:
            runs.truncate_jsonl(self.path, resume_step)
        with writing(self.path):
            self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            with writing(run_dir / runs.TENSORBOARD):
                self._tb = summary_writer_class()(str(run_dir / runs.TENSORBOARD), purge_step=resume_step)

    def log(self, step: int, values: dict[str, Any]) -> None:
        row = {"step": int(step)}
        for k, v in values.items():
            v = float(v)
            row[k] = None if math.isnan(v) else v
            if self._tb is not None and not math.isnan(v):
                self._tb.add_scalar(k, v, int(step))
        with writing(self.path):
            self._file.write(json.dumps(row) + "\n")

    def flush(self) -> None:
        """Write the buffered rows through to the disk (flush and fsync)."""
        with writing(self.path):
            self._file.flush()
            os.fsync(self._file.fileno())
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flush and close; a failure to flush is raised after both files are closed."""
        try:
            with writing(self.path):
                self._file.close()
        finally:
            if self._tb is not None:
                self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The metric rows of a run; a last row cut by a kill is dropped with a one-line note."""
    return runs.read_jsonl(Path(run_dir) / runs.METRICS)

"""Metrics to ``metrics.jsonl`` and TensorBoard (CleanRL-style names: charts/episodic_return, charts/SPS,
losses/..., eval/mean_return)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


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

    On resume, rows past the checkpoint's step (written by a run killed after its last checkpoint) are
    dropped and TensorBoard is told to purge them, so the resumed curve has no duplicates.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = run_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            tmp.replace(self.path)
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            self._tb = summary_writer_class()(str(run_dir / "tb"), purge_step=resume_step)

    def log(self, step: int, values: dict[str, Any]) -> None:
        row = {"step": int(step)}
        for k, v in values.items():
            v = float(v)
            row[k] = None if math.isnan(v) else v
            if self._tb is not None and not math.isnan(v):
                self._tb.add_scalar(k, v, int(step))
        self._file.write(json.dumps(row) + "\n")

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

"""Plots of runs: the learning curve next to the run."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from wrl.training.logger import read_metrics


def plot_learning_curve(run_dir: str | Path) -> Path:
    """Evaluation return (and training episode returns) against environment steps -> learning_curve.png."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    fig, ax = plt.subplots(figsize=(6, 4))
    ep = [(r["step"], r["charts/episodic_return"]) for r in rows if r.get("charts/episodic_return") is not None]
    ev = [(r["step"], r["eval/mean_return"]) for r in rows if r.get("eval/mean_return") is not None]
    if ep:
        ax.plot(*zip(*ep, strict=True), ".", ms=3, alpha=0.4, label="training episodes")
    if ev:
        ax.plot(*zip(*ev, strict=True), "o-", label="evaluation (deterministic)")
    title = run_dir.name
    summary = run_dir / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        title = f"{s['algo']} on {s['env']}, seed {s['seed']}"
    ax.set(xlabel="environment steps", ylabel="return", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = run_dir / "learning_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

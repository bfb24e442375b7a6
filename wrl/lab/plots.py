"""Plots of runs: the learning curve next to the run, and curves of many runs.

Figures are drawn by matplotlib's Agg renderer on figures of their own (not pyplot's), so plotting selects
no global backend and opens no window; matplotlib is an optional dependency (``pip install -e '.[plots]'``).
"""

from __future__ import annotations

from pathlib import Path

from wrl import runs
from wrl.training.curve import new_figure, plot_learning_curve
from wrl.training.logger import read_metrics

__all__ = ["find_runs", "new_figure", "plot_curves", "plot_learning_curve"]

Curve = list[tuple[int, float]]


def plot_curves(curves: dict[tuple[str, str], list[Curve]], path: str | Path) -> Path:
    """Evaluation curves grouped by (algorithm, task): one panel per task, per algorithm the mean over its
    runs with a 95% band (mean +- 1.96 standard errors, at the steps every run reached). PNG, SVG or PDF by
    the suffix of ``path``."""
    import numpy as np

    tasks = list(dict.fromkeys(t for _, t in curves))
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)
    fig = new_figure("plotting curves", figsize=(5 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for (algo, t), group in curves.items():
            if t != task or not group:
                continue
            n = min(len(r) for r in group)
            if n == 0:
                continue
            steps = np.array([s for s, _ in group[0][:n]])
            values = np.array([[v for _, v in r[:n]] for r in group], np.float64)
            mean = values.mean(0)
            half = 1.96 * values.std(0, ddof=1) / np.sqrt(len(group)) if len(group) > 1 else np.zeros_like(mean)
            ax.plot(steps, mean, label=f"{algo} ({len(group)} runs)")
            ax.fill_between(steps, mean - half, mean + half, alpha=0.2)
        ax.set(title=task, xlabel="environment steps", ylabel="evaluation return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def find_runs(paths: list[str | Path]) -> dict[tuple[str, str], list[Curve]]:
    """Evaluation curves of every run under ``paths`` (run directories, groups of seeds, suites), grouped by
    (algorithm label, task). A run is a directory with a ``config.json`` and evaluation rows in its
    ``metrics.jsonl``; inside a suite the label is its ``runs/LABEL/TASK`` directory."""
    from wrl.errors import RunDirError

    found: dict[tuple[str, str], list[Curve]] = {}
    for root in map(Path, paths):
        if not root.exists():
            raise RunDirError(f"{root} does not exist; give run directories, groups of seeds or suite directories")
        dirs = [root] if (root / runs.CONFIG).exists() else sorted(p.parent for p in root.rglob(runs.CONFIG))
        if not dirs:
            raise RunDirError(f"{root} holds no wrl run (no config.json below it)")
        for d in dirs:
            config = runs.read_json(d / runs.CONFIG)["config"]
            label = config["algo"]
            parts = d.relative_to(root).parts if d != root else ()
            if (root / "suite.json").exists() and len(parts) >= 3 and parts[0] == "runs":
                label = parts[1]
            evals = [(r["step"], r["eval/mean_return"]) for r in read_metrics(d)
                     if r.get("eval/mean_return") is not None]
            found.setdefault((label, config["env"]), []).append(evals)
    return found

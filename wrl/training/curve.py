"""The learning curve of a run, written next to it (``learning_curve.png``) by :func:`wrl.training.trainer.train`
and ``wrl train`` alike.

Figures are drawn by matplotlib's Agg renderer on figures of their own (not pyplot's), so plotting selects
no global backend and opens no window; matplotlib is an optional dependency (``pip install -e '.[plots]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wrl import runs
from wrl.optional import require
from wrl.training.logger import read_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(what: str = "plotting", **kwargs: Any) -> Figure:
    """A matplotlib ``Figure`` (``kwargs`` as for ``Figure``) on an Agg canvas of its own.

    Unlike ``pyplot.figure`` it is not registered with pyplot, so it selects no global backend, is never
    shown, and is freed with its last reference (no ``close``). ``savefig`` writes PNG, SVG or PDF by the
    suffix. Raises :class:`~wrl.errors.MissingDependencyError` naming ``what`` when matplotlib is missing.
    """
    require("matplotlib", what)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curve(run_dir: str | Path) -> Path:
    """Evaluation return (and training episode returns) against environment steps -> learning_curve.png."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    fig = new_figure("the learning curve", figsize=(6, 4))
    ax = fig.subplots()
    ep = [(r["step"], r["charts/episodic_return"]) for r in rows if r.get("charts/episodic_return") is not None]
    ev = [(r["step"], r["eval/mean_return"]) for r in rows if r.get("eval/mean_return") is not None]
    if ep:
        ax.plot(*zip(*ep, strict=True), ".", ms=3, alpha=0.4, label="training episodes")
    if ev:
        ax.plot(*zip(*ev, strict=True), "o-", label="evaluation (deterministic)")
    title = run_dir.name
    summary = run_dir / runs.SUMMARY
    if summary.exists():
        s = runs.read_json(summary)
        title = f"{s['algo']} on {s['env']}, seed {s['seed']}"
    ax.set(xlabel="environment steps", ylabel="return", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = run_dir / runs.LEARNING_CURVE
    fig.savefig(path, dpi=100)
    return path

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


def label_colours(labels: list[str]) -> dict[str, str]:
    """One matplotlib colour per label, in the order given (the same label: the same colour in every panel)."""
    ordered = list(dict.fromkeys(labels))
    palette = [f"C{i}" for i in range(10)] + ["tab:olive", "tab:cyan", "black", "gold", "navy", "lime"]
    return {label: palette[i % len(palette)] for i, label in enumerate(ordered)}


def plot_curves(curves: dict[tuple[str, str], list[Curve]], path: str | Path) -> Path:
    """Evaluation curves grouped by (label, task): one panel per task, per label the mean over its runs with a
    95% band (mean +- 1.96 standard errors, at the steps every run reached). A label has one colour in every
    panel. PNG, SVG or PDF by the suffix of ``path``."""
    import numpy as np

    tasks = list(dict.fromkeys(t for _, t in curves))
    colours = label_colours([label for label, _ in curves])
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
            ax.plot(steps, mean, color=colours[algo], label=f"{algo} ({len(group)} runs)")
            ax.fill_between(steps, mean - half, mean + half, color=colours[algo], alpha=0.2)
        ax.set(title=task, xlabel="environment steps", ylabel="evaluation return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


SHOWN_DIFFERENCES = 3  # settings named in a label made of differing settings; more are summarised as "+N"


def _settings(record: dict) -> dict[str, object]:
    """A run's full settings: its config without the seed (and the task, a panel of its own), and its agent's
    config; flat ``name -> value`` (JSON values)."""
    flat = {k: v for k, v in record.get("config", {}).items() if k not in ("seed", "env")}
    flat.update({k: v for k, v in record.get("agent_config", {}).items()})
    return flat


def _shown_value(v: object) -> str:
    return " ".join(map(str, v)) if isinstance(v, list) else str(v)


def group_labels(groups: list[tuple[str | None, dict[str, object]]]) -> list[str]:
    """The legend label of each group of runs, given as (recorded label or None, settings): the recorded label
    (a suite's algorithm label) where there is one, else the algorithm and the settings in which it differs
    from the other groups of that algorithm (``wpo n_step=3``). Groups that would share a label apart from
    their settings get their differing settings appended."""
    def differing(members: list[dict[str, object]], settings: dict[str, object]) -> list[str]:
        keys = sorted(k for k in settings if any(m.get(k) != settings[k] for m in members))
        shown = [f"{k}={_shown_value(settings[k])}" for k in keys[:SHOWN_DIFFERENCES]]
        return shown + ([f"+{len(keys) - SHOWN_DIFFERENCES} more"] if len(keys) > SHOWN_DIFFERENCES else [])

    labels = []
    for label, settings in groups:
        if label:
            labels.append(label)
            continue
        algo = str(settings.get("algo"))
        same_algo = [s for lab, s in groups if not lab and s.get("algo") == algo]
        labels.append(" ".join([algo, *differing(same_algo, settings)]))
    for i, (label, settings) in enumerate(groups):  # one label, several settings: tell them apart
        clash = [s for j, (lab, s) in enumerate(groups) if labels[j] == labels[i]]
        if label and len(clash) > 1 and any(s != settings for s in clash):
            labels[i] = " ".join([labels[i], *differing(clash, settings)])
    return labels


def find_runs(paths: list[str | Path]) -> dict[tuple[str, str], list[Curve]]:
    """Evaluation curves of every run under ``paths`` (run directories, groups of seeds, suites), grouped by
    (label, task): the runs of one group share every setting but the seed. A run is a directory with a
    ``config.json`` and evaluation rows in its ``metrics.jsonl``. Its label is the one it recorded (``wrl train
    --label``, as suites run it), else inside a suite its ``runs/LABEL/TASK`` directory, else the algorithm and
    the settings that set its group apart (:func:`group_labels`)."""
    import json

    from wrl.errors import RunDirError

    found: dict[tuple[str | None, str, str], list[Curve]] = {}  # (label, settings, task) -> curves
    for root in map(Path, paths):
        if not root.exists():
            raise RunDirError(f"{root} does not exist; give run directories, groups of seeds or suite directories")
        dirs = [root] if (root / runs.CONFIG).exists() else sorted(p.parent for p in root.rglob(runs.CONFIG))
        if not dirs:
            raise RunDirError(f"{root} holds no wrl run (no config.json below it)")
        for d in dirs:
            record = runs.read_json(d / runs.CONFIG)
            label = record.get("label")
            parts = d.relative_to(root).parts if d != root else ()
            if not label and (root / "suite.json").exists() and len(parts) >= 3 and parts[0] == "runs":
                label = parts[1]
            evals = [(r["step"], r["eval/mean_return"]) for r in read_metrics(d)
                     if r.get("eval/mean_return") is not None]
            key = (label, json.dumps(_settings(record), sort_keys=True), record["config"]["env"])
            found.setdefault(key, []).append(evals)
    groups = list(dict.fromkeys((label, settings) for label, settings, _ in found))
    labels = dict(zip(groups, group_labels([(lab, json.loads(s)) for lab, s in groups]), strict=True))
    out: dict[tuple[str, str], list[Curve]] = {}
    for (label, settings, task), curves in found.items():
        out.setdefault((labels[(label, settings)], task), []).extend(curves)
    return out

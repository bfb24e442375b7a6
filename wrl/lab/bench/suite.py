"""`wrl bench suite NAME|FILE.toml`: algorithms x tasks x seeds x budget, resumable, with aggregate statistics.

Every (algorithm, task) pair is one group of seeds trained side by side (`wrl train --seeds ...`) in a fresh
process, written to ``OUT/runs/ALGO/TASK``; with ``--split-seeds`` every seed of a new group trains in a
process of its own (`wrl train --seed S`, one XLA thread, ``--jobs`` processes at a time) into
``OUT/runs/ALGO/TASK/seed-S``, the same layout, which pays where one update is large (see :func:`run_suite`).
Running the same command again reuses every finished group, resumes every interrupted one from its checkpoints
(exactly: a suite killed mid-run ends with the numbers of one never killed) and starts the rest, so a long suite
survives interruptions; a subset of its algorithms or tasks (``--algos``, ``--tasks``) may run into the same
directory, in any order, while the budget, seeds and run options must agree. The report (``OUT/report.md``,
``report.json``, ``curves.png``, ``profiles.png``) has per-task tables of every seed, learning curves with bands,
and the aggregate interquartile mean with stratified bootstrap confidence intervals, the probability of
improvement and performance profiles (:mod:`wrl.lab.bench.aggregate`), and a no-collapse check: every run that ended
below half of its best, and whether it did so with saturated actions or a runaway std (:func:`collapse_check`).

A user suite is a TOML file with the fields of :class:`Suite`::

    name = "my-suite"
    algos = ["sac", "wppg-i=wppg --policy implicit"]   # ALGO or 'LABEL=ALGO [wrl train options]'
    tasks = ["gym:Pendulum-v1", "dmc:cartpole-swingup"]
    seeds = [0, 1, 2]
    total_steps = 20000
    eval_every = 2000
    eval_episodes = 10
    train_args = "--learning-starts 1000"              # for every run
    reuse = ["sac=old/runs/sac"]                       # optional: finished groups to copy instead of training

``reuse`` names, per label, directories (relative to the working directory) that hold finished groups of
another suite, one subdirectory per task as in ``OUT/runs/LABEL``: a group of this suite that is not in ``OUT``
yet is copied from there when one finished there with the same seeds and, seed by seed, the configuration this
suite would train (:func:`reusable`); otherwise it trains. A directory inside an archive of results counts as
one: ``results/suite_runs/NAME/runs/LABEL`` is ``runs/LABEL`` in ``results/suite_runs/NAME.tar.xz`` (the light
run files kept in the repository, see :mod:`wrl.lab.bench.results`), read from a temporary copy.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from wrl import runs
from wrl.agents import ALGOS
from wrl.atomic import write_json
from wrl.config import REQUIRED, hp
from wrl.errors import ConfigError, Interrupted, RunDirError, WrlError
from wrl.lab.bench.archives import Unpacked
from wrl.lab.bench.common import (
    command_line,
    load_toml_dataclass,
    machine_info,
    machine_line,
    markdown_table,
    parse_variant,
)
from wrl.lab.bench.units import Stopper, Unit, run_unit
from wrl.optional import ensure


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named set of runs: every algorithm on every task with every seed, at one budget."""

    name: str
    algos: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    total_steps: int
    eval_every: int
    eval_episodes: int = 10
    train_args: str = ""
    reuse: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.algos or not self.tasks or not self.seeds:
            raise ConfigError(f"suite {self.name!r} needs at least one algorithm, task and seed")
        if self.total_steps <= 0 or self.eval_every <= 0 or self.eval_episodes <= 0:
            raise ConfigError(f"suite {self.name!r}: total_steps, eval_every and eval_episodes must be > 0")
        labels = [parse_variant(a)[0] for a in self.algos]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"suite {self.name!r} has two algorithms with the same label; name them LABEL=ALGO")
        for spec in self.algos:
            algo = parse_variant(spec)[1]
            if algo not in ALGOS:
                raise ConfigError(f"suite {self.name!r}: {spec!r} names no algorithm (choose one of "
                                  f"{', '.join(sorted(ALGOS))}, or a label of the suite's own entries)")
        for entry in self.reuse:
            label, sep, where = entry.partition("=")
            if not sep or not where or label not in labels:
                raise ConfigError(f"suite {self.name!r}: reuse entry {entry!r} must be LABEL=DIRECTORY with a "
                                  f"label of the suite ({', '.join(labels)})")


SUITES: dict[str, Suite] = {
    "smoke": Suite("smoke", ("sac", "td3", "wpo", "wppg", "wppg-i=wppg --policy implicit", "wgf-direct",
                             "wgf-indirect=wgf-indirect --learning-starts 0"), ("gym:Pendulum-v1",),
                   (0, 1), total_steps=3000, eval_every=1000, eval_episodes=5, train_args="--learning-starts 500"),
    "mujoco": Suite("mujoco", ("sac", "td3", "wpo", "wppg"),
                    ("gym:HalfCheetah-v5", "gym:Hopper-v5", "gym:Walker2d-v5", "gym:Ant-v5", "gym:Humanoid-v5"),
                    (0, 1, 2, 3, 4), total_steps=1_000_000, eval_every=10_000, eval_episodes=10,
                    train_args="--learning-starts 5000"),
    "dmc": Suite("dmc", ("sac", "wpo", "wppg"),
                 ("dmc:cartpole-swingup", "dmc:cheetah-run", "dmc:walker-walk", "dmc:reacher-hard", "dmc:finger-spin",
                  "dmc:humanoid-walk"), (0, 1, 2), total_steps=500_000, eval_every=10_000, eval_episodes=10,
                 train_args="--learning-starts 5000"),
}


def load_suite(name_or_file: str) -> Suite:
    """A built-in suite by name, or a user suite from a TOML file."""
    if name_or_file in SUITES:
        return SUITES[name_or_file]
    path = Path(name_or_file)
    if not path.is_file():
        raise ConfigError(f"unknown suite {name_or_file!r}; choose one of {', '.join(SUITES)} or give a TOML file")
    return load_toml_dataclass(path, Suite, "suite", ("algos", "tasks", "seeds", "reuse"), name=path.stem)


def unit_dir(out: Path, label: str, task: str) -> Path:
    return out / "runs" / label / runs.slug(task)


SPLIT_FILE = "split_seeds.json"  # in a group directory whose seeds train as separate runs: {"seeds": [...]}


def split_seeds_of(path: Path) -> list[int] | None:
    """The seeds of a group trained one process per seed, or None for a group trained side by side."""
    split = path / SPLIT_FILE
    return json.loads(split.read_text())["seeds"] if split.exists() else None


def _state(path: Path) -> str:
    """'finished', 'interrupted' (resumable), or 'new'."""
    split = split_seeds_of(path)
    if split is not None:
        states = {runs.quick_state(runs.seed_dir(path, s)) for s in split}
        return "finished" if states == {"finished"} else "interrupted" if states - {"new"} else "new"
    return runs.quick_state(path)


def train_args(suite: Suite, algo_spec: str, task: str, path: Path, seed: int | None = None) -> list[str]:
    """The `wrl train` options of one (algorithm, task) group of the suite (``seed``: of that seed alone,
    written to ``path/seed-SEED``); an algorithm's own options come after the suite-wide ``train_args``, so
    they win. Each run records the algorithm's label (``--label``), which ``wrl plot`` shows wherever the run
    is copied to."""
    label, algo, opts = parse_variant(algo_spec)
    seeds, run_dir = (["--seeds", *map(str, suite.seeds)], path) if seed is None else \
        (["--seed", str(seed)], runs.seed_dir(path, seed))
    return ["--algo", algo, "--env", task, *seeds, "--total-steps",
            str(suite.total_steps), "--eval-every", str(suite.eval_every), "--eval-episodes",
            str(suite.eval_episodes), *shlex.split(suite.train_args), *opts, "--run-dir", str(run_dir),
            "--label", label]


def group_units(suite: Suite, spec: str, task: str, path: Path, split: bool) -> list[Unit]:
    """The `wrl train` processes that bring one group to its end: one (the group side by side), or with
    ``split`` (or a group started split) one per unfinished seed."""
    seeds = split_seeds_of(path) if path.exists() else None
    if seeds is None and (not split or runs.is_group(path)):  # side by side, or started so
        return [Unit(path, tuple(train_args(suite, spec, task, path)))]
    if seeds is None:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / SPLIT_FILE, {"seeds": list(suite.seeds)})
        seeds = list(suite.seeds)
    return [Unit(runs.seed_dir(path, s), tuple(train_args(suite, spec, task, path, seed=s)))
            for s in seeds if runs.quick_state(runs.seed_dir(path, s)) != "finished"]


def recorded_differences(suite: Suite, spec: str, task: str, seed: int, record: dict[str, Any]) -> list[str]:
    """How the configuration a run recorded (its ``config.json``) differs from the one this suite trains for
    (``spec``, ``task``, ``seed``): one ``field: recorded -> today`` line per difference. Fields added to the
    configurations after the run are not in its record and are not compared; a record of an older wrl is read in
    today's fields (:func:`wrl.config.upgrade`), and a recorded field that no longer exists is a difference."""
    from wrl.agents import config_class
    from wrl.config import to_dict, upgrade
    from wrl.lab.cli import configs_from_argv

    cfg, agent = configs_from_argv(train_args(suite, spec, task, Path("unused"), seed=seed))
    today = json.loads(json.dumps({"config": to_dict(cfg), "agent_config": to_dict(agent)}))
    algo = record.get("config", {}).get("algo")
    try:  # a record of an older wrl in today's fields
        record = {"config": upgrade(type(cfg), record.get("config", {})),
                  "agent_config": upgrade(config_class(algo) if algo in ALGOS else type(agent),
                                          record.get("agent_config", {}))}
    except ConfigError as e:
        return [str(e)]
    differ = []
    for part in ("config", "agent_config"):
        for k, v in record[part].items():
            if k not in today[part]:
                differ.append(f"{k}: {v!r} -> no such field")
            elif today[part][k] != v:
                differ.append(f"{k}: {v!r} -> {today[part][k]!r}")
    return differ


def reusable(suite: Suite, spec: str, task: str, source: Path) -> str | None:
    """Why the group in ``source`` cannot stand for this suite's (``spec``, ``task``) group, or None if it can:
    it finished, with this suite's seeds, and every seed recorded the configuration this suite would train."""
    if not source.exists():
        return "not found"
    if _state(source) != "finished":
        return "not finished"
    seeds = split_seeds_of(source)
    if seeds is None:
        seeds = runs.read_json(source / runs.GROUP)["seeds"]
    if sorted(seeds) != sorted(suite.seeds):
        return f"seeds {seeds}, the suite's are {list(suite.seeds)}"
    for s in suite.seeds:
        differ = recorded_differences(suite, spec, task, s, runs.read_json(runs.seed_dir(source, s) / runs.CONFIG))
        if differ:
            return f"seed {s} was trained with another configuration ({'; '.join(differ)})"
    return None


def reuse_group(suite: Suite, spec: str, task: str, path: Path, sources: Unpacked | None = None) -> Path | None:
    """Copy a finished group of ``suite.reuse`` into ``path`` (which does not exist) when one stands for it
    (:func:`reusable`); returns where it came from (as the entry names it), or None. A source without this task
    is passed over quietly (a suite may reuse several, each for some tasks); for any other reason a line on
    stderr says why. ``sources`` reads entries inside archives of results (a fresh one, closed on return, when
    None)."""
    import shutil

    if sources is None:
        with Unpacked() as fresh:
            return reuse_group(suite, spec, task, path, fresh)
    label = parse_variant(spec)[0]
    for entry in suite.reuse:
        name, _, where = entry.partition("=")
        if name != label:
            continue
        named, source = Path(where) / runs.slug(task), sources.path(where) / runs.slug(task)
        if not source.exists():
            continue
        why = reusable(suite, spec, task, source)
        if why is None:
            shutil.copytree(source, path)
            return named
        print(f"[suite] not reusing {named} for {label} on {task}: {why}", file=sys.stderr, flush=True)
    return None


RUN_FIELDS = ("name", "seeds", "total_steps", "eval_every", "eval_episodes", "train_args")


def merged_record(previous: dict[str, Any], record: dict[str, Any], out: Path) -> dict[str, Any]:
    """The suite definition of ``out`` once ``record`` runs there: what every run is (the fields in
    ``RUN_FIELDS``) must agree, and an algorithm label already there must name the same options, so that a
    subset of a suite's algorithms or tasks (``--algos``/``--tasks``) runs into the same directory; new
    algorithms and tasks are added to the definition. Anything else is a different suite (a ConfigError)."""
    differ = [k for k in RUN_FIELDS if previous.get(k) != record[k]]
    known = {parse_variant(a)[0]: a for a in previous.get("algos", [])}
    differ += [f"algorithm {parse_variant(a)[0]!r}" for a in record["algos"]
               if known.get(parse_variant(a)[0], a) != a]
    if differ:
        raise ConfigError(f"{out} holds a different suite ({previous.get('name')!r}; {', '.join(differ)} "
                          "differ); choose another --out")
    merged = dict(previous)
    merged["algos"] = list(previous["algos"]) + [a for a in record["algos"] if a not in previous["algos"]]
    merged["tasks"] = list(previous["tasks"]) + [t for t in record["tasks"] if t not in previous["tasks"]]
    return merged


class SuiteFailed(WrlError):
    """Some groups of a suite did not finish (each named on its own line before this one); exit status 1."""

    exit_status = 1


def run_suite(suite: Suite, out: Path, jobs: int = 1, backend: str = "local", address: str | None = None,
              limit: int | None = None, split_seeds: bool = False, retries: int = 2) -> dict[str, int]:
    """Bring every group of ``suite`` in ``out`` to its end; returns how many were reused, resumed and run.

    A `wrl train` process that dies is retried from its group's last checkpoint (at most ``retries`` times, each
    announced on stderr) while the others go on; the groups that still did not finish are named one per line on
    stderr and end the suite with :class:`SuiteFailed`. SIGTERM or SIGINT are forwarded to the processes
    running, which write checkpoints and exit; the suite then raises :class:`~wrl.errors.Interrupted`.

    ``limit`` stops after that many groups were started or resumed (the rest stay for the next call).
    ``split_seeds``: new groups train each seed in its own single-threaded process (``jobs`` at a time)
    instead of all seeds vmapped in one process. For wgf-direct on HalfCheetah-v5 (8 action particles per
    state) one process per seed, one XLA thread each, ran 34 env steps/s per process beside a second one,
    against 9 per seed for three seeds vmapped in one process with XLA's default threading. A group keeps
    the mode it was started in when it is resumed.
    """
    out.mkdir(parents=True, exist_ok=True)
    definition = out / "suite.json"
    record = json.loads(json.dumps(dataclasses.asdict(suite)))
    if definition.exists():
        record = merged_record(json.loads(definition.read_text()), record, out)
    write_json(definition, record)
    counts = {"reused": 0, "resumed": 0, "ran": 0}
    todo: list[list[Unit]] = []
    with Unpacked() as sources:
        for spec in suite.algos:
            label = parse_variant(spec)[0]
            for task in suite.tasks:
                path = unit_dir(out, label, task)
                if not path.exists() and (source := reuse_group(suite, spec, task, path, sources)) is not None:
                    print(f"[suite] {label} on {task}: copied the finished group of {source}", flush=True)
                state = _state(path) if path.exists() else "new"
                if state == "finished":
                    counts["reused"] += 1
                    continue
                if limit is not None and len(todo) >= limit:
                    continue
                units = group_units(suite, spec, task, path, split_seeds)
                if not units:  # seeds run apart, each already finished
                    counts["reused"] += 1
                    continue
                counts["resumed" if state == "interrupted" else "ran"] += 1
                todo.append(units)
    units = [unit for group in todo for unit in group]
    single_thread = jobs > 1 or split_seeds
    stopper = Stopper()
    with stopper.handling_signals():
        if backend == "ray":
            from wrl.lab.bench.ray_backend import run_units_on_ray

            results = run_units_on_ray(units, address=address, jobs=jobs, single_thread=single_thread,
                                       retries=retries, stopper=stopper)
        else:
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                results = list(pool.map(lambda u: run_unit(u, single_thread, retries, stopper), units))
    if stopper.signum is not None:
        saved = sum(r.interrupted and r.attempts > 0 for r in results)
        raise Interrupted(stopper.signum, f"suite {suite.name} stopped by {signal.Signals(stopper.signum).name}: "
                                          f"{saved} running runs wrote checkpoints; continue with the same "
                                          "`wrl bench suite` command")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"[suite] {r.unit.path} did not finish: {r.reason}", file=sys.stderr, flush=True)
    if failed:
        raise SuiteFailed(f"{len(failed)} of {len(results)} runs of suite {suite.name} did not finish (listed "
                          "above); the rest are done. Fix the cause and run the same command again")
    return counts


def last_metrics(metrics_file: Path, names: tuple[str, ...]) -> dict[str, float | None]:
    """The last logged value of each metric in ``names`` (a window mean of the run's last metric row holding
    it), or None where the run never logged it."""
    last: dict[str, float | None] = dict.fromkeys(names)
    for row in runs.read_jsonl(metrics_file):
        last.update({k: row[k] for k in names if k in row})
    return last


# The policy's box diagnostics read for the collapse check, where an agent logs them (WPO does).
BOX_METRICS = ("policy/std", "policy/mean_abs")
SATURATED_MEAN_ABS = 0.95  # mean |deterministic action| at or above this: the means sit on the box's edge
RUNAWAY_STD = 1.0  # a policy std at or above the box's half-width: most samples leave the box


def collapse_check(task: str, run: dict[str, Any]) -> dict[str, Any]:
    """Whether one run fell, and whether that fall is the off-box collapse.

    ``fell``: the final evaluation is below half of the run's best, both measured above a baseline:
    (final - b) < (best - b) / 2, with b the task's random score where :func:`wrl.lab.bench.aggregate.normalise`
    knows one (0 for DeepMind Control, the uniform policy's return for the Gymnasium tasks with reference
    scores) and the run's first evaluation otherwise (so that negative returns, e.g. Pendulum's, are read the
    same way). ``collapsed``: it fell with saturated actions (mean |deterministic action| >=
    ``SATURATED_MEAN_ABS``) or a runaway std (>= ``RUNAWAY_STD``) in the last logging window; None where
    the agent logs neither diagnostic (then only ``fell`` is known).
    """
    from wrl.lab.bench.aggregate import random_score

    final, best = float(run["final"]), float(run["best"])
    baseline = random_score(task)
    if baseline is None:
        baseline = float(run["evals"][0][1]) if run["evals"] else final
    fell = bool(final - baseline < 0.5 * (best - baseline))
    std, mean_abs = (run.get("box") or {}).get("policy/std"), (run.get("box") or {}).get("policy/mean_abs")
    if std is None and mean_abs is None:
        collapsed = None if fell else False
    else:
        off_box = (mean_abs is not None and mean_abs >= SATURATED_MEAN_ABS) or (std is not None and std >= RUNAWAY_STD)
        collapsed = bool(fell and off_box)
    return {"fell": fell, "collapsed": collapsed, "baseline": baseline, "std": std, "mean_abs": mean_abs}


def collect(suite: Suite, out: Path, diagnostics: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every finished group's per-seed results: final, best, curves, wall-clock, steps/s, and the last value
    of each metric named in ``diagnostics``."""
    results: dict[str, dict[str, Any]] = {}
    for spec in suite.algos:
        label = parse_variant(spec)[0]
        for task in suite.tasks:
            path = unit_dir(out, label, task)
            if not path.exists() or _state(path) != "finished":
                continue
            seeds = []
            for s in suite.seeds:
                summary = runs.read_json(runs.seed_dir(path, s) / runs.SUMMARY)
                names = tuple(dict.fromkeys(diagnostics + BOX_METRICS))
                last = last_metrics(runs.seed_dir(path, s) / runs.METRICS, names)
                run = {"seed": s, "final": summary["final_eval_return"], "best": summary["best_eval_return"],
                       "evals": [(e["step"], e["mean_return"]) for e in summary["evaluations"]],
                       "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"],
                       "diagnostics": {m: last[m] for m in diagnostics}, "box": {m: last[m] for m in BOX_METRICS}}
                run["check"] = collapse_check(task, run)
                seeds.append(run)
            results.setdefault(label, {})[task] = seeds
    return results


def report(suite: Suite, out: Path, reps: int = 2000, diagnostics: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write OUT/report.md, report.json, curves.png and profiles.png from the finished groups; ``diagnostics``
    adds, per task, the last logged value of those metrics for every seed."""
    from wrl.lab.bench.aggregate import iqm, performance_profiles, summarise

    results = collect(suite, out, diagnostics)
    final = {a: {t: [r["final"] for r in runs] for t, runs in tasks.items()} for a, tasks in results.items()}
    stats = summarise(final, reps=reps) if final else {"aggregate": None, "why_no_aggregate": "no finished group"}
    payload = {"suite": dataclasses.asdict(suite), "machine": machine_info(), "command": command_line(),
               "results": results, "statistics": stats}
    write_json(out / "report.json", payload)
    lines = [f"# Suite {suite.name}", "", f"Command: `{payload['command']}`", "", machine_line(payload["machine"]), "",
             f"{len(suite.seeds)} seeds x {suite.total_steps} steps, evaluation every {suite.eval_every} steps "
             f"({suite.eval_episodes} deterministic episodes); the final return is the last evaluation.", ""]
    for task in suite.tasks:
        rows = []
        for algo, tasks in results.items():
            if task not in tasks:
                continue
            runs = tasks[task]
            finals = np.array([r["final"] for r in runs])
            rows.append([algo, ", ".join(f"s{r['seed']}: {r['final']:.0f} ({r['best']:.0f})" for r in runs),
                         float(finals.mean()), iqm(finals), float(np.mean([r["wall_seconds"] for r in runs])),
                         float(np.mean([r["steps_per_second"] for r in runs]))])
        if rows:
            lines += [f"## {task}", "", markdown_table(["algo", "per seed: final (best)", "mean final", "IQM final",
                                                        "wall-clock s (per seed)", "steps/s per seed"], rows), ""]
        if rows and diagnostics:
            def show(v: float | None) -> str:
                return "-" if v is None else f"{v:.3g}"

            rows = [[algo, *(", ".join(show(r["diagnostics"][m]) for r in tasks[task]) for m in diagnostics)]
                    for algo, tasks in results.items() if task in tasks]
            lines += ["Last logged value of each diagnostic (the mean over the last logging window), per seed:", "",
                      markdown_table(["algo", *diagnostics], rows), ""]
        if rows:
            lines += [_fell_line(results, task), ""]
    if results:
        lines += _collapse_summary(results)
    if stats.get("aggregate"):
        lines += ["## Aggregate over tasks (normalised scores, 95% stratified bootstrap intervals)", "",
                  "Normalisation: " + "; ".join(f"{t}: {h}" for t, h in stats["normalisation"].items()) + ".", ""]
        # the optimality gap (mean shortfall below 1) only means something on normalised scores
        names = [n for n in ("iqm", "mean", "median", "optimality_gap")
                 if n != "optimality_gap" or not any(h.startswith("raw") for h in stats["normalisation"].values())]
        rows = [[a, *(f"{agg[n][0]:.3f} [{agg[n][1]:.3f}, {agg[n][2]:.3f}]" for n in names)]
                for a, agg in stats["aggregate"].items()]
        lines += [markdown_table(["algo", *(n.replace("_", " ").replace("iqm", "IQM") for n in names)], rows), ""]
        if stats["probability_of_improvement"]:
            rows = [[k, f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"] for k, v in stats["probability_of_improvement"].items()]
            lines += [markdown_table(["P(X > Y)", "estimate [95% interval]"], rows), ""]
        scores = {a: np.asarray(s) for a, s in stats["scores"].items()}
        lo, hi = min(float(s.min()) for s in scores.values()), max(float(s.max()) for s in scores.values())
        taus = np.linspace(lo, hi, 41)
        profiles, bands = performance_profiles(scores, taus, reps=max(50, reps // 4))
        _plot_profiles(taus, profiles, bands, out / "profiles.png")
        lines += ["![performance profiles](profiles.png)", ""]
    elif stats.get("why_no_aggregate"):
        lines += [f"No aggregate: {stats['why_no_aggregate']}.", ""]
    if results:
        from wrl.lab.plots import plot_curves

        plot_curves({(a, t): [r["evals"] for r in runs] for a, tasks in results.items() for t, runs in tasks.items()},
                    out / "curves.png")
        lines += ["![learning curves](curves.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    return payload


def _fell_line(results: dict[str, Any], task: str) -> str:
    """One sentence naming every run of ``task`` that ended below half of its best, with its box diagnostics."""
    def describe(algo: str, r: dict[str, Any]) -> str:
        c = r["check"]
        box = ", ".join(f"{n} {v:.3g}" for n, v in (("std", c["std"]), ("mean |a|", c["mean_abs"])) if v is not None)
        verdict = {True: "the off-box collapse", False: "not the off-box collapse",
                   None: "no box diagnostics logged"}[c["collapsed"]]
        box = f"; {box}" if box else ""
        return f"{algo} s{r['seed']} (final {r['final']:.0f}, best {r['best']:.0f}{box}: {verdict})"

    fell = [describe(a, r) for a, tasks in results.items() for r in tasks.get(task, []) if r["check"]["fell"]]
    return "Ended below half of their best: " + ("; ".join(fell) if fell else "none") + "."


def _collapse_summary(results: dict[str, Any]) -> list[str]:
    """The no-collapse check over every finished run (see :func:`collapse_check`)."""
    lines = ["## No-collapse check", "",
             "A run *fell* when its final return is below half of its best, both above the task's random score "
             "(the first evaluation where none is known); it *collapsed* when it fell with saturated actions "
             f"(mean |deterministic action| >= {SATURATED_MEAN_ABS}) or a runaway std (>= {RUNAWAY_STD}) in its "
             "last logging window.", ""]
    rows = []
    for algo, tasks in results.items():
        checks = [r["check"] for runs in tasks.values() for r in runs]
        unknown = sum(c["collapsed"] is None for c in checks)
        collapsed = sum(c["collapsed"] is True for c in checks)
        rows.append([algo, len(checks), sum(c["fell"] for c in checks),
                     f"{collapsed} (+{unknown} fell without box diagnostics)" if unknown else collapsed])
    return [*lines, markdown_table(["algo", "runs", "fell", "collapsed"], rows), ""]


def _plot_profiles(taus: np.ndarray, profiles: dict, bands: dict, path: Path) -> None:
    from wrl.lab.plots import new_figure

    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    for algo, p in profiles.items():
        ax.plot(taus, p, label=algo)
        ax.fill_between(taus, bands[algo][0], bands[algo][1], alpha=0.2)
    ax.set(xlabel="normalised score tau", ylabel="fraction of runs with score > tau", title="performance profiles")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def size_line(suite: Suite, out: Path, jobs: int = 1) -> str:
    """What a suite is about to do, said before it starts: its runs and environment steps, how many groups are
    left to train in ``out``, and an estimate of the time they take from the groups already finished there
    (their mean wall-clock per group, ``jobs`` groups at a time), where there are any."""
    groups = [(spec, task) for spec in suite.algos for task in suite.tasks]
    left = sum(not unit_dir(out, parse_variant(spec)[0], task).exists()
               or _state(unit_dir(out, parse_variant(spec)[0], task)) != "finished" for spec, task in groups)
    n_runs = len(groups) * len(suite.seeds)
    line = (f"suite {suite.name}: {len(suite.algos)} algorithms x {len(suite.tasks)} tasks x {len(suite.seeds)} "
            f"seeds = {n_runs} runs of {suite.total_steps:,} steps ({n_runs * suite.total_steps:,} environment steps); "
            f"{left} of {len(groups)} groups left to train")
    if not left:
        return line
    finished = collect(suite, out)
    walls = [max(r["wall_seconds"] for r in seeds) for tasks in finished.values() for seeds in tasks.values()]
    if not walls:
        return line + " (no estimate yet: none has finished here; each finished group's wall-clock gives one)"
    hours = -(-left // max(1, jobs)) * float(np.mean(walls)) / 3600
    return line + (f", about {hours:.1f} h at the {float(np.mean(walls)) / 60:.0f} min per group of the {len(walls)} "
                   f"finished here ({jobs} at a time; tasks differ, so this is rough)")


def resolve_labels(entries: tuple[str, ...], defined: tuple[str, ...]) -> tuple[str, ...]:
    """``--algos`` entries with every bare label the suite defines replaced by the suite's own entry.

    ``wpo-n3`` in a suite whose ``algos`` holds ``"wpo-n3=wpo --n-step 3"`` means that entry; an algorithm name
    or a full ``LABEL=ALGO [options]`` entry is kept as given.
    """
    by_label = {parse_variant(a)[0]: a for a in defined}
    return tuple(by_label.get(e, e) if "=" not in e and " " not in e.strip() else e for e in entries)


def with_overrides(suite: Suite, **overrides: Any) -> Suite:
    """``suite`` with the command line's ``total_steps``, ``seeds``, ``algos`` or ``tasks``: bare labels of
    ``algos`` stand for the suite's entries (``resolve_labels``), and ``reuse`` entries of labels no longer run
    drop out (``--algos wpo-ln`` of a suite that reuses ``sac`` trains ``wpo-ln`` alone)."""
    if "algos" in overrides:
        overrides["algos"] = resolve_labels(tuple(overrides["algos"]), suite.algos)
        kept = {parse_variant(a)[0] for a in overrides["algos"]}
        overrides["reuse"] = tuple(e for e in suite.reuse if e.partition("=")[0] in kept)
    return dataclasses.replace(suite, **overrides) if overrides else suite


@dataclasses.dataclass(frozen=True)
class Options:
    """Options of ``wrl bench suite``."""

    suite: str = hp(REQUIRED, f"a built-in suite ({', '.join(SUITES)}) or a TOML file", positional=True)
    out: str = hp(REQUIRED, "suite directory: runs/, report.md, report.json, curves.png")
    total_steps: int | None = hp(None, "override the suite's budget per run (default: the suite's)")
    seeds: tuple[int, ...] | None = hp(None, "override the suite's seeds (default: the suite's)", nargs="+")
    algos: tuple[str, ...] | None = hp(None, "override the suite's algorithms (a subset, or new ones, may share the "
                                             "whole suite's --out); a label the suite defines ('wpo-n3' for "
                                             "'wpo-n3=wpo --n-step 3') stands for its entry (default: the suite's)",
                                       nargs="+")
    tasks: tuple[str, ...] | None = hp(None, "override the suite's tasks (a subset, or new ones, may share the whole "
                                             "suite's --out; default: the suite's)", nargs="+")
    jobs: int = hp(1, "groups at a time; with more than one, each uses one XLA thread", ge=1)
    backend: str = hp("local", "run groups in local processes or as Ray tasks (needs `pip install -e '.[ray]'`)",
                      choices=("local", "ray"))
    address: str | None = hp(None, "Ray cluster address (default: start a local Ray)")
    split_seeds: bool = hp(False, "train every seed of a new group in its own process (one XLA thread; --jobs at a "
                                  "time) instead of all seeds side by side in one; pays where one update is large "
                                  "(wgf-direct)")
    report_only: bool = hp(False, "write the report from the finished groups only")
    reps: int = hp(2000, "bootstrap replications")
    diagnostics: tuple[str, ...] = hp((), "logged metrics whose last value per seed the report tables (e.g. "
                                          "policy/std; default: none)", nargs="+", metavar="METRIC")


def run(opts: Options) -> int:
    suite = load_suite(opts.suite)
    suite = with_overrides(suite, **{k: v for k in ("total_steps", "seeds", "algos", "tasks")
                                     if (v := getattr(opts, k)) is not None})
    out = Path(opts.out)
    for module in ("rliable", "matplotlib"):  # the report needs both: say so before training
        ensure(module, "the report of `wrl bench suite`")
    start = time.perf_counter()
    if opts.report_only and not collect(suite, out):
        raise RunDirError(f"{out} holds no finished group of suite {suite.name}; run the suite first (the same "
                          "command without --report-only), or point --out at the suite's directory")
    if not opts.report_only:
        print(size_line(suite, out, opts.jobs), flush=True)
        counts = run_suite(suite, out, jobs=opts.jobs, backend=opts.backend, address=opts.address,
                           split_seeds=opts.split_seeds)
        print(f"suite {suite.name}: {counts['reused']} groups reused, {counts['resumed']} resumed, "
              f"{counts['ran']} run ({time.perf_counter() - start:.0f} s)")
    report(suite, out, reps=opts.reps, diagnostics=opts.diagnostics)
    print(f"report: {out / 'report.md'}")
    return 0

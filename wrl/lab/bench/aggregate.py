"""Aggregate statistics over tasks and seeds, as recommended by Agarwal et al. (NeurIPS 2021), through rliable.

Scores are arranged per algorithm as a (runs x tasks) matrix of normalised final returns. Reported:

- the interquartile mean (IQM): the mean of the middle 50% of all runs x tasks scores (robust to outlier
  runs, more efficient than the median), with the mean, median and optimality gap;
- 95% stratified bootstrap confidence intervals of each (runs resampled within each task);
- the probability of improvement P(X > Y): the probability that a run of X beats a run of Y on a random
  task (Mann-Whitney U statistic averaged over tasks), with its interval;
- performance profiles: the fraction of runs x tasks whose score exceeds tau, over a range of tau.

Normalisation: DeepMind Control returns are divided by 1000 (every task's maximum return); other tasks are
(return - random) / (reference - random) with the reference scores in :data:`REFERENCE_SCORES` (their
source is stated next to them) and, without one, left unnormalised (the report says so).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from wrl.optional import require

# (random, reference) returns of Gymnasium tasks, for (return - random) / (reference - random).
# random: the uniform random policy on the v5 task, 20 episodes, measured by
#   `wrl bench random-returns --out docs/benchmarks/random_returns` (docs/benchmarks/random_returns.md).
# reference: SAC at 1M steps as published by its authors (Haarnoja et al., "Soft Actor-Critic Algorithms and
#   Applications", arXiv:1812.05905, read off their curves to the values CleanRL's SAC page tabulates: HalfCheetah
#   ~11250, Walker2d ~4800, Hopper ~3250, Humanoid ~4500), and for Ant, which that table lacks, TD3's maximum
#   average return over 1M steps (Fujimoto et al., ICML 2018, Table 1: 4372.44). Those were measured on the v1/v2
#   tasks, whose dynamics and rewards match v5 closely but not exactly: a score of 1 means "about the published
#   1M-step level", not a ceiling. A task without an entry is reported on its raw scale.
REFERENCE_SCORES: dict[str, tuple[float, float]] = {
    "gym:HalfCheetah-v5": (-289.27, 11250.0),
    "gym:Hopper-v5": (16.51, 3250.0),
    "gym:Walker2d-v5": (3.71, 4800.0),
    "gym:Ant-v5": (-93.55, 4372.44),
    "gym:Humanoid-v5": (112.83, 4500.0),
}


def _rliable(submodule: str) -> ModuleType:
    """``rliable.SUBMODULE``; a missing rliable raises one line naming the extra that installs it."""
    return require(f"rliable.{submodule}", "the aggregate statistics of `wrl bench suite`")


def normalise(task: str, returns: np.ndarray) -> tuple[np.ndarray, str]:
    """(normalised returns, how): DMC by 1000, Gymnasium by its reference scores, else unchanged."""
    returns = np.asarray(returns, np.float64)
    if task.startswith("dmc:"):
        return returns / 1000.0, "return / 1000"
    if task in REFERENCE_SCORES:
        lo, hi = REFERENCE_SCORES[task]
        return (returns - lo) / (hi - lo), f"(return - {lo:g}) / ({hi:g} - {lo:g})"
    return returns, "raw return (no reference scores)"


def random_score(task: str) -> float | None:
    """The score :func:`normalise` maps to 0 (DMC: 0; a Gymnasium task with reference scores: the uniform
    random policy's return), or None for a task reported on its raw scale."""
    if task.startswith("dmc:"):
        return 0.0
    return REFERENCE_SCORES[task][0] if task in REFERENCE_SCORES else None


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries: the mean of the middle 50% (scipy's 25%-trimmed mean)."""
    metrics = _rliable("metrics")

    return float(metrics.aggregate_iqm(np.asarray(scores, np.float64)))


def _aggregates(x: np.ndarray) -> np.ndarray:
    metrics = _rliable("metrics")

    return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x),
                     metrics.aggregate_optimality_gap(x)])


AGGREGATES = ("iqm", "mean", "median", "optimality_gap")


def interval_estimates(score_dict: dict[str, np.ndarray], reps: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Per algorithm, per aggregate (IQM, mean, median, optimality gap): (point, low, high) with the
    stratified bootstrap interval of the given confidence over the (runs x tasks) scores."""
    rly = _rliable("library")

    points, intervals = rly.get_interval_estimates(
        {k: np.asarray(v, np.float64) for k, v in score_dict.items()}, _aggregates, reps=reps,
        confidence_interval_size=confidence, random_state=np.random.RandomState(seed))
    return {algo: {name: (float(points[algo][i]), float(intervals[algo][0, i]), float(intervals[algo][1, i]))
                   for i, name in enumerate(AGGREGATES)} for algo in score_dict}


def probability_of_improvement(score_dict: dict[str, np.ndarray], pairs: list[tuple[str, str]], reps: int = 2000,
                               seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """P(X > Y) for each (X, Y) in ``pairs`` as (point, low, high), keyed "X > Y"."""
    rly, metrics = _rliable("library"), _rliable("metrics")

    data = {f"{x} > {y}": (np.asarray(score_dict[x], np.float64), np.asarray(score_dict[y], np.float64))
            for x, y in pairs}
    points, intervals = rly.get_interval_estimates(
        data, metrics.probability_of_improvement, reps=reps, random_state=np.random.RandomState(seed))
    return {k: (float(np.ravel(points[k])[0]), float(np.ravel(intervals[k])[0]), float(np.ravel(intervals[k])[1]))
            for k in data}


def performance_profiles(score_dict: dict[str, np.ndarray], taus: np.ndarray,
                         reps: int = 500) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fraction of runs x tasks with score > tau for each tau, and its bootstrap band (2 x len(taus))."""
    rly = _rliable("library")

    return rly.create_performance_profile({k: np.asarray(v, np.float64) for k, v in score_dict.items()}, taus,
                                          reps=reps)


def summarise(final: dict[str, dict[str, list[float]]], reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Everything a report needs from final returns ``final[algo][task] = [return per seed]``.

    Tasks every algorithm ran, with the same number of seeds each, enter the aggregates; per-task tables
    use every run. Returns plain data (JSON-ready).
    """
    algos = list(final)
    tasks = [t for t in dict.fromkeys(t for a in algos for t in final[a]) if all(t in final[a] for a in algos)]
    per_task = {a: {t: {"returns": list(map(float, v)), "mean": float(np.mean(v)),
                        "iqm": iqm(np.asarray(v)[:, None]) if len(v) else float("nan")}
                    for t, v in final[a].items()} for a in algos}
    out: dict[str, Any] = {"algos": algos, "tasks": tasks, "per_task": per_task, "normalisation": {}}
    runs = {len(final[a][t]) for a in algos for t in tasks}
    if not tasks or len(runs) != 1 or runs == {0}:
        out["aggregate"] = None
        out["why_no_aggregate"] = "no task that every algorithm ran with the same number of seeds"
        return out
    scores = {}
    for a in algos:
        columns = []
        for t in tasks:
            norm, how = normalise(t, np.asarray(final[a][t]))
            out["normalisation"][t] = how
            columns.append(norm)
        scores[a] = np.stack(columns, axis=1)  # (runs, tasks)
    out["aggregate"] = interval_estimates(scores, reps=reps, seed=seed)
    pairs = [(x, y) for x in algos for y in algos if x != y]
    out["probability_of_improvement"] = probability_of_improvement(scores, pairs, reps=reps, seed=seed) if pairs else {}
    out["scores"] = {a: s.tolist() for a, s in scores.items()}
    return out

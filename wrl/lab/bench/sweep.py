"""`wrl bench sweep FILE.toml`: a hyperparameter search with Ray Tune; the best settings as a `wrl train` file.

Each trial is a group of seeds trained side by side (`wrl train --seeds ...`) in ``OUT/trials/TRIAL``; its
score is the mean over the seeds of the final (or best) evaluation return, and a trial that diverges scores
-inf. The search space is a TOML table of option names::

    algo = "sac"
    env = "gym:Pendulum-v1"
    seeds = [0, 1]
    total_steps = 8000
    eval_every = 1000
    eval_episodes = 5
    train_args = "--learning-starts 500"    # for every trial
    metric = "final"                         # or "best"
    num_samples = 8                          # random draws (a grid is searched completely, times num_samples)
    max_concurrent = 2

    [space]
    actor_lr = { loguniform = [1e-4, 3e-3] }
    critic_lr = { grid = [3e-4, 1e-3] }
    batch_size = { choice = [128, 256] }

Domains: ``grid`` (every value), ``choice``, ``uniform``, ``loguniform``, ``randint`` (Ray Tune's). The best
trial's settings are written to ``OUT/best.toml`` (``wrl train --config OUT/best.toml``) and every trial to
``OUT/sweep.json``. Ray runs locally, or on a cluster with ``--address``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from pathlib import Path
from typing import Any

from wrl import runs
from wrl.atomic import write_json
from wrl.config import REQUIRED, hp
from wrl.errors import ConfigError

DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A search over `wrl train` options of one algorithm on one task."""

    algo: str
    env: str
    space: dict[str, dict[str, list[Any]]]
    seeds: tuple[int, ...] = (0,)
    total_steps: int = 10_000
    eval_every: int = 1_000
    eval_episodes: int = 5
    train_args: str = ""
    metric: str = "final"
    num_samples: int = 1
    max_concurrent: int = 2

    def __post_init__(self) -> None:
        if self.metric not in ("final", "best"):
            raise ConfigError(f"sweep metric must be 'final' or 'best' (got {self.metric!r})")
        if not self.space:
            raise ConfigError("a sweep needs a [space] table with at least one option")
        for name, domain in self.space.items():
            if not isinstance(domain, dict) or len(domain) != 1 or next(iter(domain)) not in DOMAINS:
                raise ConfigError(f"space.{name} must be one of {{{', '.join(d + ' = [...]' for d in DOMAINS)}}}")


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    from wrl.lab.bench.common import load_toml_dataclass

    return load_toml_dataclass(path, Sweep, "sweep", ("seeds",))


def _option(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    if isinstance(value, list | tuple):
        return [flag, *map(str, value)]
    return [flag, str(value)]


def trial_args(sweep: Sweep, params: dict[str, Any], run_dir: Path) -> list[str]:
    """`wrl train` options of one trial."""
    argv = ["--algo", sweep.algo, "--env", sweep.env, "--seeds", *map(str, sweep.seeds), "--total-steps",
            str(sweep.total_steps), "--eval-every", str(sweep.eval_every), "--eval-episodes",
            str(sweep.eval_episodes), *shlex.split(sweep.train_args)]
    for name, value in params.items():
        argv += _option(name, value)
    return [*argv, "--run-dir", str(run_dir)]


def score_trial(sweep: Sweep, params: dict[str, Any], run_dir: Path) -> float:
    """Train one trial and return its score (mean over seeds of the final or best return; -inf if diverged)."""
    from wrl.lab.bench.units import Unit, run_unit

    result = run_unit(Unit(run_dir, tuple(trial_args(sweep, params, run_dir))), single_thread=sweep.max_concurrent > 1)
    if not result.ok:
        if result.reason.startswith("diverged"):
            return -math.inf
        raise ConfigError(f"trial in {run_dir} did not finish: {result.reason}")
    key = "final_eval_return" if sweep.metric == "final" else "best_eval_return"
    values = [runs.read_json(runs.seed_dir(run_dir, s) / runs.SUMMARY)[key] for s in sweep.seeds]
    return float(sum(values) / len(values))


def _param_space(space: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    from ray import tune

    make = {"grid": tune.grid_search, "choice": tune.choice, "uniform": lambda v: tune.uniform(*v),
            "loguniform": lambda v: tune.loguniform(*v), "randint": lambda v: tune.randint(*v)}
    return {name: make[kind](values) for name, dom in space.items() for kind, values in dom.items()}


def run_sweep(sweep: Sweep, out: Path, address: str | None = None) -> dict[str, Any]:
    """Run the search; write OUT/sweep.json and OUT/best.toml; return the best trial."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ConfigError("wrl bench sweep needs Ray Tune: pip install -e '.[ray]'") from None
    out = out.resolve()
    (out / "trials").mkdir(parents=True, exist_ok=True)

    def trainable(config: dict[str, Any]) -> dict[str, float]:
        name = "-".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(config.items()))
        return {"score": score_trial(sweep, config, out / "trials" / name.replace("/", "_"))}

    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False,
                 **({"address": address} if address else {"num_cpus": max(1, sweep.max_concurrent)}))
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}), param_space=_param_space(sweep.space),
            tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=sweep.num_samples,
                                        max_concurrent_trials=sweep.max_concurrent),
            run_config=tune.RunConfig(storage_path=str(out / "tune"), name="sweep", verbose=0))
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    trials = [{"params": r.config, "score": r.metrics.get("score") if r.metrics else None,
               "error": str(r.error) if r.error else None} for r in grid]
    scored = [t for t in trials if t["score"] is not None]
    if not scored:
        raise RuntimeError(f"no trial of the sweep finished: {trials[0]['error'] if trials else 'no trials'}")
    best = max(scored, key=lambda t: t["score"])
    write_json(out / "sweep.json", {"sweep": dataclasses.asdict(sweep), "trials": trials, "best": best}, default=str)
    lines = [f"# best of {len(trials)} trials: mean {sweep.metric} return {best['score']:.3f}",
             f'algo = "{sweep.algo}"', f'env = "{sweep.env}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in sorted(best["params"].items())]
    (out / "best.toml").write_text("\n".join(lines) + "\n")
    return best


@dataclasses.dataclass(frozen=True)
class Options:
    """Options of ``wrl bench sweep``."""

    sweep: str = hp(REQUIRED, "a sweep TOML file (see `wrl bench sweep --help`)", positional=True)
    out: str = hp(REQUIRED, "directory: trials/, sweep.json, best.toml")
    address: str | None = hp(None, "Ray cluster address (default: start a local Ray)")


def run(opts: Options) -> int:
    sweep = load_sweep(opts.sweep)
    best = run_sweep(sweep, Path(opts.out), address=opts.address)
    print(f"best: {best['params']} (mean {sweep.metric} return {best['score']:.3f}); "
          f"settings in {Path(opts.out) / 'best.toml'} (wrl train --config {Path(opts.out) / 'best.toml'})")
    return 0

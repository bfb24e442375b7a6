"""Run a suite's groups as Ray tasks: locally (a Ray started here) or on an existing cluster by address.

Each group is the same `wrl train` process as with the local backend, started by a Ray task that asks for
one CPU, so the results layout and the numbers are the same; on a cluster, the suite directory must be on
storage every node sees (the groups write into it).
"""

from __future__ import annotations

import sys
from typing import Any

from wrl.errors import ConfigError
from wrl.lab.bench.units import Stopper, Unit, UnitResult, run_unit


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs Ray: pip install -e '.[ray]'") from None
    return ray


def run_units_on_ray(units: list[Unit], address: str | None = None, jobs: int = 1,
                     single_thread: bool | None = None, retries: int = 2,
                     stopper: Stopper | None = None) -> list[UnitResult]:
    """Run every unit as a Ray task (at most ``jobs`` at a time locally), each with one XLA thread if
    ``single_thread`` (default: when ``jobs`` > 1); returns how each ended, in order.

    A `wrl train` process that dies inside a task is retried from its checkpoint by :func:`run_unit`; a task
    whose Ray worker or node dies is retried by Ray (``max_retries``), and its new process resumes from the
    unit's checkpoint too. A task that still fails is reported in its result, never raised, so the other units
    go on. A stop request (``stopper``) cancels the tasks, whose processes then write checkpoints and exit.
    """
    if not units:
        return []
    ray = _ray()
    stopper = stopper or Stopper()
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": max(1, jobs)}
        try:
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise ConfigError(f"cannot start or reach {where} ({str(e).strip().splitlines()[0]}); check --address "
                              "(`ray status` on the cluster)") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=retries)(run_unit)
        one_thread = jobs > 1 if single_thread is None else single_thread
        refs = [task.remote(unit, one_thread, retries) for unit in units]
        results: dict[int, UnitResult] = {}
        pending = list(refs)
        cancelled = False
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            if stopper.signum is not None and not cancelled:
                for ref in pending:
                    ray.cancel(ref)
                cancelled = True
            for ref in done:
                i = refs.index(ref)
                try:
                    results[i] = ray.get(ref)
                    for note in results[i].retries:  # printed on the worker, whose output stays there
                        print(f"[suite] {note}", file=sys.stderr, flush=True)
                except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError) as e:
                    interrupted = stopper.signum is not None
                    reason = "" if interrupted else f"the Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}"
                    results[i] = UnitResult(units[i], interrupted=interrupted, reason=reason, attempts=1)
                except ray.exceptions.RayError as e:  # a worker or node that died more often than max_retries
                    results[i] = UnitResult(units[i], reason=f"Ray: {type(e).__name__}: {str(e).splitlines()[0]}")
        return [results[i] for i in range(len(units))]
    finally:
        if started:
            ray.shutdown()

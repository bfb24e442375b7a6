"""Run a suite's groups as Ray tasks: locally (a Ray started here) or on an existing cluster by address.

Each group is the same `wrl train` process as with the local backend, started by a Ray task that asks for
one CPU, so the results layout and the numbers are the same; on a cluster, the suite directory must be on
storage every node sees (the groups write into it).
"""

from __future__ import annotations

from typing import Any

from wrl.errors import ConfigError


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs Ray: pip install -e '.[ray]'") from None
    return ray


def run_units_on_ray(units: list[list[str]], address: str | None = None, jobs: int = 1,
                     single_thread: bool | None = None) -> None:
    """Run every ``wrl train`` argument list in ``units`` as a Ray task (at most ``jobs`` at a time locally),
    each with one XLA thread if ``single_thread`` (default: when ``jobs`` > 1)."""
    if not units:
        return
    ray = _ray()
    from wrl.bench.suite import run_unit

    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": max(1, jobs)}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    try:
        task = ray.remote(num_cpus=1)(run_unit)
        one_thread = jobs > 1 if single_thread is None else single_thread
        ray.get([task.remote(argv, one_thread) for argv in units])
    except ray.exceptions.RayTaskError as e:
        cause = e.as_instanceof_cause()
        raise cause from None
    finally:
        if started:
            ray.shutdown()

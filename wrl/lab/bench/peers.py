"""Peer libraries for `wrl bench`: Stable-Baselines3 SAC (PyTorch) and SBX SAC (JAX).

Each measurement runs in a fresh Python process (``python -m wrl.lab.bench.peers ...``, one JSON object on
stdout), so that the peers' imports and torch/XLA thread pools never share a process with the wrl
measurement in the caller. Thread settings are left at the libraries' defaults; the child records
``torch.get_num_threads()`` in its result.

Two measurements:

* :func:`peer_throughput` -- SAC at one update per environment step (train_freq=1, gradient_steps=1),
  batch 256, 256x256 actor and critics, one environment. Environment steps per second are measured
  over ``steps`` steps that start once the first few gradient updates have returned, so the
  random-action warmup, model construction and JIT compilation (SBX compiles its update twice: the
  first two updates take seconds) are excluded.
* :func:`peer_time_to_solve` -- wall-clock seconds from model construction (the peer's imports are not
  counted; they are reported as ``import_seconds``) until the mean return of ``eval_episodes``
  deterministic episodes on a separate evaluation env, run every ``eval_every`` environment steps,
  first reaches ``threshold``. Evaluation time is part of the wall-clock.

Both libraries must be installed: ``pip install -e '.[peers]'``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from wrl.config import REQUIRED, hp
from wrl.errors import ConfigError

PEERS: dict[str, str] = {"sb3": "Stable-Baselines3 SAC (PyTorch)", "sbx": "SBX SAC (JAX)"}
_REQUIRED_MODULES: dict[str, tuple[str, ...]] = {
    "sb3": ("torch", "stable_baselines3"),
    "sbx": ("torch", "stable_baselines3", "sbx"),
}
_INSTALL_HINT = "install the peer libraries with `pip install -e '.[peers]'`"
_MISSING_EXIT = 3

# RL-Zoo (rl-baselines3-zoo, hyperparams/sac.yml) settings for SAC on Pendulum-v1: learning rate 1e-3 and
# 20k steps; everything else is the library default (shared by SB3 and SBX): batch 256, buffer 1e6,
# learning_starts 100, tau 0.005, gamma 0.99, train_freq 1, gradient_steps 1, 256x256 MLPs, auto entropy.
PENDULUM_ZOO_KWARGS: dict[str, Any] = {"learning_rate": 1e-3}
PENDULUM_ZOO_STEPS = 20_000


# ----------------------------------------------------------------------------------------------------
# caller side
# ----------------------------------------------------------------------------------------------------


def _check_lib(lib: str) -> None:
    if lib not in PEERS:
        raise ConfigError(f"unknown peer library {lib!r}; choose one of {sorted(PEERS)}")


def require_peer(lib: str) -> None:
    """Raise :class:`ConfigError` unless ``lib`` and its dependencies can be imported (without importing)."""
    _check_lib(lib)
    for module in _REQUIRED_MODULES[lib]:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise ConfigError(f"peer library {lib!r} needs the Python package {module!r}; {_INSTALL_HINT}")


def _run_child(args: list[str], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "wrl.lab.bench.peers", *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"peer benchmark `{' '.join(cmd)}` did not finish within {timeout} s") from e
    elapsed = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    result: dict[str, Any] | None = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    if proc.returncode == _MISSING_EXIT and result is not None and "error" in result:
        raise ConfigError(f"{result['error']}; {_INSTALL_HINT}")
    if proc.returncode != 0 or result is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"failed (exit {proc.returncode})"
        raise RuntimeError(f"peer benchmark `{' '.join(cmd)}` {how}:\n{tail}")
    result["process_seconds"] = elapsed
    return result


def peer_throughput(
    lib: str,
    env_id: str = "HalfCheetah-v5",
    *,
    steps: int = 2000,
    warmup_steps: int = 1000,
    seed: int = 0,
    settle_updates: int = 10,
    timeout: float | None = None,
) -> dict[str, Any]:
    """SAC training throughput of a peer library, measured in a fresh process.

    SAC with UTD 1 (train_freq=1, gradient_steps=1), batch 256, net_arch [256, 256] for the actor and
    both critics, one environment and ``learning_starts=warmup_steps``. The clock starts when the first
    ``settle_updates`` gradient updates have returned (so warmup, construction and compilation are
    excluded; SBX compiles on its first two updates) and stops after ``steps`` further environment
    steps, each followed by one update. The run is ``warmup_steps + settle_updates + steps`` steps long.

    Returns a dict with ``steps_per_second`` (over the ``steps`` measured steps), ``measured_seconds``,
    ``total_seconds`` (model construction to the end of training, in the child), ``warmup_seconds``
    (construction to the start of the clock), ``import_seconds``, ``process_seconds`` (the whole
    subprocess, seen by the caller), ``steps_per_second_second_half`` (a check for late recompilation),
    ``torch_num_threads`` and library versions.
    """
    _check_lib(lib)
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if settle_updates < 1:
        raise ConfigError(f"settle_updates must be >= 1, got {settle_updates}")
    require_peer(lib)
    args = ["throughput", "--lib", lib, "--env-id", env_id, "--steps", str(steps)]
    args += ["--warmup-steps", str(warmup_steps), "--settle-updates", str(settle_updates)]
    args += ["--seed", str(seed)]
    return _run_child(args, timeout)


def peer_time_to_solve(
    lib: str,
    env_id: str = "Pendulum-v1",
    *,
    threshold: float = -200.0,
    eval_every: int = 1000,
    eval_episodes: int = 10,
    max_steps: int = PENDULUM_ZOO_STEPS,
    seed: int = 0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Wall-clock seconds until a peer's SAC first reaches ``threshold``, measured in a fresh process.

    Hyperparameters are the RL-Zoo ones for SAC on Pendulum-v1 (learning rate 1e-3, otherwise the
    library defaults: batch 256, buffer 1e6, learning_starts 100, tau 0.005, gamma 0.99, one update per
    step, 256x256 MLPs, automatic entropy tuning); the RL-Zoo budget is 20k steps. The same settings are
    used for any ``env_id``.

    The clock starts before the model (and its training env) is constructed, so construction and JIT
    compilation count; the peer's imports are reported separately as ``import_seconds``. Every
    ``eval_every`` environment steps the deterministic policy runs ``eval_episodes`` episodes on a
    separate env (episode ``k`` reset with seed ``seed + 10_000 + k`` at every evaluation); evaluation
    time counts. Training stops at the first evaluation with mean return >= ``threshold`` or after
    ``max_steps`` steps.

    Returns ``{"solved": bool, "seconds": float, "steps": int, "evals": [(step, mean_return), ...]}``
    plus ``total_seconds``, ``import_seconds``, ``process_seconds``, ``torch_num_threads``, the
    hyperparameters and library versions. ``seconds``/``steps`` are those of the solving evaluation, or
    the totals when the threshold was not reached.
    """
    _check_lib(lib)
    if eval_every < 1:
        raise ConfigError(f"eval_every must be >= 1, got {eval_every}")
    if eval_episodes < 1:
        raise ConfigError(f"eval_episodes must be >= 1, got {eval_episodes}")
    if max_steps < eval_every:
        raise ConfigError(f"max_steps ({max_steps}) must be >= eval_every ({eval_every})")
    require_peer(lib)
    args = ["solve", "--lib", lib, "--env-id", env_id, "--threshold", repr(float(threshold))]
    args += ["--eval-every", str(eval_every), "--eval-episodes", str(eval_episodes)]
    args += ["--max-steps", str(max_steps), "--seed", str(seed)]
    result = _run_child(args, timeout)
    result["evals"] = [(int(step), float(ret)) for step, ret in result["evals"]]
    return result


# ----------------------------------------------------------------------------------------------------
# child side (runs inside `python -m wrl.lab.bench.peers`)
# ----------------------------------------------------------------------------------------------------


class _MissingPeer(Exception):
    pass


def _import_peer(lib: str) -> tuple[type, dict[str, Any]]:
    """Import ``lib``'s SAC class; return it with version info. Raises :class:`_MissingPeer`."""
    try:
        import stable_baselines3
        import torch

        if lib == "sbx":
            import jax
            import sbx
            from sbx import SAC
        else:
            from stable_baselines3 import SAC
    except ImportError as e:
        raise _MissingPeer(f"peer library {lib!r} cannot be imported ({e})") from e
    info: dict[str, Any] = {
        "lib": lib,
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "sb3_version": stable_baselines3.__version__,
    }
    if lib == "sbx":
        info["sbx_version"] = sbx.__version__
        info["jax_version"] = jax.__version__
    return SAC, info


def _make_model(sac: type, lib: str, env_id: str, seed: int, **kwargs: Any) -> Any:
    extra = {"device": "cpu"} if lib == "sb3" else {}
    return sac("MlpPolicy", env_id, seed=seed, verbose=0, **kwargs, **extra)


def _child_throughput(
    lib: str, env_id: str, steps: int, warmup_steps: int, settle_updates: int, seed: int
) -> dict[str, Any]:
    t_import = time.perf_counter()
    sac, info = _import_peer(lib)
    from stable_baselines3.common.callbacks import BaseCallback

    import_seconds = time.perf_counter() - t_import
    # SB3/SBX run one update after each step once num_timesteps > learning_starts, so when a rollout
    # starts at num_timesteps == learning_starts + k, exactly k updates have returned.
    clock_start = warmup_steps + settle_updates
    half = clock_start + steps // 2
    marks: dict[str, float] = {}

    class Clock(BaseCallback):
        def _on_rollout_start(self) -> None:
            n = self.model.num_timesteps  # called before each environment step
            if n == clock_start:
                marks["start"] = time.perf_counter()
            elif n == half and steps >= 2:
                marks["half"] = time.perf_counter()

        def _on_step(self) -> bool:
            return True

    t0 = time.perf_counter()
    model = _make_model(
        sac,
        lib,
        env_id,
        seed,
        learning_starts=warmup_steps,
        batch_size=256,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs={"net_arch": [256, 256]},
    )
    model.learn(total_timesteps=clock_start + steps, callback=Clock())
    t_end = time.perf_counter()
    measured = t_end - marks["start"]
    result = {
        **info,
        "env_id": env_id,
        "seed": seed,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "settle_updates": settle_updates,
        "steps_per_second": steps / measured,
        "measured_seconds": measured,
        "warmup_seconds": marks["start"] - t0,
        "total_seconds": t_end - t0,
        "import_seconds": import_seconds,
        "config": {"train_freq": 1, "gradient_steps": 1, "batch_size": 256, "net_arch": [256, 256]},
    }
    if "half" in marks:
        result["steps_per_second_second_half"] = (clock_start + steps - half) / (t_end - marks["half"])
    return result


def _evaluate(model: Any, env: Any, episodes: int, seed: int) -> float:
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + k)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def _child_solve(
    lib: str,
    env_id: str,
    threshold: float,
    eval_every: int,
    eval_episodes: int,
    max_steps: int,
    seed: int,
) -> dict[str, Any]:
    t_import = time.perf_counter()
    sac, info = _import_peer(lib)
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback

    import_seconds = time.perf_counter() - t_import
    evals: list[tuple[int, float]] = []
    solved: dict[str, float] = {}

    class Evaluator(BaseCallback):
        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if n % eval_every:
                return True
            mean_return = _evaluate(self.model, eval_env, eval_episodes, seed)
            evals.append((n, mean_return))
            if mean_return >= threshold:
                solved["seconds"] = time.perf_counter() - t0
                solved["steps"] = n
                return False
            return True

    t0 = time.perf_counter()
    eval_env = gym.make(env_id)
    model = _make_model(sac, lib, env_id, seed, **PENDULUM_ZOO_KWARGS)
    model.learn(total_timesteps=max_steps, callback=Evaluator())
    total = time.perf_counter() - t0
    eval_env.close()
    return {
        **info,
        "env_id": env_id,
        "seed": seed,
        "threshold": threshold,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "max_steps": max_steps,
        "solved": bool(solved),
        "seconds": solved.get("seconds", total),
        "steps": int(solved.get("steps", model.num_timesteps)),
        "evals": evals,
        "total_seconds": total,
        "import_seconds": import_seconds,
        "hyperparameters": {"source": "rl-zoo sac.yml Pendulum-v1 + library defaults", **PENDULUM_ZOO_KWARGS},
    }


@dataclasses.dataclass(frozen=True)
class ThroughputTask:
    """``python -m wrl.lab.bench.peers throughput``: SAC steps/s at UTD 1 after warmup."""

    lib: str = hp(REQUIRED, "peer library", choices=tuple(sorted(PEERS)))
    env_id: str = hp("HalfCheetah-v5", "Gymnasium id")
    steps: int = hp(2000, "measured steps")
    warmup_steps: int = hp(1000, "random steps before learning")
    settle_updates: int = hp(10, "updates before the clock starts")
    seed: int = hp(0, "seed")


@dataclasses.dataclass(frozen=True)
class SolveTask:
    """``python -m wrl.lab.bench.peers solve``: wall-clock seconds until the evaluation return reaches a threshold."""

    lib: str = hp(REQUIRED, "peer library", choices=tuple(sorted(PEERS)))
    env_id: str = hp("Pendulum-v1", "Gymnasium id")
    threshold: float = hp(-200.0, "mean evaluation return that solves")
    eval_every: int = hp(1000, "steps between evaluations")
    eval_episodes: int = hp(10, "episodes per evaluation")
    max_steps: int = hp(PENDULUM_ZOO_STEPS, "give up after this many steps")
    seed: int = hp(0, "seed")


_TASKS = {"throughput": ThroughputTask, "solve": SolveTask}


def _parse_child(argv: Sequence[str] | None) -> ThroughputTask | SolveTask:
    from wrl.lab.cli import add_options, options_from

    parser = argparse.ArgumentParser(prog="python -m wrl.lab.bench.peers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    for name, cls in _TASKS.items():
        add_options(sub.add_parser(name, help=cls.__doc__.split(": ", 1)[1]), cls)
    args = parser.parse_args(argv)
    return options_from(_TASKS[args.task], args)


def main(argv: Sequence[str] | None = None) -> int:
    task = _parse_child(argv)
    # Keep stdout for the single JSON line: anything the libraries print goes to stderr instead.
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        if isinstance(task, ThroughputTask):
            result = _child_throughput(
                task.lib, task.env_id, task.steps, task.warmup_steps, task.settle_updates, task.seed
            )
        else:
            result = _child_solve(
                task.lib, task.env_id, task.threshold, task.eval_every, task.eval_episodes, task.max_steps, task.seed
            )
        status = 0
    except _MissingPeer as e:
        result, status = {"error": str(e)}, _MISSING_EXIT
    sys.stdout.flush()
    with os.fdopen(json_fd, "w") as out:
        out.write(json.dumps(result) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""Peers for `wrl bench`: (library, algorithm) pairs, SBX SAC, CrossQ and TQC (JAX) and Stable-Baselines3 SAC (PyTorch).

A peer is named ``LIB ALGO`` (``sbx sac``, ``sbx crossq``, ``sbx tqc``, ``sb3 sac``); on the command line
``LIB:ALGO``, or ``LIB`` alone for its SAC (``sbx`` = ``sbx:sac``, ``sb3`` = ``sb3:sac``), see :func:`parse_peer`.

Each measurement runs in a fresh Python process (``python -m wrl.lab.bench.peers ...``, one JSON object on
stdout), so that the peers' imports and torch/XLA thread pools never share a process with the wrl
measurement in the caller. Thread settings are left at the libraries' defaults (one XLA thread and
``OMP_NUM_THREADS=1`` with ``single_thread``); the child records ``torch.get_num_threads()`` in its result.

Matched settings (:func:`peer_settings`): a peer is compared with a wrl SAC variant, and its constructor
options are read off that variant's resolved settings (the TrainConfig and SACConfig that ``wrl train`` would
run with), so that both sides train the same problem:

* every peer: ``learning_starts`` = --learning-starts, ``batch_size`` = --batch-size, ``buffer_size`` =
  --buffer-size, ``gamma`` = --gamma, ``train_freq`` = --update-every, ``gradient_steps`` = --utd,
  ``learning_rate`` = --actor-lr (the peers' temperature learns at this rate too: wrl's --alpha-lr must equal
  it to match), ``net_arch`` = {pi: --actor-hidden, qf: --critic-hidden}, ``n_critics`` = --num-critics,
  ``n_steps`` = --n-step (when not 1), ``ent_coef`` from --init-alpha / --no-autotune (when not "auto");
* SBX (all three): ``qf_learning_rate`` = --critic-lr, ``policy_delay`` = --policy-delay;
* SAC and TQC: ``tau`` = --target-tau; Adam's beta1 (``optimizer_kwargs``) when --adam-b1 is not 0.9;
* CrossQ (wrl: ``--critic crossq``, e.g. ``--preset crossq``; SBX's defaults in brackets): critic width from
  --critic-hidden [SBX: 1024, 1024; the paper and wrl's preset: 2048, 2048], ``policy_delay`` [3], learning
  rates 1e-3 [1e-3], Adam beta1 ``optimizer_kwargs={"b1": --adam-b1}`` [0.5, SBX's default], batch
  [256], ``learning_starts`` [100; wrl's preset 5000], ``batch_norm_momentum`` = --renorm-momentum [0.99],
  ``renorm_warmup_steps`` = --renorm-warmup [100k], and ``batch_norm_actor=False``: wrl's actor is a plain
  MLP, SBX puts Batch Renormalization in the actor by default;
* TQC (wrl: ``--critic-loss quantile``): SBX TQC's defaults with (256, 256) networks -- learning rates
  3e-4, tau 0.005, 2 critics of ``n_quantiles`` = --critic-quantiles [25], ``top_quantiles_to_drop_per_net``
  2. wrl's quantile critic takes the min over critics quantile by quantile and drops none, so the targets
  differ: this pair compares the cost of a quantile critic, not the same algorithm.

What a peer cannot match (observation normalisation, several environments, a learning-rate schedule, ...)
is returned as one line each and written into the reports. The wrl variant each peer algorithm is matched
with by default is :data:`REFERENCE_VARIANTS` (``wrl bench throughput`` and ``learning`` add it when no
variant of theirs matches).

Three measurements:

* :func:`peer_throughput` -- training steps/s at one update per environment step (train_freq=1,
  gradient_steps=1), batch 256, 256x256 actor and critics unless ``kwargs`` say otherwise, one
  environment. Environment steps per second are measured over ``steps`` steps that start once the first
  few gradient updates have returned, so the random-action warmup, model construction and JIT compilation
  (SBX compiles its update twice: the first two updates take seconds) are excluded.
* :func:`peer_time_to_solve` -- wall-clock seconds from model construction (the peer's imports are not
  counted; they are reported as ``import_seconds``) until the mean return of ``eval_episodes``
  deterministic episodes on a separate evaluation env, run every ``eval_every`` environment steps,
  first reaches ``threshold``. Evaluation time is part of the wall-clock.
* :func:`peer_learning` -- the same evaluations over a whole budget, without a threshold: a learning curve.

Both libraries must be installed: ``pip install -e '.[peers]'``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from wrl.config import REQUIRED, hp
from wrl.errors import ConfigError

PEERS: dict[str, str] = {"sb3": "Stable-Baselines3 (PyTorch)", "sbx": "SBX (JAX)"}
# the algorithms of each library that `wrl bench` runs
PEER_ALGOS: dict[str, tuple[str, ...]] = {"sb3": ("sac",), "sbx": ("sac", "crossq", "tqc")}
ALGOS = ("sac", "crossq", "tqc")
_REQUIRED_MODULES: dict[str, tuple[str, ...]] = {
    "sb3": ("torch", "stable_baselines3"),
    "sbx": ("torch", "stable_baselines3", "sbx"),
}
_INSTALL_HINT = "install the peer libraries with `pip install -e '.[peers]'`"
_MISSING_EXIT = 3

# The wrl variant (an `--algos` entry) each peer algorithm is matched with when a benchmark has none of its own:
# SAC at wrl's defaults; CrossQ's preset with the temperature at the same rate as the networks (SBX trains it at
# learning_rate); SAC with a quantile critic of TQC's 25 quantiles.
REFERENCE_VARIANTS: dict[str, str] = {
    "sac": "sac",
    "crossq": "crossq=sac --preset crossq --alpha-lr 1e-3",
    "tqc": "tqc=sac --critic-loss quantile --critic-quantiles 25",
}

# RL-Zoo (rl-baselines3-zoo, hyperparams/sac.yml) settings for SAC on Pendulum-v1: learning rate 1e-3 and
# 20k steps; everything else is the library default (shared by SB3 and SBX): batch 256, buffer 1e6,
# learning_starts 100, tau 0.005, gamma 0.99, train_freq 1, gradient_steps 1, 256x256 MLPs, auto entropy.
PENDULUM_ZOO_KWARGS: dict[str, Any] = {"learning_rate": 1e-3}
PENDULUM_ZOO_STEPS = 20_000

# what the throughput child runs unless its kwargs say otherwise (the settings of `wrl bench throughput`)
THROUGHPUT_KWARGS: dict[str, Any] = {"batch_size": 256, "train_freq": 1, "gradient_steps": 1,
                                     "policy_kwargs": {"net_arch": [256, 256]}}


@dataclasses.dataclass(frozen=True)
class Peer:
    """One peer: a library and one of its algorithms."""

    lib: str
    algo: str = "sac"

    @property
    def name(self) -> str:
        """``"sbx crossq"``: the peer's name in reports."""
        return f"{self.lib} {self.algo}"


# ----------------------------------------------------------------------------------------------------
# caller side
# ----------------------------------------------------------------------------------------------------


def _check_lib(lib: str) -> None:
    if lib not in PEERS:
        raise ConfigError(f"unknown peer library {lib!r}; choose one of {sorted(PEERS)}")


def _check_peer(lib: str, algo: str) -> None:
    _check_lib(lib)
    if algo not in PEER_ALGOS[lib]:
        raise ConfigError(f"peer library {lib!r} has no algorithm {algo!r} here; choose one of "
                          f"{', '.join(f'{lib}:{a}' for a in PEER_ALGOS[lib])}")


def parse_peer(spec: str) -> Peer:
    """A peer on the command line: ``LIB:ALGO`` (``sbx:crossq``) or ``LIB`` for its SAC (``sbx``, ``sb3``)."""
    lib, _, algo = spec.partition(":")
    peer = Peer(lib, algo or "sac")
    _check_peer(peer.lib, peer.algo)
    return peer


def parse_peers(specs: Sequence[str]) -> list[Peer]:
    """The peers of a ``--peers`` list, in order and without repeats; ``none`` (alone) is no peer."""
    if list(specs) == ["none"]:
        return []
    out: list[Peer] = []
    for spec in specs:
        if spec == "none":
            raise ConfigError("--peers none cannot be given with other peers")
        peer = parse_peer(spec)
        if peer not in out:
            out.append(peer)
    return out


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


def matched_algo(algo: str, agent: Any) -> str | None:
    """The peer algorithm a wrl variant is compared with: ``algo`` and its resolved agent config -> ``"sac"``
    (SAC with the plain critic), ``"crossq"`` (SAC with ``--critic crossq``), ``"tqc"`` (SAC with the plain
    critic and ``--critic-loss quantile``), or None (no peer runs the same algorithm)."""
    if algo != "sac":
        return None
    critic, loss = getattr(agent, "critic", "mlp"), getattr(agent, "critic_loss", "mse")
    if critic == "crossq" and loss == "mse":
        return "crossq"
    if critic == "mlp":
        return {"mse": "sac", "quantile": "tqc"}.get(loss)
    return None


def peer_settings(peer: Peer, cfg: Any, agent: Any) -> tuple[dict[str, Any], list[str]]:
    """The constructor options of ``peer`` matched to a wrl SAC run (its TrainConfig ``cfg`` and SACConfig
    ``agent``; the mapping is in the module docstring), and the settings the peer cannot match, one line each.

    The options are plain JSON values (lists, not tuples): they are what the peer's child process receives.
    """
    _check_peer(peer.lib, peer.algo)
    sbx, algo = peer.lib == "sbx", peer.algo
    diffs: list[str] = []
    kwargs: dict[str, Any] = {
        "learning_starts": cfg.learning_starts, "batch_size": cfg.batch_size, "buffer_size": cfg.buffer_size,
        "gamma": cfg.gamma, "train_freq": cfg.update_every, "gradient_steps": cfg.utd,
        "learning_rate": agent.actor_lr}
    if sbx:
        kwargs["qf_learning_rate"] = agent.critic_lr
        kwargs["policy_delay"] = agent.policy_delay
    else:
        if agent.critic_lr != agent.actor_lr:
            diffs.append(f"critic learning rate {agent.critic_lr:g} (SB3 SAC: one learning rate, "
                         f"{agent.actor_lr:g})")
        if agent.policy_delay != 1:
            diffs.append(f"policy delay {agent.policy_delay} (SB3 SAC: none)")
    if algo in ("sac", "tqc"):
        kwargs["tau"] = agent.target_tau
    if algo == "tqc":
        kwargs["top_quantiles_to_drop_per_net"] = 2
        diffs.append("TQC drops the top 2 quantiles of each critic from the pooled target; wrl's quantile critic "
                     "takes the min over critics quantile by quantile")
    if cfg.n_step != 1:
        kwargs["n_steps"] = cfg.n_step
    if not agent.autotune:
        kwargs["ent_coef"] = float(agent.init_alpha)
    elif agent.init_alpha != 1.0:
        kwargs["ent_coef"] = f"auto_{agent.init_alpha:g}"
    policy: dict[str, Any] = {"net_arch": {"pi": list(agent.actor_hidden), "qf": list(agent.critic_hidden)},
                              "n_critics": agent.num_critics}
    if algo == "crossq":
        policy.update(batch_norm_actor=False, batch_norm_momentum=agent.renorm_momentum,
                      renorm_warmup_steps=agent.renorm_warmup, optimizer_kwargs={"b1": agent.adam_b1})
    elif agent.adam_b1 != 0.9:
        policy["optimizer_kwargs"] = {"b1": agent.adam_b1} if sbx else {"betas": [agent.adam_b1, 0.999]}
    if algo == "tqc":
        policy["n_quantiles"] = agent.critic_quantiles
    kwargs["policy_kwargs"] = policy

    expected = {"sac": ("mlp", "mse"), "crossq": ("crossq", "mse"), "tqc": ("mlp", "quantile")}[algo]
    if (agent.critic, agent.critic_loss) != expected:
        diffs.append(f"critic {agent.critic} with the {agent.critic_loss} loss ({peer.name}: {expected[0]}, "
                     f"{expected[1]})")
    if algo == "tqc" and agent.critic_kappa != 1.0:
        diffs.append(f"quantile Huber threshold {agent.critic_kappa:g} (TQC: 1)")
    if agent.alpha_lr != agent.actor_lr:
        diffs.append(f"temperature learning rate {agent.alpha_lr:g} ({peer.name}: learning_rate, "
                     f"{agent.actor_lr:g})")
    if agent.target_entropy_scale != 1.0:
        diffs.append(f"target entropy -{agent.target_entropy_scale:g} x action dimensions ({peer.name}: -1 x)")
    checks = [(cfg.num_envs != 1, f"{cfg.num_envs} environments (the peer steps one)"),
              (cfg.action_repeat != 1, f"action repeat {cfg.action_repeat}"),
              (cfg.objective != "discounted", f"the {cfg.objective} objective"),
              (cfg.normalize_obs, "observation normalisation"), (cfg.normalize_reward, "reward normalisation"),
              (bool(cfg.reset_at), "parameter resets"),
              (agent.lr_schedule != "constant", f"the {agent.lr_schedule} learning-rate schedule")]
    diffs += [f"{what} (not in {peer.name} here)" for bad, what in checks if bad]
    return kwargs, diffs


def _run_child(args: list[str], timeout: float | None, single_thread: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "wrl.lab.bench.peers", *args]
    env = None
    if single_thread:
        from wrl.lab.bench.common import process_env

        env = process_env(True, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
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


def throughput_args(lib: str, env_id: str = "HalfCheetah-v5", *, algo: str = "sac",
                    kwargs: dict[str, Any] | None = None, steps: int = 2000, warmup_steps: int = 1000,
                    seed: int = 0, settle_updates: int = 10) -> list[str]:
    """The child's command line of :func:`peer_throughput` (after ``python -m wrl.lab.bench.peers``)."""
    args = ["throughput", "--lib", lib, "--algo", algo, "--env-id", env_id, "--steps", str(steps)]
    args += ["--warmup-steps", str(warmup_steps), "--settle-updates", str(settle_updates)]
    args += ["--seed", str(seed), "--kwargs", json.dumps(kwargs or {}, sort_keys=True)]
    return args


def peer_throughput(
    lib: str,
    env_id: str = "HalfCheetah-v5",
    *,
    algo: str = "sac",
    kwargs: dict[str, Any] | None = None,
    steps: int = 2000,
    warmup_steps: int = 1000,
    seed: int = 0,
    settle_updates: int = 10,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Training throughput of a peer (``lib``'s ``algo``), measured in a fresh process.

    By default UTD 1 (train_freq=1, gradient_steps=1), batch 256, net_arch [256, 256] for the actor and
    the critics, one environment; ``kwargs`` (e.g. :func:`peer_settings`) replace any of the algorithm's
    constructor options, except ``learning_starts``, which is ``warmup_steps``. The clock starts when the
    first ``settle_updates`` gradient updates have returned (so warmup, construction and compilation are
    excluded; SBX compiles on its first two updates) and stops after ``steps`` further environment
    steps, each followed by one update. The run is ``warmup_steps + settle_updates + steps`` steps long.

    Returns a dict with ``steps_per_second`` (over the ``steps`` measured steps), ``measured_seconds``,
    ``total_seconds`` (model construction to the end of training, in the child), ``warmup_seconds``
    (construction to the start of the clock), ``import_seconds``, ``process_seconds`` (the whole
    subprocess, seen by the caller), ``steps_per_second_second_half`` (a check for late recompilation),
    ``torch_num_threads``, library versions and ``config`` (the constructor options it ran with).
    """
    _check_peer(lib, algo)
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    if warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if settle_updates < 1:
        raise ConfigError(f"settle_updates must be >= 1, got {settle_updates}")
    require_peer(lib)
    return _run_child(throughput_args(lib, env_id, algo=algo, kwargs=kwargs, steps=steps, warmup_steps=warmup_steps,
                                      seed=seed, settle_updates=settle_updates), timeout)


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


def learning_args(peer: Peer, env_id: str, kwargs: dict[str, Any], *, total_steps: int, eval_every: int,
                  eval_episodes: int, seed: int) -> list[str]:
    """The child's command line of :func:`peer_learning` (after ``python -m wrl.lab.bench.peers``)."""
    return ["learn", "--lib", peer.lib, "--algo", peer.algo, "--env-id", env_id, "--total-steps", str(total_steps),
            "--eval-every", str(eval_every), "--eval-episodes", str(eval_episodes), "--seed", str(seed),
            "--kwargs", json.dumps(kwargs, sort_keys=True)]


def peer_learning(peer: Peer, env_id: str, kwargs: dict[str, Any], *, total_steps: int, eval_every: int,
                  eval_episodes: int, seed: int = 0, single_thread: bool = False,
                  timeout: float | None = None) -> dict[str, Any]:
    """A peer's learning curve in a fresh process: ``total_steps`` steps of ``peer`` built with ``kwargs``
    (:func:`peer_settings`), ``eval_episodes`` deterministic episodes on a separate env every ``eval_every``
    steps (as :func:`peer_time_to_solve`, never stopping early).

    Returns ``evals`` [(step, mean return), ...], ``final`` (the last evaluation), ``best``,
    ``steps_per_second`` (environment steps over the whole run, evaluations and compilation included),
    ``total_seconds``, ``import_seconds``, ``process_seconds``, ``config`` and library versions.
    ``single_thread``: one XLA and one torch thread (for runs that share the cores).
    """
    _check_peer(peer.lib, peer.algo)
    if eval_every < 1 or total_steps < eval_every:
        raise ConfigError(f"total_steps ({total_steps}) must be >= eval_every ({eval_every}) >= 1")
    if eval_episodes < 1:
        raise ConfigError(f"eval_episodes must be >= 1, got {eval_episodes}")
    require_peer(peer.lib)
    args = learning_args(peer, env_id, kwargs, total_steps=total_steps, eval_every=eval_every,
                         eval_episodes=eval_episodes, seed=seed)
    result = _run_child(args, timeout, single_thread)
    result["evals"] = [(int(step), float(ret)) for step, ret in result["evals"]]
    return result


# ----------------------------------------------------------------------------------------------------
# child side (runs inside `python -m wrl.lab.bench.peers`)
# ----------------------------------------------------------------------------------------------------


class _MissingPeer(Exception):
    pass


def _import_peer(lib: str, algo: str = "sac") -> tuple[type, dict[str, Any]]:
    """Import ``lib``'s class of ``algo``; return it with version info. Raises :class:`_MissingPeer`."""
    try:
        import stable_baselines3
        import torch

        if lib == "sbx":
            import jax
            import sbx

            cls = {"sac": sbx.SAC, "crossq": sbx.CrossQ, "tqc": sbx.TQC}[algo]
        else:
            from stable_baselines3 import SAC

            cls = {"sac": SAC}[algo]
    except ImportError as e:
        raise _MissingPeer(f"peer library {lib!r} cannot be imported ({e})") from e
    info: dict[str, Any] = {
        "lib": lib,
        "algo": algo,
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "sb3_version": stable_baselines3.__version__,
    }
    if lib == "sbx":
        info["sbx_version"] = sbx.__version__
        info["jax_version"] = jax.__version__
    return cls, info


def _make_model(cls: type, lib: str, env_id: str, seed: int, **kwargs: Any) -> Any:
    extra = {"device": "cpu"} if lib == "sb3" else {}
    return cls("MlpPolicy", env_id, seed=seed, verbose=0, **kwargs, **extra)


def _model_kwargs(task: Any) -> dict[str, Any]:
    """The constructor options the child builds its model with (beyond policy, env, seed, verbose, device)."""
    given = json.loads(task.kwargs)
    if isinstance(task, ThroughputTask):
        return {**THROUGHPUT_KWARGS, **given, "learning_starts": task.warmup_steps}
    if isinstance(task, SolveTask):
        return {**PENDULUM_ZOO_KWARGS, **given}
    return given


def _child_throughput(task: ThroughputTask) -> dict[str, Any]:
    t_import = time.perf_counter()
    cls, info = _import_peer(task.lib, task.algo)
    from stable_baselines3.common.callbacks import BaseCallback

    import_seconds = time.perf_counter() - t_import
    steps = task.steps
    # SB3/SBX run one update after each step once num_timesteps > learning_starts, so when a rollout
    # starts at num_timesteps == learning_starts + k, exactly k updates have returned.
    clock_start = task.warmup_steps + task.settle_updates
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

    kwargs = _model_kwargs(task)
    config = json.loads(json.dumps(kwargs))  # as given: the libraries add entries to policy_kwargs
    t0 = time.perf_counter()
    model = _make_model(cls, task.lib, task.env_id, task.seed, **kwargs)
    model.learn(total_timesteps=clock_start + steps, callback=Clock())
    t_end = time.perf_counter()
    measured = t_end - marks["start"]
    result = {
        **info,
        "env_id": task.env_id,
        "seed": task.seed,
        "steps": steps,
        "warmup_steps": task.warmup_steps,
        "settle_updates": task.settle_updates,
        "steps_per_second": steps / measured,
        "measured_seconds": measured,
        "warmup_seconds": marks["start"] - t0,
        "total_seconds": t_end - t0,
        "import_seconds": import_seconds,
        "config": config,
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


def _child_learn(task: SolveTask | LearnTask) -> dict[str, Any]:
    """Train with an evaluation every ``eval_every`` steps until the budget, or (SolveTask) the threshold."""
    t_import = time.perf_counter()
    cls, info = _import_peer(task.lib, task.algo)
    import gymnasium as gym
    from stable_baselines3.common.callbacks import BaseCallback

    import_seconds = time.perf_counter() - t_import
    threshold = task.threshold if isinstance(task, SolveTask) else math.inf
    budget = task.max_steps if isinstance(task, SolveTask) else task.total_steps
    evals: list[tuple[int, float]] = []
    solved: dict[str, float] = {}

    class Evaluator(BaseCallback):
        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if n % task.eval_every:
                return True
            mean_return = _evaluate(self.model, eval_env, task.eval_episodes, task.seed)
            evals.append((n, mean_return))
            if mean_return >= threshold:
                solved["seconds"] = time.perf_counter() - t0
                solved["steps"] = n
                return False
            return True

    kwargs = _model_kwargs(task)
    config = json.loads(json.dumps(kwargs))  # as given: the libraries add entries to policy_kwargs
    t0 = time.perf_counter()
    eval_env = gym.make(task.env_id)
    model = _make_model(cls, task.lib, task.env_id, task.seed, **kwargs)
    model.learn(total_timesteps=budget, callback=Evaluator())
    total = time.perf_counter() - t0
    eval_env.close()
    result = {**info, "env_id": task.env_id, "seed": task.seed, "eval_every": task.eval_every,
              "eval_episodes": task.eval_episodes, "evals": evals, "total_seconds": total,
              "import_seconds": import_seconds, "config": config}
    if isinstance(task, LearnTask):
        returns = [r for _, r in evals]
        return {**result, "total_steps": budget, "final": returns[-1] if returns else None,
                "best": max(returns) if returns else None, "steps_per_second": model.num_timesteps / total}
    return {**result, "threshold": threshold, "max_steps": budget, "solved": bool(solved),
            "seconds": solved.get("seconds", total), "steps": int(solved.get("steps", model.num_timesteps)),
            "hyperparameters": {"source": "rl-zoo sac.yml Pendulum-v1 + library defaults", **config}}


@dataclasses.dataclass(frozen=True)
class ThroughputTask:
    """``python -m wrl.lab.bench.peers throughput``: steps/s at UTD 1 after warmup."""

    lib: str = hp(REQUIRED, "peer library", choices=tuple(sorted(PEERS)))
    algo: str = hp("sac", "the library's algorithm", choices=ALGOS)
    env_id: str = hp("HalfCheetah-v5", "Gymnasium id")
    steps: int = hp(2000, "measured steps")
    warmup_steps: int = hp(1000, "random steps before learning")
    settle_updates: int = hp(10, "updates before the clock starts")
    seed: int = hp(0, "seed")
    kwargs: str = hp("{}", "constructor options as a JSON object, over batch 256, UTD 1 and (256, 256) networks")


@dataclasses.dataclass(frozen=True)
class SolveTask:
    """``python -m wrl.lab.bench.peers solve``: wall-clock seconds until the evaluation return reaches a threshold."""

    lib: str = hp(REQUIRED, "peer library", choices=tuple(sorted(PEERS)))
    algo: str = hp("sac", "the library's algorithm", choices=ALGOS)
    env_id: str = hp("Pendulum-v1", "Gymnasium id")
    threshold: float = hp(-200.0, "mean evaluation return that solves")
    eval_every: int = hp(1000, "steps between evaluations")
    eval_episodes: int = hp(10, "episodes per evaluation")
    max_steps: int = hp(PENDULUM_ZOO_STEPS, "give up after this many steps")
    seed: int = hp(0, "seed")
    kwargs: str = hp("{}", "constructor options as a JSON object, over RL-Zoo's Pendulum-v1 settings")


@dataclasses.dataclass(frozen=True)
class LearnTask:
    """``python -m wrl.lab.bench.peers learn``: evaluation returns over a whole budget (a learning curve)."""

    lib: str = hp(REQUIRED, "peer library", choices=tuple(sorted(PEERS)))
    algo: str = hp("sac", "the library's algorithm", choices=ALGOS)
    env_id: str = hp("HalfCheetah-v5", "Gymnasium id")
    total_steps: int = hp(100_000, "environment steps", gt=0)
    eval_every: int = hp(10_000, "steps between evaluations", gt=0)
    eval_episodes: int = hp(10, "episodes per evaluation", gt=0)
    seed: int = hp(0, "seed")
    kwargs: str = hp("{}", "constructor options as a JSON object, over the library's defaults")


_TASKS = {"throughput": ThroughputTask, "solve": SolveTask, "learn": LearnTask}


def _parse_child(argv: Sequence[str] | None) -> ThroughputTask | SolveTask | LearnTask:
    from wrl.lab.cli import add_options, options_from

    parser = argparse.ArgumentParser(prog="python -m wrl.lab.bench.peers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    for name, cls in _TASKS.items():
        add_options(sub.add_parser(name, help=cls.__doc__.split(": ", 1)[1]), cls)
    args = parser.parse_args(argv)
    task = options_from(_TASKS[args.task], args)
    if task.algo not in PEER_ALGOS[task.lib]:
        parser.error(f"--lib {task.lib} has no --algo {task.algo}")
    return task


def main(argv: Sequence[str] | None = None) -> int:
    task = _parse_child(argv)
    # Keep stdout for the single JSON line: anything the libraries print goes to stderr instead.
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result = _child_throughput(task) if isinstance(task, ThroughputTask) else _child_learn(task)
        status = 0
    except _MissingPeer as e:
        result, status = {"error": str(e)}, _MISSING_EXIT
    sys.stdout.flush()
    with os.fdopen(json_fd, "w") as out:
        out.write(json.dumps(result) + "\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""The training loop: environments on the host, everything else in one compiled call per step.

Per vector step: the envs step with the pending action; a small compiled ``act`` picks the next action
from the current parameters, and one compiled ``learn_step`` stores the transition and runs ``utd``
updates (after ``learning_starts``). ``learn_step`` is dispatched asynchronously, so the environments
step on the host while the update computes (the behaviour policy is one update behind, which an
off-policy learner does not mind). Evaluation, metric rows and checkpoints happen every so many steps;
metric values are only fetched from the device then, never in the hot loop.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import wrl
from wrl import config as C
from wrl import runs
from wrl.agents import ALGOS, check_train_config, config_class, make_agent
from wrl.atomic import write_json
from wrl.checkpoint import load_checkpoint, read_meta, save_checkpoint
from wrl.envs import VecEnv, env_factory, env_spec, import_env_modules, make_env
from wrl.errors import CheckpointError, ConfigError, DivergenceError, Interrupted, RunDirError, WriteError
from wrl.optional import is_installed
from wrl.runs import CHECKPOINT, seed_dir
from wrl.training.config import TrainConfig
from wrl.training.evaluate import eval_seed, evaluate
from wrl.training.logger import Logger
from wrl.training.step import (
    Transition,
    compiled_step_fns,
    init_train_state,
    make_act_deterministic,
    policy_state,
    resets_between,
    total_updates,
)


def validate_configs(cfg: TrainConfig, agent_cfg: Any) -> None:
    """Bounds of every field, plus the checks that involve several fields."""
    C.validate(cfg)
    if not isinstance(agent_cfg, config_class(cfg.algo)):
        raise ConfigError(f"agent config {type(agent_cfg).__name__} does not belong to --algo {cfg.algo}")
    C.validate(agent_cfg)
    check_train_config(cfg.algo, cfg, agent_cfg)
    if cfg.buffer_size < cfg.batch_size:
        raise ConfigError(f"--buffer-size ({cfg.buffer_size}) must be at least --batch-size ({cfg.batch_size})")


def with_run_length(cfg: TrainConfig, agent_cfg: Any) -> Any:
    """``agent_cfg`` with the horizon of its learning-rate schedule filled in: a linear schedule whose
    ``lr_decay_updates`` is 0 decays over the run's total number of updates (:func:`total_updates`). The run
    stores the filled config, so a resume (even with a longer ``--total-steps``) keeps the horizon it started with.
    """
    if getattr(agent_cfg, "lr_schedule", "constant") == "constant" or agent_cfg.lr_decay_updates > 0:
        return agent_cfg
    return dataclasses.replace(agent_cfg, lr_decay_updates=max(1, total_updates(cfg)))


def load_run_config(run_dir: str | Path) -> tuple[TrainConfig, Any]:
    """The (train, agent) configs stored in a run's checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist; check the path")
    meta = read_meta(run_dir / CHECKPOINT)
    try:
        cfg = C.from_dict(TrainConfig, meta["config"])
        agent_cfg = C.from_dict(config_class(cfg.algo), meta["agent_config"])
    except (KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"checkpoint in {run_dir} has a config this wrl {wrl.__version__} cannot read "
                              f"({e}); use the wrl version that wrote it") from None
    return cfg, agent_cfg


def _crossed(prev: int, step: int, every: int) -> bool:
    """True when a multiple of ``every`` lies in (prev, step]."""
    return step // every > prev // every


class _Clock:
    """Wall-clock seconds of the run, accumulated across resumes, from ``start`` (a ``time.perf_counter()``
    reading taken before the run is set up: environments, agent, compilation and logger count)."""

    def __init__(self, start: float, elapsed: float = 0.0):
        self.start, self.offset = start, elapsed

    def __call__(self) -> float:
        return self.offset + time.perf_counter() - self.start


class _StopSignals:
    """SIGTERM and SIGINT while a run trains: remembered, and acted on at the end of the current step (the loop
    writes a checkpoint there and stops with :class:`~wrl.errors.Interrupted`). A second signal changes nothing
    (a save under way finishes; every replaced file is written atomically anyway).

    Also ignores SIGXFSZ meanwhile, so that a file-size limit (``ulimit -f``) fails the write with EFBIG, which
    the run reports, instead of killing the process. Handlers can only be installed from the main thread; in
    another thread the run has no signal handling of its own.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
            self._previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class _Member:
    """One seed of a run on the host: its config, run directory (locked while it trains), environments, logger
    and record. ``in_group``: its checkpoints wait for the group's commit (:func:`wrl.runs.commit_group`)."""

    def __init__(self, cfg: TrainConfig, agent_cfg: Any, run_dir: Path, resume: bool, overwrite: bool,
                 tensorboard: bool, in_group: bool = False, label: str | None = None):
        self.cfg, self.agent_cfg, self.run_dir, self.in_group = cfg, agent_cfg, run_dir, in_group
        self.lock: runs.RunLock | None = None
        self.logger: Logger | None = None
        if resume:
            if not run_dir.is_dir():
                raise RunDirError(f"run directory {run_dir} does not exist; check the path")
            self.lock = runs.RunLock(run_dir).acquire()
            if not (run_dir / CHECKPOINT).exists():
                self.lock.release()
                raise CheckpointError(f"no checkpoint in {run_dir}; it cannot be resumed (start it again with "
                                      f"--overwrite, or `wrl doctor {run_dir}` to see what it holds)")
        else:
            self.lock = runs.create(run_dir, overwrite)
            write_json(run_dir / runs.CONFIG, {"config": C.to_dict(cfg), "agent_config": C.to_dict(agent_cfg),
                                               "version": wrl.__version__, **({"label": label} if label else {})})
        self.saved_step: int | None = None  # the step of the checkpoint on disk
        self.host: dict[str, Any] = {"env_steps": 0, "episodes": 0, "evaluations": [], "elapsed": 0.0,
                                     "last_return": None}
        self.envs = VecEnv([env_factory(cfg.env, action_repeat=cfg.action_repeat)] * cfg.num_envs, seed=cfg.seed)
        self.eval_envs = [make_env(cfg.env, action_repeat=cfg.action_repeat) for _ in range(cfg.eval_episodes)]
        self.resume, self.tensorboard = resume, tensorboard

    def restore(self, template: Any) -> tuple[Any, np.ndarray, np.ndarray]:
        """(state, observations, pending action) from this member's checkpoint."""
        ts, extra, meta = load_checkpoint(self.run_dir / CHECKPOINT, template)
        if meta.get("algo") != self.cfg.algo or meta.get("env") != self.cfg.env:
            raise CheckpointError(f"checkpoint in {self.run_dir} is for {meta.get('algo')} on {meta.get('env')}, "
                                  f"not {self.cfg.algo} on {self.cfg.env}; resume with the run's own config")
        self.host.update(meta["host"])
        self.saved_step = self.host["env_steps"]
        obs = self.envs.load_state_dict({k[4:]: v for k, v in extra.items() if k.startswith("env/")})
        return ts, obs, np.asarray(extra["pending_action"])

    def flush(self) -> None:
        if self.logger is not None:
            self.logger.flush()

    def open_logger(self) -> None:
        self.logger = Logger(self.run_dir, resume_step=self.host["env_steps"] if self.resume else None,
                             tensorboard=self.tensorboard)

    def evaluate(self, policy: Any, step: int, seconds: float) -> float:
        k = len(self.host["evaluations"])
        seeds = [eval_seed(self.cfg.seed, j, k) for j in range(self.cfg.eval_episodes)]
        returns = evaluate(policy, self.eval_envs, seeds)
        mean = float(np.mean(returns))
        self.host["evaluations"].append({"step": step, "mean_return": mean, "std_return": float(np.std(returns)),
                                         "seconds": seconds})
        self.logger.log(step, {"eval/mean_return": mean, "eval/std_return": float(np.std(returns)),
                               "eval/seconds": seconds})
        self.logger.flush()
        return mean

    def save(self, ts: Any, action: np.ndarray, step: int, seconds: float) -> None:
        """Write the checkpoint of ``step`` (in a group: the pending one, which the group then commits)."""
        self.host.update(env_steps=step, elapsed=seconds)
        env_arrays = {f"env/{k}": v for k, v in self.envs.state_dict().items()}
        meta = {"version": wrl.__version__, "algo": self.cfg.algo, "env": self.cfg.env,
                "config": C.to_dict(self.cfg), "agent_config": C.to_dict(self.agent_cfg), "host": self.host}
        path = runs.pending_checkpoint(self.run_dir) if self.in_group else self.run_dir / CHECKPOINT
        save_checkpoint(path, ts, {**env_arrays, "pending_action": np.asarray(action)}, meta,
                        filled={"state/replay/": int(ts.replay.size)})
        if not self.in_group:
            self.saved_step = step

    def summary(self, step: int, seconds: float) -> dict:
        evals, target = self.host["evaluations"], self.cfg.target_return
        solved = next((e for e in evals if target is not None and e["mean_return"] >= target), None)
        summary = {
            "algo": self.cfg.algo, "env": self.cfg.env, "seed": self.cfg.seed,
            "finished": step >= self.cfg.total_steps or bool(solved), "env_steps": step, "wall_seconds": seconds,
            "steps_per_second": step / max(seconds, 1e-9),
            "final_eval_return": evals[-1]["mean_return"] if evals else None,
            "best_eval_return": max(e["mean_return"] for e in evals) if evals else None,
            "solved_at": solved, "evaluations": evals, "episodes": self.host["episodes"],
            "version": wrl.__version__, "config": C.to_dict(self.cfg), "agent_config": C.to_dict(self.agent_cfg),
        }
        write_json(self.run_dir / runs.SUMMARY, summary)
        return summary

    def close(self, quiet: bool = False) -> None:
        """Close the logger and the environments; ``quiet``: a failure to flush the logger is not raised (the run
        already stops on an error of its own)."""
        try:
            if self.logger is not None:
                self.logger.close()
        except WriteError:
            if not quiet:
                raise
        finally:
            self.envs.close()
            for env in self.eval_envs:
                env.close()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def _check_before_writing(cfg: TrainConfig, agent_cfg: Any) -> None:
    """Fail before anything is written: an unknown or unsupported environment, an agent whose options
    contradict each other (the agent is built, not initialised, here) and a run that would never update."""
    spec = env_spec(cfg.env)
    make_agent(cfg.algo, agent_cfg, spec.obs_dim, spec.act_dim)
    if cfg.learning_starts >= cfg.total_steps:
        raise ConfigError(f"--learning-starts ({cfg.learning_starts}) must be below --total-steps ({cfg.total_steps}): "
                          "no update would run and the run would learn nothing")


def write_learning_curve(run_dir: str | Path) -> Path | None:
    """``RUN_DIR/learning_curve.png`` (:func:`wrl.training.curve.plot_learning_curve`), or None when matplotlib
    is not installed (``wrl train`` says so in one line)."""
    if not is_installed("matplotlib"):
        return None
    from wrl.training.curve import plot_learning_curve

    return plot_learning_curve(run_dir)


def train(cfg: TrainConfig, agent_cfg: Any | None = None, run_dir: str | Path | None = None, *,
          resume: bool = False, overwrite: bool = False, progress: bool = True, tensorboard: bool = True,
          stop_at: int | None = None, plot: bool = True, label: str | None = None) -> dict:
    """Train (or resume) a run in ``run_dir`` and return its summary (also written to summary.json).

    The run directory is the one ``wrl train`` writes: config, checkpoint, metrics, TensorBoard events (unless
    ``tensorboard`` is False), summary and, once the run finished and when matplotlib is installed (and ``plot``),
    ``learning_curve.png``. ``agent_cfg`` defaults to the algorithm's defaults; ``run_dir`` to
    ``runs/ALGO-ENV-sSEED-TIME`` (:func:`wrl.runs.default_run_dir`). ``label`` names the run in plots
    (``wrl plot``; recorded in config.json, as suites do). Build ``cfg`` for its algorithm
    (``TrainConfig(algo=...)`` or :func:`wrl.training.options.configs`) to get the settings of ``wrl train``.

    ``stop_at`` stops after that many environment steps without finishing the run, as a kill would
    (after writing a checkpoint there), which tests use to check exact resume. SIGTERM or SIGINT (when called
    from the main thread) stop the run at the end of the current step with a checkpoint there and raise
    :class:`~wrl.errors.Interrupted`; a failed write raises :class:`~wrl.errors.WriteError` (the last
    complete checkpoint is kept); only one process trains into a run directory at a time.
    """
    start = time.perf_counter()
    agent_cfg = config_class(cfg.algo)() if agent_cfg is None and cfg.algo in ALGOS else agent_cfg
    run_dir = Path(run_dir) if run_dir is not None else runs.default_run_dir(cfg.algo, cfg.env, f"s{cfg.seed}")
    with _StopSignals() as stop:
        validate_configs(cfg, agent_cfg)
        agent_cfg = with_run_length(cfg, agent_cfg)
        import_env_modules(cfg.env_module)
        _check_before_writing(cfg, agent_cfg)
        member = _Member(cfg, agent_cfg, run_dir, resume, overwrite, tensorboard, label=label)
        try:
            summary = _run([member], cfg, agent_cfg, run_dir, seeds_axis=False, progress=progress,
                           stop_at=stop_at, start=start, stop=stop)[0]
        finally:
            member.release()
    if plot and summary["finished"]:
        write_learning_curve(run_dir)
    return summary


def train_group(cfg: TrainConfig, agent_cfg: Any, group_dir: str | Path, seeds: list[int], *, resume: bool = False,
                overwrite: bool = False, progress: bool = True, tensorboard: bool = True,
                stop_at: int | None = None, plot: bool = True, label: str | None = None) -> dict:
    """Train (or resume) seeds side by side in one process: one compiled step vmapped over the seed axis of the
    training state, one vector of environments per seed.

    Each seed writes an ordinary run directory ``GROUP_DIR/seed-SEED`` (config, metrics, TensorBoard, summary,
    learning curve when matplotlib is installed, checkpoint; ``wrl eval`` works on it); ``GROUP_DIR/summary.json``
    gathers them. A seed's numbers depend only on its own seed and the group's size (vmapped computations do not
    mix seeds). The seeds' checkpoints are committed together (:func:`wrl.runs.commit_group`), so a kill never
    leaves them at different steps; signals, failed writes and the writer's lock as in :func:`train`.
    """
    start = time.perf_counter()
    group_dir = Path(group_dir)
    with _StopSignals() as stop:
        validate_configs(cfg, agent_cfg)
        agent_cfg = with_run_length(cfg, agent_cfg)
        if len(set(seeds)) != len(seeds) or not seeds or min(seeds) < 0:
            raise ConfigError(f"--seeds must be distinct non-negative integers (got {seeds})")
        if cfg.target_return is not None:
            raise ConfigError("--target-return stops a single run; it is not available with --seeds")
        import_env_modules(cfg.env_module)
        _check_before_writing(cfg, agent_cfg)
        if resume:
            if not runs.is_group(group_dir):
                raise CheckpointError(f"{group_dir} is not a group of seeds ({runs.GROUP} missing); resume a single "
                                      "run with --resume RUN_DIR")
            lock = runs.RunLock(group_dir).acquire()
        else:
            lock = runs.create(group_dir, overwrite)
        members: list[_Member] = []
        try:
            if resume:
                runs.recover_group(group_dir, [seed_dir(group_dir, s) for s in seeds],
                                   lambda path: int(read_meta(path)["host"]["env_steps"]))
            else:
                write_json(group_dir / runs.GROUP, {"seeds": seeds, "config": C.to_dict(cfg),
                                                    "agent_config": C.to_dict(agent_cfg), "version": wrl.__version__})
            for s in seeds:
                members.append(_Member(dataclasses.replace(cfg, seed=s), agent_cfg, seed_dir(group_dir, s), resume,
                                       False, tensorboard, in_group=True, label=label))
            summaries = _run(members, cfg, agent_cfg, group_dir, seeds_axis=True, progress=progress,
                             stop_at=stop_at, start=start, stop=stop)
            finals = [s["final_eval_return"] for s in summaries]
            group = {"algo": cfg.algo, "env": cfg.env, "seeds": seeds,
                     "finished": all(s["finished"] for s in summaries), "final_eval_return": finals,
                     "final_eval_return_mean": float(np.mean(finals)) if None not in finals else None,
                     "wall_seconds": summaries[0]["wall_seconds"],
                     "steps_per_second_per_seed": summaries[0]["steps_per_second"],
                     "runs": [str(m.run_dir.name) for m in members], "version": wrl.__version__,
                     "config": C.to_dict(cfg), "agent_config": C.to_dict(agent_cfg)}
            write_json(group_dir / runs.SUMMARY, group)
        finally:
            for m in members:
                m.release()
            lock.release()
    if plot and group["finished"]:
        for s in seeds:
            write_learning_curve(seed_dir(group_dir, s))
    return group


def load_group_config(group_dir: str | Path) -> tuple[TrainConfig, Any, list[int]]:
    """(train config, agent config, seeds) of a group written by :func:`train_group`."""
    path = Path(group_dir) / runs.GROUP
    try:
        data = json.loads(path.read_text())
        cfg = C.from_dict(TrainConfig, data["config"])
        return cfg, C.from_dict(config_class(cfg.algo), data["agent_config"]), list(data["seeds"])
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {e}); resume it with the wrl version "
                              "that wrote it") from None


def _stack(trees: list[Any], xp: Any = np) -> Any:
    """The trees stacked leaf by leaf along a new leading axis: host arrays with NumPy (``xp=np``, no device
    dispatch in the per-step loop), device arrays with ``xp=jax.numpy``."""
    return jax.tree.map(lambda *xs: xp.stack(xs), *trees)


@jax.jit
def _select_seed(tree: Any, i: jax.Array) -> Any:
    """Seed i's part of a stacked device pytree, in one compiled call (not one dispatch per leaf)."""
    return jax.tree.map(lambda x: x[i], tree)


def _run(members: list[_Member], cfg: TrainConfig, agent_cfg: Any, run_dir: Path, *, seeds_axis: bool,
         progress: bool, stop_at: int | None, start: float, stop: _StopSignals) -> list[dict]:
    """The loop over one member (``seeds_axis`` False) or several side by side (True, states stacked) of the run
    (or group) in ``run_dir``; ``start`` is when the caller began setting the run up (the run's clock starts
    there); ``stop`` holds a signal that asks the loop to stop at the end of its current step."""
    note = cfg.rounding_note()  # every setting is checked by now: what runs, if not what was asked
    if note:
        sys.stderr.write(f"wrl: note: {note}\n")
    spec = env_spec(cfg.env)
    agent = make_agent(cfg.algo, agent_cfg, spec.obs_dim, spec.act_dim)
    fns = compiled_step_fns(cfg, agent_cfg, spec.obs_dim, spec.act_dim, seeds_axis)
    on_policy = agent.rollout_update is not None

    def one(tree: Any, i: int) -> Any:
        """Member i's part of a (possibly stacked) pytree of host arrays (NumPy views, no copies)."""
        return jax.tree.map(lambda x: x[i], tree) if seeds_axis else tree

    def stacked(parts: list[Any], xp: Any = np) -> Any:
        return _stack(parts, xp) if seeds_axis else parts[0]

    states = [init_train_state(agent, m.cfg, spec.obs_dim, spec.act_dim) for m in members]
    if members[0].resume:
        restored = [m.restore(t) for m, t in zip(members, states, strict=True)]
        if len({m.host["env_steps"] for m in members}) != 1:
            raise CheckpointError(f"the seeds' checkpoints in {members[0].run_dir.parent} are at different steps; "
                                  "resume each seed's directory on its own")
        states, obs, action = (list(x) for x in zip(*restored, strict=True))
        ts, obs, action = stacked(states, jax.numpy), stacked(obs), jax.numpy.asarray(stacked(action))
    else:
        ts, obs = stacked(states, jax.numpy), stacked([m.envs.reset() for m in members])
        action = fns.act(ts, obs, np.int32(0))
    for m in members:
        m.open_logger()
    clock = _Clock(start, members[0].host["elapsed"])
    step = members[0].host["env_steps"]

    def check_finite(what: str = "") -> None:
        """Stop with a DivergenceError (checkpoints untouched) if any part of any member is non-finite."""
        flags = jax.device_get(fns.finite_parts(ts))
        bad = [(m, name) for i, m in enumerate(members) for name, ok in flags.items()
               if not (np.asarray(ok)[i] if seeds_axis else ok)]
        if bad or what:
            where = f" (seed {bad[0][0].cfg.seed})" if bad and seeds_axis else ""
            quantity = what or ("non-finite values in " + ", ".join(sorted({n for _, n in bad})) + where)
            m = bad[0][0] if bad else members[0]
            fix = "Lower the learning rates (--actor-lr, --critic-lr) or clip gradients, and start again"
            if m.saved_step is None:
                raise DivergenceError(f"training diverged at step {step}: {quantity}; no checkpoint had been written. "
                                      f"{fix}")
            raise DivergenceError(f"training diverged at step {step}: {quantity}; the last finite checkpoint (step "
                                  f"{m.saved_step}) is kept in {m.run_dir}. {fix} (or --resume {run_dir} from the "
                                  "kept checkpoint)")

    def run_eval() -> list[float]:
        check_finite()  # never evaluate (or feed the environments) a diverged policy
        returns = []
        for i, m in enumerate(members):
            policy = _select_seed(policy_state(ts), i) if seeds_axis else policy_state(ts)
            returns.append(m.evaluate(lambda o, p=policy: fns.act_deterministic(p, o), step, clock()))
        return returns

    def checkpoint() -> None:
        check_finite()  # a checkpoint is only ever written with finite values
        for m in members:  # every metric row up to this step is on disk before the checkpoint that covers it
            m.flush()
        pending = np.asarray(action)
        host = jax.tree.map(np.asarray, ts)  # views of the device buffers on CPU; a seed's part is a view too
        for i, m in enumerate(members):
            m.save(one(host, i), one(pending, i), step, clock())
        if seeds_axis:  # every seed's checkpoint of this step is written: commit them together
            runs.commit_group(run_dir, [m.run_dir for m in members], step)
            for m in members:
                m.saved_step = step

    def kept() -> str:
        saved = members[0].saved_step
        if saved is None:
            return "no checkpoint had been written; start it again with --overwrite"
        return f"the checkpoint of step {saved} is kept in {run_dir}; continue with: wrl train --resume {run_dir}"

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.total_steps, initial=step, unit="step", dynamic_ncols=True,
                   desc=f"{cfg.algo} {cfg.env}" + (f" x{len(members)} seeds" if seeds_axis else ""))
    sps_mark = (step, clock())
    end = cfg.total_steps if stop_at is None else min(stop_at, cfg.total_steps)
    target = cfg.target_return if cfg.target_return is not None else np.inf
    failed = False
    try:
        while step < end:
            if stop.signum is not None:
                break
            action = np.asarray(action)
            if not np.all(np.isfinite(action)):  # the action is on the host anyway: checked at every step
                check_finite("a non-finite action from the policy")
            outs = [m.envs.step(one(action, i)) for i, m in enumerate(members)]
            tr = Transition(obs, action, *(stacked([getattr(o, f) for o in outs])
                                           for f in ("reward", "next_obs", "terminated", "truncated")))
            prev, step = step, step + cfg.num_envs * cfg.action_repeat  # frames
            obs = stacked([o.obs for o in outs])
            reset = resets_between(cfg, prev, step)  # the agent starts afresh after this step's updates
            if on_policy:  # the next action from the updated policies: every rollout is the current policy's
                ts = fns.learn_step(ts, tr)
                ts = fns.reset(ts) if reset else ts
                action = fns.act(ts, obs, np.int32(step))
            else:
                action = fns.act(ts, obs, np.int32(step))  # parameters one update behind: see make_step_fns
                ts = fns.learn_step(ts, tr)  # dispatched asynchronously; the host steps the env meanwhile
                ts = fns.reset(ts) if reset else ts
            for m, out in zip(members, outs, strict=True):
                for ret, length in zip(out.episode_returns, out.episode_lengths, strict=True):
                    m.host["episodes"] += 1
                    m.host["last_return"] = ret
                    m.logger.log(step, {"charts/episodic_return": ret, "charts/episodic_length": length})
            if _crossed(prev, step, cfg.eval_every) and max(run_eval()) >= target:
                checkpoint()
                break
            if _crossed(prev, step, cfg.log_every):
                now = clock()
                sps = (step - sps_mark[0]) / max(now - sps_mark[1], 1e-9)
                sps_mark = (step, now)
                ts, means = fns.window_means(ts)  # every update's metrics averaged since the last row
                means = jax.device_get(means)
                for i, m in enumerate(members):
                    m.logger.log(step, {"charts/SPS": sps, **one(means, i)})
                    m.logger.flush()
                inf = sorted({k for k, v in means.items() if np.any(np.isinf(v))})
                check_finite(f"{', '.join(inf)} reached infinity" if inf else "")
            if bar is not None:
                bar.update(step - prev)
                if _crossed(prev, step, cfg.log_every) or any(o.episode_returns for o in outs):
                    host = members[0].host
                    post = {"ret": host["last_return"]}
                    if host["evaluations"]:
                        post["eval"] = host["evaluations"][-1]["mean_return"]
                    bar.set_postfix({k: f"{v:.1f}" for k, v in post.items() if v is not None}, refresh=False)
            if _crossed(prev, step, cfg.checkpoint_every) or step >= end:
                checkpoint()
        evals = members[0].host["evaluations"]
        if step >= cfg.total_steps and (not evals or evals[-1]["step"] != step):
            run_eval()
            checkpoint()
        elif stop.signum is not None and members[0].saved_step != step:
            checkpoint()
        for m in members:
            m.flush()
    except WriteError as e:
        failed = True
        raise e.with_context(f" at step {step}; {kept()}. Free space (or lift the limit, fix the permission) "
                             "first") from None
    except BaseException:
        failed = True
        raise
    finally:
        if bar is not None:
            bar.close()
        for m in members:
            m.close(quiet=failed)
    try:
        summaries = [m.summary(step, clock()) for m in members]
    except WriteError as e:
        raise e.with_context(f" at step {step}; {kept()}") from None
    if stop.signum is not None and step < cfg.total_steps and not summaries[0]["finished"]:
        name = signal.Signals(stop.signum).name
        raise Interrupted(stop.signum, f"stopped by {name} at step {step}: checkpoint written in {run_dir}; "
                                       f"continue with: wrl train --resume {run_dir}")
    return summaries


def load_policy(run_dir: str | Path) -> tuple[TrainConfig, Any, dict]:
    """(config, deterministic policy obs_batch -> actions, checkpoint meta) of a trained run.

    The actions are the agent's own, in [-1, 1] per dimension: the units of wrl's environments
    (:func:`wrl.envs.make_env` rescales every Box action space there), not those of ``gym.make(ENV)``. To act in a
    plain environment use :class:`wrl.Policy` (``wrl.Policy.load(run_dir).predict(obs)``), which rescales onto the
    environment's action bounds.
    """
    run_dir = Path(run_dir)
    cfg, agent_cfg = load_run_config(run_dir)
    import_env_modules(cfg.env_module)
    spec = env_spec(cfg.env)
    agent = make_agent(cfg.algo, agent_cfg, spec.obs_dim, spec.act_dim)
    ts, _, meta = load_checkpoint(run_dir / CHECKPOINT, init_train_state(agent, cfg, spec.obs_dim, spec.act_dim))
    act = make_act_deterministic(agent)
    return cfg, lambda obs: act(policy_state(ts), obs), meta


def agent_config_from(algo: str, overrides: dict[str, Any] | None = None) -> Any:
    """Default config of ``algo`` with ``overrides`` (field names) applied and validated; an unknown name is a
    :class:`~wrl.errors.ConfigError` naming the closest fields (:func:`wrl.training.options.agent_config`)."""
    from wrl.training.options import agent_config

    return agent_config(algo, overrides)

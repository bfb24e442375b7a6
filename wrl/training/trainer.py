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
import shutil
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import wrl
from wrl import config as C
from wrl.agents import config_class, make_agent
from wrl.envs import VecEnv, env_factory, env_spec, import_env_modules, make_env
from wrl.errors import CheckpointError, ConfigError, DivergenceError, RunDirError
from wrl.training.checkpoint import load_checkpoint, read_meta, save_checkpoint
from wrl.training.config import TrainConfig
from wrl.training.evaluate import eval_seed, evaluate
from wrl.training.logger import Logger
from wrl.training.step import Transition, compiled_step_fns, init_train_state

CHECKPOINT = "checkpoint.npz"


def validate_configs(cfg: TrainConfig, agent_cfg: Any) -> None:
    """Bounds of every field, plus the checks that involve several fields."""
    C.validate(cfg)
    if not isinstance(agent_cfg, config_class(cfg.algo)):
        raise ConfigError(f"agent config {type(agent_cfg).__name__} does not belong to --algo {cfg.algo}")
    C.validate(agent_cfg)
    if cfg.buffer_size < cfg.batch_size:
        raise ConfigError(f"--buffer-size ({cfg.buffer_size}) must be at least --batch-size ({cfg.batch_size})")


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Create ``run_dir``; an existing non-empty one is kept unless ``overwrite`` is explicit."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        if not overwrite:
            raise RunDirError(f"run directory {run_dir} already exists; pass --resume {run_dir} to continue it, "
                              "--overwrite to replace it, or choose another --run-dir")
        if any((run_dir / name).exists() for name in (CHECKPOINT, "config.json", "summary.json")):
            shutil.rmtree(run_dir)
        else:
            raise RunDirError(f"{run_dir} is not a wrl run directory; refusing to delete it with --overwrite")
    run_dir.mkdir(parents=True, exist_ok=True)


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
    """Wall-clock seconds of the run, accumulated across resumes."""

    def __init__(self, elapsed: float = 0.0):
        self.start, self.offset = time.perf_counter(), elapsed

    def __call__(self) -> float:
        return self.offset + time.perf_counter() - self.start


def train(cfg: TrainConfig, agent_cfg: Any, run_dir: str | Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, tensorboard: bool = True,
          stop_at: int | None = None) -> dict:
    """Train (or resume) a run in ``run_dir`` and return its summary (also written to summary.json).

    ``stop_at`` stops after that many environment steps without finishing the run, as a kill would
    (after writing a checkpoint there), which tests use to check exact resume.
    """
    run_dir = Path(run_dir)
    validate_configs(cfg, agent_cfg)
    import_env_modules(cfg.env_module)
    spec = env_spec(cfg.env)
    if resume:
        if not (run_dir / CHECKPOINT).exists():
            raise CheckpointError(f"no checkpoint in {run_dir}; it cannot be resumed (start it again without "
                                  "--resume)")
    else:
        prepare_run_dir(run_dir, overwrite)
        (run_dir / "config.json").write_text(json.dumps(
            {"config": C.to_dict(cfg), "agent_config": C.to_dict(agent_cfg), "version": wrl.__version__},
            indent=2))

    agent = make_agent(cfg.algo, agent_cfg, spec.obs_dim, spec.act_dim)
    ts = init_train_state(agent, cfg, spec.obs_dim, spec.act_dim)
    act, learn_step, act_eval, take_window, finite_parts = compiled_step_fns(cfg, agent_cfg, spec.obs_dim,
                                                                             spec.act_dim)
    envs = VecEnv([env_factory(cfg.env)] * cfg.num_envs, seed=cfg.seed)
    eval_envs = [make_env(cfg.env) for _ in range(cfg.eval_episodes)]

    host = {"env_steps": 0, "episodes": 0, "evaluations": [], "elapsed": 0.0, "last_return": None}
    if resume:
        ts, extra, meta = load_checkpoint(run_dir / CHECKPOINT, ts)
        if meta.get("algo") != cfg.algo or meta.get("env") != cfg.env:
            raise CheckpointError(f"checkpoint in {run_dir} is for {meta.get('algo')} on {meta.get('env')}, "
                                  f"not {cfg.algo} on {cfg.env}; resume with the run's own config")
        host.update(meta["host"])
        obs = envs.load_state_dict({k[4:]: v for k, v in extra.items() if k.startswith("env/")})
        action = jax.numpy.asarray(extra["pending_action"])
    else:
        obs = envs.reset()
        action = act(ts, obs, np.int32(0))

    logger = Logger(run_dir, resume_step=host["env_steps"] if resume else None, tensorboard=tensorboard)
    clock = _Clock(host["elapsed"])
    step = host["env_steps"]

    def run_eval() -> float:
        check_finite()  # never evaluate (or feed the environments) a diverged policy
        k = len(host["evaluations"])
        seeds = [eval_seed(cfg.seed, j, k) for j in range(cfg.eval_episodes)]
        returns = evaluate(lambda o: act_eval(ts.agent, o), eval_envs, seeds)
        mean = float(np.mean(returns))
        host["evaluations"].append({"step": step, "mean_return": mean, "std_return": float(np.std(returns)),
                                    "seconds": clock()})
        logger.log(step, {"eval/mean_return": mean, "eval/std_return": float(np.std(returns)),
                          "eval/seconds": clock()})
        logger.flush()
        return mean

    def check_finite(what: str = "") -> None:
        """Stop with a DivergenceError (the last checkpoint untouched) if any part of the agent is non-finite."""
        bad = [name for name, ok in jax.device_get(finite_parts(ts)).items() if not ok]
        if bad or what:
            quantity = what or ("non-finite values in " + ", ".join(bad))
            kept = (f"the last finite checkpoint (step {host['env_steps']}) is kept in {run_dir}"
                    if (run_dir / CHECKPOINT).exists() else "no checkpoint had been written")
            raise DivergenceError(f"training diverged at step {step}: {quantity}; {kept}. Lower the learning rates "
                                  "(--actor-lr, --critic-lr) or clip gradients, and start again (or --resume "
                                  "from the kept checkpoint)")

    def checkpoint() -> None:
        check_finite()
        host.update(env_steps=step, elapsed=clock())
        env_arrays = {f"env/{k}": v for k, v in envs.state_dict().items()}
        meta = {"version": wrl.__version__, "algo": cfg.algo, "env": cfg.env, "config": C.to_dict(cfg),
                "agent_config": C.to_dict(agent_cfg), "host": host}
        save_checkpoint(run_dir / CHECKPOINT, ts, {**env_arrays, "pending_action": np.asarray(action)}, meta)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.total_steps, initial=step, unit="step", dynamic_ncols=True,
                   desc=f"{cfg.algo} {cfg.env}")
    sps_mark = (step, clock())
    end = cfg.total_steps if stop_at is None else min(stop_at, cfg.total_steps)
    try:
        while step < end:
            action = np.asarray(action)
            if not np.all(np.isfinite(action)):  # the action is on the host anyway: checked at every step
                check_finite("a non-finite action from the policy")
            out = envs.step(action)
            tr = Transition(obs, action, out.reward, out.next_obs, out.terminated, out.truncated)
            prev, step = step, step + cfg.num_envs
            action = act(ts, out.obs, np.int32(step))  # parameters one update behind: see make_step_fns
            ts = learn_step(ts, tr)  # dispatched asynchronously; the host steps the env meanwhile
            obs = out.obs
            for ret, length in zip(out.episode_returns, out.episode_lengths, strict=True):
                host["episodes"] += 1
                host["last_return"] = ret
                logger.log(step, {"charts/episodic_return": ret, "charts/episodic_length": length})
            if _crossed(prev, step, cfg.eval_every):
                if run_eval() >= (cfg.target_return if cfg.target_return is not None else np.inf):
                    checkpoint()
                    break
            if _crossed(prev, step, cfg.log_every):
                now = clock()
                sps = (step - sps_mark[0]) / max(now - sps_mark[1], 1e-9)
                sps_mark = (step, now)
                ts, means = take_window(ts)  # every update's metrics averaged over the window since the last row
                means = jax.device_get(means)
                logger.log(step, {"charts/SPS": sps, **means})
                logger.flush()
                inf = [k for k, v in means.items() if np.isinf(v)]
                check_finite(f"{', '.join(inf)} reached infinity" if inf else "")
            if bar is not None:
                bar.update(step - prev)
                if _crossed(prev, step, cfg.log_every) or out.episode_returns:
                    post = {"ret": host["last_return"]}
                    if host["evaluations"]:
                        post["eval"] = host["evaluations"][-1]["mean_return"]
                    bar.set_postfix({k: f"{v:.1f}" for k, v in post.items() if v is not None}, refresh=False)
            if _crossed(prev, step, cfg.checkpoint_every) or step == end:
                checkpoint()
        if step >= cfg.total_steps and (not host["evaluations"] or host["evaluations"][-1]["step"] != step):
            run_eval()
            checkpoint()
    finally:
        if bar is not None:
            bar.close()
        logger.close()
        envs.close()
        for env in eval_envs:
            env.close()

    evals = host["evaluations"]
    target = cfg.target_return
    solved = next((e for e in evals if target is not None and e["mean_return"] >= target), None)
    summary = {
        "algo": cfg.algo, "env": cfg.env, "seed": cfg.seed, "finished": step >= cfg.total_steps or bool(solved),
        "env_steps": step, "wall_seconds": clock(), "steps_per_second": step / max(clock(), 1e-9),
        "final_eval_return": evals[-1]["mean_return"] if evals else None,
        "best_eval_return": max(e["mean_return"] for e in evals) if evals else None,
        "solved_at": solved, "evaluations": evals, "episodes": host["episodes"], "version": wrl.__version__,
        "config": C.to_dict(cfg), "agent_config": C.to_dict(agent_cfg),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def load_policy(run_dir: str | Path) -> tuple[TrainConfig, Any, dict]:
    """(config, deterministic policy obs_batch -> actions, checkpoint meta) of a trained run."""
    run_dir = Path(run_dir)
    cfg, agent_cfg = load_run_config(run_dir)
    import_env_modules(cfg.env_module)
    spec = env_spec(cfg.env)
    agent = make_agent(cfg.algo, agent_cfg, spec.obs_dim, spec.act_dim)
    ts, _, meta = load_checkpoint(run_dir / CHECKPOINT, init_train_state(agent, cfg, spec.obs_dim, spec.act_dim))
    act = jax.jit(lambda s, o: agent.act(s, o, jax.random.key(0), True))
    return cfg, lambda obs: act(ts.agent, obs), meta


def default_train_config(algo: str, **overrides: Any) -> TrainConfig:
    """TrainConfig for ``algo``: the shared defaults with ``overrides`` applied."""
    from wrl.agents import ALGOS

    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    return dataclasses.replace(TrainConfig(), algo=algo, **overrides)


def agent_config_from(algo: str, overrides: dict[str, Any] | None = None) -> Any:
    """Default config of ``algo`` with ``overrides`` applied."""
    return dataclasses.replace(config_class(algo)(), **(overrides or {}))

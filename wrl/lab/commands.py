"""`wrl train` and `wrl eval`: argument handling around :mod:`wrl.training.trainer`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from wrl import runs
from wrl.config import REQUIRED, hp
from wrl.envs import make_env
from wrl.envs.render import rendering_unavailable_reason
from wrl.errors import ConfigError, RunDirError
from wrl.optional import install_hint, is_installed
from wrl.runs import CHECKPOINT
from wrl.training import options
from wrl.training.config import TrainConfig
from wrl.training.evaluate import evaluate
from wrl.training.trainer import (
    load_group_config,
    load_policy,
    load_run_config,
    train,
    train_group,
)


def compile_cache_option() -> Any:
    return hp(None, "persistent compilation cache: repeated commands start warm ('off' disables; default: "
                    "$WRL_COMPILE_CACHE or ~/.cache/wrl/jax)", metavar="DIR")


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """The options of ``wrl train`` besides the settings (TrainConfig and the agent's config)."""

    run_dir: str | None = hp(None, "where the run is written (default: runs/ALGO-ENV-sSEED-TIME)")
    resume: str | None = hp(None, "continue a stopped or killed run (or group of seeds)", metavar="RUN_DIR")
    seeds: tuple[int, ...] | None = hp(None, "train these seeds side by side in one process (one vmapped compiled "
                                             "step); each seed writes RUN_DIR/seed-SEED (default: one run, --seed)",
                                       nargs="+", metavar="SEED", exclusive="seeds")
    num_seeds: int | None = hp(None, "side by side: the N seeds --seed, --seed + 1, ... (default: one run)", ge=1,
                               metavar="N", exclusive="seeds")
    overwrite: bool = hp(False, "replace an existing run directory")
    no_progress: bool = hp(False, "no progress bar")
    no_tensorboard: bool = hp(False, "do not write TensorBoard events")
    compile_cache: str | None = compile_cache_option()
    config: str | None = hp(None, "settings from a TOML/JSON file of option names (e.g. the best.toml of `wrl bench "
                                  "sweep`); options given explicitly win (default: none)", metavar="FILE")
    preset: str | None = hp(None, "named settings of the algorithm, overridden by options given explicitly "
                                  "(default: none)", metavar="NAME")
    label: str | None = hp(None, "a name for the run in `wrl plot` legends, recorded in its config.json (suites name "
                                 "each run by its algorithm label; default: none)", metavar="NAME")


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """The options of ``wrl eval``."""

    run_dir: str = hp(REQUIRED, "a run directory written by `wrl train`", positional=True)
    episodes: int = hp(10, "deterministic episodes", gt=0)
    seed: int = hp(12345, "seed of the first evaluation episode (episode i: SEED + i)", ge=0)
    compile_cache: str | None = compile_cache_option()
    video: bool = hp(True, "record the first episode to RUN_DIR/eval.gif")


def configs_from(given: dict[str, Any], opts: TrainOptions) -> tuple[TrainConfig, object]:
    """(TrainConfig, agent config) from the settings given explicitly on a ``wrl train`` command line
    (:func:`wrl.training.options.resolve`: defaults, the algorithm's, ``--preset``, the ``--config`` file, then
    the options given explicitly)."""
    return options.resolve(given, preset=opts.preset, file=opts.config)


def _group_seeds(opts: TrainOptions, cfg: TrainConfig) -> list[int] | None:
    """The seeds of ``--seeds`` / ``--num-seeds``, or None for a single run."""
    if opts.num_seeds is not None:
        return list(range(cfg.seed, cfg.seed + opts.num_seeds))
    return list(opts.seeds) if opts.seeds else None


def train_command(opts: TrainOptions, given: dict[str, Any]) -> int:
    """``wrl train``: ``given`` holds the settings given explicitly (TrainConfig and agent config fields)."""
    seeds = None
    if opts.resume:
        run_dir = Path(opts.resume)
        group = runs.is_group(run_dir)
        if group:
            cfg, agent_cfg, seeds = load_group_config(run_dir)
        else:
            cfg, agent_cfg = load_run_config(run_dir)
        if (set(given) - {"total_steps"} or opts.run_dir or opts.overwrite or opts.preset or opts.seeds
                or opts.num_seeds or opts.config):
            raise ConfigError("only --total-steps can change when resuming; the rest comes from the run's "
                              "checkpoint")
        if "total_steps" in given:
            cfg = dataclasses.replace(cfg, total_steps=given["total_steps"])
    else:
        cfg, agent_cfg = configs_from(given, opts)
        seeds = _group_seeds(opts, cfg)
        tag = f"seeds{seeds[0]}-{seeds[-1]}" if seeds else f"s{cfg.seed}"
        run_dir = Path(opts.run_dir) if opts.run_dir else runs.default_run_dir(cfg.algo, cfg.env, tag)
    kwargs = {"resume": bool(opts.resume), "overwrite": opts.overwrite, "progress": not opts.no_progress,
              "tensorboard": not opts.no_tensorboard, "label": opts.label}
    plots = is_installed("matplotlib")
    plots_skipped = f"learning_curve.png skipped: matplotlib is not installed ({install_hint('matplotlib')})"

    if seeds is not None:
        group = train_group(cfg, agent_cfg, run_dir, seeds, **kwargs)  # writes each seed's learning curve
        if not plots:
            print(plots_skipped)
        finals = ", ".join(f"{r:.1f}" if r is not None else "-" for r in group["final_eval_return"])
        print(f"{cfg.algo} on {cfg.env}, seeds {', '.join(map(str, seeds))} side by side: final evaluation returns "
              f"{finals} after {cfg.total_steps} steps each, {group['wall_seconds']:.0f} s "
              f"({group['steps_per_second_per_seed']:.0f} steps/s per seed)")
        print(f"group directory: {run_dir}  (summary.json; one run directory per seed: seed-SEED/)")
        return 0
    summary = train(cfg, agent_cfg, run_dir, **kwargs)  # writes the learning curve too
    written = [runs.SUMMARY, runs.METRICS, *([] if opts.no_tensorboard else [runs.TENSORBOARD + "/"])]
    if plots:
        written.append(runs.LEARNING_CURVE)
    else:
        print(plots_skipped)
    print(f"{cfg.algo} on {cfg.env}, seed {cfg.seed}: final evaluation return {summary['final_eval_return']:.1f} "
          f"(best {summary['best_eval_return']:.1f}) after {summary['env_steps']} steps, "
          f"{summary['wall_seconds']:.0f} s ({summary['steps_per_second']:.0f} steps/s)")
    print(f"run directory: {run_dir}  ({', '.join(written)})")
    return 0


def summary_relation(run_dir: Path, cfg: TrainConfig, step: int) -> str:
    """One line on how ``wrl eval``'s number relates to the run's own final evaluation (summary.json): the same
    policy and deterministic actions, on other episodes (other seeds, maybe another count)."""
    path = run_dir / runs.SUMMARY
    summary = runs.read_json(path) if path.exists() else None
    final = summary.get("final_eval_return") if summary else None
    if final is None:
        return "the run's summary has no final evaluation to compare with"
    return (f"the run's summary says {final:.1f}: its last evaluation at step {summary['evaluations'][-1]['step']}, "
            f"{cfg.eval_episodes} episodes on the training evaluation seeds (derived from --seed {cfg.seed}); the "
            "same deterministic policy here meets other episodes, so the means differ by the episodes drawn"
            + ("" if summary["evaluations"][-1]["step"] == step else f" (and this checkpoint is at step {step})"))


def eval_command(opts: EvalOptions) -> int:
    run_dir = Path(opts.run_dir)
    if not (run_dir / CHECKPOINT).exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist; check the path")
    if runs.is_group(run_dir):
        raise RunDirError(f"{run_dir} is a group of seeds; evaluate one of them: wrl eval {run_dir}/seed-SEED")
    cfg, policy, meta = load_policy(run_dir)
    reason = rendering_unavailable_reason(cfg.env) if opts.video else None
    record = opts.video and reason is None
    envs = [make_env(cfg.env, render_mode="rgb_array" if record and i == 0 else None, action_repeat=cfg.action_repeat)
            for i in range(opts.episodes)]
    frames: list | None = [] if record else None
    try:
        returns = evaluate(policy, envs, [opts.seed + i for i in range(opts.episodes)], frames)
    except Exception as e:  # rendering backends fail in many ways; evaluation must still be reported
        if not record:
            raise
        reason, frames = f"rendering failed ({type(e).__name__}: {e})", None
        envs = [make_env(cfg.env, action_repeat=cfg.action_repeat) for _ in range(opts.episodes)]
        returns = evaluate(policy, envs, [opts.seed + i for i in range(opts.episodes)])
    finally:
        for env in envs:
            env.close()
    print(f"{cfg.algo} on {cfg.env} at step {meta['host']['env_steps']}: mean return {np.mean(returns):.1f} "
          f"+- {np.std(returns):.1f} over {opts.episodes} episodes (seeds {opts.seed}.."
          f"{opts.seed + opts.episodes - 1}; change them with --seed and --episodes)")
    print(summary_relation(run_dir, cfg, int(meta["host"]["env_steps"])))
    if opts.video:
        if frames:
            import imageio.v2 as imageio

            path = run_dir / "eval.gif"
            imageio.mimsave(path, [np.asarray(f) for f in frames[::2]], duration=1 / 25, loop=0)
            print(f"video: {path}")
        else:
            print(f"video: not recorded: {reason}")
    return 0

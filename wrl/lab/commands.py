"""`wrl train` and `wrl eval`: argument handling around :mod:`wrl.training.trainer`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from wrl import runs
from wrl.envs import make_env
from wrl.envs.render import rendering_unavailable_reason
from wrl.errors import ConfigError, RunDirError
from wrl.optional import install_hint, is_installed
from wrl.runs import CHECKPOINT, seed_dir
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


def given_settings(args: argparse.Namespace) -> dict:
    """The settings given explicitly on a parsed ``wrl train`` command line (options left unset are None)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} | options.agent_field_names()
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def configs_from_args(args: argparse.Namespace) -> tuple[TrainConfig, object]:
    """(TrainConfig, agent config) from parsed ``wrl train`` options (:func:`wrl.training.options.resolve`:
    defaults, the algorithm's, ``--preset``, the ``--config`` file, then the options given explicitly)."""
    return options.resolve(given_settings(args), preset=getattr(args, "preset", None),
                           file=getattr(args, "config", None))


def _group_seeds(args: argparse.Namespace, cfg: TrainConfig) -> list[int] | None:
    """The seeds of ``--seeds`` / ``--num-seeds``, or None for a single run."""
    if getattr(args, "num_seeds", None) is not None:
        if args.num_seeds < 1:
            raise ConfigError(f"--num-seeds must be >= 1 (got {args.num_seeds})")
        return list(range(cfg.seed, cfg.seed + args.num_seeds))
    return list(args.seeds) if getattr(args, "seeds", None) else None


def train_command(args: argparse.Namespace) -> int:
    seeds = None
    if args.resume:
        run_dir = Path(args.resume)
        group = runs.is_group(run_dir)
        if group:
            cfg, agent_cfg, seeds = load_group_config(run_dir)
        else:
            cfg, agent_cfg = load_run_config(run_dir)
        changed = set(given_settings(args))
        if (changed - {"total_steps"} or args.run_dir or args.overwrite or args.preset or args.seeds or args.num_seeds
                or args.config):
            raise ConfigError("only --total-steps can change when resuming; the rest comes from the run's "
                              "checkpoint")
        if args.total_steps is not None:
            cfg = dataclasses.replace(cfg, total_steps=args.total_steps)
    else:
        cfg, agent_cfg = configs_from_args(args)
        seeds = _group_seeds(args, cfg)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        tag = f"seeds{seeds[0]}-{seeds[-1]}" if seeds else f"s{cfg.seed}"
        run_dir = Path(args.run_dir or f"runs/{cfg.algo}-{runs.slug(cfg.env)}-{tag}-{stamp}")
    kwargs = {"resume": bool(args.resume), "overwrite": args.overwrite, "progress": not args.no_progress,
              "tensorboard": not args.no_tensorboard}
    plots = is_installed("matplotlib")
    plots_skipped = f"learning_curve.png skipped: matplotlib is not installed ({install_hint('matplotlib')})"

    if seeds is not None:
        group = train_group(cfg, agent_cfg, run_dir, seeds, **kwargs)
        if plots:
            from wrl.lab.plots import plot_learning_curve

            for s in seeds:
                plot_learning_curve(seed_dir(run_dir, s))
        else:
            print(plots_skipped)
        finals = ", ".join(f"{r:.1f}" if r is not None else "-" for r in group["final_eval_return"])
        print(f"{cfg.algo} on {cfg.env}, seeds {', '.join(map(str, seeds))} side by side: final evaluation returns "
              f"{finals} after {cfg.total_steps} steps each, {group['wall_seconds']:.0f} s "
              f"({group['steps_per_second_per_seed']:.0f} steps/s per seed)")
        print(f"group directory: {run_dir}  (summary.json; one run directory per seed: seed-SEED/)")
        return 0
    summary = train(cfg, agent_cfg, run_dir, **kwargs)
    written = [runs.SUMMARY, runs.METRICS, *([] if args.no_tensorboard else [runs.TENSORBOARD + "/"])]
    if plots:
        from wrl.lab.plots import plot_learning_curve

        written.append(plot_learning_curve(run_dir).name)
    else:
        print(plots_skipped)
    print(f"{cfg.algo} on {cfg.env}, seed {cfg.seed}: final evaluation return {summary['final_eval_return']:.1f} "
          f"(best {summary['best_eval_return']:.1f}) after {summary['env_steps']} steps, "
          f"{summary['wall_seconds']:.0f} s ({summary['steps_per_second']:.0f} steps/s)")
    print(f"run directory: {run_dir}  ({', '.join(written)})")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if args.episodes <= 0:
        raise ConfigError(f"--episodes must be > 0 (got {args.episodes})")
    if not (run_dir / CHECKPOINT).exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist; check the path")
    if runs.is_group(run_dir):
        raise RunDirError(f"{run_dir} is a group of seeds; evaluate one of them: wrl eval {run_dir}/seed-SEED")
    cfg, policy, meta = load_policy(run_dir)
    reason = rendering_unavailable_reason() if args.video else None
    record = args.video and reason is None
    envs = [make_env(cfg.env, render_mode="rgb_array" if record and i == 0 else None, action_repeat=cfg.action_repeat)
            for i in range(args.episodes)]
    frames: list | None = [] if record else None
    try:
        returns = evaluate(policy, envs, [args.seed + i for i in range(args.episodes)], frames)
    except Exception as e:  # rendering backends fail in many ways; evaluation must still be reported
        if not record:
            raise
        reason, frames = f"rendering failed ({type(e).__name__}: {e})", None
        envs = [make_env(cfg.env, action_repeat=cfg.action_repeat) for _ in range(args.episodes)]
        returns = evaluate(policy, envs, [args.seed + i for i in range(args.episodes)])
    finally:
        for env in envs:
            env.close()
    print(f"{cfg.algo} on {cfg.env} at step {meta['host']['env_steps']}: mean return {np.mean(returns):.1f} "
          f"+- {np.std(returns):.1f} over {args.episodes} episodes")
    if args.video:
        if frames:
            import imageio.v2 as imageio

            path = run_dir / "eval.gif"
            imageio.mimsave(path, [np.asarray(f) for f in frames[::2]], duration=1 / 25, loop=0)
            print(f"video: {path}")
        else:
            print(f"video: not recorded: {reason}")
    return 0

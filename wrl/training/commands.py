"""`wrl train` and `wrl eval`: argument handling around :mod:`wrl.training.trainer`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wrl import config as C
from wrl import runs
from wrl.agents import ALGOS, config_class, presets
from wrl.envs import make_env
from wrl.envs.render import rendering_unavailable_reason
from wrl.errors import ConfigError, RunDirError
from wrl.optional import install_hint, is_installed
from wrl.runs import CHECKPOINT, seed_dir
from wrl.training.config import TrainConfig
from wrl.training.evaluate import evaluate
from wrl.training.trainer import (
    default_train_config,
    load_group_config,
    load_policy,
    load_run_config,
    train,
    train_group,
)


def _given(args: argparse.Namespace, cls: type) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def _agent_options_given(args: argparse.Namespace) -> set[str]:
    names: set[str] = set()
    for algo in ALGOS:
        names |= set(_given(args, config_class(algo)))
    return names


def read_config_file(path: str | Path) -> dict:
    """The settings of a ``wrl train --config`` file: a flat TOML (or JSON) table of TrainConfig and agent
    config field names, e.g. ``algo = "sac"``, ``env = "gym:Hopper-v5"``, ``actor_lr = 1e-3``."""
    import json
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path} does not exist; give a TOML or JSON file of wrl train settings")
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path} cannot be read ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a table of settings")
    return data


def _split_settings(data: dict, cls: type, source: str) -> tuple[dict, dict]:
    """(TrainConfig fields, agent fields) of a settings table; unknown keys are an error."""
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    agent_fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - train_fields - agent_fields
    if unknown:
        raise ConfigError(f"{source} has settings that are neither training nor {cls.__name__} options: "
                          f"{', '.join(sorted(unknown))}")
    convert = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
    return ({k: convert(v) for k, v in data.items() if k in train_fields},
            {k: convert(v) for k, v in data.items() if k in agent_fields})


def configs_from_args(args: argparse.Namespace) -> tuple[TrainConfig, object]:
    """(TrainConfig, agent config) from parsed ``wrl train`` options: defaults, then ``--preset``, then the
    ``--config`` file, then the options given explicitly."""
    file = read_config_file(args.config) if getattr(args, "config", None) else {}
    algo = args.algo or file.get("algo") or TrainConfig().algo
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(sorted(ALGOS))}")
    cls = config_class(algo)
    preset_name = getattr(args, "preset", None)
    available = presets(algo)
    if preset_name is not None and preset_name not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(f"--algo {algo} has no preset {preset_name!r}; its presets: {names}")
    preset = available.get(preset_name) if preset_name else None
    file_train, file_agent = _split_settings({k: v for k, v in file.items() if k != "algo"}, cls,
                                             f"--config {getattr(args, 'config', '')}")
    # the algorithm's defaults may depend on the objective, which any later layer may set
    preset_train = preset.train if preset else {}
    objective = {**preset_train, **file_train, **_given(args, TrainConfig)}.get("objective")
    train_base = dataclasses.replace(
        default_train_config(algo, **{**preset_train, **({"objective": objective} if objective else {})}),
        **file_train)
    agent_base = dataclasses.replace(cls(), **{**(preset.agent if preset else {}), **file_agent})
    cfg = C.from_args(TrainConfig, args, base=train_base)
    foreign = _agent_options_given(args) - {f.name for f in dataclasses.fields(cls)}
    if foreign:
        opts = ", ".join("--" + n.replace("_", "-") for n in sorted(foreign))
        verb = "does" if len(foreign) == 1 else "do"
        raise ConfigError(f"{opts} {verb} not apply to --algo {cfg.algo}; drop them or choose the algorithm they "
                          "belong to")
    return cfg, C.from_args(cls, args, base=agent_base)


def configs_from_argv(options: Sequence[str]) -> tuple[TrainConfig, object]:
    """(TrainConfig, agent config) of the command line ``wrl train OPTIONS`` (``options`` without the word
    ``train``), parsed as the command parses it; a bad option exits with status 2 and one line, as there."""
    from wrl.cli import _train_algo, build_parser

    return configs_from_args(build_parser(_train_algo(options)).parse_args(["train", *options]))


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
        changed = set(_given(args, TrainConfig)) | _agent_options_given(args)
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
            from wrl.plots import plot_learning_curve

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
        from wrl.plots import plot_learning_curve

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
    envs = [make_env(cfg.env, render_mode="rgb_array" if record and i == 0 else None)
            for i in range(args.episodes)]
    frames: list | None = [] if record else None
    try:
        returns = evaluate(policy, envs, [args.seed + i for i in range(args.episodes)], frames)
    except Exception as e:  # rendering backends fail in many ways; evaluation must still be reported
        if not record:
            raise
        reason, frames = f"rendering failed ({type(e).__name__}: {e})", None
        envs = [make_env(cfg.env) for _ in range(args.episodes)]
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

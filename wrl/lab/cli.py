"""Command line: ``wrl train | eval | doctor | plot | flow | bench``.

Every user mistake surfaces as one line on stderr and exit status 2; a diverged run exits with 3, a failed
write (disk full, file-size or quota limit, permission) with 4, a run stopped by a signal with 128 + its
number after writing a checkpoint (see :mod:`wrl.errors`).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import functools
import importlib
import signal
import sys
import typing
from collections.abc import Sequence
from typing import Any

from wrl.config import base_type, option_name
from wrl.errors import Interrupted, WrlError

# OSErrors of writing that reach the command line (the run's own files are reported where they are written)
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM}

# `wrl flow NAME`: each module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
FLOWS: dict[str, tuple[str, str]] = {
    "lqr": ("wrl.lab.flows.lqr", "Wasserstein gradient flow of linear-Gaussian policies on ergodic LQR"),
    "grid": ("wrl.lab.flows.grid", "particle flow on a grid of 1-D states against the exact optimum"),
    "mixture": ("wrl.lab.flows.mixture", "WPO vs policy gradient vs natural gradient on the paper's 1-D toy"),
    "wppg": ("wrl.lab.flows.wppg", "WPPG on a one-state bimodal Q: implicit sampler vs tanh-Gaussian"),
    "particles": ("wrl.lab.flows.particles", "particle WGF estimators (SVGD, Blob, GFSD, GFSF) to a 2-D mixture"),
}

# `wrl bench NAME`: each module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
BENCHES: dict[str, tuple[str, str]] = {
    "throughput": ("wrl.lab.bench.throughput", "steps/s of wrl agents vs SB3/SBX SAC and the update-only ceiling"),
    "solve": ("wrl.lab.bench.solve", "wall-clock until Pendulum-v1 is solved, wrl SAC vs SBX SAC"),
    "learning": ("wrl.lab.bench.learning", "learning curves over seeds, written to docs/"),
    "sweep": ("wrl.lab.bench.sweep", "hyperparameter search with Ray Tune; the best settings as a wrl train file"),
    "seeds": ("wrl.lab.bench.seeds", "seeds side by side: update FLOP rate vs the cores' bound, wall-clock vs SBX"),
    "suite": ("wrl.lab.bench.suite", "algorithms x tasks x seeds, resumable, with aggregate statistics (rliable)"),
    "check-results": ("wrl.lab.bench.results",
                      "the committed results match their manifest's hashes and their suite files"),
    "pack-results": ("wrl.lab.bench.pack_results", "a suite's finished groups as a deterministic archive in results/"),
    "random-returns": ("wrl.lab.bench.random_returns",
                       "returns of the uniform random policy (normalised-score anchors)"),
    "box-edge": ("wrl.lab.bench.box_edge",
                 "WPO's policy std on a bandit whose optimum lies on the edge of the action box"),
    "indirect-speed": ("wrl.lab.bench.indirect_speed",
                       "the indirect particle method: M particles vs one agent alone"),
    "faults": ("wrl.lab.bench.faults",
               "random faults (signals, kills, cut files, full disks) against runs: what is lost"),
    "lqr-average": ("wrl.lab.bench.lqr_average", "average-reward agents on ergodic LQR vs the Riccati optimum"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"wrl: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _add_options(parser: argparse.ArgumentParser, cls: type, prefix: str = "",
                 skip: tuple[str, ...] = (), hidden: bool = False, defaults: dict[str, Any] | None = None,
                 default_notes: dict[str, str] | None = None) -> None:
    """One ``--option`` per field of dataclass ``cls``; defaults are left as None (unset).

    ``hidden`` options are parsed but not listed in ``--help``; ``defaults`` replaces the default shown in the
    help for some fields (an algorithm's own training defaults); ``default_notes`` adds to it (e.g. "1 with
    --objective average").
    """
    defaults = defaults or {}
    default_notes = default_notes or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.metadata.get("cli") is False:
            continue
        tp = base_type(hints[f.name])
        name = option_name(prefix + f.name)
        shown = defaults.get(f.name, f.default)
        note = f"; {default_notes[f.name]}" if f.name in default_notes else ""
        help_text = argparse.SUPPRESS if hidden else f"{f.metadata.get('help', '')} (default: {shown!r}{note})"
        kwargs: dict[str, Any] = {"dest": prefix + f.name, "default": None, "help": help_text}
        if tp is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0]
            parser.add_argument(name, type=inner, nargs="*", metavar=inner.__name__.upper(), **kwargs)
            continue
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(name, type=tp, metavar=tp.__name__.upper(), **kwargs)


def _register(parser: argparse.ArgumentParser, module: str) -> None:
    """Let ``module`` add its options; a module not in this build is reported when it is called."""
    try:
        importlib.import_module(module).add_arguments(parser)
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise
        parser.set_defaults(_missing=True)


def _add_train(sub, algo: str | None) -> None:
    """``wrl train``: the options of TrainConfig and of ``algo`` (the default algorithm when None); the
    other algorithms' options are parsed (to say which algorithm they belong to) but not listed."""
    from wrl.agents import ALGOS, config_class, presets, train_defaults
    from wrl.training.config import TrainConfig
    from wrl.training.options import objective_default_notes

    shown = algo if algo in ALGOS else TrainConfig().algo
    p = sub.add_parser("train", help="train an agent (no arguments: a short real run on Pendulum-v1)",
                       description=f"Train an agent. Listed below: the options of --algo {shown}; "
                                   "`wrl train --algo NAME --help` lists another algorithm's "
                                   f"(one of {', '.join(sorted(ALGOS))}).")
    p.add_argument("--run-dir", default=None, help="where the run is written (default: runs/ALGO-ENV-sSEED-TIME)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue a stopped or killed run (or group of seeds)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                       help="train these seeds side by side in one process (one vmapped compiled step); each seed "
                            "writes RUN_DIR/seed-SEED")
    seeds.add_argument("--num-seeds", type=int, default=None, metavar="N",
                       help="side by side: the N seeds --seed, --seed + 1, ...")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
    p.add_argument("--compile-cache", default=None, metavar="DIR",
                   help="persistent compilation cache: repeated commands start warm ('off' disables; default: "
                        "$WRL_COMPILE_CACHE or ~/.cache/wrl/jax)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="settings from a TOML/JSON file of option names (e.g. the best.toml of `wrl bench sweep`); "
                        "options given explicitly win")
    names = ", ".join(f"{k} ({v.help})" for k, v in presets(shown).items()) or "none"
    p.add_argument("--preset", default=None, metavar="NAME",
                   help=f"named settings of the algorithm, overridden by options given explicitly; {shown}: {names}")
    _add_options(p, TrainConfig, defaults=train_defaults(shown), default_notes=objective_default_notes(shown))
    p.set_defaults(_algos=ALGOS)
    seen = {f.name for f in dataclasses.fields(config_class(shown))}
    _add_options(p.add_argument_group(f"{shown} options"), config_class(shown))
    for other in ALGOS:  # parsed, so that a foreign option gets a precise error, but not listed
        names = {f.name for f in dataclasses.fields(config_class(other))}
        _add_options(p, config_class(other), skip=tuple(names & seen), hidden=True)
        seen |= names


def _train_algo(argv: Sequence[str]) -> str | None:
    """The value of ``--algo`` in a ``wrl train`` command line, if any."""
    for i, arg in enumerate(argv):
        if arg == "--algo" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--algo="):
            return arg.split("=", 1)[1]
    return None


def configs_from_argv(options: Sequence[str]) -> tuple:
    """(TrainConfig, agent config) of the command line ``wrl train OPTIONS`` (``options`` without the word
    ``train``), parsed as the command parses it; a bad option exits with status 2 and one line, as there."""
    from wrl.lab.commands import configs_from_args

    return configs_from_args(build_parser(_train_algo(options)).parse_args(["train", *options]))


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run (and record a video when rendering works)")
    p.add_argument("run_dir", help="a run directory written by `wrl train`")
    p.add_argument("--episodes", type=int, default=10, help="deterministic episodes (default: 10)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    p.add_argument("--compile-cache", default=None, metavar="DIR",
                   help="persistent compilation cache ('off' disables; default: $WRL_COMPILE_CACHE or "
                        "~/.cache/wrl/jax)")
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True,
                   help="record the first episode to RUN_DIR/eval.gif")


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="report a run's state (finished / resumable at step N / damaged) without "
                                      "changing it",
                       description="Report what a run directory (or group of seeds) holds, changing nothing: "
                                   "finished, resumable at step N, running (a live process writes it), new (nothing "
                                   "to resume) or damaged and why. Exit status 0 unless it is damaged (1).")
    p.add_argument("run_dir", help="a run directory or group of seeds written by `wrl train`")


def _doctor_command(args: argparse.Namespace) -> int:
    from wrl.runs import inspect

    state = inspect(args.run_dir)
    line = {"finished": f"finished at step {state.step}",
            "interrupted": f"resumable at step {state.step}: wrl train --resume {args.run_dir}",
            "running": f"running: {state.reason}",
            "new": f"nothing to resume: {state.reason}",
            "damaged": f"damaged: {state.reason}"}[state.state]
    print(f"{args.run_dir}: {line}")
    for note in state.notes:
        print(f"  note: {note}")
    return 1 if state.state == "damaged" else 0


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="learning curves of runs, groups of seeds and suites, grouped by algorithm",
                       description="Evaluation curves of every run under the given directories, one panel per task, "
                                   "per algorithm the mean over its runs with a 95% band.")
    p.add_argument("paths", nargs="+", help="run directories, groups of seeds (--seeds) or suite directories")
    p.add_argument("--out", default="curves.png", help="image file: .png, .svg or .pdf (default: curves.png)")


def _plot_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wrl.errors import ConfigError
    from wrl.lab.plots import find_runs, plot_curves
    from wrl.optional import ensure

    ensure("matplotlib", "wrl plot")

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"--out {out} must end in .png, .svg or .pdf")
    curves = find_runs(args.paths)
    plot_curves(curves, out)
    runs = sum(len(v) for v in curves.values())
    print(f"{runs} runs, {len(curves)} (algorithm, task) groups -> {out}")
    return 0


@functools.cache
def _module_doc(module: str) -> str:
    """The docstring of a module after its first line (imports lazily; empty if it is not in this build); read
    once per process, as a parser is built for every suite configuration that is compared."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    import ast

    doc = ast.get_docstring(ast.parse(open(spec.origin, encoding="utf-8").read())) or ""
    return doc.split("\n", 1)[1].strip() if "\n" in doc else ""


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks, suites, sweeps")
    bsub = p.add_subparsers(dest="bench", parser_class=_Parser, required=True)
    for name, (module, help_text) in BENCHES.items():
        # `wrl bench NAME --help` shows the module's own documentation (file formats, what is measured)
        b = bsub.add_parser(name, help=help_text, description=f"{help_text}\n\n{_module_doc(module)}".strip(),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        b.set_defaults(_bench_module=module)
        _register(b, module)


def build_parser(train_algo: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="wrl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_train(sub, train_algo)
    _add_eval(sub)
    _add_doctor(sub)
    _add_plot(sub)
    _add_bench(sub)
    flow = sub.add_parser("flow", help="exact and toy Wasserstein flows with plots")
    flow_sub = flow.add_subparsers(dest="flow", parser_class=_Parser, required=True)
    for name, (module, help_text) in FLOWS.items():
        p = flow_sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_flow_module=module)
        _register(p, module)
    return parser


def _version() -> str:
    from wrl import __version__

    return f"wrl {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]  # the main job: a short real training run on the embedded default
    parser = build_parser(_train_algo(argv) if argv[0] == "train" else None)
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit fails a write (EFBIG, reported) instead of killing wrl
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        if args.command in ("train", "eval"):
            from wrl.training.compile_cache import enable_compile_cache

            enable_compile_cache(args.compile_cache)
        if args.command == "train":
            from wrl.lab.commands import train_command

            return train_command(args)
        if args.command == "eval":
            from wrl.lab.commands import eval_command

            return eval_command(args)
        if args.command == "plot":
            return _plot_command(args)
        if args.command == "doctor":
            return _doctor_command(args)
        if args.command in ("bench", "flow"):
            name = getattr(args, args.command)
            if getattr(args, "_missing", False):
                raise WrlError(f"`wrl {args.command} {name}` is not available in this build")
            module = args._bench_module if args.command == "bench" else args._flow_module
            if args.command == "flow":  # every flow writes figures: say so before computing
                from wrl.optional import ensure

                ensure("matplotlib", f"wrl flow {name}")
            return int(importlib.import_module(module).run(args) or 0)
        parser.print_help()
        return 0
    except Interrupted as e:
        sys.stderr.write(f"wrl: {e}\n")
        return e.exit_status
    except WrlError as e:
        sys.stderr.write(f"wrl: error: {e}\n")
        return getattr(e, "exit_status", 2)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        where = f" {e.filename}" if e.filename else ""
        sys.stderr.write(f"wrl: error: cannot write{where} ({e.strerror or e})\n")
        return 4
    except KeyboardInterrupt:
        sys.stderr.write("wrl: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

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

from wrl.config import REQUIRED, base_type, hp, option_name, validate
from wrl.errors import ConfigError, Interrupted, WrlError
from wrl.registry import Entry, Registry

# OSErrors of writing that reach the command line (the run's own files are reported where they are written)
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM}

# `wrl flow NAME` and `wrl bench NAME`: each module has an ``Options`` dataclass (its command-line options, see
# :func:`add_options`) and ``run(options) -> int``.
FLOWS = Registry("flow", {
    "lqr": Entry("wrl.lab.flows.lqr", "Wasserstein gradient flow of linear-Gaussian policies on ergodic LQR"),
    "grid": Entry("wrl.lab.flows.grid", "particle flow on a grid of 1-D states against the exact optimum"),
    "mixture": Entry("wrl.lab.flows.mixture", "WPO vs policy gradient vs natural gradient on the paper's 1-D toy"),
    "wppg": Entry("wrl.lab.flows.wppg", "WPPG on a one-state bimodal Q: implicit sampler vs tanh-Gaussian"),
    "particles": Entry("wrl.lab.flows.particles",
                       "particle WGF estimators (SVGD, Blob, GFSD, GFSF) to a 2-D mixture"),
})

BENCHES = Registry("benchmark", {
    "throughput": Entry("wrl.lab.bench.throughput",
                        "steps/s of wrl agents vs SB3/SBX SAC and the update-only ceiling"),
    "learning": Entry("wrl.lab.bench.learning", "learning curves over seeds, written to docs/"),
    "suite": Entry("wrl.lab.bench.suite",
                   "algorithms x tasks x seeds, resumable, with aggregate statistics (rliable)"),
    "sweep": Entry("wrl.lab.bench.sweep",
                   "hyperparameter search with Ray Tune; the best settings as a wrl train file"),
    "seeds": Entry("wrl.lab.bench.seeds",
                   "seeds side by side: update FLOP rate vs the cores' bound, wall-clock vs SBX"),
    "solve": Entry("wrl.lab.bench.solve", "wall-clock until Pendulum-v1 is solved, wrl SAC vs SBX SAC"),
    "check-results": Entry("wrl.lab.bench.results",
                           "the committed results match their manifest's hashes and their suite files"),
    "pack-results": Entry("wrl.lab.bench.pack_results",
                          "a suite's finished groups as a deterministic archive in results/"),
    "random-returns": Entry("wrl.lab.bench.random_returns",
                            "returns of the uniform random policy (normalised-score anchors)"),
    "box-edge": Entry("wrl.lab.bench.box_edge",
                      "WPO's policy std on a bandit whose optimum lies on the edge of the action box"),
    "indirect-speed": Entry("wrl.lab.bench.indirect_speed",
                            "the indirect particle method: M particles vs one agent alone"),
    "faults": Entry("wrl.lab.bench.faults",
                    "random faults (signals, kills, cut files, full disks) against runs: what is lost"),
    "lqr-average": Entry("wrl.lab.bench.lqr_average",
                         "average-reward agents on ergodic LQR vs the Riccati optimum"),
})

# The benchmarks that each answer one study of the docs (listed apart from the tools in `wrl bench --help`).
BENCH_STUDIES = ("box-edge", "indirect-speed", "faults", "lqr-average")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"wrl: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _shown(value: Any) -> str:
    """A default as it is typed on the command line."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return " ".join(map(str, value)) if value else "none"
    if isinstance(value, str):
        return value or "''"
    return repr(value)


def _help_text(text: str, default: Any, note: str | None, quiet: bool) -> str:
    """The field's help, then its default (unless ``quiet`` or the help already says it) and the note."""
    if quiet or "default" in text:
        text += f"; {note}" if note else ""
    else:
        text += f" (default: {_shown(default)}{f'; {note}' if note else ''})"
    return text.replace("%", "%%")  # argparse formats help strings


def add_options(parser: Any, cls: type, prefix: str = "", skip: tuple[str, ...] = (), hidden: bool = False,
                unset: bool = False, defaults: dict[str, Any] | None = None,
                notes: dict[str, str] | None = None, choices: dict[str, Sequence[str]] | None = None) -> None:
    """The one generator of every command's options: an argument per field of dataclass ``cls``.

    A field ``name`` is the option ``--name`` (``prefix`` prepended) with the help, the choices and the default
    of its :func:`wrl.config.hp` metadata; ``hp(REQUIRED, ...)`` makes it required. The command-line keys of
    ``hp``: ``positional=True`` (an argument named by the field; it must be required), ``nargs`` of a tuple field
    (default ``"*"``), ``metavar``, ``exclusive`` (options sharing that name are mutually exclusive) and
    ``cli=False`` (not on the command line). Types: ``bool`` is a switch ``--name`` when it defaults to False,
    else ``--name / --no-name``; ``tuple[T, ...]`` takes ``nargs`` values of T; ``T | None`` is T. The
    placeholder in ``--help`` is the metavar, else the choices, else INT / FLOAT, else the option's name.

    ``unset`` (``wrl train``'s layered settings): every default is None, so that only the options given are set,
    and booleans are always ``--name / --no-name``. ``hidden`` options are parsed but not listed in ``--help``;
    ``defaults`` replaces the default shown for some fields (an algorithm's own training defaults); ``notes`` adds
    to it (e.g. "1 with --objective average"); ``choices`` shows the values a field takes that only a registry
    knows (``--algo {sac,td3,...}``; validated where the registry is, so a wrong one gets its own message).
    """
    defaults = defaults or {}
    notes = notes or {}
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if f.name in skip or meta.get("cli") is False:
            continue
        tp = base_type(hints[f.name])
        required = f.default is REQUIRED and f.default_factory is dataclasses.MISSING
        switch = tp is bool and not unset and f.default is False
        default = defaults.get(f.name, f.default)
        help_text = argparse.SUPPRESS if hidden else _help_text(meta.get("help", ""), default, notes.get(f.name),
                                                                quiet=required or switch)
        kwargs: dict[str, Any] = {"help": help_text}
        if meta.get("positional"):
            if not required:
                raise TypeError(f"{cls.__name__}.{f.name}: a positional field must be hp(REQUIRED, ...)")
            name = f.name
        else:
            name = option_name(prefix + f.name)
            kwargs["dest"] = prefix + f.name
            if required:
                kwargs["required"] = True
            else:
                kwargs["default"] = None if unset else f.default
        target = parser
        if "exclusive" in meta:
            if meta["exclusive"] not in groups:
                groups[meta["exclusive"]] = parser.add_mutually_exclusive_group()
            target = groups[meta["exclusive"]]
        if tp is bool:
            target.add_argument(name, action="store_true" if switch else argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            tp = typing.get_args(tp)[0]
            kwargs["nargs"] = meta.get("nargs", "*")
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        if choices and f.name in choices:
            kwargs["metavar"] = "{" + ",".join(choices[f.name]) + "}"
        elif "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        elif tp in (int, float) and "choices" not in meta:  # else argparse shows the choices, or the name
            kwargs["metavar"] = tp.__name__.upper()
        target.add_argument(name, type=tp, **kwargs)


def options_from(cls: type, args: argparse.Namespace, prefix: str = "") -> Any:
    """The instance of ``cls`` that :func:`add_options` parsed into ``args``, validated (a ConfigError names the
    first option out of bounds)."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is not False:
            value = getattr(args, prefix + f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    opts = cls(**values)
    validate(opts, prefix)
    return opts


def parse_options(cls: type, argv: Sequence[str] | None, prog: str, description: str | None = None) -> Any:
    """``cls`` from a command line of its options alone (a module's own entry point); bad input: one line on
    stderr and exit status 2."""
    parser = _Parser(prog=prog, description=description)
    add_options(parser, cls)
    try:
        return options_from(cls, parser.parse_args(argv))
    except ConfigError as e:
        sys.stderr.write(f"wrl: error: {e}\n")
        raise SystemExit(2) from None


def _register(parser: argparse.ArgumentParser, registry: Registry, name: str) -> None:
    """The options of command ``name`` of ``registry``; a module not in this build is reported when it is
    called."""
    try:
        cls = registry.config_class(name)
    except ModuleNotFoundError as e:
        if e.name is None or not registry[name].module.startswith(e.name):
            raise
        parser.set_defaults(_missing=True)
        return
    add_options(parser, cls)
    parser.set_defaults(_options=cls, _module=registry[name].module)


def _add_train(sub, algo: str | None) -> None:
    """``wrl train``: the options of TrainOptions, TrainConfig and ``algo`` (the default algorithm when None); the
    other algorithms' options are parsed (to say which algorithm they belong to) but not listed."""
    from wrl.agents import ALGOS, config_class, presets
    from wrl.lab.commands import TrainOptions
    from wrl.training.config import TrainConfig
    from wrl.training.options import objective_default_notes

    shown = algo if algo in ALGOS else TrainConfig().algo
    algos = "; ".join(f"{name}: {entry.help}" for name, entry in ALGOS.items())
    p = sub.add_parser("train", help="train an agent (no arguments: a short real run on Pendulum-v1)",
                       description=f"Train an agent. Listed below: the options of --algo {shown}; "
                                   f"`wrl train --algo NAME --help` lists another algorithm's ({algos}).")
    names = ", ".join(f"{k} ({v.help})" for k, v in presets(shown).items()) or "none"
    add_options(p, TrainOptions, notes={"preset": f"{shown}: {names}"})
    built = TrainConfig(algo=shown)  # the algorithm's own training defaults
    shown_defaults = {f.name: getattr(built, f.name) for f in dataclasses.fields(built)}
    add_options(p, TrainConfig, unset=True, defaults=shown_defaults, notes=objective_default_notes(shown),
                choices={"algo": tuple(ALGOS)})
    p.set_defaults(_options=TrainOptions)
    seen = {f.name for f in dataclasses.fields(config_class(shown))}
    add_options(p.add_argument_group(f"{shown} options"), config_class(shown), unset=True)
    for other in ALGOS:  # parsed, so that a foreign option gets a precise error, but not listed
        names = {f.name for f in dataclasses.fields(config_class(other))}
        add_options(p, config_class(other), skip=tuple(names & seen), hidden=True, unset=True)
        seen |= names


def _train_algo(argv: Sequence[str]) -> str | None:
    """The value of ``--algo`` in a ``wrl train`` command line, if any."""
    for i, arg in enumerate(argv):
        if arg == "--algo" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--algo="):
            return arg.split("=", 1)[1]
    return None


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given explicitly on a parsed ``wrl train`` command line (options left unset are None)."""
    from wrl.training import options
    from wrl.training.config import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)} | options.agent_field_names()
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def configs_from_argv(options: Sequence[str]) -> tuple:
    """(TrainConfig, agent config) of the command line ``wrl train OPTIONS`` (``options`` without the word
    ``train``), parsed as the command parses it; a bad option exits with status 2 and one line, as there."""
    from wrl.lab.commands import TrainOptions, configs_from

    args = build_parser(_train_algo(options)).parse_args(["train", *options])
    return configs_from(given_settings(args), options_from(TrainOptions, args))


@dataclasses.dataclass(frozen=True)
class DoctorOptions:
    run_dir: str = hp(REQUIRED, "a run directory or group of seeds written by `wrl train`", positional=True)


@dataclasses.dataclass(frozen=True)
class PlotOptions:
    paths: tuple[str, ...] = hp(REQUIRED, "run directories, groups of seeds (--seeds) or suite directories",
                                positional=True, nargs="+")
    out: str = hp("curves.png", "image file: .png, .svg or .pdf")


def _doctor_command(opts: DoctorOptions) -> int:
    from wrl.runs import inspect

    state = inspect(opts.run_dir)
    line = {"finished": f"finished at step {state.step}",
            "interrupted": f"resumable at step {state.step}: wrl train --resume {opts.run_dir}",
            "running": f"running: {state.reason}",
            "new": f"nothing to resume: {state.reason}",
            "damaged": f"damaged: {state.reason}"}[state.state]
    print(f"{opts.run_dir}: {line}")
    for note in state.notes:
        print(f"  note: {note}")
    return 1 if state.state == "damaged" else 0


def _plot_command(opts: PlotOptions) -> int:
    from pathlib import Path

    from wrl.lab.plots import find_runs, plot_curves
    from wrl.optional import ensure

    ensure("matplotlib", "wrl plot")

    out = Path(opts.out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"--out {out} must end in .png, .svg or .pdf")
    curves = find_runs(list(opts.paths))
    plot_curves(curves, out)
    runs = sum(len(v) for v in curves.values())
    print(f"{runs} runs, {len(curves)} groups (same settings but the seed, per task) -> {out}")
    return 0


def _add_command(sub, name: str, cls: type, help_text: str, description: str | None = None) -> None:
    p = sub.add_parser(name, help=help_text, description=description or help_text)
    add_options(p, cls)
    p.set_defaults(_options=cls)


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
    return plain_text(doc.split("\n", 1)[1].strip() if "\n" in doc else "")


def plain_text(doc: str) -> str:
    """A docstring as a terminal shows it: a Sphinx role (``:func:`wrl.x.f```, ``:func:`~wrl.x.f```) becomes the
    name it points to (`wrl.x.f`, `f` with the tilde), double backquotes single ones."""
    import re

    def name(m: re.Match) -> str:
        return f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`"

    doc = re.sub(r":(?:func|class|mod|meth|attr|data|obj|exc):`(~?)([^`]+)`", name, doc)
    return doc.replace("``", "`")


def bench_listing(width: int = 100) -> str:
    """The commands of ``wrl bench`` in two titled groups, each with its one line: the tools (everything but
    :data:`BENCH_STUDIES`) and the one-study benchmarks."""
    import textwrap

    pad = max(map(len, BENCHES)) + 4
    blocks = []
    for title, names in (("tools:", [n for n in BENCHES if n not in BENCH_STUDIES]),
                         ("one-study benchmarks (each measures one question of the docs' pages):", BENCH_STUDIES)):
        lines = [title]
        for name in names:
            lines.append(textwrap.fill(BENCHES[name].help, width, initial_indent=f"  {name:<{pad - 2}}",
                                       subsequent_indent=" " * pad))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks, suites, sweeps, result archives",
                       description="Benchmarks, suites, sweeps and the committed results' tools. "
                                   "`wrl bench COMMAND --help` describes one.\n\n" + bench_listing(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # the parsers carry no `help`, so argparse lists none of them: bench_listing groups them in the description
    bsub = p.add_subparsers(dest="bench", parser_class=_Parser, required=True, metavar="COMMAND",
                                 help="one of the commands listed above")
    for name, entry in BENCHES.items():
        # `wrl bench NAME --help` shows the module's own documentation (file formats, what is measured)
        b = bsub.add_parser(name, description=f"{entry.help}\n\n{_module_doc(entry.module)}".strip(),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        _register(b, BENCHES, name)


def _add_flow(sub) -> None:
    p = sub.add_parser("flow", help="exact and toy Wasserstein flows with plots")
    fsub = p.add_subparsers(dest="flow", parser_class=_Parser, required=True)
    for name, entry in FLOWS.items():
        _register(fsub.add_parser(name, help=entry.help, description=entry.help), FLOWS, name)


def build_parser(train_algo: str | None = None) -> argparse.ArgumentParser:
    from wrl.lab.commands import EvalOptions

    parser = _Parser(prog="wrl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_train(sub, train_algo)
    _add_command(sub, "eval", EvalOptions, "evaluate a trained run (and record a video when rendering works)")
    _add_command(sub, "doctor", DoctorOptions,
                 "report a run's state (finished / resumable at step N / damaged) without changing it",
                 "Report what a run directory (or group of seeds) holds, changing nothing: finished, resumable at "
                 "step N, running (a live process writes it), new (nothing to resume) or damaged and why. Exit "
                 "status 0 unless it is damaged (1).")
    _add_command(sub, "plot", PlotOptions, "learning curves of runs, groups of seeds and suites, grouped by settings",
                 "Evaluation curves of every run under the given directories, one panel per task; runs whose "
                 "settings agree but for the seed form a group, drawn as the mean over its runs with a 95% band "
                 "and labelled by its suite label (or --label) where it has one, else by the algorithm and the "
                 "settings that set it apart. A label keeps its colour in every panel.")
    _add_bench(sub)
    _add_flow(sub)
    return parser


def parse_command(argv: Sequence[str]) -> tuple[argparse.Namespace, Any]:
    """(parsed arguments, the command's validated options dataclass, None without a command) of ``wrl ARGV``."""
    parser = build_parser(_train_algo(argv) if argv and argv[0] == "train" else None)
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        name = getattr(args, args.command)
        raise WrlError(f"`wrl {args.command} {name}` is not available in this build")
    cls = getattr(args, "_options", None)
    return args, options_from(cls, args) if cls is not None else None


def _version() -> str:
    from wrl import __version__

    return f"wrl {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["train"]  # the main job: a short real training run on the embedded default
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit fails a write (EFBIG, reported) instead of killing wrl
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        args, opts = parse_command(argv)
        if args.command in ("train", "eval"):
            from wrl.training.compile_cache import enable_compile_cache

            enable_compile_cache(opts.compile_cache)
        if args.command == "train":
            from wrl.lab.commands import train_command

            return train_command(opts, given_settings(args))
        if args.command == "eval":
            from wrl.lab.commands import eval_command

            return eval_command(opts)
        if args.command == "plot":
            return _plot_command(opts)
        if args.command == "doctor":
            return _doctor_command(opts)
        if args.command in ("bench", "flow"):
            if args.command == "flow":  # every flow writes figures: say so before computing
                from wrl.optional import ensure

                ensure("matplotlib", f"wrl flow {args.flow}")
            return int(importlib.import_module(args._module).run(opts) or 0)
        build_parser().print_help()
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

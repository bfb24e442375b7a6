"""Command line: ``wrl train | eval | flow | bench``.

Every user mistake surfaces as one line on stderr and exit status 2 (see :mod:`wrl.errors`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wrl.errors import WrlError

# `wrl flow NAME`: each module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
FLOWS: dict[str, tuple[str, str]] = {
    "lqr": ("wrl.exact.lqr_cli", "Wasserstein gradient flow of linear-Gaussian policies on ergodic LQR"),
    "grid": ("wrl.exact.grid_cli", "particle flow on a grid of 1-D states against the exact optimum"),
    "mixture": ("wrl.flows.mixture", "WPO vs policy gradient vs natural gradient on the paper's 1-D toy"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"wrl: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wrl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    flow = sub.add_parser("flow", help="exact and toy Wasserstein flows with plots")
    flow_sub = flow.add_subparsers(dest="flow", parser_class=_Parser, required=True)
    for name, (module, help_text) in FLOWS.items():
        p = flow_sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_flow_module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError:
            p.set_defaults(_flow_missing=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "flow":
            return int(importlib.import_module(args._flow_module).run(args) or 0)
        parser.print_help()
        return 0
    except WrlError as e:
        sys.stderr.write(f"wrl: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("wrl: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

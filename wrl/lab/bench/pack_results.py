"""`wrl bench pack-results NAME OUT --suite FILE`: keep a suite's finished groups in the repository's results.

Packs the light files of the groups under ``OUT/runs`` (the ``--out`` of a suite: each seed's ``config.json``,
``metrics.jsonl`` and ``summary.json``, each group's ``group.json``, ``summary.json`` or ``split_seeds.json``;
no checkpoints, no TensorBoard events) into the deterministic archive ``results/suite_runs/NAME.tar.xz`` and
records its hashes and ``FILE`` (the suite file whose runs they are) in ``results/MANIFEST.json``, replacing an
archive of the same name. ``--groups`` keeps some groups only. `wrl bench check-results` then checks them
(see :mod:`wrl.lab.bench.results`), and suite files may name them in ``reuse``
(``"LABEL=results/suite_runs/NAME/runs/LABEL"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath

from wrl.lab.bench.results import RESULTS, ResultsError, add_archive, light_files


def select(files: dict[str, bytes], groups: list[str] | None) -> dict[str, bytes]:
    """The files of ``files`` (named ``runs/LABEL/TASK/...``) in one of ``groups`` (``LABEL`` or ``LABEL/TASK``),
    or all of them when ``groups`` is None; a group that selects nothing is a ResultsError."""
    if groups is None:
        return files
    kept: dict[str, bytes] = {}
    for group in groups:
        want = PurePosixPath(group).parts
        if not 1 <= len(want) <= 2:
            raise ResultsError(f"--groups {group!r} must be LABEL or LABEL/TASK (as under OUT/runs)")
        found = {n: b for n, b in files.items() if PurePosixPath(n).parts[1:1 + len(want)] == want}
        if not found:
            raise ResultsError(f"--groups {group!r} selects no light run files under runs/")
        kept.update(found)
    return kept


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the archive's name: results/suite_runs/NAME.tar.xz")
    p.add_argument("out", help="the suite directory (the --out of `wrl bench suite`) whose runs/ to pack")
    p.add_argument("--suite", required=True, help="the suite file whose runs these are, relative to --root "
                                                  "(e.g. docs/suites/wpo_std.toml)")
    p.add_argument("--groups", nargs="+", default=None, metavar="LABEL[/TASK]",
                   help="pack these groups only (as named under OUT/runs)")
    p.add_argument("--root", default=".", help="the repository root, which holds results/ (default: the working "
                                               "directory)")


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not (root / args.suite).is_file():
        raise ResultsError(f"--suite {args.suite} is not a file under {root}")
    files = select(light_files(Path(args.out)), args.groups)
    key = add_archive(root / RESULTS, args.name, files, Path(args.suite).as_posix())
    print(f"{len(files)} files -> {root / RESULTS / key} (check with `wrl bench check-results`)")
    return 0

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

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from wrl.config import REQUIRED, hp
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


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench pack-results``."""

    name: str = hp(REQUIRED, "the archive's name: results/suite_runs/NAME.tar.xz", positional=True)
    out: str = hp(REQUIRED, "the suite directory (the --out of `wrl bench suite`) whose runs/ to pack",
                  positional=True)
    suite: str = hp(REQUIRED, "the suite file whose runs these are, relative to --root (e.g. "
                              "docs/suites/wpo_std.toml)")
    groups: tuple[str, ...] | None = hp(None, "pack these groups only (as named under OUT/runs; default: all)",
                                        nargs="+", metavar="LABEL[/TASK]")
    root: str = hp(".", "the repository root, which holds results/ (default: the working directory)")


def run(opts: Options) -> int:
    root = Path(opts.root)
    if not (root / opts.suite).is_file():
        raise ResultsError(f"--suite {opts.suite} is not a file under {root}")
    files = select(light_files(Path(opts.out)), opts.groups)
    key = add_archive(root / RESULTS, opts.name, files, Path(opts.suite).as_posix())
    print(f"{len(files)} files -> {root / RESULTS / key} (check with `wrl bench check-results`)")
    return 0

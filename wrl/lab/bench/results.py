"""`wrl bench check-results`: the committed results are what their manifest and their suite files say.

Run logs kept in the repository live outside the package and the docs, in ``results/`` at the repository root:
``results/suite_runs/NAME.tar.xz`` holds the light files of finished suite groups (each seed's ``config.json``,
``metrics.jsonl`` and ``summary.json``, each group's ``group.json`` and ``summary.json`` or ``split_seeds.json``)
as ``runs/LABEL/TASK/...``, the layout of a suite directory, so ``tar -xJf results/suite_runs/NAME.tar.xz -C OUT``
puts them into the suite directory ``OUT``. The archives are deterministic (members sorted by name, no directory
entries, mtime 0, owner 0, mode 644, xz): packing the same files again gives the same bytes.
``results/MANIFEST.json`` records, per archive, its SHA-256, the SHA-256 of every file inside it and the suite file
whose runs it holds::

    {"archives": {"suite_runs/NAME.tar.xz": {"sha256": "...", "suite": "docs/suites/FILE.toml",
                                              "files": {"runs/LABEL/TASK/seed-0/config.json": "...", ...}}}}

The check, run from the repository root (``--root`` elsewhere), reports one line per mismatch and exits 1 when
there is any, 0 when everything matches:

* every archive under ``results/`` is in the manifest and every archive of the manifest is there, with its hash;
* every file inside an archive is in the manifest with its hash, and every file of the manifest is inside;
* every seed's recorded configuration (``config.json``) is the one its suite file trains today
  (:func:`wrl.lab.bench.suite.recorded_differences`): a change of defaults that changes what an old suite file means
  (its published numbers would no longer come from its command) shows here, and the suite file must then pin
  the old settings;
* every ``reuse`` entry of the suite files in ``docs/suites`` is the source of some task, and for every label a
  suite file reuses, every task has a source that stands for it (:func:`wrl.lab.bench.suite.reusable`);
* the random-policy anchors of the normalised scores in the code (``wrl.lab.bench.aggregate.REFERENCE_SCORES``)
  are the means that `wrl bench random-returns` measured (``docs/benchmarks/random_returns.json``), and each
  task's reference lies above its anchor (:func:`check_anchors`).

`wrl bench pack-results` adds or replaces an archive and its manifest entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from wrl.config import hp
from wrl.errors import WrlError
from wrl.lab.bench.archives import (
    ARCHIVE_SUFFIXES,
    ResultsError,
    Unpacked,
    pack,
    read_archive,
    sha256,
)

RESULTS = "results"
MANIFEST = "MANIFEST.json"
SUITE_RUNS = "suite_runs"
SUITES = "docs/suites"
# The light files of a finished suite group: what `wrl bench suite` needs to reuse it and to report on it.
LIGHT_FILES = ("config.json", "metrics.jsonl", "summary.json", "group.json", "split_seeds.json")


def light_files(directory: Path) -> dict[str, bytes]:
    """The light run files (``LIGHT_FILES``) under ``directory/runs``, by their path relative to ``directory``."""
    if not (directory / "runs").is_dir():
        raise ResultsError(f"{directory} holds no runs/ directory (give a suite directory, the --out of a suite)")
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted((directory / "runs").rglob("*")) if p.is_file() and p.name in LIGHT_FILES}


def load_manifest(results: Path) -> dict[str, Any]:
    """The manifest of ``results`` (``results/MANIFEST.json``); one that is missing or malformed is a
    ResultsError."""
    path = results / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ResultsError(f"{path} not found (run from the repository root, or give --root)") from e
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path} is not readable JSON ({e})") from e
    archives = manifest.get("archives") if isinstance(manifest, dict) else None
    if not isinstance(archives, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("files"), dict)
            and isinstance(v.get("suite"), str) for v in archives.values()):
        raise ResultsError(f"{path} must map 'archives' to entries with 'sha256', 'suite' and 'files'")
    return manifest


def write_manifest(results: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` to ``results/MANIFEST.json`` (sorted keys: the same manifest gives the same bytes)."""
    (results / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def add_archive(results: Path, name: str, files: dict[str, bytes], suite: str) -> str:
    """Pack ``files`` as ``results/suite_runs/NAME.tar.xz`` and record it in the manifest (replacing an entry of
    the same name), with ``suite`` the suite file whose runs they are; returns the archive's manifest key."""
    if not files:
        raise ResultsError(f"nothing to pack for {name!r}: no light run files ({', '.join(LIGHT_FILES)})")
    if not name or "/" in name or name.startswith("."):
        raise ResultsError(f"archive name {name!r} must be a plain file name (e.g. the suite's short name)")
    key = f"{SUITE_RUNS}/{name}.tar.xz"
    manifest = load_manifest(results) if (results / MANIFEST).exists() else {"archives": {}}
    data = pack(files)
    (results / key).parent.mkdir(parents=True, exist_ok=True)
    (results / key).write_bytes(data)
    manifest["archives"][key] = {"sha256": sha256(data), "suite": suite,
                                 "files": {n: sha256(b) for n, b in sorted(files.items())}}
    write_manifest(results, manifest)
    return key


def check_hashes(results: Path, manifest: dict[str, Any]) -> tuple[list[str], dict[str, dict[str, bytes]]]:
    """Mismatches between the archives under ``results`` and ``manifest`` (one line each), and the files of
    every archive that could be read."""
    problems: list[str] = []
    contents: dict[str, dict[str, bytes]] = {}
    on_disk = {p.relative_to(results).as_posix() for p in results.rglob("*")
               if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES)}
    listed = manifest["archives"]
    problems += [f"{results / k}: not in {MANIFEST}" for k in sorted(on_disk - set(listed))]
    for key in sorted(listed):
        path, entry = results / key, listed[key]
        if key not in on_disk:
            problems.append(f"{path}: in {MANIFEST} but missing")
            continue
        data = path.read_bytes()
        if sha256(data) != entry["sha256"]:
            problems.append(f"{path}: sha256 {sha256(data)}, {MANIFEST} says {entry['sha256']}")
        try:
            files = read_archive(path)
        except ResultsError as e:
            problems.append(str(e))
            continue
        contents[key] = files
        for name in sorted(set(files) | set(entry["files"])):
            if name not in entry["files"]:
                problems.append(f"{path}: {name} is not in {MANIFEST}")
            elif name not in files:
                problems.append(f"{path}: {name} is in {MANIFEST} but not in the archive")
            elif sha256(files[name]) != entry["files"][name]:
                problems.append(f"{path}: {name} has sha256 {sha256(files[name])}, {MANIFEST} says "
                                f"{entry['files'][name]}")
    return problems, contents


def check_configs(root: Path, key: str, suite_file: str, files: dict[str, bytes]) -> tuple[list[str], int]:
    """Mismatches between the recorded configurations of one archive's seeds (``files``) and the suite file
    that trains them, one line each, and how many configurations were compared."""
    from wrl.lab.bench.common import parse_variant
    from wrl.lab.bench.suite import load_suite, recorded_differences, unit_dir

    where = root / RESULTS / key
    if not (root / suite_file).is_file():
        return [f"{where}: its suite file {suite_file} does not exist"], 0
    try:
        suite = load_suite(str(root / suite_file))
    except WrlError as e:
        return [f"{where}: its suite file {suite_file} does not load ({e})"], 0
    labels = {parse_variant(a)[0]: a for a in suite.algos}
    tasks = {unit_dir(Path(), "", t).name: t for t in suite.tasks}
    problems, checked = [], 0
    for name in sorted(files):
        parts = PurePosixPath(name).parts
        if len(parts) != 5 or parts[0] != "runs" or parts[4] != "config.json" or not parts[3].startswith("seed-"):
            continue
        _, label, slug, seed_dir, _ = parts
        if label not in labels:
            problems.append(f"{where}: {name}: {suite_file} has no algorithm labelled {label!r}")
            continue
        if slug not in tasks:
            problems.append(f"{where}: {name}: {suite_file} has no task {slug!r}")
            continue
        try:
            seed, record = int(seed_dir.removeprefix("seed-")), json.loads(files[name])
        except ValueError as e:
            problems.append(f"{where}: {name} is not a seed's config.json ({e})")
            continue
        differ = recorded_differences(suite, labels[label], tasks[slug], seed, record)
        if differ:
            problems.append(f"{where}: {name} differs from what {suite_file} trains today ({'; '.join(differ)})")
        checked += 1
    if not checked and not problems:
        problems.append(f"{where}: holds no seed's config.json")
    return problems, checked


def check_reuse(root: Path, suite_file: Path, sources: Unpacked) -> list[str]:
    """Mismatches of one suite file's ``reuse`` entries: for every label it reuses, every task needs a source
    that stands for it, and every entry must be the source of some task."""
    from wrl import runs
    from wrl.lab.bench.common import parse_variant
    from wrl.lab.bench.suite import load_suite, reusable

    suite = load_suite(str(suite_file))
    labels = {parse_variant(a)[0]: a for a in suite.algos}
    name = suite_file.relative_to(root).as_posix() if suite_file.is_relative_to(root) else str(suite_file)
    problems: list[str] = []
    seen: set[str] = set()
    for label in dict.fromkeys(e.partition("=")[0] for e in suite.reuse):
        for task in suite.tasks:
            entries = [e for e in suite.reuse if e.partition("=")[0] == label
                       and (sources.path(root / e.partition("=")[2]) / runs.slug(task)).exists()]
            if not entries:
                problems.append(f"{name}: no reuse entry of {label!r} holds {task}")
            for entry in entries:
                seen.add(entry)
                source = sources.path(root / entry.partition("=")[2]) / runs.slug(task)
                why = reusable(suite, labels[label], task, source)
                if why is not None:
                    problems.append(f"{name}: reuse entry {entry!r} does not stand for {task}: {why}")
    problems += [f"{name}: reuse entry {e!r} holds none of the suite's tasks" for e in suite.reuse if e not in seen]
    return problems


RANDOM_RETURNS = "docs/benchmarks/random_returns.json"


def check_anchors(root: Path, scores: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """Mismatches between the normalisation anchors ``scores`` (task -> (random, reference); default: the code's
    ``REFERENCE_SCORES``) and the measured random returns in ``root/docs/benchmarks/random_returns.json``: the
    random anchor must equal the measured mean within 0.01, and the reference must lie 1000 above it."""
    if scores is None:
        from wrl.lab.bench.aggregate import REFERENCE_SCORES as scores
    path = root / RANDOM_RETURNS
    try:
        measured = json.loads(path.read_text())["tasks"]
    except (OSError, ValueError, KeyError) as e:
        return [f"{path}: cannot be read ({type(e).__name__}: {e})"]
    problems = []
    for task, (random, reference) in sorted(scores.items()):
        if task not in measured:
            problems.append(f"{path}: no measured random return for {task}, whose anchor is {random}")
        elif abs(measured[task]["mean"] - random) > 0.01:
            problems.append(f"{task}: the random anchor {random} is not the measured mean {measured[task]['mean']} "
                            f"({path})")
        if reference <= random + 1000.0:
            problems.append(f"{task}: the reference score {reference} is not above the random anchor {random}")
    return problems


def check(root: Path) -> tuple[list[str], str]:
    """Every check of the module docstring on the repository at ``root``: the mismatches (one line each) and a
    one-line account of what was checked."""
    results = root / RESULTS
    if not results.is_dir():
        raise ResultsError(f"{results} is not a directory (run from the repository root, or give --root)")
    manifest = load_manifest(results)
    problems, contents = check_hashes(results, manifest)
    configs = 0
    for key in sorted(contents):
        found, n = check_configs(root, key, manifest["archives"][key]["suite"], contents[key])
        problems += found
        configs += n
    suite_files = sorted((root / SUITES).glob("*.toml"))
    from wrl.lab.bench.suite import load_suite

    reusing = [p for p in suite_files if load_suite(str(p)).reuse]
    with Unpacked() as sources:
        for path in reusing:
            problems += check_reuse(root, path, sources)
    problems += check_anchors(root)
    files = sum(len(v["files"]) for v in manifest["archives"].values())
    return problems, (f"{len(manifest['archives'])} archives, {files} files, {configs} recorded configurations, "
                      f"the reuse entries of {len(reusing)} suite files and the normalisation anchors checked")


@dataclass(frozen=True)
class Options:
    """Options of ``wrl bench check-results``."""

    root: str = hp(".", "the repository root, which holds results/ and docs/suites/ (default: the working "
                        "directory)")


def run(opts: Options) -> int:
    problems, account = check(Path(opts.root))
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} mismatches ({account})")
        return 1
    print(f"results match: {account}")
    return 0

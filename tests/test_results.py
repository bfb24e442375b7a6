"""`wrl bench check-results` and `wrl bench pack-results`, and suite reuse from archives of results, on tiny
fixtures made here (never the committed results)."""

import io
import json
import tarfile
from pathlib import Path

import pytest
from tiny_suite import TINY as TINY_SUITE

from wrl.config import to_dict
from wrl.lab.bench import results as R
from wrl.lab.bench import suite as S
from wrl.lab.bench.aggregate import REFERENCE_SCORES
from wrl.lab.bench.archives import archive_of
from wrl.lab.cli import configs_from_argv, main

TINY = "# wrl bench suite docs/suites/tiny.toml --out runs/suite-tiny\n" + TINY_SUITE
TASK = "gym:Pendulum-v1"


def finished_group(suite: S.Suite, spec: str, out: Path) -> Path:
    """The light files of a finished side-by-side group of ``suite`` in ``out``, as `wrl train --seeds` writes
    them (recorded configurations from the suite's own arguments; no training)."""
    path = S.unit_dir(out, S.parse_variant(spec)[0], TASK)
    for seed in suite.seeds:
        cfg, agent = configs_from_argv(S.train_args(suite, spec, TASK, path, seed=seed))
        run = path / f"seed-{seed}"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"config": to_dict(cfg), "agent_config": to_dict(agent)}))
        (run / "metrics.jsonl").write_text(json.dumps({"step": 300, "charts/episodic_return": -1000.0 - seed}) + "\n")
        (run / "summary.json").write_text(json.dumps({
            "finished": True, "final_eval_return": -900.0, "best_eval_return": -800.0, "wall_seconds": 1.0,
            "steps_per_second": 300.0, "evaluations": [{"step": 150, "mean_return": -800.0},
                                                       {"step": 300, "mean_return": -900.0}]}))
        (run / "checkpoint.npz").write_bytes(b"heavy")  # not a light file: never packed
    (path / "group.json").write_text(json.dumps({"seeds": list(suite.seeds)}))
    (path / "summary.json").write_text(json.dumps({"finished": True, "seeds": list(suite.seeds)}))
    return path


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A repository root with docs/suites/tiny.toml, results/ holding one archive of its two groups, and the
    measured random returns the code's normalisation anchors come from."""
    (tmp_path / "docs" / "suites").mkdir(parents=True)
    (tmp_path / "docs" / "suites" / "tiny.toml").write_text(TINY)
    (tmp_path / "docs" / "benchmarks").mkdir()
    (tmp_path / R.RANDOM_RETURNS).write_text(json.dumps(
        {"tasks": {task: {"mean": lo} for task, (lo, _) in REFERENCE_SCORES.items()}}))
    suite = S.load_suite(str(tmp_path / "docs" / "suites" / "tiny.toml"))
    out = tmp_path / "runs" / "suite-tiny"
    for spec in suite.algos:
        finished_group(suite, spec, out)
    assert main(["bench", "pack-results", "tiny", str(out), "--suite", "docs/suites/tiny.toml",
                 "--root", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(root: Path, capsys) -> tuple[int, list[str]]:
    status = main(["bench", "check-results", "--root", str(root)])
    return status, capsys.readouterr().out.splitlines()


def test_packing_is_deterministic_and_the_check_passes_on_what_was_packed(repo, capsys):
    archive = repo / "results" / "suite_runs" / "tiny.tar.xz"
    files = R.read_archive(archive)
    assert len(files) == 2 * (2 * 3 + 2)  # 2 groups x (2 seeds x 3 files + group.json, summary.json)
    assert not any(n.endswith("checkpoint.npz") for n in files)
    assert R.pack(files) == archive.read_bytes() == R.pack(dict(reversed(list(files.items()))))
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar] == sorted(files)
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in tar} == {(0, 0, 0, "", 0o644)}
    manifest = json.loads((repo / "results" / "MANIFEST.json").read_text())
    entry = manifest["archives"]["suite_runs/tiny.tar.xz"]
    assert entry["suite"] == "docs/suites/tiny.toml" and entry["sha256"] == R.sha256(archive.read_bytes())
    assert entry["files"] == {n: R.sha256(b) for n, b in files.items()}
    status, lines = check(repo, capsys)
    assert status == 0 and lines == ["results match: 1 archives, 16 files, 4 recorded configurations, the "
                                     "reuse entries of 0 suite files and the normalisation anchors checked"]


def test_the_check_reports_one_line_per_hash_or_config_mismatch(repo, capsys):
    manifest_path, archive = repo / "results" / "MANIFEST.json", repo / "results" / "suite_runs" / "tiny.tar.xz"
    manifest = json.loads(manifest_path.read_text())
    name = "runs/sac/gym-Pendulum-v1/seed-0/metrics.jsonl"
    # a file's recorded hash
    changed = json.loads(json.dumps(manifest))
    changed["archives"]["suite_runs/tiny.tar.xz"]["files"][name] = "0" * 64
    manifest_path.write_text(json.dumps(changed))
    status, lines = check(repo, capsys)
    assert status == 1 and len(lines) == 2 and name in lines[0] and "0" * 64 in lines[0]
    assert lines[1].startswith("1 mismatches")
    # the archive's bytes (a file inside changed): the archive's hash and the file's
    manifest_path.write_text(json.dumps(manifest))
    files = R.read_archive(archive)
    archive.write_bytes(R.pack({**files, name: b"{}\n"}))
    status, lines = check(repo, capsys)
    assert status == 1 and len(lines) == 3
    assert "tiny.tar.xz: sha256" in lines[0] and name in lines[1] and lines[2].startswith("2 mismatches")
    archive.write_bytes(R.pack(files))
    # an archive the manifest does not list, and a file the archive lacks
    (repo / "results" / "suite_runs" / "stray.tar.xz").write_bytes(R.pack({"runs/x": b""}))
    status, lines = check(repo, capsys)
    assert status == 1 and "stray.tar.xz: not in MANIFEST.json" in lines[0]
    (repo / "results" / "suite_runs" / "stray.tar.xz").unlink()
    assert check(repo, capsys)[0] == 0
    # the suite file changed what it trains: every recorded configuration of the changed label differs
    suite_file = repo / "docs" / "suites" / "tiny.toml"
    suite_file.write_text(TINY.replace('algos = ["sac", "td3"]', 'algos = ["sac=sac --batch-size 8", "td3"]'))
    status, lines = check(repo, capsys)
    assert status == 1 and len(lines) == 3
    assert all("sac/gym-Pendulum-v1/seed-" in line and "batch_size: 16 -> 8" in line for line in lines[:2])
    # a label or task the suite file does not have
    suite_file.write_text(TINY.replace('algos = ["sac", "td3"]', 'algos = ["sac"]'))
    status, lines = check(repo, capsys)
    assert status == 1 and "has no algorithm labelled 'td3'" in lines[0]


def test_the_check_reads_the_reuse_entries_of_suite_files(repo, capsys):
    """A suite file that reuses a group inside an archive: it stands for the suite, or one line says why."""
    reusing = repo / "docs" / "suites" / "reusing.toml"
    base = TINY.replace('name = "tiny"', 'name = "reusing"').replace('algos = ["sac", "td3"]', 'algos = ["sac"]')
    reusing.write_text(base + 'reuse = ["sac=results/suite_runs/tiny/runs/sac"]\n')
    status, lines = check(repo, capsys)
    assert status == 0 and "reuse entries of 1 suite files" in lines[0]
    reuse = 'reuse = ["sac=results/suite_runs/tiny/runs/sac"]\n'
    reusing.write_text(base.replace("seeds = [0, 1]", "seeds = [0]") + reuse)
    status, lines = check(repo, capsys)
    assert status == 1 and "does not stand for gym:Pendulum-v1: seeds [0, 1]" in lines[0]
    reusing.write_text(base + 'reuse = ["sac=results/suite_runs/none/runs/sac"]\n')
    status, lines = check(repo, capsys)
    assert status == 1 and "no reuse entry of 'sac' holds gym:Pendulum-v1" in lines[0]
    assert "holds none of the suite's tasks" in lines[1]


def test_bad_results_input_is_one_line_and_exit_status_2(tmp_path, repo, capsys):
    assert main(["bench", "check-results", "--root", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (repo / "results" / "MANIFEST.json").write_text("{not json")
    assert main(["bench", "check-results"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wrl: error:") and "MANIFEST.json is not readable JSON" in err and err.count("\n") == 1
    assert main(["bench", "pack-results", "x", str(tmp_path / "nowhere"), "--suite", "docs/suites/tiny.toml"]) == 2
    assert "holds no runs/ directory" in capsys.readouterr().err
    assert main(["bench", "pack-results", "x", "runs/suite-tiny", "--suite", "docs/suites/tiny.toml",
                 "--groups", "ppo"]) == 2
    assert "--groups 'ppo' selects no light run files" in capsys.readouterr().err
    # an archive member that would land outside the directory it is extracted to
    evil = tmp_path / "evil.tar.xz"
    with tarfile.open(evil, "w:xz") as tar:
        info = tarfile.TarInfo("../outside")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(R.ResultsError, match="not a plain relative path"):
        R.read_archive(evil)


def test_pack_results_keeps_the_groups_asked_for_and_replaces_its_archive(repo, capsys):
    assert main(["bench", "pack-results", "tiny", "runs/suite-tiny", "--suite", "docs/suites/tiny.toml",
                 "--groups", "td3/gym-Pendulum-v1"]) == 0
    files = R.read_archive(repo / "results" / "suite_runs" / "tiny.tar.xz")
    assert files and all(n.startswith("runs/td3/gym-Pendulum-v1/") for n in files)
    capsys.readouterr()
    assert check(repo, capsys)[0] == 0


def test_a_suite_reuses_a_group_inside_an_archive_of_results(repo, capsys):
    """``reuse`` may name a directory inside an archive (by the archive's name without its suffix, or through
    the archive itself): the group is copied from a temporary extraction, as from a directory."""
    packed = R.read_archive(repo / "results" / "suite_runs" / "tiny.tar.xz")
    suite = S.load_suite(str(repo / "docs" / "suites" / "tiny.toml"))
    for n, where in enumerate(("results/suite_runs/tiny/runs", "results/suite_runs/tiny.tar.xz/runs")):
        reusing = S.Suite(**{**suite.__dict__, "reuse": (f"sac={where}/sac", f"td3={where}/td3")})
        out = repo / f"out-{n}"
        assert S.run_suite(reusing, out, limit=0) == {"reused": 2, "resumed": 0, "ran": 0}
        assert f"copied the finished group of {where}/sac/gym-Pendulum-v1" in capsys.readouterr().out
        copied = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "runs").rglob("*") if p.is_file()}
        assert copied == packed
    assert S.report(reusing, out, reps=20)["results"]["sac"][TASK][1]["final"] == -900.0
    # the extraction is temporary
    with R.Unpacked() as sources:
        scratch = sources.path("results/suite_runs/tiny/runs").parent
        assert (scratch / "runs" / "sac").is_dir()
    assert not scratch.exists()
    assert archive_of(Path("results/suite_runs/none/runs")) is None

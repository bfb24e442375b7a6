"""Crash safety of run directories: signals, a second writer, cut metrics files, failed writes, groups, suites.

Every fault is injected into a real `wrl` process (the injector of :mod:`wrl.lab.bench.faults` sends the signal or
fails the write at a precise moment); the run is then resumed to its end and compared with one never
interrupted: the same metric rows and the same final checkpoint, array for array.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from wrl import runs
from wrl.lab.bench.faults import injector_command

pytestmark = pytest.mark.slow

TIMING = {"charts/SPS", "eval/seconds"}
TRAIN = ["--algo", "td3", "--env", "gym:Pendulum-v1", "--total-steps", "1200", "--learning-starts", "200",
         "--batch-size", "64", "--eval-every", "400", "--eval-episodes", "2", "--checkpoint-every", "400",
         "--log-every", "200", "--no-progress", "--no-tensorboard"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("compile-cache")
    return {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            "WRL_COMPILE_CACHE": str(cache)}


def wrl(env: dict[str, str], *args: str, fault: tuple[str, str, int] | None = None, fsize: int | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """``wrl ARGS`` in a fresh process, with a fault (FAULT, MOMENT, N) or a file-size limit in bytes."""
    cmd = injector_command(*fault, list(args)) if fault else [sys.executable, "-m", "wrl", *args]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))) if fsize else None
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=limit)


def metric_rows(run: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in runs.read_jsonl(run / runs.METRICS)]


def checkpoint_arrays(run: Path) -> dict[str, np.ndarray]:
    with np.load(run / runs.CHECKPOINT) as data:
        return {k: data[k] for k in data.files if k != "__meta__"}


def assert_same_run(run: Path, reference: Path) -> None:
    """Nothing lost: the metric rows (but wall-clock ones) and every array of the final checkpoint are the
    reference's, and the summary says finished with the same evaluations."""
    assert metric_rows(run) == metric_rows(reference)
    mine, theirs = checkpoint_arrays(run), checkpoint_arrays(reference)
    assert mine.keys() == theirs.keys()
    for k in theirs:
        np.testing.assert_array_equal(mine[k], theirs[k], err_msg=k)
    evals = lambda p: [(e["step"], e["mean_return"]) for e in runs.read_json(p / runs.SUMMARY)["evaluations"]]  # noqa: E731
    assert runs.read_json(run / runs.SUMMARY)["finished"] and evals(run) == evals(reference)


def one_line(stderr: str) -> str:
    """The message wrl printed: one line, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.startswith("wrl:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = wrl(env, "train", *TRAIN, "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.mark.parametrize(("sig", "moment", "n"), [
    ("SIGTERM", "setup", 1),  # before the first step: the checkpoint is at step 0
    ("SIGINT", "step", 300),  # learning, before the first periodic checkpoint
    ("SIGTERM", "eval", 2),  # inside the evaluation at step 800
    ("SIGTERM", "save", 2),  # inside the periodic save at step 800
    ("SIGINT", "step+save", 500),  # a second signal inside the save that the first one causes
])
def test_a_signal_at_any_moment_stops_with_a_checkpoint_and_resume_is_exact(env, reference, tmp_path, sig, moment, n):
    run = tmp_path / "run"
    proc = wrl(env, "train", *TRAIN, "--run-dir", str(run), fault=(sig, moment, n))
    signum = getattr(signal, sig)
    assert proc.returncode == 128 + signum, proc.stderr
    line = one_line(proc.stderr)
    assert f"stopped by {sig} at step" in line and f"continue with: wrl train --resume {run}" in line
    step = int(line.split(" at step ")[1].split(":")[0])
    assert runs.inspect(run).state == "interrupted" and runs.inspect(run).step == step
    assert not list(run.glob(".*.tmp")) and runs.lock_holder(run) is None
    proc = wrl(env, "train", "--resume", str(run), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


def test_a_second_writer_is_refused_and_the_first_run_is_unchanged(env, reference, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "wrl", "train", *TRAIN, "--run-dir", str(run)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while runs.lock_holder(run) is None or not (run / runs.CHECKPOINT).exists():
        assert first.poll() is None and time.monotonic() < deadline, "the first run ended before it could be raced"
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # held mid-run (its lock with it) while the second writers try
    try:
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        for second in (["train", "--resume", str(run), "--no-progress"],
                       ["train", *TRAIN, "--run-dir", str(run), "--overwrite"]):
            proc = wrl(env, *second)
            assert proc.returncode == 2, proc.stderr
            assert f"is being written by process {first.pid}" in one_line(proc.stderr)
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
        assert runs.inspect(run).state == "running"
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert_same_run(run, reference)


def test_a_metrics_file_cut_anywhere_in_its_last_line_still_resumes(env, reference, tmp_path):
    run = tmp_path / "run"
    proc = wrl(env, "train", *TRAIN, "--run-dir", str(run), fault=("SIGTERM", "step", 700))
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    step = runs.inspect(run).step
    kept = (run / runs.METRICS).read_bytes()
    last = (json.dumps({"step": step + 1, "charts/episodic_return": -1234.5, "charts/episodic_length": 200}) +
            "\n").encode()
    for cut in range(len(last)):  # as a kill -9 while the row after the checkpoint was written leaves it
        (run / runs.METRICS).write_bytes(kept + last[:cut])
        contents = runs.scan_jsonl(run / runs.METRICS)
        assert contents.torn == (cut > 0) and len(contents.rows) == kept.count(b"\n")
        runs.truncate_jsonl(run / runs.METRICS, step)
        assert (run / runs.METRICS).read_bytes() == kept
    (run / runs.METRICS).write_bytes(kept + last[:len(last) // 2])
    proc = wrl(env, "doctor", str(run))
    assert proc.returncode == 0 and f"resumable at step {step}" in proc.stdout and "was cut" in proc.stdout
    proc = wrl(env, "train", "--resume", str(run), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


def test_a_save_over_the_file_size_limit_exits_4_and_the_kept_checkpoint_resumes(env, reference, tmp_path):
    run = tmp_path / "run"
    proc = wrl(env, "train", *TRAIN, "--run-dir", str(run), fault=("SIGTERM", "step", 500))
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    size = (run / runs.CHECKPOINT).stat().st_size  # the next checkpoint holds 300 more replay rows
    before = (run / runs.CHECKPOINT).read_bytes()
    proc = wrl(env, "train", "--resume", str(run), "--no-progress", fsize=size + 256)
    assert proc.returncode == 4, proc.stderr
    line = one_line(proc.stderr)
    assert f"cannot write {run / runs.CHECKPOINT}" in line and "File too large" in line
    assert "at step 800" in line and f"the checkpoint of step 500 is kept in {run}" in line
    assert (run / runs.CHECKPOINT).read_bytes() == before and not list(run.glob(".*.tmp"))
    proc = wrl(env, "train", "--resume", str(run), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


def test_a_save_into_a_read_only_directory_exits_4_and_the_kept_checkpoint_resumes(env, reference, tmp_path):
    run = tmp_path / "run"
    if os.geteuid() == 0:  # root writes through permission bits: the file system's answer is injected instead
        proc = wrl(env, "train", *TRAIN, "--run-dir", str(run), fault=("EROFS", "save", 2))
    else:
        proc = wrl(env, "train", *TRAIN, "--run-dir", str(run), fault=("SIGTERM", "step", 500))
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        run.chmod(0o555)
        proc = wrl(env, "train", "--resume", str(run), "--no-progress")
        run.chmod(0o755)
    assert proc.returncode == 4, proc.stderr
    line = one_line(proc.stderr)
    assert f"cannot write {run}" in line and "the checkpoint of step" in line and "is kept" in line
    proc = wrl(env, "train", "--resume", str(run), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


GROUP = [*TRAIN, "--seeds", "0", "1"]


def test_a_group_of_seeds_stopped_by_sigterm_resumes_exactly(env, tmp_path):
    reference, group = tmp_path / "reference", tmp_path / "group"
    assert wrl(env, "train", *GROUP, "--run-dir", str(reference)).returncode == 0
    proc = wrl(env, "train", *GROUP, "--run-dir", str(group), fault=("SIGTERM", "step", 600))
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert f"continue with: wrl train --resume {group}" in one_line(proc.stderr)
    assert runs.inspect(group).state == "interrupted"
    proc = wrl(env, "train", "--resume", str(group), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for s in (0, 1):
        assert_same_run(runs.seed_dir(group, s), runs.seed_dir(reference, s))


def _fake_checkpoint(path: Path, step: int) -> None:
    from wrl.checkpoint import save_checkpoint

    save_checkpoint(path, {"x": np.full(3, step)}, {}, {"host": {"env_steps": step}})


def test_a_group_killed_before_its_first_commit_has_nothing_to_resume(tmp_path):
    """Pending checkpoints with no commit recorded are discarded on resume: the group is new, not resumable."""
    from wrl.checkpoint import read_meta

    (tmp_path / runs.GROUP).write_text(json.dumps({"seeds": [0, 1]}))
    dirs = [runs.seed_dir(tmp_path, s) for s in (0, 1)]
    for d in dirs:
        d.mkdir()
        _fake_checkpoint(runs.pending_checkpoint(d), 100)
    assert runs.quick_state(tmp_path) == "new"
    runs.recover_group(tmp_path, dirs, lambda p: read_meta(p)["host"]["env_steps"])
    assert not any((d / runs.CHECKPOINT).exists() or runs.pending_checkpoint(d).exists() for d in dirs)


@pytest.mark.parametrize("killed", ["before the commit", "after the commit"])
def test_a_group_killed_while_committing_its_checkpoints_keeps_them_at_one_step(tmp_path, killed):
    """The seeds' checkpoints move together: a kill between writing them and recording the commit keeps every
    seed at the old step; a kill after the record (some seeds replaced, some not) rolls every seed forward."""
    from wrl.checkpoint import read_meta

    dirs = [tmp_path / "seed-0", tmp_path / "seed-1"]
    for d in dirs:
        d.mkdir()
        _fake_checkpoint(d / runs.CHECKPOINT, 100)
    runs.write_json(tmp_path / runs.COMMIT, {"step": 100})
    for d in dirs:
        _fake_checkpoint(runs.pending_checkpoint(d), 200)
    if killed == "after the commit":
        runs.write_json(tmp_path / runs.COMMIT, {"step": 200})
        os.replace(runs.pending_checkpoint(dirs[0]), dirs[0] / runs.CHECKPOINT)  # seed 1 not yet replaced
    (tmp_path / runs.GROUP).write_text(json.dumps({"seeds": [0, 1]}))
    assert runs.quick_state(tmp_path) == "interrupted"
    runs.recover_group(tmp_path, dirs, lambda p: read_meta(p)["host"]["env_steps"])
    expected = 100 if killed == "before the commit" else 200
    assert [read_meta(d / runs.CHECKPOINT)["host"]["env_steps"] for d in dirs] == [expected, expected]
    assert not any(runs.pending_checkpoint(d).exists() for d in dirs)


SUITE = ('name = "faults"\nalgos = ["td3"]\ntasks = ["gym:Pendulum-v1"]\nseeds = [0]\ntotal_steps = 1200\n'
         'eval_every = 400\neval_episodes = 2\n'
         'train_args = "--learning-starts 200 --batch-size 64 --checkpoint-every 400 --log-every 200 '
         '--no-tensorboard"\n')


@pytest.fixture(scope="module")
def suite_reference(env, tmp_path_factory) -> tuple[Path, Path]:
    """(suite file, the group of its one (algorithm, task) trained by a suite never interrupted)."""
    tmp = tmp_path_factory.mktemp("suite")
    (tmp / "suite.toml").write_text(SUITE)
    proc = wrl(env, "bench", "suite", str(tmp / "suite.toml"), "--out", str(tmp / "reference"), "--reps", "10")
    assert proc.returncode == 0, proc.stderr
    return tmp / "suite.toml", tmp / "reference" / "runs" / "td3" / "gym-Pendulum-v1"


def waiter(proc: subprocess.Popen):
    def wait_for(condition) -> None:
        deadline = time.monotonic() + 180
        while not condition():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
    return wait_for


def test_a_suite_retries_a_killed_run_forwards_sigterm_and_ends_with_the_numbers_of_one_never_killed(
        env, tmp_path, suite_reference):
    suite, ref_group = suite_reference
    out = tmp_path / "out"
    group = out / "runs" / "td3" / "gym-Pendulum-v1"
    suite_proc = subprocess.Popen([sys.executable, "-m", "wrl", "bench", "suite", str(suite), "--out", str(out),
                                   "--reps", "10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for = waiter(suite_proc)

    # a run of the suite dies (kill -9 after its first checkpoint): the suite retries it from that checkpoint
    wait_for(lambda: runs.lock_holder(group) and (runs.seed_dir(group, 0) / runs.CHECKPOINT).exists())
    first = runs.lock_holder(group)
    os.kill(first, signal.SIGKILL)
    # then the suite itself is told to stop: it forwards SIGTERM to the retried run, which saves, and exits
    wait_for(lambda: runs.lock_holder(group) not in (None, first))
    suite_proc.send_signal(signal.SIGTERM)
    _, stderr = suite_proc.communicate(timeout=180)
    assert suite_proc.returncode == 128 + signal.SIGTERM, stderr
    assert "killed by SIGKILL; retrying from its last checkpoint" in stderr and "Traceback" not in stderr
    assert "suite faults stopped by SIGTERM" in stderr
    assert runs.inspect(group).state in ("interrupted", "finished")
    proc = wrl(env, "bench", "suite", str(suite), "--out", str(out), "--reps", "10")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(runs.seed_dir(group, 0), runs.seed_dir(ref_group, 0))


@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time (pytest -n 2 --dist loadgroup)
def test_a_run_killed_on_a_ray_cluster_is_retried_and_the_suite_completes_with_the_same_numbers(
        env, tmp_path, suite_reference):
    """A local Ray cluster (`ray start --head`), a suite on it, one of its `wrl train` processes killed: the
    suite retries it from its checkpoint, completes with exit 0, and its numbers are those of the local suite
    never killed."""
    ray = pytest.importorskip("ray")
    suite, ref_group = suite_reference
    ray_bin = Path(sys.executable).with_name("ray")
    port = 6379 + os.getpid() % 1000
    ray_env = {**env, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit a Unix socket address
    start = subprocess.run([str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=1",
                            "--node-ip-address=127.0.0.1", "--include-dashboard=false", f"--temp-dir={temp}"],
                           capture_output=True, text=True, env=ray_env, timeout=180)
    assert start.returncode == 0, start.stderr
    try:
        out = tmp_path / "out"
        group = out / "runs" / "td3" / "gym-Pendulum-v1"
        suite_proc = subprocess.Popen([sys.executable, "-m", "wrl", "bench", "suite", str(suite), "--out", str(out),
                                       "--reps", "10", "--backend", "ray", "--address", "auto"],
                                      env=ray_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiter(suite_proc)(lambda: runs.lock_holder(group) and (runs.seed_dir(group, 0) / runs.CHECKPOINT).exists())
        os.kill(runs.lock_holder(group), signal.SIGKILL)
        _, stderr = suite_proc.communicate(timeout=300)
        assert suite_proc.returncode == 0, stderr
        assert "killed by SIGKILL; retrying from its last checkpoint" in stderr and "Traceback" not in stderr
        assert_same_run(runs.seed_dir(group, 0), runs.seed_dir(ref_group, 0))
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=ray_env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    del ray

"""The training loop end to end: exact resume, determinism, bad input, and a short run that learns."""

import json
from pathlib import Path

import numpy as np
import pytest

from wrl import CheckpointError
from wrl.checkpoint import load_checkpoint, read_meta, save_checkpoint
from wrl.lab.cli import main
from wrl.training.config import TrainConfig
from wrl.training.logger import read_metrics
from wrl.training.trainer import agent_config_from, train

SMALL = TrainConfig(algo="sac", total_steps=900, learning_starts=200, eval_every=300, eval_episodes=2,
                    checkpoint_every=10_000,
                    log_every=300, buffer_size=5_000, batch_size=64, seed=3)


def small_agent(algo="sac"):
    return agent_config_from(algo, {"actor_hidden": (32, 32), "critic_hidden": (32, 32)})


def small_cfg(algo="sac", **kw):
    return TrainConfig(**{**SMALL.__dict__, "algo": algo, **kw})


def evals(summary):
    return [(e["step"], e["mean_return"]) for e in summary["evaluations"]]


# metrics.jsonl fields whose values depend on the wall clock, not on the seed
WALL_CLOCK_FIELDS = ("charts/SPS", "eval/seconds")


def metric_rows(run_dir):
    """metrics.jsonl rows in file order, the wall-clock fields kept as keys but their values masked (checked to
    be positive numbers)."""
    rows = read_metrics(run_dir)
    assert rows
    for row in rows:
        for k in WALL_CLOCK_FIELDS:
            if k in row:
                assert isinstance(row[k], float) and row[k] > 0, (k, row)
    return [{k: ("<wall-clock>" if k in WALL_CLOCK_FIELDS else v) for k, v in row.items()} for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "td3", "wpo", "wppg", "wgf-direct"])
def test_resume_reproduces_uninterrupted_run(tmp_path, algo):
    full = train(small_cfg(algo), small_agent(algo), tmp_path / "full", progress=False, tensorboard=False)
    # "kill" mid-episode (Pendulum episodes are 200 steps), after the first evaluation
    part = train(small_cfg(algo), small_agent(algo), tmp_path / "part", progress=False, tensorboard=False, stop_at=530)
    assert not part["finished"] and part["env_steps"] == 530
    resumed = train(small_cfg(algo), small_agent(algo), tmp_path / "part", resume=True, progress=False,
                    tensorboard=False)
    assert resumed["finished"]
    assert evals(resumed) == evals(full)
    # metrics.jsonl of the resumed run is row for row the uninterrupted run's: same steps, same keys, same values
    # (bar the wall-clock fields), so no row is lost or duplicated across the resume
    assert metric_rows(tmp_path / "part") == metric_rows(tmp_path / "full")


@pytest.mark.slow
def test_resume_drops_rows_written_after_the_last_checkpoint(tmp_path):
    """A run killed after its last checkpoint has already written metric rows past it; the resume must drop
    them and write them again once, so the resumed file equals the uninterrupted run's."""
    full = tmp_path / "full"
    part = tmp_path / "part"
    train(small_cfg(), small_agent(), full, progress=False, tensorboard=False)
    train(small_cfg(), small_agent(), part, progress=False, tensorboard=False, stop_at=530)
    assert metric_rows(part) == [r for r in metric_rows(full) if r["step"] <= 530]
    # what the killed process wrote between its checkpoint at 530 and the kill: the same rows as the full run's
    late = [line for line in (full / "metrics.jsonl").read_text().splitlines() if json.loads(line)["step"] > 530]
    assert any(json.loads(line)["step"] < 900 for line in late)
    with (part / "metrics.jsonl").open("a") as f:
        f.write("".join(line + "\n" for line in late))
    train(small_cfg(), small_agent(), part, resume=True, progress=False, tensorboard=False)
    assert [r["step"] for r in read_metrics(part)] == [r["step"] for r in read_metrics(full)]
    assert metric_rows(part) == metric_rows(full)


@pytest.mark.slow
def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a = train(SMALL, small_agent(), tmp_path / "a", progress=False, tensorboard=False)
    b = train(SMALL, small_agent(), tmp_path / "b", progress=False, tensorboard=False)
    c = train(SMALL.__class__(**{**SMALL.__dict__, "seed": 4}), small_agent(), tmp_path / "c", progress=False,
              tensorboard=False)
    assert evals(a) == evals(b)
    assert evals(a) != evals(c)


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("argv,match", [
    (["--algo", "ppo2"], "unknown algorithm"),
    (["--env", "gym:NoSuch-v0"], "unknown Gymnasium env"),
    (["--env", "gym:CartPole-v1"], "Discrete action space"),
    (["--batch-size", "0"], "--batch-size must be > 0"),
    (["--batch-size=-5"], "--batch-size must be > 0"),
    (["--actor-lr", "0"], "--actor-lr must be > 0"),
    (["--critic-lr=-1e-3"], "--critic-lr must be > 0"),
    (["--gamma", "0"], "--gamma must be > 0 and <= 1"),
    (["--gamma", "1.5"], "--gamma must be > 0 and <= 1"),
    (["--total-steps", "0"], "--total-steps must be > 0"),
    (["--algo", "sac", "--target-tau", "2"], "--target-tau must be > 0 and <= 1"),
    (["--algo", "sac", "--tau", "0.01"], "unrecognized arguments: --tau"),
    (["--algo", "wppg", "--preset", "nope"], "has no preset"),
    (["--policy-delay", "2"], "does not apply to --algo wpo"),
    (["--policy-delay", "2", "--target-noise", "0.1"], "do not apply to --algo wpo"),
    (["--batch-size", "abc"], "invalid int value"),
    # raised when the agent is built: before anything is written, so the corrected command is not blocked
    (["--min-std", "0.9"], "--min-std (0.9) must be below --init-std"),
    (["--off-box", "executed"], "unrecognized arguments: --off-box"),  # one option, --action-box, replaced it
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, argv, match):
    parse_error = "abc" in argv or "--tau" in argv or "--off-box" in argv  # argparse rejects these (SystemExit 2)
    with pytest.raises(SystemExit) if parse_error else _nullcontext():
        code, err = run_cli(capsys, "train", "--run-dir", str(tmp_path / "r"), "--no-progress", *argv)
        assert code == 2
    if parse_error:
        err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "done"
    cfg = TrainConfig(**{**SMALL.__dict__, "total_steps": 300})
    train(cfg, small_agent(), run, progress=False, tensorboard=False)
    return run


def snapshot(d: Path):
    return {p.name: p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_existing_run_dir_is_not_touched(finished_run, capsys):
    before = snapshot(finished_run)
    code, err = run_cli(capsys, "train", "--run-dir", str(finished_run), "--no-progress", "--total-steps", "300",
                         "--learning-starts", "100")
    assert code == 2 and "already exists" in err and "--resume" in err
    assert snapshot(finished_run) == before


@pytest.mark.slow
def test_missing_corrupt_and_mismatched_checkpoints(finished_run, tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = run_cli(capsys, "eval", str(empty))
    assert code == 2 and "no checkpoint" in err

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.npz").write_bytes(b"not a checkpoint at all")
    for argv in (["train", "--resume", str(corrupt)], ["eval", str(corrupt)]):
        code, err = run_cli(capsys, *argv)
        assert code == 2 and "corrupt" in err and "Traceback" not in err
    assert (corrupt / "checkpoint.npz").read_bytes() == b"not a checkpoint at all"

    # truncated file
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    data = (finished_run / "checkpoint.npz").read_bytes()
    (trunc / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    code, err = run_cli(capsys, "eval", str(trunc))
    assert code == 2 and "corrupt" in err

    # a checkpoint whose config says (64, 64) networks but holds (32, 32) arrays
    mism = tmp_path / "mism"
    mism.mkdir()
    meta = read_meta(finished_run / "checkpoint.npz")
    meta["agent_config"]["actor_hidden"] = [64, 64]
    with np.load(finished_run / "checkpoint.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}  # same leaf names
    extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
    save_checkpoint(mism / "checkpoint.npz", state, extra, meta)
    code, err = run_cli(capsys, "eval", str(mism))
    assert code == 2 and "does not match" in err and "actor" in err and "is float32[32], expected float32[64]" in err
    with pytest.raises(CheckpointError):
        from wrl.training.trainer import load_run_config

        cfg, acfg = load_run_config(mism)
        train(cfg, acfg, mism, resume=True, progress=False, tensorboard=False)


def test_checkpoint_stores_the_filled_replay_rows_and_loads_the_capacity_back(tmp_path, finished_run):
    meta = read_meta(finished_run / "checkpoint.npz")
    with np.load(finished_run / "checkpoint.npz") as z:
        assert z["state/replay/obs"].shape[0] == 300 and z["state/replay/reward"].shape == (300,)  # 300 steps
    assert meta["trimmed_rows"]["state/replay/obs"] == SMALL.buffer_size

    # a buffer of capacity 6 with 4 filled rows: stored as 4 rows, loaded as 6 with zero rows past the data
    rows = np.zeros((6, 2), np.float32)
    rows[:4] = np.arange(8, dtype=np.float32).reshape(4, 2) + 1
    state = {"replay": {"obs": rows, "size": np.int32(4)}, "params": np.ones((6, 2), np.float32)}
    save_checkpoint(tmp_path / "c.npz", state, {}, {"v": 1}, filled={"state/replay/": 4})
    with np.load(tmp_path / "c.npz") as z:
        assert z["state/replay/obs"].shape == (4, 2) and z["state/params"].shape == (6, 2)  # only under the prefix
    template = {"replay": {"obs": np.zeros((6, 2), np.float32), "size": np.int32(0)},
                "params": np.zeros((6, 2), np.float32)}
    loaded, _, meta = load_checkpoint(tmp_path / "c.npz", template)
    np.testing.assert_array_equal(loaded["replay"]["obs"], rows)
    np.testing.assert_array_equal(loaded["params"], state["params"])
    assert meta["v"] == 1
    # a configuration with another capacity does not match
    small = {**template, "replay": {"obs": np.zeros((5, 2), np.float32), "size": np.int32(0)}}
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "c.npz", small)


def test_checkpoint_holds_no_pickle(finished_run):
    with np.load(finished_run / "checkpoint.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


@pytest.mark.slow
def test_eval_command_reports_video_status(finished_run, capsys):
    assert main(["eval", str(finished_run), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "mean return" in out and "video:" in out


@pytest.mark.slow
def test_short_pendulum_run_clearly_improves(tmp_path):
    cfg = TrainConfig(algo="sac", total_steps=4000, learning_starts=500, eval_every=500, eval_episodes=5, seed=0,
                      checkpoint_every=10_000, log_every=1000)
    s = train(cfg, agent_config_from("sac", {"actor_lr": 1e-3, "critic_lr": 1e-3, "actor_hidden": (64, 64),
                                             "critic_hidden": (64, 64)}),
              tmp_path / "learn", progress=False, tensorboard=False)
    first, best = s["evaluations"][0]["mean_return"], s["best_eval_return"]
    assert first < -900  # the untrained policy swings nowhere
    assert best > -400 and best - first > 600


@pytest.mark.slow
def test_divergence_guard_stops_and_keeps_the_last_finite_checkpoint(tmp_path, capsys):
    """An exploding learning rate stops the run with exit 3 and one line; the checkpoint on disk stays finite."""
    run_dir = tmp_path / "div"
    code, err = run_cli(capsys, "train", "--algo", "sac", "--critic-lr", "1e8", "--actor-hidden", "32", "32",
                        "--critic-hidden", "32", "32", "--total-steps", "1500", "--learning-starts", "200",
                        "--checkpoint-every", "100", "--log-every", "100", "--eval-every", "1000", "--eval-episodes",
                        "1", "--buffer-size", "5000", "--batch-size", "64", "--run-dir", str(run_dir), "--no-progress",
                        "--no-tensorboard")
    assert code == 3, err
    assert "training diverged at step" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    kept = read_meta(run_dir / "checkpoint.npz")["host"]["env_steps"]
    assert 0 < kept < 1500 and f"(step {kept})" in err
    from wrl.training.trainer import load_policy

    _, policy, _ = load_policy(run_dir)  # loadable, and its policy acts finitely
    assert np.all(np.isfinite(np.asarray(policy(np.zeros((4, 3), np.float32)))))


@pytest.mark.slow
def test_divergence_before_the_first_checkpoint_does_not_offer_a_resume(tmp_path, capsys):
    """No checkpoint yet: the line says so and does not point to --resume (there is nothing to resume)."""
    run_dir = tmp_path / "div0"
    code, err = run_cli(capsys, "train", "--algo", "sac", "--critic-lr", "1e8", "--actor-hidden", "32", "32",
                        "--critic-hidden", "32", "32", "--total-steps", "1500", "--learning-starts", "200",
                        "--checkpoint-every", "100000", "--log-every", "100", "--eval-every", "1000",
                        "--eval-episodes", "1", "--buffer-size", "5000", "--batch-size", "64", "--run-dir",
                        str(run_dir), "--no-progress", "--no-tensorboard")
    assert code == 3, err
    assert "no checkpoint had been written" in err and "--resume" not in err and len(err.strip().splitlines()) == 1
    assert not (run_dir / "checkpoint.npz").exists()


@pytest.mark.slow
@pytest.mark.parametrize("algo,utd", [("sac", 2), ("td3", 1)])
def test_window_metrics_are_the_mean_of_every_update(algo, utd):
    """Metric rows average every update since the last row (TD3's skipped actor updates are counted out)."""
    import jax
    import jax.numpy as jnp

    from wrl.agents import make_agent
    from wrl.training.step import Transition, compiled_step_fns, init_train_state

    cfg = small_cfg(algo, learning_starts=40, batch_size=16, buffer_size=500, utd=utd)
    agent_cfg = small_agent(algo)
    agent = make_agent(algo, agent_cfg, 3, 1)
    fns = compiled_step_fns(cfg, agent_cfg, 3, 1)
    learn_step, take_window = fns.learn_step, fns.window_means
    rng = np.random.default_rng(0)
    transitions = [Transition(*(jnp.asarray(x, jnp.float32) for x in (rng.normal(size=(1, 3)), rng.uniform(
        -1, 1, (1, 1)), rng.normal(size=1), rng.normal(size=(1, 3)))), jnp.zeros(1, bool), jnp.zeros(1, bool))
        for _ in range(60)]
    per_round, ts = [], init_train_state(agent, cfg, 3, 1)
    for tr in transitions:  # a metric row after every step: each row is one round's own mean
        ts, means = take_window(learn_step(ts, tr))
        if int(ts.env_steps) >= cfg.learning_starts:
            per_round.append(jax.device_get(means))
    ts = init_train_state(agent, cfg, 3, 1)
    for i, tr in enumerate(transitions):
        ts = learn_step(ts, tr)
        if i == cfg.learning_starts - 2:
            ts, _ = take_window(ts)  # nothing before learning starts
    _, window = take_window(ts)
    assert len(per_round) == 21
    for k, v in jax.device_get(window).items():
        values = np.array([r[k] for r in per_round], np.float64)
        np.testing.assert_allclose(v, np.nanmean(values), rtol=2e-5, err_msg=k)
        if algo == "td3" and k == "losses/actor_loss":
            assert np.isnan(values).sum() > 5  # delayed actor updates: rows without a value exist


@pytest.mark.slow
def test_the_run_clock_counts_the_set_up(tmp_path, monkeypatch):
    """wall_seconds (and time to solve) start before the environments, the agent and the logger are built:
    on a clock that only moves while the run's member is set up, the run lasts exactly that long."""
    from types import SimpleNamespace

    from wrl.training import trainer

    now = [0.0]
    monkeypatch.setattr(trainer, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    build = trainer._Member.__init__

    def slow_build(self, *args, **kwargs):
        build(self, *args, **kwargs)
        now[0] += 1000.0

    monkeypatch.setattr(trainer._Member, "__init__", slow_build)
    summary = train(small_cfg(total_steps=300, learning_starts=299, eval_every=300), small_agent(), tmp_path / "r",
                    progress=False, tensorboard=False)
    assert summary["wall_seconds"] == 1000.0


def test_the_tensorboard_logger_does_not_import_torch(tmp_path):
    """tensorboardX imports PyTorch when it is installed (over a second of every run's set-up); the logger
    imports it without, and a later `import torch` still works. A stand-in `torch` package first on the path
    plays the installed one (whether or not the real one is installed here)."""
    import os
    import subprocess
    import sys

    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("class Tensor: pass\nSTAND_IN = True\n")
    code = ("import sys; from pathlib import Path; from wrl.training.logger import Logger; "
            f"lg = Logger(Path({str(tmp_path)!r}), tensorboard=True); lg.log(1, {{'a': 1.0}}); lg.close(); "
            "print('torch' in sys.modules); import torch; print(torch.STAND_IN)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "True"]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))

"""A user's first hour: the library and the command line agree, policies act in the environment's units, plots
group runs by their settings, and the silent traps speak."""

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest

import wrl
from wrl.config import to_dict
from wrl.lab.cli import configs_from_argv, main
from wrl.training.config import TrainConfig
from wrl.training.trainer import agent_config_from

TINY = {"env": "gym:Pendulum-v1", "total_steps": 400, "learning_starts": 100, "eval_every": 200, "eval_episodes": 2,
        "batch_size": 32, "log_every": 100}


# ------------------------------------------------------------------------- 1. one entry point, the same configs
@pytest.mark.parametrize("algo", ["wpo", "wppg", "sac", "td3", "wgf-direct", "wgf-indirect"])
def test_a_config_built_for_an_algorithm_is_the_command_lines(algo):
    cli_cfg, cli_agent = configs_from_argv(["--algo", algo])
    assert TrainConfig(algo=algo) == cli_cfg
    cfg, agent_cfg = wrl.configs(algo)
    assert (cfg, agent_cfg) == (cli_cfg, cli_agent)
    cli_avg, _ = configs_from_argv(["--algo", algo, "--objective", "average"])
    assert TrainConfig(algo=algo, objective="average") == cli_avg


def test_wpo_and_the_particle_method_carry_their_own_defaults():
    assert TrainConfig(algo="wpo").n_step == 5 and TrainConfig(algo="wpo", n_step=2).n_step == 2
    assert TrainConfig(algo="wpo", objective="average").n_step == 1
    assert TrainConfig(algo="sac").n_step == 1
    indirect = TrainConfig(algo="wgf-indirect")
    assert (indirect.num_envs, indirect.learning_starts) == (32, 0)
    assert wrl.configs("wgf-indirect", total_steps=300)[0].num_envs == 32


def test_every_algorithm_default_is_a_field_that_follows_the_algorithm():
    from wrl.agents import ALGOS, train_defaults

    for algo in ALGOS:
        for name in train_defaults(algo):
            assert "shared" in TrainConfig.__dataclass_fields__[name].metadata, (algo, name)


def test_unknown_settings_name_the_closest_valid_ones():
    with pytest.raises(wrl.ConfigError, match=r"unknown SACConfig setting 'learning_rate' \(closest: actor_lr"):
        agent_config_from("sac", {"learning_rate": 1e-3})
    with pytest.raises(wrl.ConfigError, match=r"'total_step' \(closest: total_steps"):
        wrl.configs("sac", total_step=100)
    with pytest.raises(wrl.ConfigError, match="--actor-lr must be > 0"):
        agent_config_from("sac", {"actor_lr": -1.0})
    assert agent_config_from("sac", {"actor_lr": 1e-3}).actor_lr == 1e-3


def test_the_command_line_says_the_closest_setting_of_a_config_file(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("learning_rate = 0.001\n")
    assert main(["train", "--algo", "sac", "--config", str(tmp_path / "s.toml")]) == 2
    assert "closest: actor_lr" in capsys.readouterr().err


@pytest.mark.slow
def test_train_writes_the_run_directory_of_wrl_train(tmp_path):
    cfg, agent_cfg = wrl.configs("sac", **TINY)
    summary = wrl.train(cfg, agent_cfg, tmp_path / "lib", progress=False)
    names = {p.name for p in (tmp_path / "lib").iterdir()} - {".lock"}
    assert main(["train", "--algo", "sac", *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()],
                 "--run-dir", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert names == {p.name for p in (tmp_path / "cli").iterdir()} - {".lock"}
    assert "learning_curve.png" in names
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert cli["config"] == json.loads(json.dumps(summary["config"])) == json.loads(json.dumps(to_dict(cfg)))
    assert cli["final_eval_return"] == summary["final_eval_return"]


# ---------------------------------------------------------------------- 2. a policy in the environment's units
def test_actions_are_rescaled_onto_the_environments_box():
    from wrl.policy import to_env_units

    low, high = np.array([-2.0, 0.0]), np.array([2.0, 10.0])
    np.testing.assert_allclose(to_env_units(np.array([-1.0, 1.0]), low, high), [-2.0, 10.0])
    np.testing.assert_allclose(to_env_units(np.array([0.5, 0.0]), low, high), [1.0, 5.0])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("policy") / "run"
    cfg, agent_cfg = wrl.configs("sac", **TINY)
    wrl.train(cfg, agent_cfg, run_dir, progress=False, tensorboard=False, plot=False)
    return run_dir


@pytest.mark.slow
def test_a_policy_acts_in_the_environments_units_and_scores_as_evaluated(trained_run, tmp_path):
    from wrl.training.trainer import load_policy

    policy = wrl.Policy.load(trained_run)
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]], np.float32)
    _, normalised, _ = load_policy(trained_run)
    np.testing.assert_allclose(policy.predict(obs), 2.0 * np.asarray(normalised(obs)), rtol=1e-6)  # Pendulum: +-2
    assert policy.predict(obs[0]).shape == (1,)
    returns = policy.evaluate("Pendulum-v1", episodes=2, seed=7)
    env = gym.make("Pendulum-v1")  # plain Gymnasium, actions straight from predict
    for i, expected in enumerate(returns):
        o, _ = env.reset(seed=7 + i)
        total, done = 0.0, False
        while not done:
            o, r, term, trunc, _ = env.step(policy.predict(o))
            total, done = total + r, term or trunc
        assert total == pytest.approx(expected, rel=1e-4)
    saved = policy.save(tmp_path / "pendulum")
    assert saved.name == "pendulum.npz"
    again = wrl.Policy.load(saved)
    np.testing.assert_array_equal(again.predict(obs), policy.predict(obs))
    np.load(saved, allow_pickle=False)  # arrays and JSON only
    with pytest.raises(wrl.ConfigError, match="exists"):  # a file the user has is never replaced unasked
        policy.save(saved)
    assert policy.save(saved, overwrite=True) == saved


def test_loading_a_policy_from_nowhere_is_one_clear_error(tmp_path):
    with pytest.raises(wrl.CheckpointError, match="neither a run directory"):
        wrl.Policy.load(tmp_path / "missing")


# ---------------------------------------------------------------------------------- 6. the silent traps speak
def test_learning_starts_at_or_past_the_run_length_is_an_error(tmp_path, capsys):
    assert main(["train", "--algo", "sac", "--total-steps", "500", "--learning-starts", "500",
                 "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--learning-starts (500) must be below --total-steps (500)" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
    cfg = dataclasses.replace(TrainConfig(algo="sac"), total_steps=100)
    with pytest.raises(wrl.ConfigError, match="no update would run"):
        wrl.train(cfg, None, tmp_path / "lib", progress=False)


# ------------------------------------------------------------------------ 3. plots group runs by their settings
def fake_run(path, algo="wpo", env="gym:Pendulum-v1", seed=0, label=None, returns=(1.0, 2.0), **settings):
    """A run directory as `wrl plot` reads it: config.json and evaluation rows."""
    path.mkdir(parents=True)
    config = {"algo": algo, "env": env, "seed": seed, "n_step": 1, **settings}
    record = {"config": config, "agent_config": {"actor_lr": 3e-4}, **({"label": label} if label else {})}
    (path / "config.json").write_text(json.dumps(record))
    rows = [{"step": 100 * (i + 1), "eval/mean_return": r} for i, r in enumerate(returns)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_runs_of_different_settings_are_different_groups_named_by_what_differs(tmp_path):
    from wrl.lab.plots import find_runs

    for seed in (0, 1, 2):  # copied out of a suite: no suite.json around them
        fake_run(tmp_path / f"n3-{seed}", seed=seed, n_step=3)
        fake_run(tmp_path / f"n5-{seed}", seed=seed, n_step=5)
    fake_run(tmp_path / "sac-0", algo="sac")
    curves = find_runs([tmp_path])
    assert {k: len(v) for k, v in curves.items()} == {("wpo n_step=3", "gym:Pendulum-v1"): 3,
                                                     ("wpo n_step=5", "gym:Pendulum-v1"): 3,
                                                     ("sac", "gym:Pendulum-v1"): 1}


def test_a_recorded_suite_label_names_the_group_wherever_the_runs_are(tmp_path):
    from wrl.lab.plots import find_runs

    fake_run(tmp_path / "a", label="wpo-n3", n_step=3)
    fake_run(tmp_path / "b", label="wpo-n5", n_step=5)
    fake_run(tmp_path / "c", label="wpo-n5", n_step=5, seed=1)
    assert {k: len(v) for k, v in find_runs([tmp_path]).items()} == {("wpo-n3", "gym:Pendulum-v1"): 1,
                                                                     ("wpo-n5", "gym:Pendulum-v1"): 2}


def test_a_suite_records_each_runs_label():
    from wrl.lab.bench import suite as S

    tiny = S.Suite("t", ("wpo-n3=wpo --n-step 3",), ("gym:Pendulum-v1",), (0,), total_steps=100, eval_every=50)
    argv = S.train_args(tiny, tiny.algos[0], "gym:Pendulum-v1", S.Path("x"))
    assert argv[argv.index("--label") + 1] == "wpo-n3"


def test_a_label_keeps_its_colour_in_every_panel():
    from wrl.lab.plots import label_colours

    colours = label_colours(["sac", "wpo", "sac", "wppg"])
    assert colours == {"sac": "C0", "wpo": "C1", "wppg": "C2"}


# ------------------------------------------------------------------------------- 4. --help lists every choice
@pytest.mark.parametrize("algo", [None, "sac", "wgf-indirect"])
def test_train_help_lists_every_algorithm_and_every_choice(algo):
    from wrl.agents import ALGOS
    from wrl.lab.cli import build_parser

    train = build_parser(algo)._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    assert "--algo {" + ",".join(ALGOS) + "}" in text
    for action in train._actions:
        if action.choices and action.help != "==SUPPRESS==":
            assert "{" + ",".join(map(str, action.choices)) + "}" in " ".join(text.split()), action.dest


def test_the_render_hint_names_what_is_missing(monkeypatch):
    import importlib.util

    from wrl.envs import render

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pygame" else real(name, *a))
    assert "pygame, which is not installed" in render.rendering_unavailable_reason("gym:Pendulum-v1")
    assert render.renderer_of("gym:HalfCheetah-v5") == "gl" and render.renderer_of("dmc:walker-walk") == "gl"
    monkeypatch.setenv("MUJOCO_GL", "disable")
    assert "OSMesa" in render.rendering_unavailable_reason("gym:HalfCheetah-v5")


def test_a_report_of_nothing_is_one_clear_line(tmp_path, capsys):
    pytest.importorskip("rliable")
    pytest.importorskip("matplotlib")
    assert main(["bench", "suite", "smoke", "--out", str(tmp_path / "empty"), "--report-only"]) == 2
    err = capsys.readouterr().err
    assert "holds no finished group of suite smoke" in err and err.count("\n") == 1


def test_a_suite_says_its_size_before_it_starts(tmp_path):
    from wrl.lab.bench import suite as S

    line = S.size_line(S.SUITES["smoke"], tmp_path, jobs=2)
    assert "7 algorithms x 1 tasks x 2 seeds = 14 runs of 3,000 steps (42,000 environment steps)" in line
    assert "7 of 7 groups left to train" in line and "no estimate yet" in line


def test_a_suite_estimates_the_time_left_from_its_finished_groups(tmp_path, monkeypatch):
    from wrl.lab.bench import suite as S

    finished = {"sac": {"gym:Pendulum-v1": [{"wall_seconds": 600.0}, {"wall_seconds": 540.0}]}}
    monkeypatch.setattr(S, "collect", lambda suite, out: finished)
    line = S.size_line(S.SUITES["smoke"], tmp_path, jobs=2)
    assert "about 0.7 h at the 10 min per group of the 1 finished here" in line  # ceil(7 / 2) x 600 s


@pytest.mark.slow
def test_eval_says_its_seeds_and_how_it_relates_to_the_summary(trained_run, capsys):
    assert main(["eval", str(trained_run), "--episodes", "2", "--seed", "5", "--no-video"]) == 0
    out = capsys.readouterr().out
    assert "over 2 episodes (seeds 5..6" in out
    assert "the run's summary says" in out and "training evaluation seeds" in out

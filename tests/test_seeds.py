"""Seeds side by side: one vmapped compiled step over the seed axis, per-seed run directories, exact resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.agents import make_agent
from wrl.lab.cli import main
from wrl.training.config import TrainConfig
from wrl.training.step import Transition, compiled_step_fns, init_train_state
from wrl.training.trainer import agent_config_from, seed_dir, train, train_group

SMALL = TrainConfig(algo="sac", total_steps=900, learning_starts=200, eval_every=300, eval_episodes=2,
                    checkpoint_every=10_000, log_every=300, buffer_size=5_000, batch_size=64, seed=3)
AGENT = agent_config_from("sac", {"actor_hidden": (32, 32), "critic_hidden": (32, 32)})


def evals(summary):
    return [(e["step"], e["mean_return"]) for e in summary["evaluations"]]


def _transitions(n, seed):
    rng = np.random.default_rng(seed)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return [Transition(f32(rng.normal(size=(1, 3))), f32(rng.uniform(-1, 1, (1, 1))), f32(rng.normal(size=1)),
                       f32(rng.normal(size=(1, 3))), jnp.zeros(1, bool), jnp.zeros(1, bool)) for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "wpo"])
def test_vmapped_learn_step_equals_each_seed_alone(algo):
    cfg = TrainConfig(algo=algo, learning_starts=20, batch_size=16, buffer_size=200)
    agent_cfg = agent_config_from(algo, {"actor_hidden": (16,), "critic_hidden": (16,)})
    agent = make_agent(algo, agent_cfg, 3, 1)
    seeds = [3, 5]
    alone = compiled_step_fns(cfg, agent_cfg, 3, 1)
    group = compiled_step_fns(cfg, agent_cfg, 3, 1, seeds_axis=True)
    data = [_transitions(30, s) for s in seeds]
    singles = [init_train_state(agent, TrainConfig(**{**cfg.__dict__, "seed": s}), 3, 1) for s in seeds]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *singles)
    for t in range(30):
        singles = [alone.learn_step(ts, data[i][t]) for i, ts in enumerate(singles)]
        stacked = group.learn_step(stacked, jax.tree.map(lambda *xs: jnp.stack(xs), *[d[t] for d in data]))
    assert int(singles[0].updates) == 11  # updates ran (steps 20..30)
    for i, ts in enumerate(singles):
        member = jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], stacked.agent))
        for a, b in zip(jax.tree.leaves(ts.agent), member, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    obs = jnp.ones((2, 1, 3))
    a_group = group.act(stacked, obs, np.int32(40))
    for i, ts in enumerate(singles):
        np.testing.assert_allclose(alone.act(ts, obs[i], np.int32(40)), a_group[i], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_group_seeds_are_independent_and_follow_the_seed_alone(tmp_path):
    g1 = train_group(SMALL, AGENT, tmp_path / "g1", [3, 5], progress=False, tensorboard=False)
    train_group(SMALL, AGENT, tmp_path / "g2", [3, 6], progress=False, tensorboard=False)
    s1 = [json.loads((seed_dir(tmp_path / g, s) / "summary.json").read_text())
          for g, s in (("g1", 3), ("g1", 5), ("g2", 3), ("g2", 6))]
    assert evals(s1[0]) == evals(s1[2])  # seed 3's numbers do not depend on the other seed of the group
    assert evals(s1[1]) != evals(s1[3])
    assert g1["seeds"] == [3, 5] and len(g1["final_eval_return"]) == 2
    # seed 3 alone: the same policy to float tolerance at the first evaluation (300 steps, 100 updates)
    alone = train(SMALL, AGENT, tmp_path / "alone", progress=False, tensorboard=False)
    assert evals(alone)[0][1] == pytest.approx(evals(s1[0])[0][1], rel=1e-3)


@pytest.mark.slow
def test_group_resume_is_exact_and_eval_works_per_seed(tmp_path, capsys):
    full = train_group(SMALL, AGENT, tmp_path / "full", [3, 4], progress=False, tensorboard=False)
    part = train_group(SMALL, AGENT, tmp_path / "part", [3, 4], progress=False, tensorboard=False, stop_at=530)
    assert not part["finished"]
    assert main(["train", "--resume", str(tmp_path / "part"), "--no-progress", "--no-tensorboard"]) == 0
    capsys.readouterr()
    resumed = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert resumed["finished"] and resumed["final_eval_return"] == full["final_eval_return"]
    for s in (3, 4):
        a = json.loads((seed_dir(tmp_path / "full", s) / "summary.json").read_text())
        b = json.loads((seed_dir(tmp_path / "part", s) / "summary.json").read_text())
        assert evals(a) == evals(b)
    assert main(["eval", str(seed_dir(tmp_path / "part", 4)), "--episodes", "1", "--no-video"]) == 0
    assert "mean return" in capsys.readouterr().out


def test_group_bad_input(tmp_path, capsys):
    for argv, match in ((["--seeds", "1", "1"], "distinct"), (["--num-seeds", "0"], "--num-seeds must be"),
                        (["--seeds", "1", "2", "--target-return", "0"], "not available with --seeds"),
                        (["--seeds", "1", "2", "--min-std", "0.9"], "must be below --init-std")):
        code = main(["train", "--run-dir", str(tmp_path / "g"), "--no-progress", *argv])
        err = capsys.readouterr().err
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "g").exists()


def test_group_with_a_bad_env_writes_nothing(tmp_path, capsys):
    code = main(["train", "--seeds", "0", "1", "--env", "gym:CartPole-v1", "--run-dir", str(tmp_path / "g"),
                 "--no-progress"])
    assert code == 2 and "Discrete action space" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()

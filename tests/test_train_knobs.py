"""The training knobs of the 2024-25 critics: action repeat, periodic resets, learning-rate schedules, observation
and reward normalisation. Each is off by default (the runs without them are unchanged); each is checked against
its definition here."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wrl import config as C
from wrl.agents import make_agent
from wrl.agents.base import Agent
from wrl.checkpoint import load_checkpoint
from wrl.envs import VecEnv, env_factory, import_env_modules, make_env
from wrl.errors import ConfigError
from wrl.replay import Batch, replay_sample
from wrl.running_moments import normalize, return_stats_init, return_stats_update, reward_scale
from wrl.training.config import TrainConfig
from wrl.training.logger import read_metrics
from wrl.training.step import (
    Transition,
    compiled_step_fns,
    init_train_state,
    make_act_deterministic,
    make_reset,
    make_step_fns,
    total_updates,
)
from wrl.training.trainer import agent_config_from, train, train_group, with_run_length

import_env_modules("wrl_test_envs")

CORRIDOR = "gym:WrlTest/Corridor-v0"  # reward = the raw first action component; terminates at |x| >= 1


# ----------------------------------------------------------------------------------------------- action repeat
@pytest.mark.parametrize("env_id", ["gym:Pendulum-v1", "dmc:cartpole-swingup"])
def test_one_repeated_step_is_the_sum_of_its_frames(env_id):
    raw, rep = make_env(env_id), make_env(env_id, action_repeat=2)
    o_raw, _ = raw.reset(seed=4)
    o_rep, _ = rep.reset(seed=4)
    np.testing.assert_array_equal(o_raw, o_rep)
    for a in np.linspace(-1, 1, 7):
        action = np.full(raw.action_space.shape, a, np.float32)
        _, r1, *_ = raw.step(action)
        o2, r2, *_ = raw.step(action)
        o, r, term, trunc, info = rep.step(action)
        np.testing.assert_array_equal(o, o2)
        assert r == r1 + r2 and not term and not trunc and info["frames_stepped"] == 2


def test_repeat_stops_at_termination_and_truncation_and_counts_frames():
    env = make_env(CORRIDOR, action_repeat=2)
    env.reset(seed=0)
    push = np.array([1.0, 0.0], np.float32)  # raw action 2: x moves by 0.2 per frame, reward 2 per frame
    steps = [env.step(push) for _ in range(3)]
    assert [s[4]["frames_stepped"] for s in steps] == [2, 2, 1]  # x leaves [-1, 1] at the 5th frame
    assert [s[1] for s in steps] == [4.0, 4.0, 2.0] and steps[-1][2]
    env = make_env(CORRIDOR, action_repeat=4)  # the time limit (30 frames) cuts the 8th step after 2 frames
    env.reset(seed=0)
    still = np.array([0.0, 0.0], np.float32)
    steps = [env.step(still) for _ in range(8)]
    assert steps[-1][3] and not any(s[3] for s in steps[:-1]) and steps[-1][4]["frames_stepped"] == 2
    venv = VecEnv([env_factory(CORRIDOR, action_repeat=4)], seed=1)  # episode lengths in frames
    venv.reset()
    lengths = [n for _ in range(8) for n in venv.step(still[None]).episode_lengths]
    assert lengths == [30]


def tiny_agent(algo="sac", **kw):
    return agent_config_from(algo, {"actor_hidden": (16,), "critic_hidden": (16,), **kw})


@pytest.mark.slow
def test_frames_are_the_unit_of_every_step_count(tmp_path):
    cfg = TrainConfig(algo="sac", total_steps=1000, learning_starts=100, eval_every=500, eval_episodes=1,
                      log_every=250, checkpoint_every=10_000, buffer_size=1000, batch_size=16, action_repeat=2,
                      num_envs=2, update_every=3, utd=2)
    summary = train(cfg, tiny_agent(), tmp_path / "run", progress=False, tensorboard=False)
    assert summary["env_steps"] == 1000 and [e["step"] for e in summary["evaluations"]] == [500, 1000]
    ts, _, _ = load_checkpoint(tmp_path / "run" / "checkpoint.npz", init_train_state(
        make_agent("sac", tiny_agent(), 3, 1), cfg, 3, 1))
    assert int(ts.env_steps) == 1000 and int(ts.replay.size) == 500  # one transition per agent step and env
    # update rounds every 3 agent steps once 100 frames are reached, 2 x 2 updates each
    assert int(ts.updates) == total_updates(cfg) == sum(2 * 2 for j in range(1, 251) if j % 3 == 0 and 4 * j >= 100)
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows if "charts/SPS" in r] == [252, 500, 752, 1000]
    # Pendulum's 200-frame episodes are 100 agent steps; their lengths count every frame
    lengths = [r["charts/episodic_length"] for r in rows if "charts/episodic_length" in r]
    assert lengths == [200] * 4


def test_evaluation_returns_sum_every_frame():
    from wrl.training.evaluate import evaluate

    def policy(obs):
        return np.full((len(obs), 1), 0.3, np.float32)

    repeated = evaluate(policy, [make_env("gym:Pendulum-v1", action_repeat=4)], [7])
    raw = evaluate(policy, [make_env("gym:Pendulum-v1")], [7])
    np.testing.assert_allclose(repeated, raw, rtol=1e-12)  # the same constant policy: the same 200 frames


@pytest.mark.parametrize("n,k,u,starts,total", [(1, 1, 1, 1000, 10_000), (2, 3, 2, 7, 101), (3, 2, 5, 0, 60),
                                                (1, 4, 1, 5000, 100), (4, 1, 3, 13, 1000)])
def test_total_updates_counts_the_rounds_the_step_runs(n, k, u, starts, total):
    cfg = TrainConfig(num_envs=n, action_repeat=k, update_every=u, learning_starts=starts, total_steps=total, utd=3)
    frames, rounds = 0, 0
    while frames < total:  # the loop and make_step_fns' update condition, step by step
        frames += n * k
        rounds += frames >= starts and (frames // (n * k)) % u == 0
    assert total_updates(cfg) == 3 * n * rounds and total_updates(cfg, on_policy=True) == rounds


# --------------------------------------------------------------------------------------------- a spy agent
def spy_agent(obs_dim, act_dim, batch_size):
    """An agent whose state records the last batch it was given (and whose action is the observation it saw),
    with one random weight so that a fresh init is recognisable."""

    def init(key):
        return {"w": jax.random.normal(key, (3,)), "obs": jnp.zeros((batch_size, obs_dim)),
                "next_obs": jnp.zeros((batch_size, obs_dim)), "reward": jnp.zeros(batch_size)}

    def act(state, obs, key, deterministic):
        return obs[..., :act_dim]

    def update(state, batch: Batch, key):
        return {**state, "obs": batch.obs, "next_obs": batch.next_obs, "reward": batch.reward}, {
            "losses/zero": jnp.float32(0.0)}

    return Agent(init, act, update)


def random_transitions(rng, steps, num_envs=1, obs_dim=3, act_dim=1, done_rate=0.1):
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    out = []
    for _ in range(steps):
        term = rng.random(num_envs) < done_rate / 2
        trunc = (rng.random(num_envs) < done_rate / 2) & ~term
        out.append(Transition(f32(rng.normal(2.0, 3.0, (num_envs, obs_dim))),
                              f32(rng.uniform(-1, 1, (num_envs, act_dim))), f32(rng.normal(-1.0, 2.0, num_envs)),
                              f32(rng.normal(2.0, 3.0, (num_envs, obs_dim))), jnp.asarray(term), jnp.asarray(trunc)))
    return out


def rows_matching(seen, candidates):
    """For every row of ``seen``, whether some row of ``candidates`` equals it (to float32 rounding)."""
    d = np.abs(np.asarray(seen)[:, None] - np.asarray(candidates)[None])
    return (d.reshape(d.shape[0], d.shape[1], -1).max(-1) < 1e-5 * (1 + np.abs(np.asarray(seen)).max())).any(1)


# ------------------------------------------------------------------------------------ observation normalisation
def test_observation_statistics_are_numpys_and_the_agent_sees_normalised_observations():
    cfg = TrainConfig(num_envs=2, learning_starts=10, batch_size=32, buffer_size=200, normalize_obs=True)
    agent = spy_agent(3, 1, cfg.batch_size)
    act, learn_step = make_step_fns(agent, cfg)
    data = random_transitions(np.random.default_rng(0), 40, num_envs=2)
    ts = init_train_state(agent, cfg, 3, 1)
    for tr in data:
        ts = learn_step(ts, tr)
    seen = np.concatenate([np.asarray(tr.obs) for tr in data])
    np.testing.assert_allclose(ts.obs_moments.mean, seen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(ts.obs_moments.var, seen.var(0), rtol=1e-4)
    assert float(ts.obs_moments.count) == len(seen)
    # replay keeps the raw observations; the batch holds them normalised with the current statistics
    np.testing.assert_array_equal(ts.replay.obs[:80], seen)
    m = ts.obs_moments
    assert rows_matching(ts.agent["obs"], normalize(m, ts.replay.obs[:80])).all()
    assert rows_matching(ts.agent["next_obs"], normalize(m, ts.replay.next_obs[:80])).all()
    assert not rows_matching(ts.agent["obs"], ts.replay.obs[:80]).any()
    # acting (after learning_starts) and evaluating see them normalised too
    obs = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3)), jnp.float32)
    np.testing.assert_allclose(act(ts, obs, np.int32(100)), normalize(m, obs)[:, :1], rtol=1e-6)
    np.testing.assert_allclose(make_act_deterministic(agent)((ts.agent, m), obs), normalize(m, obs)[:, :1], rtol=1e-6)


# ----------------------------------------------------------------------------------------- reward normalisation
def numpy_reward_scales(rewards, dones, gamma, g_max, eps=1e-8):
    """The scale after each step by the documented rule: G_t = gamma (1 - done_{t-1}) G_{t-1} + r_t per env,
    c_t = max(sqrt(var(G_1..G_t) + eps), max |G_1..G_t| / g_max)."""
    g = np.zeros(rewards.shape[1])
    history, scales = [], []
    for r, d in zip(rewards, dones, strict=True):
        g = gamma * g + r
        history.extend(g)
        scales.append(max(np.sqrt(np.var(history) + eps), np.max(np.abs(history)) / g_max))
        g = np.where(d, 0.0, g)
    return np.array(scales)


def test_return_scale_follows_the_documented_rule():
    rng = np.random.default_rng(3)
    rewards = rng.normal(0.5, 2.0, (300, 3)) * (rng.random((300, 3)) < 0.7)
    rewards[:20] *= 40.0  # a spike: the max |G| floor binds early, the variance later
    dones = rng.random((300, 3)) < 0.02
    expected = numpy_reward_scales(rewards, dones, 0.97, 5.0)
    with jax.enable_x64(True):
        s = return_stats_init(3, jnp.float64)
        got = []
        for r, d in zip(rewards, dones, strict=True):
            s = return_stats_update(s, jnp.asarray(r), jnp.asarray(d), 0.97)
            got.append(float(reward_scale(s, 5.0)))
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert float(reward_scale(return_stats_init(2), 5.0)) == 1.0  # nothing seen: rewards as they are


def test_batches_hold_rewards_divided_by_the_current_scale_before_the_nstep_sum():
    cfg = TrainConfig(num_envs=2, learning_starts=10, batch_size=64, buffer_size=200, normalize_reward=True,
                      gamma=0.9, reward_norm_g_max=3.0, n_step=1)  # the spy sees one-step rewards
    agent = spy_agent(3, 1, cfg.batch_size)
    _, learn_step = make_step_fns(agent, cfg)
    data = random_transitions(np.random.default_rng(5), 50, num_envs=2)
    ts = init_train_state(agent, cfg, 3, 1)
    for tr in data:
        ts = learn_step(ts, tr)
    rewards = np.stack([np.asarray(tr.reward) for tr in data])
    dones = np.stack([np.asarray(tr.terminated | tr.truncated) for tr in data])
    c = numpy_reward_scales(rewards.astype(np.float64), dones, 0.9, 3.0)[-1]
    np.testing.assert_allclose(float(reward_scale(ts.return_stats, 3.0)), c, rtol=1e-5)
    np.testing.assert_array_equal(ts.replay.reward[:100], rewards.reshape(-1))  # raw rewards stored
    seen = np.asarray(ts.agent["reward"])[:, None]
    assert rows_matching(seen, (rewards.reshape(-1) / c)[:, None]).all()
    # n-step sums: every term scaled (and offset by rho first) before the sum
    rb, key = ts.replay, jax.random.key(9)
    plain = replay_sample(rb, key, 64, 3, 0.9, 2, reward_offset=0.25)
    scaled = replay_sample(rb, key, 64, 3, 0.9, 2, reward_offset=0.25, reward_scale=jnp.float32(1 / c))
    np.testing.assert_allclose(scaled.reward, plain.reward / c, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scaled.discount, plain.discount)


def test_the_reward_scale_is_logged_and_the_average_objective_still_works():
    cfg = TrainConfig(learning_starts=5, batch_size=8, buffer_size=100, normalize_reward=True, normalize_obs=True,
                      objective="average", n_step=2)
    agent = spy_agent(3, 1, cfg.batch_size)
    _, learn_step = make_step_fns(agent, cfg)
    ts = init_train_state(agent, cfg, 3, 1)
    assert {"charts/avg_reward", "charts/reward_scale"} <= set(ts.metric_sums)
    for tr in random_transitions(np.random.default_rng(2), 12):
        ts = learn_step(ts, tr)
    assert int(ts.metric_counts["charts/reward_scale"]) == 12 and np.isfinite(ts.agent["reward"]).all()


# ------------------------------------------------------------------------------------------------------- resets
def test_a_reset_is_a_fresh_init_from_the_derived_key_and_keeps_the_rest():
    cfg = TrainConfig(learning_starts=5, batch_size=8, buffer_size=100, normalize_obs=True)
    agent = spy_agent(3, 1, cfg.batch_size)
    _, learn_step = make_step_fns(agent, cfg)
    ts = init_train_state(agent, cfg, 3, 1)
    for tr in random_transitions(np.random.default_rng(0), 12):
        ts = learn_step(ts, tr)
    after = jax.jit(make_reset(agent))(ts)
    key, k_init = jax.random.split(jax.random.wrap_key_data(ts.key))
    for a, b in zip(jax.tree.leaves(after.agent), jax.tree.leaves(agent.init(k_init)), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(jax.random.key_data(key), after.key)
    kept = lambda t: (t.replay, t.env_steps, t.updates, t.avg_reward, t.obs_moments, t.metric_sums)  # noqa: E731
    for a, b in zip(jax.tree.leaves(kept(after)), jax.tree.leaves(kept(ts)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(after.agent["w"], ts.agent["w"])


@pytest.mark.slow
def test_a_group_reset_resets_each_seed_as_alone():
    cfg = TrainConfig(algo="sac", learning_starts=5, batch_size=8, buffer_size=100)
    agent_cfg = tiny_agent()
    agent = make_agent("sac", agent_cfg, 3, 1)
    singles = [init_train_state(agent, dataclasses.replace(cfg, seed=s), 3, 1) for s in (1, 2)]
    group = compiled_step_fns(cfg, agent_cfg, 3, 1, seeds_axis=True)
    stacked = group.reset(jax.tree.map(lambda *xs: jnp.stack(xs), *singles))
    alone = compiled_step_fns(cfg, agent_cfg, 3, 1)
    for i, ts in enumerate(singles):
        mine = alone.reset(ts)
        for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], stacked)),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)


# --------------------------------------------------------------------------------------- learning-rate schedule
def test_adam_step_size_follows_the_linear_schedule():
    cfg = tiny_agent(lr_schedule="linear", lr_final_fraction=0.25, lr_decay_updates=8)
    lr = 1e-2
    tx = cfg.optimizer(lr)
    params = {"w": jnp.zeros(3)}
    adam = optax.scale_by_adam()  # Adam's direction, before the step size
    state, direction_state = tx.init(params), adam.init(params)
    for k in range(12):
        grad = {"w": jnp.array([1.0, -2.0, 0.5]) * (1 + k % 3)}
        updates, state = tx.update(grad, state, params)
        direction, direction_state = adam.update(grad, direction_state, params)
        expected = lr * (1 - (1 - 0.25) * min(k, 8) / 8)  # the step size of the k-th step (k = 0, 1, ...)
        np.testing.assert_allclose(updates["w"], -expected * direction["w"], rtol=1e-6)
    # the default is the plain Adam of before: same state structure, same updates
    plain, default = optax.adam(lr), tiny_agent().optimizer(lr)
    assert jax.tree.structure(plain.init(params)) == jax.tree.structure(default.init(params))
    with pytest.raises(ConfigError, match="lr-decay-updates"):
        tiny_agent(lr_schedule="linear").optimizer(lr)


@pytest.mark.slow
def test_the_decay_horizon_is_the_runs_number_of_updates(tmp_path):
    cfg = TrainConfig(algo="sac", total_steps=200, learning_starts=50, eval_every=200, eval_episodes=1,
                      buffer_size=500, batch_size=16, utd=2)
    agent_cfg = tiny_agent(lr_schedule="linear")
    assert with_run_length(cfg, agent_cfg).lr_decay_updates == total_updates(cfg) == 2 * 151
    assert with_run_length(cfg, tiny_agent(lr_schedule="linear", lr_decay_updates=7)).lr_decay_updates == 7
    assert with_run_length(cfg, tiny_agent()).lr_decay_updates == 0  # constant: nothing to fill in
    train(cfg, agent_cfg, tmp_path / "run", progress=False, tensorboard=False)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["agent_config"]
    assert stored["lr_decay_updates"] == 302
    ts, _, _ = load_checkpoint(tmp_path / "run" / "checkpoint.npz", init_train_state(
        make_agent("sac", with_run_length(cfg, agent_cfg), 3, 1), cfg, 3, 1))
    assert int(ts.updates) == 302
    # the critic's optimizer stepped once per update: its schedule ended exactly at the final fraction
    counts = [int(x) for path, x in jax.tree_util.tree_flatten_with_path(ts.agent)[0]
              if "count" in jax.tree_util.keystr(path) and "critic" in jax.tree_util.keystr(path)]
    assert counts and set(counts) == {302}


def test_the_learning_rate_options_belong_to_the_actor_critic_agents(capsys):
    from wrl.lab.cli import main

    assert main(["train", "--algo", "wgf-indirect", "--lr-schedule", "linear"]) == 2
    assert "does not apply to --algo wgf-indirect" in capsys.readouterr().err


# ------------------------------------------------------------------------------- checkpoints and exact resume
KNOBS = dict(action_repeat=2, reset_at=(300, 500), normalize_obs=True, normalize_reward=True)
RUN = TrainConfig(algo="sac", total_steps=700, learning_starts=100, eval_every=200, eval_episodes=2, log_every=100,
                  checkpoint_every=10_000, buffer_size=1000, batch_size=32, seed=3, **KNOBS)


def metric_rows(run_dir):
    wall = ("charts/SPS", "eval/seconds")
    return [{k: v for k, v in row.items() if k not in wall} for row in read_metrics(run_dir)]


@pytest.mark.slow
def test_a_run_resumed_across_a_reset_equals_the_uninterrupted_one(tmp_path):
    agent_cfg = tiny_agent(lr_schedule="linear")
    full = train(RUN, agent_cfg, tmp_path / "full", progress=False, tensorboard=False)
    part = train(RUN, agent_cfg, tmp_path / "part", progress=False, tensorboard=False, stop_at=250)
    assert part["env_steps"] == 250 and not part["finished"]
    resumed = train(RUN, agent_cfg, tmp_path / "part", resume=True, progress=False, tensorboard=False)
    assert resumed["evaluations"] and [(e["step"], e["mean_return"]) for e in resumed["evaluations"]] == [
        (e["step"], e["mean_return"]) for e in full["evaluations"]]
    assert metric_rows(tmp_path / "part") == metric_rows(tmp_path / "full")
    assert any("charts/reward_scale" in r for r in metric_rows(tmp_path / "full"))
    # the statistics are in the checkpoint (and restored: the rows after the resume would differ otherwise)
    names = np.load(tmp_path / "full" / "checkpoint.npz").files
    assert {"state/obs_moments/mean", "state/return_stats/ret", "state/return_stats/max_abs"} <= set(names)


@pytest.mark.slow
def test_a_group_resumed_across_a_reset_equals_the_uninterrupted_one(tmp_path):
    cfg = dataclasses.replace(RUN, total_steps=600, reset_at=(300,))
    train_group(cfg, tiny_agent(), tmp_path / "full", [3, 4], progress=False, tensorboard=False)
    # stopped at the step of the reset: its checkpoint holds the reset agent
    train_group(cfg, tiny_agent(), tmp_path / "part", [3, 4], progress=False, tensorboard=False, stop_at=300)
    train_group(cfg, tiny_agent(), tmp_path / "part", [3, 4], resume=True, progress=False, tensorboard=False)
    for s in (3, 4):
        assert metric_rows(tmp_path / "part" / f"seed-{s}") == metric_rows(tmp_path / "full" / f"seed-{s}")


@pytest.mark.slow
def test_a_checkpoint_from_before_the_knobs_resumes(tmp_path):
    """A run written before these options existed: its configs lack their keys and its state their leaves."""
    cfg = TrainConfig(algo="sac", total_steps=300, learning_starts=100, eval_every=150, eval_episodes=1,
                      buffer_size=500, batch_size=16)
    run = tmp_path / "old"
    train(cfg, tiny_agent(), run, progress=False, tensorboard=False, stop_at=150)
    new_train = {"action_repeat", "reset_at", "normalize_obs", "normalize_reward", "reward_norm_g_max"}
    new_agent = {"lr_schedule", "lr_final_fraction", "lr_decay_updates"}
    path = run / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    for m in (meta, json.loads((run / "config.json").read_text())):
        m["config"] = {k: v for k, v in m["config"].items() if k not in new_train}
        m["agent_config"] = {k: v for k, v in m["agent_config"].items() if k not in new_agent}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    from wrl.lab.cli import main

    assert main(["train", "--resume", str(run), "--no-progress", "--no-tensorboard"]) == 0
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 300


def test_a_checkpoint_without_the_statistics_it_needs_is_refused(tmp_path):
    cfg = TrainConfig(algo="sac", learning_starts=5, batch_size=8, buffer_size=100)
    agent = make_agent("sac", tiny_agent(), 3, 1)
    from wrl.checkpoint import save_checkpoint
    from wrl.errors import CheckpointError

    save_checkpoint(tmp_path / "c.npz", init_train_state(agent, cfg, 3, 1), {}, {})
    with pytest.raises(CheckpointError, match="missing state/obs_moments"):
        load_checkpoint(tmp_path / "c.npz", init_train_state(agent, dataclasses.replace(cfg, normalize_obs=True), 3, 1))


def test_the_knobs_are_options_of_wrl_train():
    from wrl.lab.cli import configs_from_argv

    cfg, agent_cfg = configs_from_argv(["--algo", "sac", "--action-repeat", "2", "--reset-at", "15000", "50000",
                                        "--normalize-obs", "--normalize-reward", "--lr-schedule", "linear",
                                        "--lr-final-fraction", "0.5"])
    assert (cfg.action_repeat, cfg.reset_at, cfg.normalize_obs, cfg.normalize_reward) == (2, (15000, 50000), True, True)
    assert (agent_cfg.lr_schedule, agent_cfg.lr_final_fraction, agent_cfg.lr_decay_updates) == ("linear", 0.5, 0)
    default = TrainConfig()
    assert (default.action_repeat, default.reset_at, default.normalize_obs, default.normalize_reward) == (
        1, (), False, False)
    with pytest.raises(ConfigError, match="--reset-at must be > 0"):
        C.validate(dataclasses.replace(default, reset_at=(0,)))

"""The indirect particle method (wgf-indirect): GAE, independence, interaction, exact resume, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.agents import config_class, make_agent
from wrl.agents.wgf_indirect import gae, posterior_velocity
from wrl.lab.cli import main
from wrl.replay import Rollout
from wrl.training.config import TrainConfig
from wrl.training.trainer import train


def tiny(**kw):
    return dataclasses.replace(config_class("wgf-indirect")(), actor_hidden=(8,), critic_hidden=(8,), **kw)


def test_gae_by_hand():
    rng = np.random.default_rng(0)
    t, e, gamma, lam = 6, 3, 0.9, 0.8
    r, v, v2 = rng.normal(size=(t, e)), rng.normal(size=(t, e)), rng.normal(size=(t, e))
    term = rng.random((t, e)) < 0.2
    ended = term | (rng.random((t, e)) < 0.2)
    adv, ret = gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(v2), jnp.asarray(gamma * (1 - term)),
                   jnp.asarray(gamma * (1 - ended)), lam)
    expected = np.zeros((t, e))
    for j in range(e):
        running = 0.0
        for i in reversed(range(t)):
            delta = r[i, j] + gamma * (1 - term[i, j]) * v2[i, j] - v[i, j]
            running = delta + gamma * lam * (1 - ended[i, j]) * running
            expected[i, j] = running
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ret, expected + v, rtol=1e-5, atol=1e-6)


def rollout(t=10, n=6, obs_dim=3, act_dim=2, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)  # noqa: E731
    return Rollout(obs=f(t, n, obs_dim), action=jnp.tanh(f(t, n, act_dim)), reward=f(t, n), next_obs=f(t, n, obs_dim),
                   discount=jnp.full((t, n), 0.99), trace=jnp.where(rng.random((t, n)) < 0.1, 0.0, 0.99))


@pytest.mark.slow
def test_without_interaction_the_particles_are_independent_agents():
    """M = 3 particles with method 'independent' update exactly as three one-particle agents, each on its own
    environments' part of the rollout (env e belongs to particle e mod M)."""
    m = 3
    group = make_agent("wgf-indirect", tiny(method="independent", num_particles=m), 3, 2)
    single = make_agent("wgf-indirect", tiny(method="independent", num_particles=1), 3, 2)
    state = group.init(jax.random.key(0))
    ro = rollout(n=2 * m)
    new, _ = jax.jit(group.rollout_update)(state, ro, jax.random.key(1))
    for i in range(m):
        take = lambda x, i=i: x if x.ndim == 0 else x[i:i + 1]  # noqa: E731  (Adam's step count is shared)
        own = jax.tree.map(take, state)  # particle i as a one-particle state
        mine = jax.tree.map(lambda x, i=i: x[:, i::m], ro)
        alone, _ = jax.jit(single.rollout_update)(own, mine, jax.random.key(1))
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(jax.tree.map(take, new)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["independent", "blob"])
def test_observation_normalisation_makes_the_update_invariant_to_affine_changes_of_the_observations(method):
    """With observations standardised by the running moments, a first update on observations c * o + b
    (per coordinate, in obs and next_obs alike) is the update on o; without it, it is not. The moments are
    each particle's own (env e belongs to particle e mod M)."""
    m = 2
    ro = rollout(n=2 * m)
    c, b = jnp.array([10.0, 0.1, 3.0]), jnp.array([-5.0, 2.0, 40.0])
    moved = ro._replace(obs=ro.obs * c + b, next_obs=ro.next_obs * c + b)
    for normalise in (True, False):
        agent = make_agent("wgf-indirect", tiny(method=method, num_particles=m, normalize_observations=normalise), 3, 2)
        state = agent.init(jax.random.key(0))
        new, _ = jax.jit(agent.rollout_update)(state, ro, jax.random.key(1))
        new_moved, _ = jax.jit(agent.rollout_update)(state, moved, jax.random.key(1))
        close = [np.allclose(x, y, rtol=1e-3, atol=1e-6) for x, y in
                 zip(jax.tree.leaves((new.policy, new.value)), jax.tree.leaves((new_moved.policy, new_moved.value)),
                     strict=True)]
        assert all(close) if normalise else not all(close)
    for i in range(m):
        own = np.asarray(moved.obs[:, i::m]).reshape(-1, 3)
        np.testing.assert_allclose(new_moved.obs_moments.mean[i], own.mean(0), rtol=1e-5)
        np.testing.assert_allclose(new_moved.obs_moments.var[i], own.var(0), rtol=1e-4)
        assert float(new_moved.obs_moments.count[i]) == own.shape[0]


@pytest.mark.slow
def test_reward_scale_multiplies_the_rewards_of_the_update():
    ro = rollout(n=4)
    scaled = make_agent("wgf-indirect", tiny(num_particles=2, reward_scale=0.1), 3, 2)
    plain = make_agent("wgf-indirect", tiny(num_particles=2), 3, 2)
    state = plain.init(jax.random.key(0))
    a, _ = jax.jit(scaled.rollout_update)(state, ro, jax.random.key(1))
    b, _ = jax.jit(plain.rollout_update)(state, ro._replace(reward=0.1 * ro.reward), jax.random.key(1))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
    c, _ = jax.jit(plain.rollout_update)(state, ro, jax.random.key(1))
    assert not np.allclose(ravel(c.value), ravel(a.value))


def ravel(tree):
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["blob", "gfsd", "gfsf", "svgd"])
def test_interaction_pushes_close_particles_apart_and_independent_does_not(method):
    theta = jax.random.normal(jax.random.key(0), (2, 50))
    theta = theta.at[1].set(theta[0] + 0.05 * jax.random.normal(jax.random.key(1), (50,)))
    g = jnp.broadcast_to(jax.random.normal(jax.random.key(2), (50,)), (2, 50))  # the same gradient for both
    v, _ = posterior_velocity(theta, g, tiny(method=method, num_particles=2))
    assert float(jnp.dot(v[0] - v[1], theta[0] - theta[1])) > 0  # the pair separates
    v, s = posterior_velocity(theta, g, tiny(method="independent", num_particles=2))
    np.testing.assert_array_equal(v, s)
    np.testing.assert_allclose(v[0], v[1])


@pytest.mark.slow
@pytest.mark.parametrize("method, prior_std", [("svgd", 0.0), ("gfsf", 0.0), ("svgd", 1.0)])
def test_particles_reach_the_gaussian_posterior_of_a_quadratic_return(method, prior_std):
    """J(theta) = -|theta - theta*|^2 / 2 in 2-D, exact gradients: the posterior exp(J / alpha) prior is
    Gaussian, N(theta*, alpha I) with a flat prior and N(theta* s2 / (s2 + alpha), alpha s2 / (s2 + alpha) I)
    with the prior N(0, s2 I). 200 particles moved by the velocity reach its mean and variance."""
    alpha, target = 0.2, jnp.array([1.0, -0.5])
    cfg = tiny(method=method, alpha=alpha, prior_std=prior_std, num_particles=200)
    theta = 0.1 * jax.random.normal(jax.random.key(0), (200, 2))
    flow = jax.jit(lambda th: jax.lax.fori_loop(
        0, 2000, lambda _, t: t + 0.02 * posterior_velocity(t, -(t - target), cfg)[0], th))
    theta = np.asarray(flow(theta))
    shrink = 1.0 if prior_std == 0 else prior_std**2 / (prior_std**2 + alpha)
    np.testing.assert_allclose(theta.mean(0), shrink * np.asarray(target), atol=0.03)
    np.testing.assert_allclose(theta.var(0), alpha * shrink, rtol=0.15)


def small(**kw):
    base = dict(algo="wgf-indirect", total_steps=600, num_envs=4, learning_starts=0, update_every=10,
                buffer_size=200, batch_size=40, eval_every=200, eval_episodes=2, checkpoint_every=10_000,
                log_every=200, seed=1)
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg, agent_cfg = small(), tiny(num_particles=2)
    full = train(cfg, agent_cfg, tmp_path / "full", progress=False, tensorboard=False)
    part = train(cfg, agent_cfg, tmp_path / "part", progress=False, tensorboard=False, stop_at=320)
    assert not part["finished"]
    resumed = train(cfg, agent_cfg, tmp_path / "part", resume=True, progress=False, tensorboard=False)
    assert [e["mean_return"] for e in resumed["evaluations"]] == [e["mean_return"] for e in full["evaluations"]]
    assert len(full["evaluations"]) == 3


@pytest.mark.parametrize("bad, match", [
    (["--num-envs", "6"], "must be a multiple of --num-particles"),
    (["--learning-starts", "100"], "--learning-starts must be 0"),
    (["--buffer-size", "100"], "must hold one rollout"),
    (["--batch-size", "64"], "--batch-size does not apply to --algo wgf-indirect"),
    (["--utd", "1"], "--utd does not apply to --algo wgf-indirect"),
    (["--method", "nope"], "invalid choice"),
])
def test_bad_settings_one_line_exit_2(tmp_path, capsys, bad, match):
    argv = ["train", "--algo", "wgf-indirect", "--total-steps", "100", "--run-dir", str(tmp_path / "r"), *bad]
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_help_shows_the_algorithms_own_training_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--algo", "wgf-indirect", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--learning-starts INT uniform-random environment steps (frames) before updates start (default: 0)" in out
    assert "--update-every INT" in out and "(default: 5)" in out and "--num-envs INT" in out and "(default: 32)" in out


@pytest.mark.slow
def test_seeds_side_by_side_match_seeds_alone(tmp_path):
    """Two seeds in one group (vmapped) evaluate as each seed trained alone (same machine, float tolerance)."""
    from wrl.training.trainer import train_group

    cfg, agent_cfg = small(total_steps=400), tiny(num_particles=2)
    group = train_group(cfg, agent_cfg, tmp_path / "g", [1, 2], progress=False, tensorboard=False)
    alone = train(dataclasses.replace(cfg, seed=2), agent_cfg, tmp_path / "a", progress=False, tensorboard=False)
    assert group["finished"] and len(group["final_eval_return"]) == 2
    assert group["final_eval_return"][1] == pytest.approx(alone["final_eval_return"], rel=1e-4, abs=1e-3)

"""The WPPG agent: the projection's gradient, inner regression steps, both policy classes learn, presets, CLI."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.agents import config_class, make_agent, presets
from wrl.flows.velocity import VelocitySamples
from wrl.lab.cli import main
from wrl.projections.w2_regression import proximal_targets, w2_projection_loss
from wrl.replay import Batch


def tiny(**kw):
    kw = {"num_samples": 8, **kw}  # independent of the default K
    return dataclasses.replace(config_class("wppg")(), actor_hidden=(16,), critic_hidden=(16,), **kw)


def batch(n=64, obs_dim=3, act_dim=1, seed=0):
    rng = np.random.default_rng(seed)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Batch(f32(rng.normal(size=(n, obs_dim))), f32(rng.uniform(-1, 1, (n, act_dim))), f32(rng.normal(size=n)),
                 jnp.full(n, 0.9), f32(rng.normal(size=(n, obs_dim))))


@pytest.mark.slow
def test_one_regression_step_is_a_k_sample_dpg_step_scaled_by_2_eta():
    """At theta_k the projection gradient is -(2 / (K B)) (da/dtheta)^T (eta v + xi) (the displacement is zero)."""
    k, b, d, eta, tau = 5, 7, 2, 0.1, 0.3
    w = jax.random.normal(jax.random.key(0), (3, d))
    obs = jax.random.normal(jax.random.key(1), (b, 3))
    z = jax.random.normal(jax.random.key(2), (k, b, d))

    def g(theta, z_):
        return jnp.tanh(obs @ theta + 0.5 * z_)  # (K, B, D)

    a0 = g(w, z)
    v = jax.random.normal(jax.random.key(3), a0.shape)
    samples = VelocitySamples(actions=a0, q=jnp.zeros((k, b)), dq_da=v)
    targets = proximal_targets(jax.random.key(4), samples, eta, tau)
    xi = targets - a0 - eta * v
    # the heat step's noise has the predicted scale sqrt(2 tau eta) (and is not zero)
    assert float(jnp.std(xi)) == pytest.approx(np.sqrt(2 * tau * eta), rel=0.3)
    grad = jax.grad(lambda th: w2_projection_loss(g(th, z), targets))(w)
    _, vjp = jax.vjp(lambda th: g(th, z), w)
    expected = vjp(-(2.0 / (k * b)) * (eta * v + xi))[0]
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def run(cfg, steps, b, obs_dim=3, act_dim=1):
    agent = make_agent("wppg", cfg, obs_dim, act_dim)
    state = agent.init(jax.random.key(0))
    update = jax.jit(agent.update)
    metrics = None
    for i in range(steps):
        state, metrics = update(state, b, jax.random.key(i))
    return agent, state, metrics


@pytest.mark.slow
def test_inner_regression_steps_move_the_policy_towards_the_proximal_targets():
    """Twenty regression steps on the same targets reduce the residual |g(s, z) - b|^2 well below what one step
    does, towards the class's projection floor, and move the policy far more (eta then sets the step's size)."""
    b = batch()
    cfg = tiny(eta=0.05, actor_lr=1e-3, entropy_tau=0.0)
    _, _, two = run(dataclasses.replace(cfg, inner_steps=2), 1, b)  # losses: before, after one step
    _, _, many = run(dataclasses.replace(cfg, inner_steps=20), 1, b)
    first = float(two["losses/projection_loss"])
    assert first == pytest.approx(float(many["losses/projection_loss"]), rel=1e-6)
    after_one, after_many = float(two["losses/projection_loss_last"]), float(many["losses/projection_loss_last"])
    assert after_many < 0.6 * first and after_many < 0.75 * after_one, (first, after_one, after_many)
    assert float(many["policy/w2_sq_move"]) > 2 * float(two["policy/w2_sq_move"])


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["gaussian", "implicit"])
def test_policy_climbs_a_learned_linear_critic(policy):
    """Terminal transitions with reward r = a: the critic learns Q ~ a and WPPG moves every action upwards."""
    cfg = tiny(policy=policy, actor_lr=1e-3, entropy_tau=0.0)
    b = batch(64)
    b = b._replace(reward=b.action[:, 0], discount=jnp.zeros(64))  # terminal: the target is r = a
    agent, _, first = run(cfg, 1, b)
    act = jax.jit(lambda s, o: agent.act(s, o, jax.random.key(0), deterministic=True))
    before = float(jnp.mean(act(agent.init(jax.random.key(0)), b.obs)))
    _, state, m = run(cfg, 300, b)
    after = float(jnp.mean(act(state, b.obs)))
    assert after > before + 0.3 and after > 0.5, (before, after)
    assert float(m["losses/critic_loss"]) < 0.35 * float(first["losses/critic_loss"])


@pytest.mark.slow
def test_implicit_policy_noise_size_and_entropy_bonus():
    cfg = tiny(policy="implicit", entropy_tau=0.5)
    agent = make_agent("wppg", cfg, 7, 2)
    state = agent.init(jax.random.key(0))
    assert state.actor["params"]["Dense_0"]["kernel"].shape[0] == 7 + 2  # m = round(7 / 3) = 2
    a = agent.act(state, jnp.ones((128, 7)), jax.random.key(1), False)
    assert a.shape == (128, 2) and float(jnp.max(jnp.abs(a))) < 1.0
    b = batch(64, 7, 2)
    _, _, m_bonus = run(cfg, 1, b, 7, 2)
    _, _, m_plain = run(dataclasses.replace(cfg, entropy_tau=0.0), 1, b, 7, 2)
    assert np.isfinite(float(m_bonus["policy/entropy"])) and float(m_plain["policy/entropy"]) == 0.0


def test_published_preset_and_explicit_options_win(tmp_path):
    published = presets("wppg")["published"]
    assert published.agent["num_samples"] == 32 and published.agent["eta"] == 0.1
    from wrl.lab.cli import configs_from_argv

    cfg, agent_cfg = configs_from_argv(["--algo", "wppg", "--preset", "published", "--eta", "0.2"])
    assert agent_cfg.num_samples == 32 and agent_cfg.eta == 0.2 and cfg.batch_size == 256


def test_train_help_lists_the_chosen_algorithm_only(capsys):
    for algo, own, foreign in (("wppg", "--eta", "--box-pull"), ("wpo", "--box-pull", "--eta"),
                               ("sac", "--alpha-lr", "--target-noise")):
        with pytest.raises(SystemExit):
            main(["train", "--algo", algo, "--help"])
        out = capsys.readouterr().out
        assert own in out and foreign not in out, algo

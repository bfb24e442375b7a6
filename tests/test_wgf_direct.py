"""The direct particle method (wgf-direct): its stationary law on a known target, learning, CLI."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wrl.agents import config_class, make_agent
from wrl.agents.samplers import make_sampler
from wrl.agents.wgf_direct import direct_policy_step
from wrl.lab.cli import main
from wrl.replay import Batch


def tiny(**kw):
    return dataclasses.replace(config_class("wgf-direct")(), actor_hidden=(16,), critic_hidden=(16,), **kw)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["svgd", "gfsf", "blob"])
def test_amortised_flow_reaches_the_target_exp_q_over_alpha(method):
    """One state, Q(a) = -c (a - a*)^2 / 2: the target exp(Q / alpha) is N(a*, alpha / c). A tanh-Gaussian
    sampler trained by the direct method's policy step alone (64 particles per step, fixed bandwidth) ends
    with samples of that mean and standard deviation (0.3 and 0.1 here), from a start at N(0, ~1)."""
    a_star, c, alpha = 0.3, 10.0, 0.1
    cfg = tiny(method=method, alpha=alpha, bandwidth=0.005, policy="gaussian")
    sampler = make_sampler("gaussian", (8,), 1, 1)
    params = sampler.init(jax.random.key(0))
    tx = optax.adam(3e-3)
    obs = jnp.zeros((1, 1))
    q_fn = lambda _obs, a: -0.5 * c * jnp.sum((a - a_star) ** 2, axis=-1)  # noqa: E731

    @jax.jit
    def train(params):
        def step(carry, key):
            p, st = carry
            p, st, *_ = direct_policy_step(sampler, tx, p, st, q_fn, obs, sampler.noise(key, 64, 1), cfg)
            return (p, st), None

        (p, _), _ = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(jax.random.key(1), 1500))
        return p

    a = np.asarray(sampler.apply(train(params), obs, sampler.noise(jax.random.key(2), 4000, 1)))[:, 0, 0]
    assert a.mean() == pytest.approx(a_star, abs=0.02)
    assert a.std() == pytest.approx(np.sqrt(alpha / c), rel=0.2), a.std()


def batch(n=64, obs_dim=3, act_dim=1, seed=0):
    rng = np.random.default_rng(seed)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Batch(f32(rng.normal(size=(n, obs_dim))), f32(rng.uniform(-1, 1, (n, act_dim))), f32(rng.normal(size=n)),
                 jnp.full(n, 0.9), f32(rng.normal(size=(n, obs_dim))))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["blob", "svgd"])
def test_policy_climbs_a_learned_linear_critic(method):
    """Terminal transitions with reward r = a: the soft critic learns Q ~ a and the sampler moves upwards."""
    cfg = tiny(method=method, actor_lr=1e-3, num_samples=4)
    b = batch()
    b = b._replace(reward=b.action[:, 0], discount=jnp.zeros(64))
    agent = make_agent("wgf-direct", cfg, 3, 1)
    state = agent.init(jax.random.key(0))
    act = jax.jit(lambda s, o: agent.act(s, o, jax.random.key(0), deterministic=True))
    before = float(jnp.mean(act(state, b.obs)))
    update = jax.jit(agent.update)
    state, first = update(state, b, jax.random.key(0))
    for i in range(1, 300):
        state, m = update(state, b, jax.random.key(i))
    after = float(jnp.mean(act(state, b.obs)))
    assert after > before + 0.3 and after > 0.5, (before, after)
    assert float(m["losses/critic_loss"]) < 0.35 * float(first["losses/critic_loss"])
    assert np.isfinite(float(m["policy/entropy"])) and float(m["policy/repulsion_norm"]) > 0


@pytest.mark.parametrize("bad, match", [(["--method", "langevin"], "invalid choice: 'langevin'"),
                                        (["--num-samples", "1"], "--num-samples must be >= 2"),
                                        (["--alpha", "0"], "--alpha must be > 0")])
def test_bad_options_one_line_exit_2(tmp_path, capsys, bad, match):
    argv = ["train", "--algo", "wgf-direct", "--total-steps", "10", "--run-dir", str(tmp_path / "r"), *bad]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own rejections
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()

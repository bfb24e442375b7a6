"""The shared core: critic member reductions, the bootstrap value, target updates, KL dual dtypes, variants."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wrl.critics import CriticConfig, make_critic, polyak, target_update
from wrl.errors import ConfigError
from wrl.flows.velocity import action_value_gradients
from wrl.lab.bench.common import parse_variant
from wrl.networks import QNetwork, ensemble_apply
from wrl.projections.kl import KLConfig, init_kl_duals, kl_weights

QNET = QNetwork((8,))
CRITIC = make_critic(CriticConfig(critic_hidden=(8,), num_critics=3), optax.adam)
B, O, D = 5, 3, 2


@pytest.fixture(scope="module")
def critic():
    params = CRITIC.init(jax.random.key(0), O, D)
    obs = jax.random.normal(jax.random.key(1), (B, O))
    actions = jax.random.normal(jax.random.key(2), (4, B, D))
    # the members one by one, through a scalar QNetwork on the same parameters
    members = jax.vmap(lambda a: ensemble_apply(QNET, params, obs, a))(actions)  # (N, members, B)
    return params, obs, actions, np.asarray(members)


@pytest.mark.slow
def test_member_reductions_and_their_action_gradients(critic):
    params, obs, actions, members = critic
    expected = {"first": members[:, 0], "mean": members.mean(1), "min": members.min(1)}
    for reduction, want in expected.items():
        q_fn = CRITIC.q_fn(params, reduction)
        q, _ = action_value_gradients(q_fn, obs, actions)
        np.testing.assert_allclose(q, want, rtol=1e-6)
        with jax.enable_x64(True):  # central differences in float64, small enough not to cross a ReLU kink
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            q64 = CRITIC.q_fn(p64, reduction)
            o64, a64 = jnp.asarray(obs, jnp.float64), jnp.asarray(actions, jnp.float64)
            _, dq_da = action_value_gradients(q64, o64, a64)
            h = 1e-6
            for d in range(D):
                e = jnp.zeros(D, jnp.float64).at[d].set(h)
                fd = (jax.vmap(q64, (None, 0))(o64, a64 + e) - jax.vmap(q64, (None, 0))(o64, a64 - e)) / (2 * h)
                np.testing.assert_allclose(dq_da[..., d], fd, rtol=1e-6, atol=1e-8)
    with pytest.raises(ConfigError):
        CRITIC.q_fn(params, "max")


def test_bootstrap_value_is_the_sample_reduction_of_the_ensemble_min(critic):
    params, obs, actions, members = critic
    next_atoms = CRITIC.next_atoms  # (B, 1) atoms of the mse head: V(s') itself
    np.testing.assert_allclose(next_atoms(params, obs, actions, "mean")[:, 0], members.min(1).mean(0), rtol=1e-6)
    np.testing.assert_allclose(next_atoms(params, obs, actions, "max")[:, 0], members.min(1).max(0), rtol=1e-6)
    np.testing.assert_allclose(next_atoms(params, obs, actions[0])[:, 0], members[0].min(0), rtol=1e-6)


def test_target_updates():
    target, online = {"w": jnp.zeros(3)}, {"w": jnp.ones(3)}
    np.testing.assert_allclose(polyak(target, online, 0.1)["w"], 0.1)
    assert float(target_update(target, online, jnp.int32(4), "periodic", 0.25, 4)["w"][0]) == 1.0
    assert float(target_update(target, online, jnp.int32(5), "periodic", 0.25, 4)["w"][0]) == 0.0
    np.testing.assert_allclose(target_update(target, online, jnp.int32(5), "polyak", 0.25, 4)["w"], 0.25)
    assert float(target_update(target, online, jnp.int32(8), "periodic", 0.25, 4)["w"][0]) == 1.0


def test_periodic_target_copy_on_random_trees():
    """Periodic mode copies the online tree exactly when step % period == 0 and keeps the target otherwise, for
    a traced step under jit, under vmap over seeds and inside a scan (the agents' update loop)."""
    rng = np.random.default_rng(0)
    shapes = {"a": (3, 4), "b": {"c": (5,), "d": (2, 2, 2)}}

    def tree():
        return jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s), jnp.float32), shapes,
                            is_leaf=lambda x: isinstance(x, tuple))

    target, online = tree(), tree()
    update = jax.jit(lambda t, o, k: target_update(t, o, k, "periodic", 0.25, 3))
    for step in range(7):
        want = online if step % 3 == 0 else target
        jax.tree.map(np.testing.assert_array_equal, update(target, online, jnp.int32(step)), want)
    seeds = jax.tree.map(lambda x: jnp.stack([x, x + 1.0]), (target, online))
    batched = jax.vmap(update, in_axes=(0, 0, None))(*seeds, jnp.int32(6))
    jax.tree.map(np.testing.assert_array_equal, batched, seeds[1])

    def scan_step(t, k):
        return update(t, jax.tree.map(lambda x: x + k.astype(x.dtype), online), k), None

    final, _ = jax.lax.scan(scan_step, target, jnp.arange(1, 8))  # last copy at step 6
    jax.tree.map(lambda f, o: np.testing.assert_array_equal(f, o + 6.0), final, online)


def test_kl_multipliers_follow_the_default_float():
    cfg = KLConfig(kl_alpha_mean=0.3, kl_alpha_std=123.0)
    assert init_kl_duals(cfg, 2).raw_alpha_mean.dtype == jnp.float32
    with jax.enable_x64(True):
        duals = init_kl_duals(cfg, 2)
        assert duals.raw_alpha_mean.dtype == jnp.float64 and duals.raw_alpha_std.dtype == jnp.float64
        alpha_mean, alpha_std = kl_weights(duals)
        np.testing.assert_allclose(alpha_mean, 0.3, rtol=1e-12)
        np.testing.assert_allclose(alpha_std, 123.0, rtol=1e-12)


def test_benchmark_variants():
    assert parse_variant("sac") == ("sac", "sac", [])
    assert parse_variant("wppg-i=wppg --policy implicit") == ("wppg-i", "wppg", ["--policy", "implicit"])
    with pytest.raises(ConfigError):
        parse_variant("  ")


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "wpo"])
def test_flat_optimizer_takes_the_same_steps(algo):
    """Adam on one flattened vector (and WPO's global-norm clip over it) equals the per-leaf optimizer."""
    import dataclasses

    from wrl.agents import config_class, make_agent
    from wrl.replay import Batch

    rng = np.random.default_rng(0)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    b = Batch(f32(rng.normal(size=(32, 3))), f32(rng.uniform(-1, 1, (32, 1))), f32(rng.normal(size=32)),
              jnp.full(32, 0.9), f32(rng.normal(size=(32, 3))))
    states = []
    for flat in (False, True):
        cfg = dataclasses.replace(config_class(algo)(), actor_hidden=(16,), critic_hidden=(16,), flat_optimizer=flat)
        if algo == "wpo":
            cfg = dataclasses.replace(cfg, grad_clip=0.5)  # the clip is active
        agent = make_agent(algo, cfg, 3, 1)
        state, update = agent.init(jax.random.key(0)), jax.jit(agent.update)
        for i in range(5):
            state, _ = update(state, b, jax.random.key(i))
        states.append(state)
    for a, c in zip(jax.tree.leaves(states[0].actor) + jax.tree.leaves(states[0].critic),
                    jax.tree.leaves(states[1].actor) + jax.tree.leaves(states[1].critic), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-4, atol=1e-6)
    moved = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(states[1].actor), jax.tree.leaves(
        make_agent(algo, dataclasses.replace(config_class(algo)(), actor_hidden=(16,), critic_hidden=(16,)), 3,
                   1).init(jax.random.key(0)).actor), strict=True))
    assert moved > 1e-4  # the comparison is not between two unmoved initialisations

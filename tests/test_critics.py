"""The critic component (wrl.critics.Critic): TD loss and bootstrap of each head, CrossQ's joint pass, every
critic with every agent, and exact resume of every critic's state."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wrl.agents import config_class, make_agent
from wrl.critics import CriticConfig, make_critic
from wrl.critics.critic import ARCHITECTURES
from wrl.replay import Batch
from wrl.training.config import TrainConfig
from wrl.training.trainer import agent_config_from, train

O, D, B = 3, 2, 16
# small settings of each architecture (residual critics: 2 blocks of 16); CrossQ's r/d corrections open after 2
SMALL = {"critic_hidden": (16, 16), "renorm_warmup": 2, "critic_bins": 11, "critic_quantiles": 5}


def batch(key=0, b=B) -> Batch:
    k = jax.random.split(jax.random.key(key), 5)
    return Batch(obs=jax.random.normal(k[0], (b, O)), action=jax.random.uniform(k[1], (b, D), minval=-1, maxval=1),
                 reward=jax.random.normal(k[2], (b,)), next_obs=jax.random.normal(k[3], (b, O)),
                 discount=0.99 * (jax.random.uniform(k[4], (b,)) > 0.1))


def test_mse_update_is_the_td_step_on_the_target_ensemble_min():
    """loss = sum_i mean_b (Q_i(s, a) - y)^2 / 2, y = r + discount (mean_n min_i Q'_i(s', a'_n) + bonus), and the
    new parameters are one Adam step on it."""
    critic = make_critic(CriticConfig(critic_hidden=(8,), num_critics=2), optax.sgd)
    params, target = critic.init(jax.random.key(0), O, D), critic.init(jax.random.key(1), O, D)
    bt, next_a = batch(), jax.random.uniform(jax.random.key(2), (3, B, D), minval=-1, maxval=1)
    bonus = jnp.linspace(-1, 1, B)
    new, _, loss, q = critic.update(params, critic.init_opt(params), bt, next_a, target, bonus)

    def q_all(p, obs, a):  # (members, B)
        return jax.vmap(lambda v: critic.net.apply(v, obs, a)[..., 0])(p)

    v_next = jax.vmap(lambda a: q_all(target, bt.next_obs, a).min(0))(next_a).mean(0)
    y = bt.reward + bt.discount * (v_next + bonus)

    def ref_loss(p):
        return 0.5 * jnp.sum(jnp.mean((q_all(p, bt.obs, bt.action) - y) ** 2, axis=1))

    np.testing.assert_allclose(loss, ref_loss(params), rtol=1e-6)
    np.testing.assert_allclose(q, q_all(params, bt.obs, bt.action), rtol=1e-6)
    grads = jax.grad(ref_loss)(params)  # optax.sgd(lr) is p - lr g
    want = jax.tree.map(lambda p, g: p - 3e-4 * g, params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), new, want)


def test_crossq_reads_its_target_from_the_joint_training_pass():
    """CrossQ: no target network; (s, a) and (s', a') go through one training-mode pass, so the running statistics
    of the input Batch Renormalization move towards the mean of *all* 2B input rows, and the loss bootstraps from
    the (s', a') rows of that same pass."""
    cfg = CriticConfig(critic="crossq", critic_hidden=(8,), num_critics=2, renorm_momentum=0.9)
    critic = make_critic(cfg, optax.sgd)
    assert critic.joint and not critic.has_target
    params = critic.init(jax.random.key(0), O, D)
    bt, next_a = batch(), jax.random.uniform(jax.random.key(2), (B, D), minval=-1, maxval=1)
    new, _, loss, _ = critic.update(params, critic.init_opt(params), bt, next_a)
    rows = jnp.concatenate([jnp.concatenate([bt.obs, bt.action], -1), jnp.concatenate([bt.next_obs, next_a], -1)])
    stats = jax.tree.leaves_with_path(new["batch_stats"])
    first_mean = [x for path, x in stats if "BatchRenorm_0" in jax.tree_util.keystr(path)
                  and jax.tree_util.keystr(path).endswith("['mean']")]
    old_mean = [x for path, x in jax.tree.leaves_with_path(params["batch_stats"])
                if "BatchRenorm_0" in jax.tree_util.keystr(path) and jax.tree_util.keystr(path).endswith("['mean']")]
    assert len(first_mean) == 1
    np.testing.assert_allclose(first_mean[0], 0.9 * old_mean[0] + 0.1 * rows.mean(0)[None], rtol=1e-5, atol=1e-6)

    def joint(p):
        out, _ = jax.vmap(lambda v: critic.net.apply(v, rows[:, :O], rows[:, O:], train=True,
                                                     mutable=["batch_stats"]))(p)
        return out[..., 0]  # (members, 2B)

    out = joint(params)
    y = bt.reward + bt.discount * out[:, B:].min(0)
    np.testing.assert_allclose(loss, 0.5 * jnp.sum(jnp.mean((out[:, :B] - y) ** 2, axis=1)), rtol=1e-5)


def _tiny(algo: str, critic: str):
    extra = {"simbav2": {"critic_loss": "hl_gauss"}, "bro": {"critic_loss": "quantile"}}.get(critic, {})
    fields = {f.name for f in dataclasses.fields(config_class(algo))}
    small = {**SMALL, **extra, "actor_hidden": (16, 16), "critic": critic}
    if "num_samples" in fields:
        small["num_samples"] = 4 if algo == "wgf-direct" else 2  # wgf-direct: M action particles per state
    return agent_config_from(algo, small)


def _critic_updates(algo: str, critic: str, steps: int = 3):
    cfg = _tiny(algo, critic)
    agent = make_agent(algo, cfg, O, D)
    state = agent.init(jax.random.key(0))
    update = jax.jit(agent.update)
    start = state
    for i in range(steps):
        state, metrics = update(state, batch(i), jax.random.key(10 + i))
    return start, state, metrics


# every critic under SAC (fast); under the other agents the three whose paths differ most from the MLP's: CrossQ's
# joint pass without a target network, the categorical head (SimbaV2) and the quantile atoms (BRO)
COMBINATIONS = [("sac", c) for c in ARCHITECTURES] + [
    pytest.param(a, c, marks=pytest.mark.slow) for a in ("td3", "wpo", "wppg", "wgf-direct")
    for c in ("crossq", "simbav2", "bro")]


@pytest.mark.parametrize(("algo", "critic"), COMBINATIONS)
def test_every_critic_trains_under_every_agent(algo, critic):
    start, state, metrics = _critic_updates(algo, critic)
    assert all(np.isfinite(v) for v in jax.tree.leaves(metrics) if not np.isnan(v)), metrics
    assert not np.isnan(metrics["losses/critic_loss"])
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), start.critic["params"], state.critic["params"])
    assert all(jax.tree.leaves(moved)), "every critic parameter moves"
    if critic == "crossq":
        assert state.target_critic is None
        changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), start.critic["batch_stats"],
                               state.critic["batch_stats"])
        assert all(jax.tree.leaves(changed)), "the training pass updates every batch statistic"


@pytest.mark.slow
@pytest.mark.parametrize("critic", ARCHITECTURES)
def test_a_checkpoint_of_every_critic_resumes_exactly(tmp_path, critic):
    cfg = TrainConfig(algo="sac", total_steps=400, learning_starts=100, eval_every=200, eval_episodes=1,
                      checkpoint_every=10_000, log_every=100, buffer_size=1_000, batch_size=32, seed=1)
    acfg = _tiny("sac", critic)
    train(cfg, acfg, tmp_path / "full", progress=False, tensorboard=False)
    train(cfg, acfg, tmp_path / "part", progress=False, tensorboard=False, stop_at=250)
    train(cfg, acfg, tmp_path / "part", resume=True, progress=False, tensorboard=False)
    with np.load(tmp_path / "full" / "checkpoint.npz") as full, np.load(tmp_path / "part" / "checkpoint.npz") as part:
        assert set(full.files) == set(part.files)
        assert any("batch_stats" in k for k in full.files) == (critic == "crossq")
        for k in set(full.files) - {"__meta__"}:  # the meta data holds the wall clock
            np.testing.assert_array_equal(full[k], part[k], err_msg=k)


def test_a_recorded_critic_layer_norm_reads_as_today_s_critic():
    """Configs recorded before --critic hold critic_layer_norm: True reads as layernorm, False as mlp, a record
    without it takes the agent's default (SAC's mlp, WPO's layernorm, their defaults then); WPO's own upgrade of
    its action box applies on top."""
    from wrl.config import from_dict, to_dict
    from wrl.errors import ConfigError

    sac, wpo = config_class("sac"), config_class("wpo")
    old = {k: v for k, v in to_dict(sac()).items() if k != "critic"}
    assert from_dict(sac, {**old, "critic_layer_norm": True}).critic == "layernorm"
    assert from_dict(sac, {**old, "critic_layer_norm": False}).critic == "mlp"
    assert from_dict(sac, old).critic == "mlp"
    old_wpo = {k: v for k, v in to_dict(wpo()).items() if k not in ("critic", "action_box")}
    got = from_dict(wpo, {**old_wpo, "critic_layer_norm": False, "off_box": "executed"})
    assert (got.critic, got.action_box) == ("mlp", "executed-velocity")
    assert from_dict(wpo, old_wpo).critic == "layernorm"
    with pytest.raises(ConfigError):
        from_dict(sac, {**old, "critic": "mlp", "critic_layer_norm": True})

"""One-update behaviour of the SAC and TD3 baselines through ``make_agent``: the TD target, critic learning,
policy improvement, target networks (Polyak rate, TD3's policy delay) and SAC's temperature."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.agents import config_class, make_agent
from wrl.networks import QNetwork, ensemble_apply
from wrl.replay import Batch

OBS_DIM, ACT_DIM, N = 3, 1, 128
ALGOS = ["sac", "td3"]


def tiny(algo, **kw):
    """Small networks and fast learning rates (TD3 updates its actor every step unless told otherwise)."""
    kw = {"actor_lr": 1e-3, "critic_lr": 3e-3, **({"policy_delay": 1} if algo == "td3" else {}), **kw}
    return dataclasses.replace(config_class(algo)(), actor_hidden=(32, 32), critic_hidden=(32, 32), **kw)


def polyak_rate(algo) -> float:
    """The default Polyak rate of the target networks, whatever the field is called (``tau`` or ``target_tau``)."""
    cfg = config_class(algo)()
    names = [f.name for f in dataclasses.fields(cfg) if f.name in ("tau", "target_tau")]
    assert len(names) == 1, names
    return float(getattr(cfg, names[0]))


def terminal_batch(n=N, seed=0, reward_fn=None, obs_scale=1.0):
    """Transitions that end the episode (discount 0), so the TD target is exactly the reward."""
    rng = np.random.default_rng(seed)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    action = f32(rng.uniform(-1, 1, (n, ACT_DIM)))
    reward = f32(rng.normal(size=n)) if reward_fn is None else reward_fn(action)
    return Batch(f32(obs_scale * rng.normal(size=(n, OBS_DIM))), action, f32(reward), jnp.zeros(n, jnp.float32),
                 f32(obs_scale * rng.normal(size=(n, OBS_DIM))))


@functools.cache
def _q_fn(hidden):
    return jax.jit(lambda critic, obs, action: ensemble_apply(QNetwork(hidden), critic, obs, action))


def q_values(cfg, critic, obs, action):
    """Q_i(s, a) of every critic member (members, B), recomputed outside the agent from its critic parameters
    (an ensemble of ``wrl.networks.QNetwork``; the first test checks this against the agent's q_mean)."""
    return _q_fn(cfg.critic_hidden)(critic, obs, action)


# parameter arithmetic in numpy (float64), not in eager JAX, which would compile a kernel per shape
def tree_max_abs(tree) -> float:
    return max(float(np.max(np.abs(x))) for x in jax.tree.leaves(tree))


def tree_diff(a, b):
    return jax.tree.map(lambda x, y: np.asarray(x, np.float64) - np.asarray(y, np.float64), a, b)


@functools.cache
def _compiled(algo, cfg):
    agent = make_agent(algo, cfg, OBS_DIM, ACT_DIM)
    return agent, jax.jit(agent.update)  # one compilation per config, shared by the tests (batches are all N)


def setup(algo, **kw):
    """(config, agent, initial state, jitted update)."""
    cfg = tiny(algo, **kw)
    agent, update = _compiled(algo, cfg)
    return cfg, agent, agent.init(jax.random.key(0)), update


def quadratic_reward(a, scale=1.0):
    return (-scale * np.sum((np.asarray(a, np.float64) - 0.5) ** 2, axis=-1)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_critic_loss_at_discount_zero_is_the_squared_error_to_the_reward(algo):
    """At discount 0 the target is r: the reported loss is sum_i mean_b (Q_i - r)^2 / 2 of the critic before the
    step, the step lowers it, and neither the target critic nor s' can change the new critic."""
    cfg, _, state, update = setup(algo)
    b = terminal_batch()
    q = np.asarray(q_values(cfg, state.critic, b.obs, b.action), np.float64)
    r = np.asarray(b.reward, np.float64)
    assert q.ndim == 2 and q.shape[1] == N
    hand = 0.5 * np.sum(np.mean((q - r) ** 2, axis=1))
    new, m = update(state, b, jax.random.key(1))
    assert float(m["losses/q_mean"]) == pytest.approx(np.mean(q), rel=1e-5, abs=1e-6)
    assert float(m["losses/critic_loss"]) == pytest.approx(hand, rel=1e-5)
    q_new = np.asarray(q_values(cfg, new.critic, b.obs, b.action), np.float64)
    assert 0.5 * np.sum(np.mean((q_new - r) ** 2, axis=1)) < hand

    # the bootstrap is multiplied by 0: another target critic and other next observations give the same critic
    noisy_target = jax.tree.map(lambda x: jnp.asarray(np.asarray(x) + 0.5, jnp.float32), state.target_critic)
    other = dataclasses.replace(state, target_critic=noisy_target)
    b_other = b._replace(next_obs=np.asarray(b.next_obs) + np.float32(3.0))
    new_other, _ = update(other, b_other, jax.random.key(1))
    assert tree_max_abs(tree_diff(new_other.critic, new.critic)) == 0.0
    # ... whereas with discount > 0 they do matter (so the comparison above can fail)
    boot, _ = update(other, b_other._replace(discount=np.full(N, 0.9, np.float32)), jax.random.key(1))
    assert tree_max_abs(tree_diff(boot.critic, new.critic)) > 0.0


@pytest.mark.parametrize("algo", ALGOS)
def test_critic_learns_the_reward_of_terminal_transitions(algo):
    """r = f(a), every transition terminal: the TD loss falls by orders of magnitude and Q(s, a) ~ r."""
    cfg, _, state, update = setup(algo)
    b = terminal_batch(reward_fn=quadratic_reward)
    losses = []
    for i in range(300):
        state, m = update(state, b, jax.random.key(i))
        losses.append(float(m["losses/critic_loss"]))
    assert losses[-1] < 0.01 * losses[0]
    q = np.asarray(q_values(cfg, state.critic, b.obs, b.action))
    r = np.asarray(b.reward)
    assert np.max(np.mean(np.abs(q - r), axis=1)) < 0.1 * np.std(r)  # every member


@pytest.mark.parametrize("algo,scale", [("sac", 10.0), ("td3", 1.0)])
def test_actor_moves_to_the_critics_maximiser(algo, scale):
    """r = -scale (a - 0.5)^2 on terminal transitions from nearly one state: the deterministic action goes from
    ~0 to ~0.5. (SAC's reward is scaled so that it, not the entropy bonus at alpha ~ 1, sets the optimum.)"""
    _, agent, state, update = setup(algo)
    b = terminal_batch(obs_scale=0.1)
    act = jax.jit(lambda s, o: agent.act(s, o, jax.random.key(0), True))
    assert np.mean(np.abs(np.asarray(act(state, b.obs)) - 0.5)) > 0.3
    rng = np.random.default_rng(1)
    for i in range(400):
        # fresh actions each update, so the critic sees the whole action range
        a = jnp.asarray(rng.uniform(-1, 1, b.action.shape), jnp.float32)
        state, _ = update(state, b._replace(action=a, reward=quadratic_reward(a, scale)), jax.random.key(i))
    assert np.mean(np.abs(np.asarray(act(state, b.obs)) - 0.5)) < 0.1


@pytest.mark.parametrize("algo", ALGOS)
def test_target_critic_moves_by_the_polyak_rate(algo):
    """After one update, target_new - target_old = rate (online_new - target_old) for the default rate; TD3 with
    policy_delay 1 moves its target actor the same way."""
    rate = polyak_rate(algo)
    assert 0 < rate < 1
    _, _, state, update = setup(algo)
    # targets away from the online networks, so the Polyak step is large against float32 rounding
    rng = np.random.default_rng(5)
    shift = lambda t: jax.tree.map(  # noqa: E731
        lambda x: jnp.asarray(np.asarray(x) + 0.1 * rng.standard_normal(x.shape), jnp.float32), t)
    state = dataclasses.replace(state, target_critic=shift(state.target_critic))
    pairs = [("critic", "target_critic")]
    if algo == "td3":
        state = dataclasses.replace(state, target_actor=shift(state.target_actor))
        pairs.append(("actor", "target_actor"))
    new, _ = update(state, terminal_batch()._replace(discount=np.full(N, 0.9, np.float32)), jax.random.key(1))
    for online, target in pairs:
        moved = tree_diff(getattr(new, target), getattr(state, target))
        expected = jax.tree.map(lambda d: rate * d, tree_diff(getattr(new, online), getattr(state, target)))
        assert tree_max_abs(expected) > 1e-4
        assert tree_max_abs(tree_diff(moved, expected)) < 1e-3 * tree_max_abs(expected), (online, target)
        # the least-squares rate over all parameters is the configured one
        gap = jax.tree.leaves(tree_diff(getattr(new, online), getattr(state, target)))
        num = sum(float(np.vdot(m, g)) for m, g in zip(jax.tree.leaves(moved), gap, strict=True))
        assert num / sum(float(np.vdot(g, g)) for g in gap) == pytest.approx(rate, rel=1e-3)


def test_td3_actor_and_targets_change_only_every_policy_delay_updates():
    delay = 3
    _, _, state, update = setup("td3", policy_delay=delay)
    b = terminal_batch()._replace(discount=np.full(N, 0.9, np.float32))
    changed = []
    for i in range(1, 2 * delay + 1):
        new, m = update(state, b, jax.random.key(i))
        changed.append({name: tree_max_abs(tree_diff(getattr(new, name), getattr(state, name))) > 0
                        for name in ("critic", "actor", "target_actor", "target_critic")})
        assert np.isnan(float(m["losses/actor_loss"])) == (i % delay != 0)
        state = new
    assert all(c["critic"] for c in changed)  # the critic learns every update
    for name in ("actor", "target_actor", "target_critic"):
        assert [c[name] for c in changed] == [i % delay == 0 for i in range(1, 2 * delay + 1)], name


@pytest.mark.parametrize("obs_scale,direction", [(0.01, -1), (300.0, 1)])
def test_sac_temperature_follows_the_entropy_gap(obs_scale, direction):
    """alpha falls while the policy entropy is above the target (-|A|) and rises while it is below. Near-zero
    observations give the initial policy its unsquashed entropy (mean ~0, std e^-1.5: H ~ -0.1); huge ones
    saturate the tanh squash, which drives the entropy of a = tanh(u) far below the target."""
    _, _, state, update = setup("sac")
    b = terminal_batch(obs_scale=obs_scale)
    log_alpha = [float(state.log_alpha)]
    for i in range(5):
        state, m = update(state, b, jax.random.key(i))
        log_alpha.append(float(state.log_alpha))
        entropy = float(m["losses/entropy"])
        # the premise: entropy clearly on one side of the target entropy -ACT_DIM
        assert (entropy > -0.5 * ACT_DIM) if direction < 0 else (entropy < -2.0 * ACT_DIM), entropy
    steps = np.diff(log_alpha)
    assert np.all(direction * steps > 0), log_alpha
    assert float(m["losses/alpha"]) == pytest.approx(np.exp(log_alpha[-2]), rel=1e-5)

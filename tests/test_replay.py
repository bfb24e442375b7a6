"""n-step returns from the device ring buffer against a plain-Python reference."""

import jax
import numpy as np
import pytest

from wrl.replay import replay_add, replay_init, replay_sample


def reference_nstep(rows, i, n, gamma, num_envs, newest):
    """Loop over the successors of row i written by the same env (rows: list of dicts, ring order)."""
    cap = len(rows)
    ret, disc, j = 0.0, 1.0, i
    for k in range(n):
        j = (i + k * num_envs) % cap
        ret += disc * rows[j]["reward"]
        disc *= gamma
        if rows[j]["terminated"] or rows[j]["truncated"] or j == newest[i % num_envs]:
            break
    return ret, disc * (1.0 - rows[j]["terminated"]), rows[j]["next_obs"]


@pytest.mark.slow
@pytest.mark.parametrize("num_envs,capacity,steps", [(1, 64, 40), (1, 16, 45), (3, 24, 20)])
def test_nstep_matches_reference(num_envs, capacity, steps):
    rng = np.random.default_rng(0)
    n, gamma = 4, 0.9
    rb = replay_init(capacity, 2, 1, num_envs)
    rows = [None] * capacity
    newest = {}
    ptr = 0
    for _ in range(steps):
        obs = rng.normal(size=(num_envs, 2)).astype(np.float32)
        nxt = rng.normal(size=(num_envs, 2)).astype(np.float32)
        rew = rng.normal(size=num_envs).astype(np.float32)
        term = rng.random(num_envs) < 0.1
        trunc = (rng.random(num_envs) < 0.1) & ~term
        act = rng.normal(size=(num_envs, 1)).astype(np.float32)
        rb = replay_add(rb, obs, act, rew, nxt, term, trunc)
        for e in range(num_envs):
            rows[ptr] = {"reward": rew[e], "terminated": term[e], "truncated": trunc[e], "next_obs": nxt[e],
                         "obs": obs[e]}
            newest[e] = ptr
            ptr = (ptr + 1) % capacity
    batch = jax.device_get(replay_sample(rb, jax.random.key(1), 512, n, gamma, num_envs))
    # Recover sampled rows by their obs (unique floats).
    filled = [r for r in rows if r is not None]
    assert int(rb.size) == len(filled)
    for b in range(512):
        i = next(k for k, r in enumerate(rows) if r is not None and np.array_equal(r["obs"], batch.obs[b]))
        ret, disc, nobs = reference_nstep(rows, i, n, gamma, num_envs, newest)
        np.testing.assert_allclose(batch.reward[b], ret, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(batch.discount[b], disc, rtol=1e-6)
        np.testing.assert_array_equal(batch.next_obs[b], nobs)


@pytest.mark.slow
def test_termination_stops_bootstrap_truncation_bootstraps():
    rb = replay_init(8, 1, 1)
    one = np.ones((1, 1), np.float32)
    rb = replay_add(rb, 0 * one, one, np.array([1.0], np.float32), 1 * one, np.array([True]), np.array([False]))
    rb = replay_add(rb, 2 * one, one, np.array([1.0], np.float32), 3 * one, np.array([False]), np.array([True]))
    rb = replay_add(rb, 4 * one, one, np.array([5.0], np.float32), 5 * one, np.array([False]), np.array([False]))
    batch = jax.device_get(replay_sample(rb, jax.random.key(0), 64, 3, 0.5))
    for b in range(64):
        o = float(batch.obs[b, 0])
        if o == 0:  # terminated: no bootstrap, one reward
            assert float(batch.discount[b]) == 0.0 and float(batch.reward[b]) == 1.0
        elif o == 2:  # truncated: bootstrap from its own final obs, not from the next episode's row
            assert float(batch.discount[b]) == 0.5 and float(batch.next_obs[b, 0]) == 3.0
            assert float(batch.reward[b]) == 1.0
        else:  # newest row: one step, bootstrap
            assert float(batch.discount[b]) == 0.5 and float(batch.reward[b]) == 5.0


def test_reward_offset_gives_differential_return():
    """gamma = 1 and offset rho: R = sum_k (r_k - rho) over the m steps used, bootstrapping with (1 - d)."""
    rb = replay_init(16, 1, 1)
    one = np.ones((1, 1), np.float32)
    rewards = [2.0, 3.0, 5.0]
    for t, r in enumerate(rewards):
        rb = replay_add(rb, t * one, one, np.array([r], np.float32), (t + 1) * one, np.array([False]),
                        np.array([False]))
    batch = jax.device_get(replay_sample(rb, jax.random.key(0), 64, 3, 1.0, 1, 1.5))
    for b in range(64):
        i = int(batch.obs[b, 0])
        expected = sum(r - 1.5 for r in rewards[i:])
        np.testing.assert_allclose(batch.reward[b], expected, rtol=1e-6)
        assert batch.discount[b] == 1.0 and batch.next_obs[b, 0] == 3.0

"""Environment ids, wrappers (flattening, rescaling), termination vs truncation, same-step reset."""

import numpy as np
import pytest

from wrl.envs import VecEnv, env_factory, env_spec, episode_seed, import_env_modules, make_env
from wrl.errors import EnvError

import_env_modules("wrl_test_envs")


def test_action_rescaling_maps_unit_box_onto_env_box():
    env = make_env("gym:WrlTest/Corridor-v0")
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    env.reset(seed=0)
    # reward reports the first action component as the raw env received it: [-1, 1] -> [-2, 2]
    for a, raw in [(-1.0, -2.0), (0.0, 0.0), (0.5, 1.0), (1.0, 2.0)]:
        assert env.step(np.array([a, 0.0], np.float32))[1] == pytest.approx(raw)
    pendulum = make_env("gym:Pendulum-v1")
    pendulum.reset(seed=0)
    pendulum.unwrapped.state = np.array([0.0, 0.0])
    pendulum.step(np.array([1.0], np.float32))
    assert pendulum.unwrapped.last_u == pytest.approx(2.0)  # Pendulum's torque bound is 2


def test_dict_observations_are_flat_float32():
    env = make_env("gym:WrlTest/Corridor-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3,) and obs.dtype == np.float32
    assert env_spec("gym:WrlTest/Corridor-v0").obs_dim == 3


def test_dmc_task_loads_and_steps():
    env = make_env("dmc:cartpole-swingup")
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (5,)
    steps, truncated = 0, False
    while not truncated:
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        assert not terminated
    assert steps == 1000  # the suite's time limit is a truncation
    spec = env_spec("dmc:walker-walk")
    assert (spec.obs_dim, spec.act_dim) == (24, 6)


def test_dmc_reset_seed_is_reproducible():
    a, b = make_env("dmc:walker-walk"), make_env("dmc:walker-walk")
    np.testing.assert_array_equal(a.reset(seed=5)[0], b.reset(seed=5)[0])
    assert not np.array_equal(a.reset(seed=5)[0], a.reset(seed=6)[0])


@pytest.mark.parametrize("env_id,match", [
    ("gym:NoSuchEnv-v0", "unknown Gymnasium env"),
    ("dmc:cartpole-fly", "unknown DeepMind Control task"),
    ("mujoco:Hopper", "unknown env id"),
    ("gym:WrlTest/Discrete-v0", "Discrete action space"),
])
def test_bad_env_ids(env_id, match):
    with pytest.raises(EnvError, match=match):
        make_env(env_id)


def test_env_module_that_does_not_import():
    with pytest.raises(EnvError, match="cannot import env module"):
        import_env_modules("no_such_module_xyz")


def test_termination_and_truncation_kept_apart_with_same_step_reset():
    venv = VecEnv([env_factory("gym:WrlTest/Corridor-v0")] * 2, seed=7)
    obs = venv.reset()
    saw_term = saw_trunc = False
    for t in range(200):
        actions = np.stack([np.array([1.0, 0.0]), np.array([0.02 * (-1) ** t, 0.0])]).astype(np.float32)
        out = venv.step(actions)
        for i in range(2):
            if out.terminated[i]:
                saw_term = True
                assert not out.truncated[i]
                assert abs(out.next_obs[i][0]) >= 1.0  # the true final observation is kept
            if out.truncated[i]:
                saw_trunc = True
            if out.terminated[i] or out.truncated[i]:
                # the next observation to act from is the reset observation of the next episode
                ref = make_env("gym:WrlTest/Corridor-v0")
                reset_obs = ref.reset(seed=episode_seed(7, i, int(venv._episode[i])))[0]
                np.testing.assert_array_equal(out.obs[i], reset_obs)
                assert not np.array_equal(out.obs[i], out.next_obs[i])
            else:
                np.testing.assert_array_equal(out.obs[i], out.next_obs[i])
        obs = out.obs
    assert saw_term and saw_trunc
    del obs


def test_vecenv_state_roundtrip_mid_episode():
    a = VecEnv([env_factory("gym:HalfCheetah-v5")], seed=1)
    a.reset()
    rng = np.random.default_rng(0)
    for _ in range(37):
        a.step(rng.uniform(-1, 1, (1, 6)).astype(np.float32))
    b = VecEnv([env_factory("gym:HalfCheetah-v5")], seed=1)
    np.testing.assert_array_equal(b.load_state_dict(a.state_dict()), a._obs)
    act = rng.uniform(-1, 1, (1, 6)).astype(np.float32)
    np.testing.assert_array_equal(a.step(act).next_obs, b.step(act).next_obs)

"""Aggregate statistics on synthetic scores with known answers."""

import numpy as np
import pytest

from wrl.lab.bench import aggregate


def test_iqm_by_hand():
    assert aggregate.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert aggregate.iqm(np.array([1, 2, 3, 4, 100, 200, 300, 400.0])) == pytest.approx((3 + 4 + 100 + 200) / 4)
    # (runs x tasks): the IQM pools every run of every task
    assert aggregate.iqm(np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0]])) == pytest.approx(4.5)


@pytest.mark.slow
def test_bootstrap_interval_covers_the_true_mean_at_about_its_nominal_rate():
    """95% stratified bootstrap intervals of the mean over 10 runs x 3 tasks cover the true mean in about 95%
    of 120 synthetic experiments (binomial sd ~2%; the percentile bootstrap under-covers a little at n = 10)."""
    rng = np.random.default_rng(0)
    task_means = np.array([0.2, 0.5, 0.9])
    covered = 0
    trials = 120
    for t in range(trials):
        scores = task_means + 0.3 * rng.standard_normal((10, 3))
        est = aggregate.interval_estimates({"x": scores}, reps=400, seed=t)["x"]["mean"]
        covered += est[1] <= task_means.mean() <= est[2]
        assert est[1] <= est[0] <= est[2]
    assert 0.85 <= covered / trials <= 1.0, covered


def test_probability_of_improvement_and_profiles():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((8, 2))
    poi = aggregate.probability_of_improvement({"better": a + 10, "same": a.copy(), "base": a},
                                               [("better", "base"), ("same", "base")], reps=300)
    assert poi["better > base"][0] == pytest.approx(1.0)
    # identical runs: every comparison ties, P = 1/2 exactly
    assert poi["same > base"][0] == pytest.approx(0.5) and poi["same > base"][1] <= 0.5 <= poi["same > base"][2]
    scores = np.array([[0.1, 0.6], [0.3, 0.8]])
    profile, _ = aggregate.performance_profiles({"x": scores}, np.array([0.0, 0.2, 0.7, 1.0]), reps=50)
    np.testing.assert_allclose(profile["x"], [1.0, 0.75, 0.25, 0.0])


def test_summarise_normalises_dmc_by_1000_and_needs_common_tasks():
    final = {"a": {"dmc:cartpole-swingup": [800.0, 600.0], "gym:Pendulum-v1": [-150.0, -170.0]},
             "b": {"dmc:cartpole-swingup": [400.0, 200.0], "gym:Pendulum-v1": [-300.0, -200.0]}}
    out = aggregate.summarise(final, reps=200)
    assert out["normalisation"]["dmc:cartpole-swingup"] == "return / 1000"
    assert out["scores"]["a"][0][0] == pytest.approx(0.8)
    assert out["per_task"]["b"]["gym:Pendulum-v1"]["mean"] == pytest.approx(-250.0)
    assert out["probability_of_improvement"]["a > b"][0] == pytest.approx(1.0)
    lonely = aggregate.summarise({"a": {"dmc:x-y": [1.0]}, "b": {"dmc:z-w": [1.0]}}, reps=10)
    assert lonely["aggregate"] is None


def test_gymnasium_scores_normalise_between_random_and_reference():
    lo, hi = aggregate.REFERENCE_SCORES["gym:HalfCheetah-v5"]
    norm, how = aggregate.normalise("gym:HalfCheetah-v5", np.array([lo, hi, (lo + hi) / 2]))
    np.testing.assert_allclose(norm, [0.0, 1.0, 0.5])
    assert how.startswith("(return - ")
    raw, how = aggregate.normalise("gym:Pendulum-v1", np.array([-150.0]))
    assert raw[0] == -150.0 and how.startswith("raw")


def test_the_anchor_check_finds_an_anchor_that_is_not_the_measurement(tmp_path):
    """`wrl bench check-results` compares the code's anchors with the measured random returns (never a unit test
    over committed results): here on a measurement of its own."""
    import json

    from wrl.lab.bench.results import RANDOM_RETURNS, check_anchors

    (tmp_path / RANDOM_RETURNS).parent.mkdir(parents=True)
    (tmp_path / RANDOM_RETURNS).write_text(json.dumps({"tasks": {"gym:A-v0": {"mean": -10.0}}}))
    assert check_anchors(tmp_path, {"gym:A-v0": (-10.004, 2000.0)}) == []
    assert "not the measured mean" in check_anchors(tmp_path, {"gym:A-v0": (-9.0, 2000.0)})[0]
    assert "not above" in check_anchors(tmp_path, {"gym:A-v0": (-10.0, 500.0)})[0]
    assert "no measured random return" in check_anchors(tmp_path, {"gym:B-v0": (0.0, 2000.0)})[0]


def test_random_returns_are_seeded_and_bad_episode_counts_exit_2():
    from wrl.lab.bench.random_returns import random_returns
    from wrl.lab.cli import main

    a, b = random_returns("gym:Pendulum-v1", 2), random_returns("gym:Pendulum-v1", 2)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2,) and np.all(a < 0) and np.all(a > -200 * 16.3)  # 200 steps, cost <= 16.27 each
    assert main(["bench", "random-returns", "--episodes", "0"]) == 2

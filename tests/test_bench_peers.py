"""Peer-library benchmarks (SB3 / SBX SAC): the missing-library error and a tiny smoke run of each."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from wrl.errors import ConfigError
from wrl.lab.bench import peers


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def test_missing_peer_is_a_one_line_config_error(monkeypatch):
    # A None entry in sys.modules makes both find_spec and import report the module as absent.
    monkeypatch.setitem(sys.modules, "sbx", None)
    with pytest.raises(ConfigError) as info:
        peers.peer_throughput("sbx", steps=10, warmup_steps=10)
    message = str(info.value)
    assert "\n" not in message
    assert "sbx" in message and "pip install -e '.[peers]'" in message
    with pytest.raises(ConfigError, match=r"\.\[peers\]"):
        peers.peer_time_to_solve("sbx", max_steps=1000)


def test_missing_peer_inside_the_child_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(peers._MissingPeer, match="sb3"):
        peers._import_peer("sb3")


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown peer"):
        peers.peer_throughput("cleanrl")
    with pytest.raises(ConfigError, match="steps"):
        peers.peer_throughput("sb3", steps=0)
    with pytest.raises(ConfigError, match="eval_every"):
        peers.peer_time_to_solve("sbx", eval_every=0)


@pytest.mark.skipif(not _installed("torch", "stable_baselines3"), reason="stable-baselines3 not installed")
def test_sb3_throughput_smoke():
    r = peers.peer_throughput("sb3", "Pendulum-v1", steps=100, warmup_steps=100, settle_updates=2, seed=1)
    assert r["lib"] == "sb3" and r["steps"] == 100 and r["seed"] == 1
    assert r["steps_per_second"] > 0
    assert 0 < r["measured_seconds"] < r["total_seconds"] < r["process_seconds"]
    assert isinstance(r["torch_num_threads"], int) and r["torch_num_threads"] >= 1


@pytest.mark.skipif(not _installed("torch", "stable_baselines3", "sbx"), reason="sbx-rl not installed")
def test_sbx_time_to_solve_smoke():
    r = peers.peer_time_to_solve("sbx", eval_every=150, eval_episodes=1, max_steps=300, seed=0)
    assert set(r) >= {"solved", "seconds", "steps", "evals", "torch_num_threads", "jax_version"}
    assert r["solved"] is False  # 300 steps cannot swing Pendulum up
    assert r["steps"] == 300
    assert [step for step, _ in r["evals"]] == [150, 300]
    assert all(isinstance(ret, float) and ret < -200.0 for _, ret in r["evals"])
    assert 0 < r["seconds"] <= r["total_seconds"]

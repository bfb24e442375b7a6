"""Warm starts: a repeated `wrl train` finds every program in the persistent compilation cache (counted)."""

import os
import subprocess
import sys

import pytest


def _train(tmp_path, run: str, cache: str) -> None:
    env = {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    cmd = [sys.executable, "-m", "wrl", "train", "--algo", "td3", "--actor-hidden", "16", "--critic-hidden", "16",
           "--total-steps", "120", "--learning-starts", "60", "--eval-every", "120", "--eval-episodes", "1",
           "--buffer-size", "500", "--batch-size", "16", "--run-dir", str(tmp_path / run), "--no-progress",
           "--no-tensorboard", "--compile-cache", cache]
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=300)


@pytest.mark.slow
def test_warm_start_compiles_nothing_new_and_off_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    _train(tmp_path, "cold", str(cache))
    cold = set(os.listdir(cache))
    assert len(cold) >= 3  # act, learn step, evaluation, ... each compiled once and stored
    _train(tmp_path, "warm", str(cache))
    assert set(os.listdir(cache)) == cold  # every program was found: no new compilation was written
    _train(tmp_path, "other", "off")
    assert set(os.listdir(cache)) == cold

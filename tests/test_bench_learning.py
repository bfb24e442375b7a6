"""`wrl bench learning`: every (algorithm, seed) run is reported in seed order, also when runs go in parallel."""

from __future__ import annotations

import json

import pytest

from wrl.lab.cli import main

TINY = "--learning-starts 64 --batch-size 32 --actor-hidden 16 --critic-hidden 16"


@pytest.mark.slow
def test_parallel_runs_are_all_reported_in_seed_order(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["bench", "learning", "--algos", "sac", "--env", "gym:Pendulum-v1", "--seeds", "1", "0",
                 "--total-steps", "200", "--eval-every", "100", "--eval-episodes", "1", "--jobs", "2",
                 "--threshold", "-200", "--train-args", TINY, "--keep-runs", str(tmp_path / "runs"),
                 "--out", str(out)])
    assert code == 0
    data = json.loads(out.with_suffix(".json").read_text())
    runs = data["runs"]["sac"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert all([s for s, _ in r["evals"]] == [100, 200] for r in runs)
    assert runs[0]["evals"] != runs[1]["evals"]  # different seeds, different runs
    md = out.with_suffix(".md").read_text()
    assert "s0: " in md and "s1: " in md
    assert out.with_suffix(".png").stat().st_size > 0
    for seed in (0, 1):  # kept run directories hold the full metrics of each run
        rows = (tmp_path / "runs" / f"sac-seed{seed}" / "metrics.jsonl").read_text().splitlines()
        assert any("eval/mean_return" in r for r in rows)
    # a kept directory is never overwritten
    assert main(["bench", "learning", "--algos", "sac", "--seeds", "0", "--keep-runs", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "again")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "again.json").exists()


def test_bad_jobs_is_one_line_and_exit_2(tmp_path, capsys):
    code = main(["bench", "learning", "--jobs", "0", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--jobs" in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_bench_seeds_bound_has_every_core_and_bad_input_exits_2():
    import os

    from wrl.lab.bench.seeds import core_bound
    from wrl.lab.cli import main

    bound = core_bound(0.5)
    assert sorted(c["core"] for c in bound["per_core"]) == sorted(os.sched_getaffinity(0))
    assert bound["gflop_per_second"] == pytest.approx(sum(c["gflop_per_second"] for c in bound["per_core"]))
    assert all(c["gflop_per_second"] > 0 and c["windows"] >= 1 for c in bound["per_core"])
    assert main(["bench", "seeds", "--seeds", "1"]) == 2
    assert main(["bench", "seeds", "--experiment-steps", "500"]) == 2


@pytest.mark.slow
def test_bench_box_edge_writes_every_variant_and_bad_input_exits_2(tmp_path, capsys):
    out = tmp_path / "edge"
    code = main(["bench", "box-edge", "--tasks", "interior", "--variants", "a=wpo --actor-hidden 8 --critic-hidden 8",
                 "b=wpo --actor-hidden 8 --critic-hidden 8 --action-box executed-velocity", "--seeds", "0", "1",
                 "--updates", "100", "--act-dim", "2", "--out", str(out)])
    assert code == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert [(r["task"], r["variant"]) for r in data["runs"]] == [("interior", "a"), ("interior", "b")]
    assert all(len(r["per_seed"]) == 2 and len(r["std_trace"][0]) == 1 for r in data["runs"])
    assert "| b | --actor-hidden 8" in out.with_suffix(".md").read_text()
    capsys.readouterr()
    bads = (["--variants", "x=sac"], ["--variants", "x=wpo --bogus 1"], ["--updates", "150"], ["--seeds", "1", "1"])
    for bad in bads:
        try:
            code = main(["bench", "box-edge", *bad, "--out", str(tmp_path / "bad")])
        except SystemExit as e:  # a bad wrl train option: argparse's one line and exit 2
            code = e.code
        assert code == 2
        assert "\n" not in capsys.readouterr().err.strip()
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.slow
def test_bench_indirect_speed_reports_the_group_against_one_agent_and_bad_input_exits_2(tmp_path, capsys):
    out = tmp_path / "speed"
    code = main(["bench", "indirect-speed", "--env", "gym:Pendulum-v1", "--particles", "2", "--envs-per-particle",
                 "1", "--update-every", "2", "--steps-per-particle", "200", "--update-repeats", "3", "--repeats", "1",
                 "--methods", "blob", "--out", str(out)])
    assert code == 0
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert list(runs) == ["one agent alone", "M = 2, blob"]
    alone, group = runs["one agent alone"], runs["M = 2, blob"]
    assert alone["speedup_vs_one_at_a_time"] == 1.0 and alone["particles"] == 1
    assert group["speedup_vs_one_at_a_time"] == pytest.approx(group["steps_per_second"] / alone["steps_per_second"])
    assert "--num-particles 2 --num-envs 2 --method blob" in group["command"]
    assert all(r["measured_steps"] > 0 and r["ms_per_update"] > 0 for r in runs.values())
    assert all(r["all_steps_per_second"] == [r["steps_per_second"]] for r in runs.values())
    assert "| M = 2, blob |" in out.with_suffix(".md").read_text()
    capsys.readouterr()
    assert main(["bench", "indirect-speed", "--particles", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    assert not (tmp_path / "bad.json").exists()


def test_recorded_commands_name_no_path_of_the_machine_that_ran_them():
    """A benchmark's recorded `wrl train` command writes a compilation-cache directory as DIR."""
    from wrl.lab.bench.common import _portable

    args = ["--seed", "0", "--compile-cache", "/tmp/wrl-cache-x1", "--utd", "1"]
    assert _portable(args) == ["--seed", "0", "--compile-cache", "DIR", "--utd", "1"]
    assert _portable(["--compile-cache", "off"]) == ["--compile-cache", "off"] and _portable([]) == []


def _fake_wrl(calls):
    """A stand-in for `run_wrl`: records the `wrl train` options and returns a summary (nothing trains)."""

    def run_wrl(args, single_thread=False, keep_dir=None):
        calls.append(args)
        seed, steps, every = (int(args[args.index(k) + 1]) for k in ("--seed", "--total-steps", "--eval-every"))
        evals = [{"step": s, "mean_return": float(seed * 10 + s)} for s in range(every, steps + 1, every)]
        return {"evaluations": evals, "final_eval_return": evals[-1]["mean_return"],
                "best_eval_return": max(e["mean_return"] for e in evals), "wall_seconds": 1.0,
                "steps_per_second": 100.0, "command": "wrl train " + " ".join(args)}

    return run_wrl


def test_learning_reuses_every_finished_seed_and_runs_only_the_rest(tmp_path, monkeypatch):
    from wrl.lab.bench import learning

    calls = []
    monkeypatch.setattr(learning, "run_wrl", _fake_wrl(calls))
    out = tmp_path / "report"
    argv = ["bench", "learning", "--algos", "sac", "--seeds", "0", "1", "2", "--total-steps", "200", "--eval-every",
            "100", "--eval-episodes", "1", "--out", str(out)]
    assert main(argv) == 0 and len(calls) == 3
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["seed"] for r in data["runs"]["sac"]] == [0, 1, 2]
    # a benchmark killed after two seeds: the same command runs the third alone
    data["runs"]["sac"] = data["runs"]["sac"][:2]
    out.with_suffix(".json").write_text(json.dumps(data))
    calls.clear()
    assert main(argv) == 0
    assert len(calls) == 1 and calls[0][calls[0].index("--seed") + 1] == "2"
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["seed"] for r in data["runs"]["sac"]] == [0, 1, 2] and data["reused"] == ["sac seed 0", "sac seed 1"]
    assert "s0: 200, s1: 210, s2: 220" in out.with_suffix(".md").read_text()
    calls.clear()
    assert main(argv) == 0 and calls == []  # all finished: nothing runs, the report is written again
    assert main([*argv[:-2], "--total-steps", "300", "--out", str(out)]) == 0 and len(calls) == 3  # other settings
    calls.clear()
    assert main([*argv, "--fresh"]) == 0 and len(calls) == 3


def test_learning_peers_run_with_the_settings_of_their_paired_variant(tmp_path, monkeypatch):
    from wrl.lab.bench import learning, peers

    calls, peer_calls = [], []
    monkeypatch.setattr(learning, "run_wrl", _fake_wrl(calls))
    monkeypatch.setattr(peers, "require_peer", lambda lib: None)

    def peer_learning(peer, env_id, kwargs, *, total_steps, eval_every, eval_episodes, seed, single_thread):
        peer_calls.append((peer, env_id, kwargs, seed))
        evals = [(s, float(s - seed)) for s in range(eval_every, total_steps + 1, eval_every)]
        return {"evals": evals, "final": evals[-1][1], "best": max(r for _, r in evals), "process_seconds": 2.0,
                "steps_per_second": 50.0, "sbx_version": "x"}

    monkeypatch.setattr(peers, "peer_learning", peer_learning)
    out = tmp_path / "crossq"
    variant = "crossq=sac --preset crossq --alpha-lr 1e-3 --critic-hidden 64 64"
    argv = ["bench", "learning", "--algos", variant, "--peers", "sbx:crossq", "--env", "gym:HalfCheetah-v5",
            "--seeds", "0", "1", "2", "--total-steps", "2000", "--eval-every", "1000", "--eval-episodes", "2",
            "--train-args", "--learning-starts 500", "--out", str(out)]
    assert main(argv) == 0
    assert len(calls) == 3 and [c[3] for c in peer_calls] == [0, 1, 2]
    peer, env_id, kwargs, _ = peer_calls[0]
    assert peer == peers.Peer("sbx", "crossq") and env_id == "HalfCheetah-v5"
    assert kwargs["learning_starts"] == 500 and kwargs["policy_delay"] == 3 and kwargs["learning_rate"] == 1e-3
    policy = kwargs["policy_kwargs"]
    assert policy["net_arch"]["qf"] == [64, 64] and policy["batch_norm_actor"] is False
    data = json.loads(out.with_suffix(".json").read_text())
    assert list(data["runs"]) == ["crossq", "sbx crossq"]
    assert data["peers"]["sbx crossq"]["matched_to"] == "crossq" and data["peers"]["sbx crossq"]["differences"] == []
    assert [r["final"] for r in data["runs"]["sbx crossq"]] == [2000.0, 1999.0, 1998.0]
    md = out.with_suffix(".md").read_text()
    assert "| crossq | sbx crossq |" in md and "| sbx crossq | crossq |" in md
    assert "s0: 2000, s1: 1999, s2: 1998" in md and '"renorm_warmup_steps": 100000' in md
    # a peer no variant pairs with brings its reference variant; peers need a Gymnasium task
    calls.clear()
    assert main([*argv[:3], "sac", "--peers", "sbx:tqc", *argv[6:-2], "--seeds", "0", "--out",
                 str(tmp_path / "tqc")]) == 0
    labels = [c[c.index("--algo") + 1:c.index("--env")] for c in calls]
    assert labels == [["sac"], ["sac", "--critic-loss", "quantile", "--critic-quantiles", "25"]]
    assert main([*argv[:-2], "--env", "dmc:walker-walk", "--out", str(tmp_path / "dmc")]) == 2

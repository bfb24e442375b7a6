"""Peer benchmarks (SBX SAC, CrossQ and TQC, SB3 SAC): the missing-library error, the peers on the command line,
their settings matched to the wrl variant they are paired with, the pairing in `wrl bench throughput`'s report, and
tiny smoke runs (skipped without the peer libraries)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from wrl.errors import ConfigError
from wrl.lab.bench import peers
from wrl.lab.bench.common import parse_variant


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


@pytest.mark.slow
@pytest.mark.skipif(not _installed("torch", "stable_baselines3"), reason="stable-baselines3 not installed")
def test_sb3_throughput_smoke():
    r = peers.peer_throughput("sb3", "Pendulum-v1", steps=100, warmup_steps=100, settle_updates=2, seed=1)
    assert r["lib"] == "sb3" and r["steps"] == 100 and r["seed"] == 1
    assert r["steps_per_second"] > 0
    assert 0 < r["measured_seconds"] < r["total_seconds"] < r["process_seconds"]
    assert isinstance(r["torch_num_threads"], int) and r["torch_num_threads"] >= 1


@pytest.mark.slow
@pytest.mark.skipif(not _installed("torch", "stable_baselines3", "sbx"), reason="sbx-rl not installed")
def test_sbx_time_to_solve_smoke():
    r = peers.peer_time_to_solve("sbx", eval_every=150, eval_episodes=1, max_steps=300, seed=0)
    assert set(r) >= {"solved", "seconds", "steps", "evals", "torch_num_threads", "jax_version"}
    assert r["solved"] is False  # 300 steps cannot swing Pendulum up
    assert r["steps"] == 300
    assert [step for step, _ in r["evals"]] == [150, 300]
    assert all(isinstance(ret, float) and ret < -200.0 for _, ret in r["evals"])
    assert 0 < r["seconds"] <= r["total_seconds"]


# ----------------------------------------------------------------------------------------------------
# peers as (library, algorithm), and their settings matched to a wrl variant (pure Python: nothing trains)
# ----------------------------------------------------------------------------------------------------

HALFCHEETAH = ["--env", "gym:HalfCheetah-v5"]


def _settings(*options: str):
    from wrl.lab.cli import configs_from_argv

    return configs_from_argv(["--algo", "sac", *HALFCHEETAH, *options])


def test_peers_on_the_command_line_are_library_and_algorithm():
    P = peers.Peer
    assert peers.parse_peer("sbx") == P("sbx", "sac") and peers.parse_peer("sb3") == P("sb3", "sac")
    assert peers.parse_peer("sbx:crossq") == P("sbx", "crossq") and peers.parse_peer("sbx:tqc").name == "sbx tqc"
    # today's meaning of `--peers sbx sb3` is kept; repeats count once; none alone is no peer
    assert peers.parse_peers(["sbx", "sb3", "sbx:sac"]) == [P("sbx", "sac"), P("sb3", "sac")]
    assert peers.parse_peers(["none"]) == []
    for bad, match in (("sb3:crossq", "no algorithm 'crossq'"), ("cleanrl:sac", "unknown peer"),
                       ("sbx:ppo", "sbx:sac, sbx:crossq, sbx:tqc")):
        with pytest.raises(ConfigError, match=match):
            peers.parse_peer(bad)
    with pytest.raises(ConfigError, match="none"):
        peers.parse_peers(["none", "sbx"])
    with pytest.raises(ConfigError, match="no algorithm"):
        peers.peer_throughput("sb3", algo="tqc")


def test_each_wrl_variant_is_paired_with_the_peer_of_its_algorithm():
    assert peers.matched_algo("sac", _settings()[1]) == "sac"
    assert peers.matched_algo("sac", _settings("--preset", "crossq")[1]) == "crossq"
    assert peers.matched_algo("sac", _settings("--critic", "crossq")[1]) == "crossq"
    assert peers.matched_algo("sac", _settings("--critic-loss", "quantile")[1]) == "tqc"
    assert peers.matched_algo("sac", _settings("--preset", "simba")[1]) is None
    assert peers.matched_algo("td3", None) is None and peers.matched_algo("wpo", None) is None
    for algo, spec in peers.REFERENCE_VARIANTS.items():  # each reference variant pairs with its own peer
        label, wrl_algo, options = parse_variant(spec)
        assert label == algo and peers.matched_algo(wrl_algo, _settings(*options)[1]) == algo


# SBX CrossQ as wrl's `--preset crossq` runs it (width from --critic-hidden, here SBX's default 1024)
CROSSQ_KWARGS = {
    "learning_starts": 5000, "batch_size": 256, "buffer_size": 1_000_000, "gamma": 0.99, "train_freq": 1,
    "gradient_steps": 1, "learning_rate": 1e-3, "qf_learning_rate": 1e-3, "policy_delay": 3,
    "policy_kwargs": {"net_arch": {"pi": [256, 256], "qf": [1024, 1024]}, "n_critics": 2, "batch_norm_actor": False,
                      "batch_norm_momentum": 0.99, "renorm_warmup_steps": 100_000, "optimizer_kwargs": {"b1": 0.5}}}


def test_the_crossq_peer_gets_the_settings_of_its_wrl_variant_down_to_the_child():
    cfg, agent = _settings("--preset", "crossq", "--alpha-lr", "1e-3", "--critic-hidden", "1024", "1024")
    crossq = peers.Peer("sbx", "crossq")
    kwargs, diffs = peers.peer_settings(crossq, cfg, agent)
    assert kwargs == CROSSQ_KWARGS and diffs == []
    # what the child process builds its model with, after its command line
    task = peers._parse_child(peers.learning_args(crossq, "HalfCheetah-v5", kwargs, total_steps=2000,
                                                  eval_every=1000, eval_episodes=2, seed=1))
    assert isinstance(task, peers.LearnTask) and (task.lib, task.algo, task.seed) == ("sbx", "crossq", 1)
    assert peers._model_kwargs(task) == CROSSQ_KWARGS
    task = peers._parse_child(peers.throughput_args("sbx", algo="crossq", kwargs=kwargs, warmup_steps=300))
    assert peers._model_kwargs(task) == {**CROSSQ_KWARGS, "learning_starts": 300}
    # wrl's temperature at its default rate: SBX cannot follow (it learns the temperature at learning_rate)
    _, diffs = peers.peer_settings(crossq, *_settings("--preset", "crossq"))
    assert len(diffs) == 1 and "temperature learning rate 0.0003" in diffs[0]
    # the crossq settings follow the variant: another beta1, width, momentum and delay
    cfg, agent = _settings("--preset", "crossq", "--alpha-lr", "1e-3", "--critic-hidden", "64", "64", "--adam-b1",
                           "0.9", "--policy-delay", "1", "--renorm-momentum", "0.9", "--learning-starts", "100")
    kwargs, _ = peers.peer_settings(crossq, cfg, agent)
    assert kwargs["policy_kwargs"]["net_arch"]["qf"] == [64, 64] and kwargs["policy_kwargs"]["optimizer_kwargs"] == {
        "b1": 0.9}
    assert (kwargs["policy_delay"], kwargs["learning_starts"]) == (1, 100)
    assert kwargs["policy_kwargs"]["batch_norm_momentum"] == 0.9


def test_the_tqc_and_sac_peers_run_their_libraries_defaults_at_wrl_defaults():
    defaults = {"learning_starts": 1000, "batch_size": 256, "buffer_size": 1_000_000, "gamma": 0.99, "train_freq": 1,
                "gradient_steps": 1, "learning_rate": 3e-4, "tau": 0.005}
    net = {"net_arch": {"pi": [256, 256], "qf": [256, 256]}, "n_critics": 2}
    tqc, diffs = peers.peer_settings(peers.Peer("sbx", "tqc"), *_settings("--critic-loss", "quantile",
                                                                          "--critic-quantiles", "25"))
    assert tqc == {**defaults, "qf_learning_rate": 3e-4, "policy_delay": 1, "top_quantiles_to_drop_per_net": 2,
                   "policy_kwargs": {**net, "n_quantiles": 25}}
    assert len(diffs) == 1 and "drops the top 2 quantiles" in diffs[0]  # said in the report
    sbx, diffs = peers.peer_settings(peers.Peer("sbx", "sac"), *_settings())
    assert sbx == {**defaults, "qf_learning_rate": 3e-4, "policy_delay": 1, "policy_kwargs": net} and diffs == []
    sb3, diffs = peers.peer_settings(peers.Peer("sb3", "sac"), *_settings())
    assert sb3 == {**defaults, "policy_kwargs": net} and diffs == []
    # what a peer cannot do is said, one line each
    _, diffs = peers.peer_settings(peers.Peer("sb3", "sac"), *_settings("--critic-lr", "1e-3", "--normalize-obs",
                                                                        "--num-envs", "2"))
    assert len(diffs) == 3 and any("one learning rate" in d for d in diffs)
    assert any("observation normalisation" in d for d in diffs) and any("2 environments" in d for d in diffs)
    # the throughput child without options runs what it always ran
    task = peers._parse_child(peers.throughput_args("sb3", warmup_steps=700))
    assert peers._model_kwargs(task) == {"batch_size": 256, "train_freq": 1, "gradient_steps": 1,
                                         "policy_kwargs": {"net_arch": [256, 256]}, "learning_starts": 700}


# ----------------------------------------------------------------------------------------------------
# `wrl bench throughput`: the plan of a run and the pairing in its report
# ----------------------------------------------------------------------------------------------------


def test_throughput_plan_pairs_every_variant_with_its_peer_at_the_crossq_width():
    from wrl.lab.bench.throughput import Options, plan
    from wrl.lab.cli import parse_command

    _, opts = parse_command(["bench", "throughput", "--algos", "sac", "td3", "--peers", "sbx:sac", "sbx:crossq",
                             "sbx:tqc", "sb3:sac", "--crossq-width", "512", "--critics", "mlp", "crossq"])
    assert opts.critics == ("mlp", "crossq") and opts.crossq_width == 512
    variants, planned = plan(opts)
    # a reference variant joins for each peer no variant pairs with
    assert [(v.label, v.peer_algo) for v in variants] == [("sac", "sac"), ("td3", None), ("crossq", "crossq"),
                                                          ("tqc", "tqc")]
    assert variants[2].options[-3:] == ["--critic-hidden", "512", "512"]
    assert variants[2].settings[1].critic_hidden == (512, 512)
    by_name = {peer.name: (kwargs, diffs, source) for peer, kwargs, diffs, source in planned}
    assert list(by_name) == ["sbx sac", "sbx crossq", "sbx tqc", "sb3 sac"]
    assert by_name["sbx crossq"][0] == {**CROSSQ_KWARGS, "learning_starts": 1000, "policy_kwargs": {
        **CROSSQ_KWARGS["policy_kwargs"], "net_arch": {"pi": [256, 256], "qf": [512, 512]}}}
    assert by_name["sbx crossq"][2] == "crossq" and by_name["sb3 sac"][2] == "sac"
    # a variant of one's own is paired (and widened) instead
    variants, planned = plan(Options(algos=("cq=sac --preset crossq --alpha-lr 1e-3 --critic-hidden 64 64",),
                                     peers=("sbx:crossq",), crossq_width=128))
    assert [v.label for v in variants] == ["cq"] and variants[0].settings[1].critic_hidden == (128, 128)
    assert planned[0][3] == "cq" and planned[0][1]["policy_kwargs"]["net_arch"]["qf"] == [128, 128]
    # the default run is today's: sac td3 wpo against SBX and SB3 SAC
    variants, planned = plan(Options())
    assert [v.label for v in variants] == ["sac", "td3", "wpo"]
    assert [p.name for p, *_ in planned] == ["sbx sac", "sb3 sac"]
    assert plan(Options(peers=("none",)))[1] == []
    with pytest.raises(ConfigError, match="labelled 'crossq'"):
        plan(Options(algos=("crossq=td3",), peers=("sbx:crossq",)))
    with pytest.raises(ConfigError, match="no algorithm"):
        plan(Options(peers=("sb3:crossq",)))


def test_throughput_report_compares_each_variant_with_its_matched_peer():
    from wrl.lab.bench.throughput import matched_peer, ratio_table

    names = ["sbx sac", "sbx crossq", "sb3 sac"]
    assert matched_peer("sac", names) == "sbx sac" and matched_peer("sac", ["sb3 sac"]) == "sb3 sac"
    assert matched_peer("crossq", names) == "sbx crossq" and matched_peer("tqc", names) is None
    assert matched_peer(None, names) is None
    runs = {"wrl sac": {"steps_per_second": 150.0, "matched_peer": "sbx sac"},
            "wrl crossq": {"steps_per_second": 30.0, "matched_peer": "sbx crossq"},
            "wrl td3": {"steps_per_second": 300.0, "matched_peer": None},
            "sbx sac": {"steps_per_second": 100.0}, "sbx crossq": {"steps_per_second": 20.0},
            "sb3 sac": {"steps_per_second": 50.0}}
    ceilings = {"sac": {"steps_per_second": 200.0}, "crossq": {"steps_per_second": 60.0},
                "td3": {"steps_per_second": 400.0}}
    table, ratios = ratio_table(runs, ceilings)
    assert ratios["wrl crossq"]["matched_peer"] == "sbx crossq"
    assert ratios["wrl crossq"]["vs_matched"] == pytest.approx(1.5)  # against SBX CrossQ, not SBX SAC
    assert ratios["wrl crossq"]["vs_sbx"] == pytest.approx(0.3) and ratios["wrl crossq"]["vs_ceiling"] == 0.5
    assert ratios["wrl sac"]["vs_matched"] == pytest.approx(1.5) and ratios["wrl sac"]["vs_sb3"] == 3.0
    assert ratios["wrl td3"]["vs_matched"] == "-" and ratios["sbx crossq"]["vs_ceiling"] == "-"
    assert "| wrl crossq | 30 | sbx crossq | 1.5 | 0.3 | 0.6 | 0.5 |" in table
    assert "| wrl td3 | 300 | - | - | 3 | 6 | 0.75 |" in table


def test_the_critics_table_runs_each_critic_at_its_preset_or_a_given_width():
    from wrl.critics.critic import ARCHITECTURES
    from wrl.lab.bench.throughput import CRITIC_OPTIONS, Options, critic_options

    assert tuple(CRITIC_OPTIONS) == ARCHITECTURES == Options().critics
    assert critic_options("crossq", None, 256) == ["--preset", "crossq", "--policy-delay", "1", "--critic-hidden",
                                                   "256", "256"]
    assert critic_options("simbav2", None, 256) == ["--preset", "simbav2", "--policy-delay", "1"]
    assert critic_options("mlp", 128, 2048)[-3:] == ["--critic-hidden", "128", "128"]
    for name in ARCHITECTURES:  # every row is a valid `wrl train` and runs the critic it names
        agent = _settings(*critic_options(name, 64, 64))[1]
        assert agent.critic == name and agent.policy_delay == 1 and agent.critic_hidden == (64, 64)


@pytest.mark.slow
def test_update_alone_of_a_critic_counts_flops_and_times_it():
    from wrl.lab.bench.throughput import critic_options, matmul_rate_at, update_ceiling

    c = update_ceiling("sac", "gym:Pendulum-v1", updates=6, extra=critic_options("simbav2", 32, 32), max_seconds=1)
    assert c["critic_hidden"] == [32, 32] and c["policy_delay"] == 1
    assert c["gflop_per_update"] > 0 and c["steps_per_second"] > 0 and 3 <= c["updates"] <= 6
    m = matmul_rate_at(64)
    assert m["shape"] == [256, 64, 64] and m["gflop_per_second"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not _installed("torch", "stable_baselines3", "sbx"), reason="sbx-rl not installed")
def test_sbx_builds_each_algorithm_with_the_matched_settings():
    """The matched options are the libraries' own: SBX and SB3 build each model with them."""
    import json
    import subprocess

    code = """
import json, sys
import sbx, stable_baselines3
algo, kwargs = sys.argv[1], json.loads(sys.argv[2])
cls = {"sbx sac": sbx.SAC, "sbx crossq": sbx.CrossQ, "sbx tqc": sbx.TQC, "sb3 sac": stable_baselines3.SAC}[algo]
m = cls("MlpPolicy", "Pendulum-v1", seed=0, **kwargs)
p = m.policy
out = {"lr": m.learning_rate, "batch": m.batch_size, "starts": m.learning_starts,
       "delay": getattr(m, "policy_delay", None), "qf": getattr(p, "net_arch_qf", None),
       "bn_actor": getattr(p, "batch_norm_actor", None), "b1": (p.optimizer_kwargs or {}).get("b1"),
       "n_quantiles": getattr(p, "n_quantiles", None)}
print(json.dumps(out))
"""
    small = ("--critic-hidden", "32", "32", "--actor-hidden", "32", "32", "--learning-starts", "50")
    cases = {"sbx crossq": _settings("--preset", "crossq", "--alpha-lr", "1e-3", *small),
             "sbx tqc": _settings("--critic-loss", "quantile", "--critic-quantiles", "25", *small),
             "sbx sac": _settings(*small), "sb3 sac": _settings(*small)}
    for name, settings in cases.items():
        kwargs, _ = peers.peer_settings(peers.Peer(*name.split()), *settings)
        proc = subprocess.run([sys.executable, "-c", code, name, json.dumps(kwargs)], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert (got["batch"], got["starts"]) == (256, 50), name
        if name == "sbx crossq":
            assert got == {**got, "lr": 1e-3, "delay": 3, "qf": [32, 32], "bn_actor": False, "b1": 0.5}
        if name == "sbx tqc":
            assert got == {**got, "lr": 3e-4, "qf": [32, 32], "n_quantiles": 25}


@pytest.mark.slow
@pytest.mark.skipif(not _installed("torch", "stable_baselines3", "sbx"), reason="sbx-rl not installed")
def test_sbx_crossq_learning_smoke():
    cfg, agent = _settings("--preset", "crossq", "--alpha-lr", "1e-3", "--critic-hidden", "32", "32",
                           "--actor-hidden", "32", "32", "--learning-starts", "100")
    kwargs, _ = peers.peer_settings(peers.Peer("sbx", "crossq"), cfg, agent)
    r = peers.peer_learning(peers.Peer("sbx", "crossq"), "Pendulum-v1", kwargs, total_steps=300, eval_every=150,
                            eval_episodes=1, seed=0, single_thread=True)
    assert [step for step, _ in r["evals"]] == [150, 300] and r["final"] == r["evals"][-1][1]
    assert r["algo"] == "crossq" and r["config"] == kwargs and r["steps_per_second"] > 0


def test_a_critic_that_fails_or_hangs_is_reported_not_waited_for():
    from wrl.lab.bench.throughput import critic_table, update_alone_in_process

    r = update_alone_in_process("sac", "gym:Pendulum-v1", 3, ["--critic", "mlp"], 1.0, timeout=0.01)
    assert r == {"error": "no result within 0 s"}
    table = critic_table({"simbav2": {**r, "options": ["--preset", "simbav2"]}}, {"gflop_per_second": 100.0})
    assert "| simbav2 | --preset simbav2 | - | failed: no result within 0 s |" in table


@pytest.mark.slow
def test_a_critic_measured_in_its_own_process():
    from wrl.lab.bench.throughput import critic_options, update_alone_in_process

    r = update_alone_in_process("sac", "gym:Pendulum-v1", 6, critic_options("crossq", 32, 32), 1.0, timeout=300)
    assert r["critic_hidden"] == [32, 32] and r["gflop_per_update"] > 0 and r["steps_per_second"] > 0
    r = update_alone_in_process("sac", "gym:Pendulum-v1", 6, ["--critic", "bogus"], 1.0, timeout=300)
    assert r["error"].startswith("exit ")

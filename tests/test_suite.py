"""`wrl bench suite`: incremental and resumable (counted), a killed suite ends as one never killed, the report."""

import json
from pathlib import Path

import pytest
from tiny_suite import TINY

from wrl.errors import ConfigError
from wrl.lab.bench import suite as S
from wrl.lab.cli import configs_from_argv, main
from wrl.training.trainer import train_group


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return S.load_suite(str(path))


@pytest.mark.slow
def test_suite_is_incremental_and_reports(tiny, tmp_path, capsys):
    out = tmp_path / "suite"
    assert S.run_suite(tiny, out, limit=1) == {"reused": 0, "resumed": 0, "ran": 1}  # "interrupted" after one
    assert S.run_suite(tiny, out) == {"reused": 1, "resumed": 0, "ran": 1}
    assert S.run_suite(tiny, out) == {"reused": 2, "resumed": 0, "ran": 0}  # nothing is redone
    payload = S.report(tiny, out, reps=100)
    assert set(payload["results"]) == {"sac", "td3"} and len(payload["results"]["sac"]["gym:Pendulum-v1"]) == 2
    assert payload["statistics"]["aggregate"]["sac"]["iqm"][1] <= payload["statistics"]["aggregate"]["sac"]["iqm"][2]
    text = (out / "report.md").read_text()
    assert "## gym:Pendulum-v1" in text and "P(X > Y)" in text and (out / "curves.png").exists()
    # a different suite in the same directory is refused; `wrl plot` reads the suite
    other = S.Suite(**{**tiny.__dict__, "total_steps": 600})
    with pytest.raises(ConfigError, match=r"different suite.*total_steps"):
        S.run_suite(other, out)
    # a subset of its algorithms runs into the same directory (and finds its group finished) ...
    assert S.run_suite(S.Suite(**{**tiny.__dict__, "algos": ("td3",)}), out) == {"reused": 1, "resumed": 0, "ran": 0}
    # ... but not a label that is already there with other options
    with pytest.raises(ConfigError, match="algorithm 'td3'"):
        S.run_suite(S.Suite(**{**tiny.__dict__, "algos": ("td3=td3 --policy-delay 3",)}), out)
    assert json.loads((out / "suite.json").read_text())["algos"] == ["sac", "td3"]
    assert main(["plot", str(out), "--out", str(tmp_path / "c.svg")]) == 0
    assert "4 runs, 2 groups (same settings but the seed, per task)" in capsys.readouterr().out
    # diagnostics: the last logged value of each named metric, per seed (None where never logged)
    payload = S.report(tiny, out, reps=100, diagnostics=("charts/episodic_return", "policy/none"))
    for algo in ("sac", "td3"):
        for r in payload["results"][algo]["gym:Pendulum-v1"]:
            rows = [json.loads(line) for line in
                    (S.unit_dir(out, algo, "gym:Pendulum-v1") / f"seed-{r['seed']}" / "metrics.jsonl").open()]
            last = [row["charts/episodic_return"] for row in rows if "charts/episodic_return" in row][-1]
            assert r["diagnostics"] == {"charts/episodic_return": last, "policy/none": None}
    text = (out / "report.md").read_text()
    assert "| algo | charts/episodic_return | policy/none |" in text and "| sac | " in text.split("policy/none |")[1]


def test_a_subset_or_an_extension_of_a_suite_shares_its_directory(tmp_path):
    """What every run is must agree; algorithms and tasks may be a subset (nothing changes) or new ones (added to
    the definition, in order); a known label must keep its options."""
    base = {"name": "x", "algos": ["sac", "w=wpo --box-pull 0"], "tasks": ["gym:Pendulum-v1"], "seeds": [0, 1],
            "total_steps": 100, "eval_every": 50, "eval_episodes": 2, "train_args": ""}
    assert S.merged_record(base, {**base, "algos": ["w=wpo --box-pull 0"]}, tmp_path) == base
    grown = S.merged_record(base, {**base, "algos": ["td3", "sac"], "tasks": ["dmc:cartpole-swingup"]}, tmp_path)
    assert grown["algos"] == ["sac", "w=wpo --box-pull 0", "td3"]
    assert grown["tasks"] == ["gym:Pendulum-v1", "dmc:cartpole-swingup"]
    for change, what in (({"seeds": [0]}, "seeds"), ({"train_args": "--batch-size 64"}, "train_args"),
                         ({"algos": ["w=wpo"]}, "algorithm 'w'"), ({"name": "y"}, "name")):
        with pytest.raises(ConfigError, match=f"different suite.*{what}"):
            S.merged_record(base, {**base, **change}, tmp_path)


def test_algos_names_a_suite_label_and_an_unknown_algorithm_stops_before_anything_is_written(tmp_path, capsys,
                                                                                              monkeypatch):
    """``--algos w`` runs the suite's own ``w=wpo --box-pull 0``; a name that is neither an algorithm nor one of
    the suite's labels is one line and exit 2, with no suite directory created."""
    defined = ("sac", "w=wpo --box-pull 0")
    assert S.resolve_labels(("w", "td3", "v=wpo --n-step 3"), defined) == ("w=wpo --box-pull 0", "td3",
                                                                           "v=wpo --n-step 3")
    assert S.resolve_labels(("sac",), defined) == ("sac",)
    with pytest.raises(ConfigError, match="'w-n3' names no algorithm"):
        S.Suite("x", ("w-n3",), ("gym:Pendulum-v1",), (0,), total_steps=10, eval_every=5)
    path = tmp_path / "s.toml"
    path.write_text(TINY.replace('algos = ["sac", "td3"]', 'algos = ["sac", "t=td3 --policy-delay 3"]'))
    out = tmp_path / "o"
    assert main(["bench", "suite", str(path), "--out", str(out), "--algos", "nope"]) == 2
    assert "'nope' names no algorithm" in capsys.readouterr().err and not out.exists()
    ran = []  # what `wrl bench suite --algos t` would run, without training it
    monkeypatch.setattr(S, "run_suite", lambda suite, out, **kw: ran.append(suite.algos) or
                        {"reused": 0, "resumed": 0, "ran": 0})
    monkeypatch.setattr(S, "report", lambda *a, **kw: None)
    assert main(["bench", "suite", str(path), "--out", str(out), "--algos", "t", "sac"]) == 0
    assert ran == [("t=td3 --policy-delay 3", "sac")]


@pytest.mark.slow
def test_a_killed_suite_ends_with_the_numbers_of_one_never_killed(tiny, tmp_path):
    tiny = S.Suite(**{**tiny.__dict__, "algos": ("sac",)})
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    # the group of the killed suite stopped mid-run (after its first checkpoint), as a kill would leave it
    path = S.unit_dir(killed, "sac", "gym:Pendulum-v1")
    argv = [*S.train_args(tiny, "sac", "gym:Pendulum-v1", path), "--checkpoint-every", "100"]
    cfg, agent_cfg = configs_from_argv(argv)
    train_group(cfg, agent_cfg, path, list(tiny.seeds), progress=False, tensorboard=False, stop_at=200)
    S.run_suite(tiny, killed)  # suite.json is new, the group is found interrupted
    assert S._state(path) == "finished"
    assert S.run_suite(tiny, clean) == {"reused": 0, "resumed": 0, "ran": 1}
    a, b = S.collect(tiny, killed), S.collect(tiny, clean)
    strip = lambda r: [(x["seed"], x["evals"]) for x in r["sac"]["gym:Pendulum-v1"]]  # noqa: E731
    assert strip(a) == strip(b)


def test_suite_files_and_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nalgos = ["sac"]\nunknown_key = 1\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        S.load_suite(str(bad))
    with pytest.raises(ConfigError, match="unknown suite"):
        S.load_suite("no-such-suite")
    assert set(S.SUITES) >= {"smoke", "mujoco", "dmc"}
    assert json.loads(json.dumps(S.SUITES["dmc"].tasks))[-1] == "dmc:humanoid-walk"
    assert main(["bench", "suite", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown suite" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time (pytest -n 2 --dist loadgroup)
def test_ray_backend_gives_the_same_layout_and_numbers(tiny, tmp_path):
    pytest.importorskip("ray")
    tiny = S.Suite(**{**tiny.__dict__, "algos": ("td3",), "seeds": (0,)})
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    S.run_suite(tiny, local)
    assert S.run_suite(tiny, ray_out, jobs=2, backend="ray") == {"reused": 0, "resumed": 0, "ran": 1}
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tb" not in p.parts)  # noqa: E731
    assert files(local) == files(ray_out)
    a, b = S.collect(tiny, local), S.collect(tiny, ray_out)
    assert [r["evals"] for r in a["td3"]["gym:Pendulum-v1"]] == [r["evals"] for r in b["td3"]["gym:Pendulum-v1"]]


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray cluster at a time (pytest -n 2 --dist loadgroup)
def test_sweep_finds_the_known_best_of_a_one_parameter_space(tmp_path, capsys):
    """critic_lr 1e8 diverges (score -inf), 3e-4 trains: the sweep must pick 3e-4 and write it for wrl train."""
    pytest.importorskip("ray")

    spec = tmp_path / "sweep.toml"
    spec.write_text('algo = "sac"\nenv = "gym:Pendulum-v1"\nseeds = [0]\ntotal_steps = 300\neval_every = 150\n'
                    'eval_episodes = 1\ntrain_args = "--learning-starts 100 --actor-hidden 16 --critic-hidden 16 '
                    '--buffer-size 1000 --batch-size 16"\nmax_concurrent = 2\n'
                    '[space]\ncritic_lr = { grid = [1e8, 3e-4] }\n')
    assert main(["bench", "sweep", str(spec), "--out", str(tmp_path / "sw")]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    scores = {t["params"]["critic_lr"]: t["score"] for t in report["trials"]}
    assert scores[1e8] == float("-inf") and scores[3e-4] > -2000
    assert report["best"]["params"] == {"critic_lr": 3e-4}
    cfg, agent_cfg = configs_from_argv(["--config", str(tmp_path / "sw" / "best.toml")])
    assert cfg.algo == "sac" and agent_cfg.critic_lr == 3e-4


def test_an_algorithms_own_options_win_over_the_suite_wide_ones(tmp_path):
    suite = S.SUITES["smoke"]
    spec = next(a for a in suite.algos if a.startswith("wgf-indirect="))
    cfg, _ = configs_from_argv(S.train_args(suite, spec, "gym:Pendulum-v1", tmp_path / "u"))
    assert "--learning-starts" in suite.train_args and cfg.learning_starts == 0
    assert {S.parse_variant(a)[1] for a in suite.algos} >= {"sac", "td3", "wpo", "wppg", "wgf-direct", "wgf-indirect"}


SUITE_FILES = sorted((Path(__file__).parents[1] / "docs" / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.name)
def test_every_documented_suite_file_loads_names_real_tasks_and_its_runs_parse(path, tmp_path):
    """The suite files in docs/suites are commands users rerun: each loads, its header gives the command that
    runs it, every task exists, and every (algorithm, task) run parses into the configuration it names (an
    option of another algorithm, a typo or a bad value would fail here and not hours into the suite)."""
    import gymnasium as gym

    from wrl.agents import config_class
    from wrl.envs.dmc import dmc_tasks

    suite = S.load_suite(str(path))
    assert f"wrl bench suite docs/suites/{path.name} " in path.read_text()
    dmc = set(dmc_tasks())
    for task in suite.tasks:
        kind, _, name = task.partition(":")
        assert (kind == "dmc" and name in dmc) or (kind == "gym" and gym.spec(name) is not None), task
    for spec in suite.algos:
        label, algo, opts = S.parse_variant(spec)
        assert opts == [] or label != algo, spec  # a variant with options has a label of its own
        for task in suite.tasks:
            cfg, agent = configs_from_argv(S.train_args(suite, spec, task, tmp_path / label, seed=suite.seeds[0]))
            assert (cfg.algo, cfg.env, cfg.total_steps, cfg.eval_every) == (algo, task, suite.total_steps,
                                                                             suite.eval_every)
            assert type(agent) is config_class(algo)


@pytest.mark.slow
def test_split_seeds_trains_each_seed_alone_in_the_group_layout(tiny, tmp_path):
    tiny = S.Suite(**{**tiny.__dict__, "algos": ("sac",)})
    split, grouped = tmp_path / "split", tmp_path / "grouped"
    path = S.unit_dir(split, "sac", "gym:Pendulum-v1")
    # seed 1 was stopped after its first checkpoint, as a kill would leave it; seed 0 not started
    path.mkdir(parents=True)
    (path / S.SPLIT_FILE).write_text(json.dumps({"seeds": [0, 1]}))
    argv = [*S.train_args(tiny, "sac", "gym:Pendulum-v1", path, seed=1), "--checkpoint-every", "100"]
    assert argv[argv.index("--run-dir") + 1] == str(path / "seed-1") and "--seeds" not in argv
    cfg, agent_cfg = configs_from_argv(argv)
    from wrl.training.trainer import train

    train(cfg, agent_cfg, path / "seed-1", progress=False, tensorboard=False, stop_at=200)
    assert S._state(path) == "interrupted"
    units = S.group_units(tiny, "sac", "gym:Pendulum-v1", path, split=True)
    argvs = [u.argv() for u in units]
    assert argvs[0][-1] == "--overwrite" and "--seed" in argvs[0] and argvs[1] == ["--resume", str(path / "seed-1")]
    assert S.run_suite(tiny, split, split_seeds=True) == {"reused": 0, "resumed": 1, "ran": 0}
    assert S._state(path) == "finished" and not (path / "group.json").exists()
    assert S.run_suite(tiny, split) == {"reused": 1, "resumed": 0, "ran": 0}  # finished, whatever the mode
    # seeds trained apart before the group was marked split are adopted, not rerun
    (path / S.SPLIT_FILE).unlink()
    assert S.run_suite(tiny, split, split_seeds=True) == {"reused": 1, "resumed": 0, "ran": 0}
    # each seed of the split group is that seed trained alone: the same evaluations as `wrl train --seed S`
    for s in (0, 1):
        alone = tmp_path / f"alone-{s}"
        cfg, agent_cfg = configs_from_argv(S.train_args(tiny, "sac", "gym:Pendulum-v1", alone, seed=s))
        summary = train(cfg, agent_cfg, alone / f"seed-{s}", progress=False, tensorboard=False)
        mine = S.collect(tiny, split)["sac"]["gym:Pendulum-v1"][s]
        assert mine["evals"] == [(e["step"], e["mean_return"]) for e in summary["evaluations"]]
    # a group started side by side keeps its mode under --split-seeds
    S.run_suite(tiny, grouped, limit=0)
    gpath = S.unit_dir(grouped, "sac", "gym:Pendulum-v1")
    train_group(*configs_from_argv([*S.train_args(tiny, "sac", "gym:Pendulum-v1", gpath), "--checkpoint-every", "100"]),
                gpath, [0, 1], progress=False, tensorboard=False, stop_at=200)
    assert [u.argv() for u in S.group_units(tiny, "sac", "gym:Pendulum-v1", gpath, split=True)] == \
        [["--resume", str(gpath)]]
    report = S.report(tiny, split, reps=50)
    assert [r["seed"] for r in report["results"]["sac"]["gym:Pendulum-v1"]] == [0, 1]


def test_collapse_check_flags_the_off_box_collapse_and_only_it():
    """The HalfCheetah collapse of docs/benchmarks/halfcheetah_wpo_sac.md (best 1905 -> final -604 with the std
    at 1e5) is a collapse; the same fall with the std and the means inside the box is a fall, not a collapse; a
    run within half of its best is neither; Pendulum's negative returns are read above the first evaluation."""
    def run(final, best, evals, std=None, mean_abs=None):
        return {"final": final, "best": best, "evals": evals, "box": {"policy/std": std, "policy/mean_abs": mean_abs}}

    cheetah = [(10000, -300.0), (50000, 1905.0), (100000, -604.0)]
    c = S.collapse_check("gym:HalfCheetah-v5", run(-604.0, 1905.0, cheetah, std=1e5, mean_abs=1.0))
    assert c["fell"] and c["collapsed"] is True and c["baseline"] == pytest.approx(-289.27)
    c = S.collapse_check("gym:HalfCheetah-v5", run(-604.0, 1905.0, cheetah, std=0.4, mean_abs=0.7))
    assert c["fell"] and c["collapsed"] is False
    assert S.collapse_check("gym:HalfCheetah-v5", run(-604.0, 1905.0, cheetah))["collapsed"] is None  # e.g. SAC
    # half of the best above the random score (-289.27): 807.9; 800 fell, 820 did not
    assert S.collapse_check("gym:HalfCheetah-v5", run(800.0, 1905.0, cheetah, std=2.0))["collapsed"] is True
    assert not S.collapse_check("gym:HalfCheetah-v5", run(820.0, 1905.0, cheetah, std=2.0))["fell"]
    # DMC: above 0; walker-walk 72 after a best of 469 fell (the executed-pull seed 2), 240 did not
    walker = [(10000, 30.0), (90000, 469.0), (100000, 72.0)]
    assert S.collapse_check("dmc:walker-walk", run(72.0, 469.0, walker, 0.6, 0.71)) == {
        "fell": True, "collapsed": False, "baseline": 0.0, "std": 0.6, "mean_abs": 0.71}
    assert not S.collapse_check("dmc:walker-walk", run(240.0, 469.0, walker, 0.6, 0.71))["fell"]
    # Pendulum (no reference scores): above the first evaluation, -1200; -150 after a best of -130 did not fall,
    # -700 did (a raw "half of the best" would call both falls, every return being negative)
    pendulum = [(1000, -1200.0), (5000, -130.0)]
    assert not S.collapse_check("gym:Pendulum-v1", run(-150.0, -130.0, pendulum, 0.3, 0.99))["fell"]
    assert S.collapse_check("gym:Pendulum-v1", run(-700.0, -130.0, pendulum, 0.3, 0.99))["collapsed"] is True


@pytest.mark.slow
def test_reuse_copies_a_finished_group_only_when_it_is_what_the_suite_trains(tiny, tmp_path, capsys):
    """A group of another suite is copied when its seeds and recorded configurations are this suite's, and
    trained otherwise (a different batch size in the source: one line says why)."""
    first = tmp_path / "first"
    S.run_suite(S.Suite(**{**tiny.__dict__, "algos": ("sac",)}), first)
    source = S.unit_dir(first, "sac", "gym:Pendulum-v1")
    same = S.Suite(**{**tiny.__dict__, "reuse": (f"sac={first / 'runs' / 'sac'}",)})
    second = tmp_path / "second"
    assert S.run_suite(same, second, limit=0) == {"reused": 1, "resumed": 0, "ran": 0}
    copied = S.unit_dir(second, "sac", "gym:Pendulum-v1")
    for f in source.rglob("*"):
        if f.is_file():
            assert (copied / f.relative_to(source)).read_bytes() == f.read_bytes(), f
    assert not S.unit_dir(second, "td3", "gym:Pendulum-v1").exists()  # limit 0: nothing trained
    other = S.Suite(**{**same.__dict__, "train_args": same.train_args.replace("--batch-size 16", "--batch-size 8")})
    assert "batch_size: 16 -> 8" in S.reusable(other, "sac", "gym:Pendulum-v1", source)
    assert S.run_suite(other, tmp_path / "third", limit=0) == {"reused": 0, "resumed": 0, "ran": 0}
    assert "not reusing" in capsys.readouterr().err and not S.unit_dir(tmp_path / "third", "sac",
                                                                         "gym:Pendulum-v1").exists()
    fewer = S.Suite(**{**same.__dict__, "seeds": (0,)})
    assert S.reusable(fewer, "sac", "gym:Pendulum-v1", source).startswith("seeds [0, 1]")
    with pytest.raises(ConfigError, match="reuse entry"):
        S.Suite(**{**tiny.__dict__, "reuse": ("ppo=somewhere",)})


def test_a_record_of_an_older_wrl_is_compared_in_todays_options(tiny, tmp_path):
    """A seed's config.json written before --action-box (WPO's five old fields) is what the suite trains when its
    fields spell the label's choice, and a difference when they spell another."""
    from wrl.config import to_dict

    spec = "w=wpo --action-box executed-velocity --box-pull 1"
    cfg, agent = configs_from_argv(S.train_args(tiny, spec, "gym:Pendulum-v1", tmp_path / "u", seed=0))
    old = {k: v for k, v in to_dict(agent).items() if k != "action_box"}
    old.update(bounded_mean=True, bootstrap_actions="raw", off_box="executed", action_link="clip")
    record = json.loads(json.dumps({"config": to_dict(cfg), "agent_config": old}))
    assert S.recorded_differences(tiny, spec, "gym:Pendulum-v1", 0, record) == []
    record["agent_config"]["off_box"] = "extrapolate"
    assert S.recorded_differences(tiny, spec, "gym:Pendulum-v1", 0, record) == [
        "action_box: 'pull' -> 'executed-velocity'"]
    record["agent_config"]["bounded_mean"] = False  # no choice spells it: one line says so
    assert "no --action-box equivalent" in S.recorded_differences(tiny, spec, "gym:Pendulum-v1", 0, record)[0]


def test_running_a_subset_of_labels_keeps_only_their_reuse_entries(tiny):
    """``--algos LABEL`` of a suite that reuses other labels runs that label alone (the reuse entries of the
    labels left out are dropped, not an error); a kept label keeps its entries; bare labels stand for entries."""
    suite = S.Suite(**{**tiny.__dict__, "algos": ("sac", "td3", "sac-8=sac --batch-size 8"),
                       "reuse": ("sac=a/runs/sac", "td3=b/runs/td3")})
    only = S.with_overrides(suite, algos=("sac-8",))
    assert only.algos == ("sac-8=sac --batch-size 8",) and only.reuse == ()
    kept = S.with_overrides(suite, algos=("td3", "sac-8"), tasks=("gym:Pendulum-v1",))
    assert kept.reuse == ("td3=b/runs/td3",) and kept.algos == ("td3", "sac-8=sac --batch-size 8")
    assert S.with_overrides(suite, seeds=(0,)).reuse == suite.reuse

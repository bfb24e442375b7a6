"""The names and help of options: an option of another algorithm names the algorithms that have it and the help
page that lists it; `wrl bench --help` groups the tools apart from the one-study benchmarks."""

import pytest

from wrl.lab.cli import BENCH_STUDIES, BENCHES, main


def test_an_option_of_another_algorithm_names_its_algorithm_and_help_page(capsys):
    assert main(["train", "--algo", "sac", "--eta", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--eta does not apply to --algo sac" in err
    assert "--eta is an option of wppg (`wrl train --algo wppg --help` lists it)" in err


def test_the_help_page_a_foreign_option_points_to_lists_it(capsys):
    assert main(["train", "--algo", "wpo", "--policy-delay", "2"]) == 2
    err = capsys.readouterr().err
    assert "--policy-delay is an option of sac and td3" in err
    page = err.split("`")[1].split()[1:]  # the help command named: train --algo sac --help
    with pytest.raises(SystemExit):
        main(page)
    assert "--policy-delay" in capsys.readouterr().out


def test_bench_help_lists_the_tools_apart_from_the_one_study_benchmarks(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    tools, studies = out.split("one-study benchmarks")
    for name in BENCHES:
        assert f"\n  {name} " in (studies if name in BENCH_STUDIES else tools)


@pytest.mark.parametrize("name", BENCH_STUDIES)
def test_the_one_study_benchmarks_keep_their_commands(name, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", name, "--help"])
    assert e.value.code == 0
    assert BENCHES[name].help in capsys.readouterr().out.replace("\n", " ")


def _train_help(algo: str, capsys) -> str:
    """The help of ``wrl train --algo ALGO``, one line per option (no wrapping at hyphens)."""
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SystemExit):
        mp.setenv("COLUMNS", "2000")
        main(["train", "--algo", algo, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_each_gaussian_policy_says_what_it_is(capsys):
    assert "a diagonal Gaussian N(mu(s), sigma(s)^2) whose samples are not squashed" in _train_help("wpo", capsys)
    for algo in ("wppg", "wgf-direct"):
        assert "gaussian, a tanh-Gaussian tanh(mu(s) + sigma(s)" in _train_help(algo, capsys)


@pytest.mark.parametrize(("algo", "option", "words"), [
    ("sac", "--init-alpha", "WPPG's --entropy-tau, wgf-direct's --alpha"),
    ("wppg", "--entropy-tau", "SAC's alpha, wgf-direct's --alpha"),
    ("wgf-direct", "--alpha", "SAC's alpha, WPPG's --entropy-tau"),
    ("wgf-indirect", "--alpha", "not an entropy weight on actions"),
    ("wpo", "--policy-critic", "WPO's default is Acme's (first)"),
    ("wppg", "--policy-critic", "default: the twin minimum of SAC and TD3"),
])
def test_the_help_of_a_shared_concept_names_its_other_spellings(algo, option, words, capsys):
    text = _train_help(algo, capsys)
    assert words in text[text.index(f"{option} "):]


def test_wgf_direct_calls_its_action_particles_per_state_num_samples_and_reads_the_old_name(tmp_path):
    from wrl.agents.wgf_direct import WGFDirectConfig
    from wrl.config import from_dict, to_dict
    from wrl.lab.cli import configs_from_argv
    from wrl.training.options import configs

    new = configs_from_argv(["--algo", "wgf-direct", "--num-samples", "4"])[1]
    assert new.num_samples == 4
    assert configs_from_argv(["--algo", "wgf-direct", "--num-particles", "4"])[1] == new  # the old spelling
    assert configs("wgf-direct", num_particles=4)[1] == new
    file = tmp_path / "s.toml"
    file.write_text("algo = 'wgf-direct'\nnum_particles = 4\n")
    assert configs(file=file)[1] == new
    record = to_dict(WGFDirectConfig())
    record["num_particles"] = record.pop("num_samples")  # a config.json written before the rename
    assert from_dict(WGFDirectConfig, record) == WGFDirectConfig()
    # the indirect method keeps --num-particles: its M policies
    indirect = configs_from_argv(["--algo", "wgf-indirect", "--num-particles", "4", "--num-envs", "8"])[1]
    assert indirect.num_particles == 4


def test_the_old_and_new_name_together_is_one_clear_line(capsys):
    assert main(["train", "--algo", "wgf-direct", "--num-particles", "4", "--num-samples", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "old name of num_samples" in err


@pytest.mark.parametrize("given", [["--batch-size", "64"], ["--utd", "1"], ["--n-step", "1"]])
def test_wgf_indirect_rejects_the_off_policy_settings_it_does_not_use(given, capsys):
    assert main(["train", "--algo", "wgf-indirect", *given]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{given[0]} does not apply to --algo wgf-indirect" in err


def test_a_settings_file_cannot_set_what_wgf_indirect_does_not_use(tmp_path):
    from wrl.errors import ConfigError
    from wrl.training.options import configs

    file = tmp_path / "s.toml"
    file.write_text("algo = 'wgf-indirect'\nbatch_size = 64\n")
    with pytest.raises(ConfigError, match="--batch-size does not apply to --algo wgf-indirect"):
        configs(file=file)
    assert configs("sac", batch_size=64)[0].batch_size == 64  # an off-policy agent uses it


def test_steps_rounded_up_to_whole_steps_of_the_environments_are_announced(monkeypatch, tmp_path, capsys):
    from wrl.errors import ConfigError
    from wrl.training import trainer
    from wrl.training.config import TrainConfig

    cfg = TrainConfig(algo="wgf-indirect", total_steps=300)
    assert cfg.num_envs == 32 and cfg.frames_run() == 320
    assert TrainConfig(algo="wgf-indirect", total_steps=320).rounding_note() is None
    assert TrainConfig(total_steps=301).rounding_note() is None  # one environment: exact
    assert TrainConfig(total_steps=301, action_repeat=2).frames_run() == 302

    def stop(*args, **kwargs):
        raise ConfigError("stopped before compiling")

    monkeypatch.setattr(trainer, "compiled_step_fns", stop)
    assert main(["train", "--algo", "wgf-indirect", "--total-steps", "300", "--run-dir", str(tmp_path / "r"),
                 "--no-progress", "--no-tensorboard"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("wrl: note: --total-steps 300 runs as 320 environment steps: each step of the 32 environments "
                      "is 32 frames; give a multiple of 32 to run exactly that many")


def test_bad_input_is_one_line_without_the_rounding_note(tmp_path, capsys):
    assert main(["train", "--algo", "wgf-indirect", "--total-steps", "300", "--num-envs", "6"]) == 2
    assert capsys.readouterr().err.count("\n") == 1

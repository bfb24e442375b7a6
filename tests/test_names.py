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

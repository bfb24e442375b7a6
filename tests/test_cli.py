"""The command line: every command's options come from one dataclass through one generator (add_options)."""

import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from wrl.config import REQUIRED, hp, option_name
from wrl.errors import ConfigError
from wrl.lab.cli import BENCHES, FLOWS, _Parser, add_options, main, options_from, parse_command
from wrl.registry import Entry, Registry

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Example:
    path: str = hp(REQUIRED, "where", positional=True)
    out: str = hp(REQUIRED, "required option")
    names: tuple[str, ...] = hp(("a", "b"), "one or more", choices=("a", "b", "c"), nargs="+")
    sizes: tuple[int, ...] = hp((1,), "none or more", ge=1)
    steps: int = hp(10, "bounded", gt=0, metavar="N")
    rate: float | None = hp(None, "may be unset", gt=0, exclusive="pace")
    every: int | None = hp(None, "or this one", ge=1, exclusive="pace")
    fast: bool = hp(False, "a switch")
    video: bool = hp(True, "on by default")
    hidden_field: int = hp(3, "not on the command line", cli=False)


def parse(argv):
    parser = _Parser(prog="example")
    add_options(parser, Example)
    return options_from(Example, parser.parse_args(argv))


def test_add_options_covers_positionals_nargs_switches_and_exclusive_groups(capsys):
    opts = parse(["p", "--out", "o"])
    assert opts == Example(path="p", out="o")
    opts = parse(["p", "--out", "o", "--names", "c", "--sizes", "--steps", "2", "--every", "5", "--fast",
                  "--no-video"])
    assert (opts.names, opts.sizes, opts.steps, opts.every, opts.fast, opts.video) == (("c",), (), 2, 5, True, False)
    assert opts.hidden_field == 3
    for bad in (["p"], ["p", "--out", "o", "--names"], ["p", "--out", "o", "--names", "d"],
                ["p", "--out", "o", "--rate", "1", "--every", "2"], ["p", "--out", "o", "--no-fast"]):
        with pytest.raises(SystemExit) as e:
            parse(bad)
        assert e.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    # the bounds of hp are checked by the same validate as the library's configs, each element of a tuple too
    for bad, message in ((["--steps", "0"], "--steps must be > 0 (got 0)"),
                         (["--sizes", "2", "0"], "--sizes must be >= 1 (got 0)"),
                         (["--rate", "-1"], "--rate must be > 0 (got -1.0)")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse(["p", "--out", "o", *bad])
    parser = _Parser(prog="example")
    add_options(parser, Example)
    text = " ".join(parser.format_help().split())
    assert "one or more (default: a b)" in text and "--steps N" in text and "{a,b,c}" in text
    assert "may be unset (default: none)" in text and "a switch (default" not in text
    assert "--hidden-field" not in text


def test_hp_rejects_unknown_keys():
    with pytest.raises(TypeError, match="unknown hp keys"):
        hp(1, "x", positonal=True)


def test_every_flow_and_benchmark_has_an_options_dataclass_with_help():
    for registry in (FLOWS, BENCHES):
        for name in registry:
            cls = registry.config_class(name)
            assert dataclasses.is_dataclass(cls), name
            for f in dataclasses.fields(cls):
                assert f.metadata.get("help"), f"{registry.kind} {name}: {option_name(f.name)} has no help"


@pytest.mark.parametrize("name", list(FLOWS))
def test_a_flow_without_options_gets_its_dataclass_defaults(name):
    args, opts = parse_command(["flow", name])
    assert opts == FLOWS.config_class(name)()
    assert args._module == FLOWS[name].module


def test_bad_option_values_are_one_line_and_exit_2(tmp_path, capsys):
    for argv in (["flow", "lqr", "--steps", "0", "--out", str(tmp_path / "a")],
                 ["flow", "mixture", "--min-std", "20", "--out", str(tmp_path / "b")],
                 ["bench", "throughput", "--warmup", "10"],
                 ["bench", "suite", "smoke", "--out", str(tmp_path / "c"), "--jobs", "0"],
                 ["eval", str(tmp_path), "--episodes", "0"],
                 ["train", "--num-seeds", "0", "--run-dir", str(tmp_path / "d")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("wrl: error: ") and len(err.splitlines()) == 1, err
    assert not any(tmp_path.iterdir())


def test_every_benchmark_command_in_the_docs_still_parses():
    """The `Command:` line of every report in docs/benchmarks parses to its options as written."""
    lines = [line for path in sorted((ROOT / "docs" / "benchmarks").glob("*.md"))
             for line in path.read_text().splitlines() if line.startswith("Command: `wrl ")]
    assert len(lines) > 20
    for line in lines:
        argv = shlex.split(line.split("`")[1])[1:]
        assert parse_command(argv)[1] is not None, line


def test_registry():
    reg = Registry("thing", {"json": Entry("json", "the json module", "JSONDecoder")})
    assert list(reg) == ["json"] and reg["json"].help == "the json module" and len(reg) == 1
    assert reg.config_class("json").__name__ == "JSONDecoder"
    with pytest.raises(ConfigError, match="unknown thing 'yaml'; choose one of json"):
        reg.load("yaml")


def test_bench_help_shows_no_sphinx_markup():
    """The help pages built from module docstrings read as plain text: no `:func:` roles, no double backquotes."""
    from wrl.lab.cli import build_parser

    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    for name, page in bench._subparsers._group_actions[0].choices.items():
        out = page.format_help()
        assert not re.search(r":(func|class|mod|meth|attr|data):`", out) and "``" not in out, (name, out)

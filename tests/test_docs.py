"""The code examples of the documentation site (docs/), checked against the code.

* every ``wrl ...`` command in a ``bash`` block is parsed by the real parser (``wrl.lab.cli.parse_command``): an
  unknown or renamed option, a wrong choice or a removed command fails;
* every ``python`` block is executed (in a temporary directory, a page's blocks in order, so a block may read
  what an earlier one wrote); they are written with short settings;
* a ``bash`` block preceded by ``<!-- test: run -->`` is run for real, command by command, in that directory;
* every ``toml`` block is valid TOML.

Pages that are records rather than examples are left out: the benchmark reports (``docs/benchmarks/``, written by
the commands at their top, some with options renamed since) and the dated history pages (``*-history.md``).
The executed examples train for a few hundred steps, so they are marked ``slow`` (CI runs them).
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"(?P<marker><!-- test: run -->\s*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```", re.S | re.M)


def pages() -> list[Path]:
    """The hand-written pages of the site."""
    return sorted(p for p in DOCS.rglob("*.md")
                  if "benchmarks" not in p.relative_to(DOCS).parts and not p.name.endswith("-history.md"))


def blocks(page: Path) -> list[tuple[str, str, bool]]:
    """(language, body, marked to run) of every fenced block of ``page``."""
    return [(m["lang"], m["body"], bool(m["marker"])) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def wrl_commands(body: str) -> list[list[str]]:
    """The argument lists of every ``wrl`` command of a shell block (comments dropped, `&&` and `|` chains
    split)."""
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip().removeprefix("$ ")
        for part in re.split(r"\s*(?:&&|\|)\s*", line):
            words = shlex.split(part) if part else []
            if words and words[0] == "wrl":
                commands.append(words[1:])
    return commands


PAGES = pages()
IDS = [str(p.relative_to(DOCS)) for p in PAGES]


def test_the_pages_have_examples_and_commands():
    """The collection finds the examples (a change of fence syntax would otherwise check nothing)."""
    all_blocks = [b for p in PAGES for b in blocks(p)]
    assert sum(lang == "python" for lang, _, _ in all_blocks) >= 3
    assert sum(len(wrl_commands(body)) for lang, body, _ in all_blocks if lang == "bash") >= 50
    assert any(run for _, _, run in all_blocks)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_wrl_command_parses(page):
    from wrl.lab.cli import parse_command

    for lang, body, _ in blocks(page):
        if lang not in ("bash", "sh", "console"):
            continue
        for argv in wrl_commands(body):
            try:
                parse_command(argv)
            except SystemExit as e:
                pytest.fail(f"{page.name}: `wrl {shlex.join(argv)}` does not parse (exit {e.code})")


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_toml_blocks_are_valid(page):
    for lang, body, _ in blocks(page):
        if lang == "toml":
            tomllib.loads(body)


EXECUTED = [p for p in PAGES if any(lang == "python" or run for lang, _, run in blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", EXECUTED, ids=[str(p.relative_to(DOCS)) for p in EXECUTED])
def test_examples_run(page, tmp_path, monkeypatch, capsys):
    from wrl.lab.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WRL_COMPILE_CACHE", os.environ.get("WRL_COMPILE_CACHE", str(tmp_path / "jax-cache")))
    for lang, body, run in blocks(page):
        if lang == "python":
            exec(compile(body, f"{page.name}:python", "exec"), {"__name__": "__docs__"})
        elif run:
            for argv in wrl_commands(body):
                assert main(argv) == 0, f"{page.name}: `wrl {shlex.join(argv)}` failed"

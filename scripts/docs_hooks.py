"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks: [scripts/docs_hooks.py]``).

They generate, at every build, the pages that must follow the code and the benchmark commands rather than be
written by hand:

* ``reference/api/<module>.md``: one API page per public module of ``wrl`` (every module whose dotted name has no
  part starting with ``_``), each a ``::: module`` block that mkdocstrings fills from the docstrings;
* ``reference/cli/<command>.md``: the help of every command, written by the parser itself
  (``wrl.lab.cli.build_parser``): ``wrl``, ``wrl train --algo NAME`` for every algorithm, ``wrl eval``, ``doctor``,
  ``plot``, and every ``wrl bench NAME`` and ``wrl flow NAME``;
* the navigation entries of those pages and of every report in ``docs/benchmarks/`` (written by the benchmark
  commands): a nav item whose value is ``"GENERATED:api"``, ``"GENERATED:cli"`` or ``"GENERATED:benchmarks"``
  in ``mkdocs.yml`` is replaced by the list of pages;
* ``suites/index.md``, every suite file of ``docs/suites/`` shown whole, and ``results-archives.md``, the
  repository's ``results/README.md``, so that the pages that link to them stay inside the site;
* links: the long-form pages link to the source (``../wrl/flows/velocity.py``), which reads well in the
  repository; :func:`on_page_markdown` points each such link at the module's API page instead (at the entry of ``name``
  for a link written ``[`name`](../wrl/pkg/module.py)``), a link to a
  folder of ``docs/`` at its ``README.md``, and a link to ``results/README.md`` at ``results-archives.md``;
* math: ``pymdownx.arithmatex`` (generic mode) marks ``$...$`` and ``$$...$$``; :func:`on_page_content` turns
  every marked formula into MathML with latex2mathml, so the browser renders it natively, with no script and
  no network.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import pkgutil
import posixpath
import re
from contextlib import redirect_stdout
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "GENERATED:"


def public_modules() -> list[str]:
    """Dotted names of the public modules of ``wrl``, sorted (found on disk; nothing is imported)."""
    names = ["wrl"]
    for info in pkgutil.walk_packages([str(ROOT / "wrl")], prefix="wrl."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_pages() -> dict[str, tuple[str, str]]:
    """``{page name: (command, help text)}`` for every command of the parser."""
    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal's width: make the pages reproducible
    from wrl.agents import ALGOS
    from wrl.lab.cli import build_parser

    def help_of(parser: argparse.ArgumentParser) -> str:
        out = io.StringIO()
        with redirect_stdout(out):
            parser.print_help()
        return out.getvalue()

    root = build_parser()
    commands = _sub_parsers(root)
    pages = {"wrl": ("wrl", help_of(root))}
    for algo in ALGOS:
        train = _sub_parsers(build_parser(algo))["train"]
        pages[f"train-{algo}"] = (f"wrl train --algo {algo}", help_of(train))
    for name in ("eval", "doctor", "plot"):
        pages[name] = (f"wrl {name}", help_of(commands[name]))
    for group in ("bench", "flow"):
        for name, parser in _sub_parsers(commands[group]).items():
            pages[f"{group}-{name}"] = (f"wrl {group} {name}", help_of(parser))
    return pages


def _api_page(module: str) -> str:
    return f"# `{module}`\n\n::: {module}\n"


def _cli_page(command: str, text: str) -> str:
    return (f"# `{command}`\n\nGenerated from the parser at build time: the output of `{command} --help`.\n\n"
            f"```text\n{text.rstrip()}\n```\n")


_state: dict[str, object] = {}


def on_config(config, **kwargs):
    """Expand the ``GENERATED:`` items of the navigation into the generated and benchmark pages."""
    modules = public_modules()
    cli = cli_pages()
    benchmarks = sorted(p.name for p in (ROOT / "docs" / "benchmarks").glob("*.md") if p.name != "README.md")
    _state.update(modules=modules, cli=cli)
    generated = {
        "api": [{m: f"reference/api/{m}.md"} for m in modules],
        "cli": [{command: f"reference/cli/{name}.md"} for name, (command, _) in cli.items()],
        "benchmarks": [{name.removesuffix(".md"): f"benchmarks/{name}"} for name in benchmarks],
    }

    def expand(items):
        out = []
        for item in items:
            if isinstance(item, str) and item.startswith(PLACEHOLDER):
                out.extend(generated[item.removeprefix(PLACEHOLDER)])
            elif isinstance(item, dict):
                out.append({k: expand(v) if isinstance(v, list) else v for k, v in item.items()})
            else:
                out.append(item)
        return out

    config["nav"] = expand(config["nav"])
    return config


def on_files(files, config, **kwargs):
    """Add the generated API and CLI pages to the site's files."""
    for module in _state["modules"]:
        files.append(File.generated(config, f"reference/api/{module}.md", content=_api_page(module)))
    for name, (command, text) in _state["cli"].items():
        files.append(File.generated(config, f"reference/cli/{name}.md", content=_cli_page(command, text)))
    files.append(File.generated(config, "suites/index.md", content=suites_page()))
    archives = (ROOT / "results" / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "results-archives.md", content=archives))
    return files


def suites_page() -> str:
    """The suite files of ``docs/suites/``, each shown whole under its name."""
    parts = ["# Suite files\n\nThe TOML files that `wrl bench suite FILE` runs (`docs/suites/` in the repository); "
             "each file's comments say what it measured and how to rerun it.\n"]
    for path in sorted((ROOT / "docs" / "suites").glob("*.toml")):
        parts.append(f"## {path.name}\n\n[{path.name}]({path.name})\n\n```toml\n"
                     f"{path.read_text(encoding='utf-8').rstrip()}\n```\n")
    return "\n".join(parts)


_LINK = re.compile(r"(?:\[`([A-Za-z_][\w.]*)`)?\]\((?!https?:|mailto:|#)([^)\s#]+)(#[^)\s]*)?\)")


def site_target(src_uri: str, target: str) -> str | None:
    """The page of the site that a relative link ``target`` of page ``src_uri`` should point at, relative to
    that page, or None to keep the link as it is."""
    here = posixpath.dirname(src_uri)
    path = posixpath.normpath(posixpath.join("docs", here, target))
    if path.startswith("wrl/") or path == "wrl":
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        return posixpath.relpath(f"reference/api/{module}.md", here or ".")
    if path == "results/README.md":
        return posixpath.relpath("results-archives.md", here or ".")
    if path.startswith("docs/") and (ROOT / path).is_dir():
        inside = path.removeprefix("docs/")
        index = "index.md" if inside == "suites" else "README.md"
        return posixpath.relpath(f"{inside}/{index}", here or ".")
    return None


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Point links at source files and folders to their pages on the site (see the module's docstring)."""

    def replace(match: re.Match) -> str:
        symbol, target, anchor = match.groups()
        new = site_target(page.file.src_uri, target)
        if new is None:
            return match.group(0)
        opening = f"[`{symbol}`" if symbol else ""
        module = new.split("/")[-1].removesuffix(".md")
        if symbol and not anchor and module.startswith("wrl.") and target.endswith(".py") \
                and not symbol.endswith(".py"):
            # [`name`](../wrl/pkg/mod.py): the entry of `name` on the module's page
            anchor = f"#{symbol if symbol.startswith(module + '.') else module + '.' + symbol}"
        return f"{opening}]({new}{anchor or ''})"

    return _LINK.sub(replace, markdown)


_ROLE = re.compile(r":(func|class|mod|meth|attr|data|obj|exc):\s*(<code)")
_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)


def tex_to_mathml(tex: str, display: bool) -> str:
    """MathML of one formula (``tex`` without its delimiters)."""
    from latex2mathml.converter import convert

    return convert(tex.strip(), display="block" if display else "inline")


def on_page_content(html_text: str, page, config, files, **kwargs) -> str:
    """Replace each formula marked by arithmatex by its MathML, and drop the Sphinx role names of docstrings."""

    def replace(match: re.Match) -> str:
        body = html.unescape(match.group(2)).strip()
        display = match.group(1) == "div"
        for left, right in (("\\[", "\\]"), ("\\(", "\\)"), ("$$", "$$"), ("$", "$")):
            if body.startswith(left) and body.endswith(right):
                body = body[len(left):-len(right)]
                break
        return f'<{match.group(1)} class="math">{tex_to_mathml(body, display)}</{match.group(1)}>'

    # the docstrings' Sphinx roles (:func:`name`) render as a role name before the code: keep the code only
    html_text = _ROLE.sub(r"\2", html_text)
    return _MATH.sub(replace, html_text)

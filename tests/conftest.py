import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
# Tests that go through the CLI must not write into the user's compilation cache (test_compile_cache sets its own).
os.environ.setdefault("WRL_COMPILE_CACHE", "off")

# Tests marked ``slow`` (training runs, subprocess fault injection, ...) are deselected by default, so that a
# local ``pytest -q`` is the fast subset; ``--run-slow``, an explicit ``-m`` expression or a true ``CI``
# environment variable (CI sets CI=true) runs the whole suite.
_SLOW_DESELECTED = pytest.StashKey[int]()
_HOW = "pytest --run-slow (or CI=true pytest)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (they run by default when CI is true)")


def _runs_slow(config: pytest.Config) -> bool:
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")
    return ci or config.getoption("--run-slow") or bool(config.getoption("markexpr", ""))


def pytest_report_header(config: pytest.Config) -> str:
    if _runs_slow(config):
        return "slow tests: included"
    return f"slow tests: deselected (the fast subset); run everything with {_HOW}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _runs_slow(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    config.stash[_SLOW_DESELECTED] = len(slow)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = config.stash.get(_SLOW_DESELECTED, 0)
    if skipped:
        terminalreporter.write_line(f"{skipped} slow tests deselected (the fast subset ran); "
                                    f"run them too with {_HOW}")

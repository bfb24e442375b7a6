"""Optional dependencies: a missing extra is one line naming it (exit status 2); importing wrl changes no global
state (matplotlib's backend, MUJOCO_GL)."""

import os
import subprocess
import sys

import pytest

from wrl.errors import MissingDependencyError, WrlError
from wrl.lab.cli import main
from wrl.optional import ensure, install_hint, is_installed, require


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    # A None entry in sys.modules makes both find_spec and import report the module as absent; its submodules
    # too (an earlier test may have imported them: a package that is really missing has none in sys.modules).
    for name in [m for m in sys.modules if m == "ott" or m.startswith("ott.")] + ["ott"]:
        monkeypatch.setitem(sys.modules, name, None)
    assert not is_installed("ott")
    with pytest.raises(MissingDependencyError) as info:
        require("ott.geometry.pointcloud", "sinkhorn_w2_sq")
    message = str(info.value)
    assert message == "sinkhorn_w2_sq needs ott-jax, which is not installed: pip install -e '.[ot]'"
    assert isinstance(info.value, WrlError) and isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r"wrl plot needs matplotlib.*\.\[plots\]"):
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        ensure("matplotlib", "wrl plot")
    assert install_hint("dm_control") == "pip install -e '.[dmc]'"


def test_dmc_without_dm_control_exits_2_with_one_line_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "dm_control", None)
    run_dir = tmp_path / "run"
    assert main(["train", "--env", "dmc:walker-walk", "--total-steps", "10", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == "wrl: error: dmc:walker-walk needs dm_control, which is not installed: pip install -e '.[dmc]'\n"
    assert not run_dir.exists()


def test_plot_and_flow_without_matplotlib_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "c.png")]) == 2
    assert main(["flow", "lqr", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" needs ")[0] for line in err] == ["wrl: error: wrl plot", "wrl: error: wrl flow lqr"]
    assert all(line.endswith("pip install -e '.[plots]'") for line in err)
    assert not (tmp_path / "f").exists()


def test_importing_wrl_changes_no_global_state():
    code = ("import os, sys; import wrl, wrl.lab.plots, wrl.lab.cli, wrl.envs, wrl.lab.commands, wrl.lab.bench.suite; "
            "import matplotlib; print(matplotlib.get_backend(), 'MUJOCO_GL' in os.environ, "
            "'matplotlib.pyplot' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    env["MPLBACKEND"] = "svg"  # the user's choice, which wrl must keep
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["svg", "False", "False"]


def test_figures_select_no_backend(tmp_path):
    code = ("import matplotlib; from wrl.lab.plots import new_figure; fig = new_figure(figsize=(2, 2)); "
            f"fig.subplots().plot([0, 1]); fig.savefig({str(tmp_path / 'f.png')!r}); "
            "import sys; print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    env = {**os.environ, "MPLBACKEND": "pdf"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["pdf", "False"]
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"

"""`harness new-plugin`: the package it writes installs, is discovered, and passes its own tests."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from harness.cli.newplugin import render
from harness.testing import check_plugin, conformance_cases

from .conftest import run_cli


def test_every_role_template_passes_the_kit(tmp_path):
    files = render("allroles", ["data", "model", "loss", "optimizer"])
    module = tmp_path / "harness_allroles.py"
    module.write_text(files["harness_allroles.py"])
    report = check_plugin(str(module), partners="each")
    assert report.ok, str(report)
    assert {c.role for c in report.cases if c.kind == "contract"} == {"data", "model", "loss", "optimizer"}


def pip_install_to(package, target):
    """``pip install`` into a throwaway ``--target`` dir: visible only with it on PYTHONPATH."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(package)]
    if importlib.util.find_spec("wheel") is not None:
        cmd.insert(4, "--no-build-isolation")  # offline and faster when the build tools are here
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generated_package_installs_is_listed_runs_and_passes_its_tests(tmp_path):
    made = run_cli("new-plugin", "mysgd", "--roles", "optimizer,loss", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    pkg = tmp_path / "harness-mysgd"
    assert made.stdout.splitlines()[0] == (
        f"created {pkg}/ with README.md, harness_mysgd.py, pyproject.toml, setup.cfg, tests/test_harness_mysgd.py"
    )
    assert "mysgd = harness_mysgd" in (pkg / "setup.cfg").read_text()
    code = (pkg / "harness_mysgd.py").read_text()
    assert "def register_optimizers" in code and "def register_losses" in code and "def register_data" not in code

    # installed beside, not into, the shared environment: other tests never see it
    site = tmp_path / "site"
    pip_install_to(pkg, site)
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}

    listed = run_cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (info,) = [p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "mysgd"]
    assert (info["distribution"], info["version"], info["source"]) == ("harness-mysgd", "0.1.0", "entry point")
    assert info["provides"] == {"loss": ["mysgd"], "optimizer": ["mysgd"]}

    run = run_cli("run", "--optimizer", "mysgd", "--loss", "mysgd", "--model", "gluon", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["epochs"][-1]["loss"] < 1e-4

    # its own test suite, run from its own directory with its own setup.cfg
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pkg, capture_output=True, text=True, timeout=600, env={**os.environ, **env},
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    cases = conformance_cases(str(pkg / "harness_mysgd.py"))
    assert sum(c.kind == "converges" for c in cases) >= 2 * 8  # both components, every built-in partner mix
    assert f"{len(cases)} passed" in tests.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["scratch"], "harness: error: name 'scratch' is taken (plugin 'scratch', data 'scratch' of plugin 'scratch'"),
        (["My-Plugin"], "harness: error: invalid plugin name 'My-Plugin'; valid: lower-case letters, digits"),
        (["ok", "--roles", "optimiser"],
         "harness: error: invalid --roles 'optimiser'; valid: comma-separated data, model, loss, optimizer"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    from harness.cli import main

    assert main(["new-plugin", *args, "--dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(message) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "harness-mine").mkdir()
    assert main(["new-plugin", "mine", "--dir", str(tmp_path)]) == 2
    assert "harness-mine already exists" in capsys.readouterr().err
    assert list((tmp_path / "harness-mine").iterdir()) == []

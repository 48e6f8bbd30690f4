"""Third-party plugins as a user meets them: discovery controls, broken-plugin
isolation, `harness plugins`, tracing, and the installed example package."""
import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT, run_cli

BROKEN = {
    "tests.plugins.broken_import": "import of 'tests.plugins.broken_import' failed: ImportError: No module named 'a_dependency_that_is_not_installed'",
    "tests.plugins.bad_hookimpl_args": "Argument(s) {'context'} are declared in the hookimpl but can not be found in the hookspec",
    "tests.plugins.unknown_hook": "unknown hook register_schedulers; hooks: register_data, register_fused_steps, register_losses, register_models, register_optimizers",
    "tests.plugins.raising_hook": "failed in register_optimizers: RuntimeError: optimizer table not found",
}


def _p(*modules):
    return [arg for m in modules for arg in ("-p", m)]


def _warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("harness: warning:")]


def test_broken_plugins_are_named_in_one_line_and_skipped_by_every_command():
    plugins = run_cli(*_p(*BROKEN), "plugins")
    assert plugins.returncode == 0, plugins.stderr
    warned = _warnings(plugins.stderr)
    assert len(warned) == len(BROKEN) and len(plugins.stderr.splitlines()) == len(BROKEN)
    for module, reason in BROKEN.items():
        (line,) = [w for w in warned if f"'{module}'" in w]
        assert line.startswith(f"harness: warning: skipped plugin '{module}': ")
        assert reason in line
        assert f"skipped {module} (-p): " in plugins.stdout
    assert "scratch" in plugins.stdout and "gluon" in plugins.stdout

    run = run_cli(*_p(*BROKEN), "run", "--epochs", "1", "--optimizer", "gluon")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("epoch 1, loss ")
    assert len(_warnings(run.stderr)) == len(BROKEN)

    verify = run_cli(*_p(*BROKEN), "verify", "--epochs", "1", "--data", "scratch", "--model", "gluon", "--loss", "scratch")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "all combinations agree" in verify.stdout


@pytest.mark.parametrize("module", sorted(BROKEN))
def test_strict_plugins_makes_a_broken_plugin_exit_2(module):
    proc = run_cli("-p", module, "--strict-plugins", "plugins")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") <= 2 and proc.stderr.splitlines()[-1].startswith("harness: error: plugin '")
    assert BROKEN[module] in proc.stderr


def test_a_broken_installed_package_is_skipped_and_can_be_blocked(tmp_path):
    from .test_new_plugin import pip_install_to

    pkg = tmp_path / "harness-brokenpkg"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n')
    (pkg / "setup.cfg").write_text(
        "[metadata]\nname = harness-brokenpkg\nversion = 0.0.1\n\n[options]\npy_modules = harness_brokenpkg\n\n"
        "[options.entry_points]\nharness =\n    brokenpkg = harness_brokenpkg\n"
    )
    (pkg / "harness_brokenpkg.py").write_text("import a_dependency_that_is_not_installed\n")
    pip_install_to(pkg, tmp_path / "site")
    env = {"PYTHONPATH": str(tmp_path / "site")}

    proc = run_cli("run", "--epochs", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "harness: warning: skipped plugin 'brokenpkg': import of 'harness_brokenpkg' failed: "
        "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'\n"
    )
    out, _ = _listing(env=env)
    assert out["skipped"] == [{"name": "brokenpkg", "source": "entry point", "reason": proc.stderr.split(": ", 3)[-1].strip()}]
    assert run_cli("-p", "no:brokenpkg", "plugins", env=env).stderr == ""
    assert run_cli("plugins", env={**env, "HARNESS_LOAD_PLUGINS": "scratch,gluon"}).stderr == ""
    strict = run_cli("--strict-plugins", "run", env=env)
    assert strict.returncode == 2 and strict.stderr.startswith("harness: error: plugin 'brokenpkg': import of")


def test_strict_plugins_from_the_environment():
    proc = run_cli("plugins", "-p", "tests.plugins.unknown_hook", env={"HARNESS_STRICT_PLUGINS": "1"})
    assert proc.returncode == 2
    assert "harness: error: plugin 'tests.plugins.unknown_hook'" in proc.stderr


def test_duplicate_component_across_plugins_is_unselectable_with_a_warning():
    proc = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b"), "plugins")
    assert proc.returncode == 0
    (warned,) = _warnings(proc.stderr)
    assert warned.startswith("harness: warning: duplicate optimizer 'sgd2' registered by plugins ")
    assert warned.endswith("; neither is selectable")
    assert "'tests.plugins.dup_sgd_a'" in warned and "'tests.plugins.dup_sgd_b'" in warned
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith("not selectable: optimizer 'sgd2' is registered by ")]
    assert "tests.plugins.dup_sgd_a" in line and "tests.plugins.dup_sgd_b" in line

    run = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b"), "run", "--optimizer", "sgd2")
    assert run.returncode == 2
    assert "harness: error: ambiguous optimizer 'sgd2'" in run.stderr

    blocked = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b", "no:tests.plugins.dup_sgd_b"), "run", "--optimizer", "sgd2", "--epochs", "1")
    assert blocked.returncode == 0, blocked.stderr

    strict = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b"), "--strict-plugins", "plugins")
    assert strict.returncode == 2
    assert "harness: error: duplicate optimizer 'sgd2'" in strict.stderr


def _listing(*args, env=None):
    proc = run_cli(*args, "plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_built_ins_can_be_blocked():
    out, _ = _listing("-p", "no:gluon", "-p", "no:scratch")
    names = [p["name"] for p in out["plugins"]]
    assert "gluon" not in names and "scratch" not in names
    assert "gluon" not in out["roles"]["optimizer"]
    proc = run_cli("-p", "no:gluon", "run", "--optimizer", "gluon")
    assert proc.returncode == 2
    assert proc.stderr.startswith("harness: error: unknown optimizer 'gluon'; available: ")


def test_autoload_off_and_p_module_loads_an_uninstalled_plugin():
    env = {"HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out, _ = _listing(env=env)
    assert out["plugins"] == []
    out, _ = _listing("-p", "plugins.scratch", "-p", "tests.plugins.only_loss", env=env)
    assert [(p["name"], p["source"], p["distribution"]) for p in out["plugins"]] == [
        ("plugins.scratch", "-p", None),
        ("tests.plugins.only_loss", "-p", None),
    ]
    run = run_cli("-p", "plugins.scratch", "-p", "tests.plugins.only_loss", "run", "--loss", "half_squared", "--epochs", "1", env=env)
    assert run.returncode == 0, run.stderr
    assert "loss=half_squared" in run.stdout


def test_p_accepts_a_python_file(tmp_path):
    path = tmp_path / "my_loss.py"
    path.write_text((ROOT / "tests" / "plugins" / "only_loss.py").read_text())
    out, _ = _listing("-p", str(path))
    (info,) = [p for p in out["plugins"] if p["source"] == "-p"]
    assert info["provides"] == {"loss": ["half_squared"]}


def test_load_plugins_allow_list():
    out, _ = _listing(env={"HARNESS_LOAD_PLUGINS": "scratch"})
    assert [p["name"] for p in out["plugins"]] == ["scratch"]
    out, stderr = _listing(env={"HARNESS_LOAD_PLUGINS": "scratch,nosuch"})
    assert [p["name"] for p in out["plugins"]] == ["scratch"]
    assert "HARNESS_LOAD_PLUGINS names nosuch, which no installed package provides" in stderr


def test_plugins_json_and_hook_filter():
    out, _ = _listing("-p", "tests.plugins.only_loss", "-p", "tests.plugins.broken_import")
    by_name = {p["name"]: p for p in out["plugins"]}
    scratch = by_name["scratch"]
    assert (scratch["distribution"], scratch["source"], scratch["module"]) == ("mxnet-harness", "built-in", "plugins.scratch")
    assert scratch["version"] and scratch["hooks"] == ["register_data", "register_losses", "register_models", "register_optimizers"]
    assert scratch["provides"] == {"data": ["scratch"], "model": ["scratch"], "loss": ["scratch"], "optimizer": ["scratch"]}
    assert by_name["tests.plugins.only_loss"]["hooks"] == ["register_losses"]
    assert out["roles"]["loss"]["half_squared"] == "tests.plugins.only_loss"
    (skipped,) = out["skipped"]
    assert skipped["name"] == "tests.plugins.broken_import" and skipped["source"] == "-p"
    assert "ImportError" in skipped["reason"]



def _main(capsys, *argv):
    from harness.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_hook_filter(capsys):
    for hook in ("register_losses", "losses"):
        code, out, _ = _main(capsys, "-p", "tests.plugins.only_loss", "plugins", "--hook", hook)
        assert code == 0
        assert "tests.plugins.only_loss" in out and "scratch" in out
    _, out, _ = _main(capsys, "-p", "tests.plugins.only_loss", "plugins", "--hook", "register_data")
    assert "tests.plugins.only_loss" not in out and "scratch" in out
    code, out, err = _main(capsys, "plugins", "--hook", "register_lossses")
    assert code == 2 and out == ""
    assert err.strip() == (
        "harness: error: unknown hook 'register_lossses'; hooks: register_data, register_fused_steps, register_losses, register_models, register_optimizers"
    )


def test_table_shows_distribution_version_source_hooks_and_roles(capsys):
    _, out, _ = _main(capsys, "-p", "tests.plugins.only_loss", "plugins")
    header, _, *rows = out.splitlines()
    assert header.split() == ["plugin", "distribution", "version", "source", "hooks", "data", "model", "loss", "optimizer",
                              "fused", "(model/loss/optimizer)"]
    (row,) = [r for r in rows if r.startswith("tests.plugins.only_loss")]
    assert row.split() == ["tests.plugins.only_loss", "-p", "losses", "half_squared"]
    (row,) = [r for r in rows if r.startswith("scratch ")]
    assert row.split()[:4] == ["scratch", "mxnet-harness", "0.1.0", "built-in"]


def test_trace_prints_hook_calls_implementations_and_results():
    proc = run_cli("-p", "no:gluon", "-p", "tests.plugins.only_loss", "plugins", env={"HARNESS_TRACE_PLUGINS": "1"})
    assert proc.returncode == 0
    trace = [l for l in proc.stderr.splitlines() if l.startswith("harness: trace: ")]
    assert "harness: trace: register_losses(register) -> implementations: tests.plugins.only_loss" in trace
    i = trace.index("harness: trace: register_losses(register) -> implementations: tests.plugins.only_loss")
    assert trace[i + 1] == "harness: trace:   tests.plugins.only_loss registered loss 'half_squared'"
    assert trace[i + 2] == "harness: trace: register_losses returned []"
    assert not any("gluon" in l for l in trace)
    assert run_cli("plugins").stderr == ""


def test_pytest_p_options_reach_the_harness_registry(tmp_path):
    """`pytest -p MODULE` / `-p no:NAME` work for benchmarks that use the harness_registry fixture."""
    test = tmp_path / "test_registry.py"
    test.write_text(
        textwrap.dedent(
            """
            def test_registry(harness_registry):
                assert "half_squared" in harness_registry.names("loss")
                assert "gluon" not in harness_registry.plugins
                assert "scratch" in harness_registry.plugins
            """
        )
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "harness.testing",
           "-p", "tests.plugins.only_loss", "-p", "no:gluon", str(test)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


# The example package: CI installs it with the README's test command.

def _example_installed():
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("harness-momentum")
    except PackageNotFoundError:
        pytest.fail("harness-momentum is not installed; install it as the README's test command does: "
                    "pip install -e '.[test]' ./examples/harness-momentum")


def test_installed_example_is_listed_and_mixes_with_scratch_and_gluon():
    _example_installed()
    out, _ = _listing()
    (info,) = [p for p in out["plugins"] if p["name"] == "momentum"]
    assert (info["distribution"], info["version"], info["source"]) == ("harness-momentum", "0.1.0", "entry point")
    assert info["hooks"] == ["register_optimizers"]
    assert info["provides"] == {"optimizer": ["momentum", "adam"]}

    run = run_cli("run", "--optimizer", "momentum", "--data", "gluon", "--model", "gluon", "--loss", "scratch", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["combination"] == {"data": "gluon", "model": "gluon", "loss": "scratch", "optimizer": "momentum"}
    assert result["epochs"][-1]["loss"] < 1e-4
    assert abs(result["params"]["b"] - 4.2) < 0.02

    blocked = run_cli("-p", "no:momentum", "run", "--optimizer", "adam")
    assert blocked.returncode == 2 and "unknown optimizer 'adam'" in blocked.stderr


def test_verify_defaults_to_built_ins_and_compares_a_named_third_party_component_with_its_twin():
    _example_installed()
    from harness.plugins import load
    from harness.verify import default_combinations

    registry = load()
    assert {"momentum", "adam"} <= set(registry.names("optimizer"))
    defaults = default_combinations(registry)
    assert defaults and all(c.optimizer not in ("momentum", "adam") for c in defaults)
    assert {c.optimizer for c in default_combinations(registry, every=True)} >= {"momentum", "adam"}

    named = run_cli("verify", "--epochs", "1", "--json", "--optimizer", "momentum", "--data", "scratch", "--data", "gluon", "--loss", "scratch")
    assert named.returncode == 0, named.stdout
    rows = json.loads(named.stdout)["rows"]
    assert {r["reference"]["optimizer"] for r in rows} == {"momentum"}
    assert all(r["ok"] for r in rows)

    seed = run_cli("verify", "--epochs", "1", "--optimizer", "momentum", "--model", "scratch", "--data", "scratch", "--loss", "scratch", "--against-seed")
    assert seed.returncode == 1
    assert "DIFFERS" in seed.stdout and "reference: scratch/scratch/scratch/scratch" in seed.stdout

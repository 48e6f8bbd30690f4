"""Third-party plugins as a user meets them: discovery controls, broken-plugin
isolation, `harness plugins`, tracing, and the installed example package."""
import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

from harness.core.loader import PluginWarning, load
from harness.errors import HarnessError, PluginError
from harness.hookspecs import hookimpl
from harness.roles import Combination

from .conftest import ROOT, run_cli

BROKEN = {
    "tests.plugins.broken_import": (
        "import of 'tests.plugins.broken_import' failed: "
        "ImportError: No module named 'a_dependency_that_is_not_installed'"
    ),
    "tests.plugins.bad_hookimpl_args": (
        "Argument(s) {'context'} are declared in the hookimpl but can not be found in the hookspec"
    ),
    "tests.plugins.unknown_hook": (
        "unknown hook register_schedulers; hooks: register_algorithms, register_data, register_fused_steps, "
        "register_losses, register_models, register_optimizers, register_tasks"
    ),
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

    verify = run_cli(*_p(*BROKEN), "verify", "--epochs", "1", "--data", "scratch", "--model", "gluon",
                     "--loss", "scratch")
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
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    )
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
    reason = proc.stderr.split(": ", 3)[-1].strip()
    assert out["skipped"] == [{"name": "brokenpkg", "source": "entry point", "reason": reason}]
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
    prefix = "not selectable: optimizer 'sgd2' is registered by "
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith(prefix)]
    assert "tests.plugins.dup_sgd_a" in line and "tests.plugins.dup_sgd_b" in line

    run = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b"), "run", "--optimizer", "sgd2")
    assert run.returncode == 2
    assert "harness: error: ambiguous optimizer 'sgd2'" in run.stderr

    blocked = run_cli(*_p("tests.plugins.dup_sgd_a", "tests.plugins.dup_sgd_b", "no:tests.plugins.dup_sgd_b"),
                      "run", "--optimizer", "sgd2", "--epochs", "1")
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


TASKS_PLUGIN = ("tasks", "built-in", "mxnet-harness")  # the host's own tasks: loaded whatever the policy
ALGORITHMS_PLUGIN = ("algorithms", "built-in", "mxnet-harness")  # and d2l chapter 7's algorithms


def test_autoload_off_and_p_module_loads_an_uninstalled_plugin():
    env = {"HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out, _ = _listing(env=env)
    assert [(p["name"], p["source"], p["distribution"]) for p in out["plugins"]] == [TASKS_PLUGIN, ALGORITHMS_PLUGIN]
    assert out["roles"] == {"data": {}, "model": {}, "loss": {}, "optimizer": {}}
    assert out["tasks"] == {"linreg": "tasks", "mlp": "tasks", "softmax": "tasks", "lenet": "tasks"}
    out, _ = _listing("-p", "mxnet_harness_plugins.scratch", "-p", "tests.plugins.only_loss", env=env)
    assert [(p["name"], p["source"], p["distribution"]) for p in out["plugins"]] == [
        TASKS_PLUGIN,
        ALGORITHMS_PLUGIN,
        ("mxnet_harness_plugins.scratch", "-p", None),
        ("tests.plugins.only_loss", "-p", None),
    ]
    run = run_cli("-p", "mxnet_harness_plugins.scratch", "-p", "tests.plugins.only_loss",
                  "run", "--loss", "half_squared", "--epochs", "1", env=env)
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
    assert [p["name"] for p in out["plugins"]] == ["tasks", "algorithms", "scratch"]
    out, stderr = _listing(env={"HARNESS_LOAD_PLUGINS": "scratch,nosuch"})
    assert [p["name"] for p in out["plugins"]] == ["tasks", "algorithms", "scratch"]
    assert "HARNESS_LOAD_PLUGINS names nosuch, which no installed package provides" in stderr


def test_plugins_json_and_hook_filter():
    out, _ = _listing("-p", "tests.plugins.only_loss", "-p", "tests.plugins.broken_import")
    by_name = {p["name"]: p for p in out["plugins"]}
    scratch = by_name["scratch"]
    assert (scratch["distribution"], scratch["source"], scratch["module"]) == (
        "mxnet-harness", "built-in", "mxnet_harness_plugins.scratch")
    assert scratch["version"]
    assert scratch["hooks"] == ["register_data", "register_losses", "register_models", "register_optimizers"]
    assert scratch["provides"] == {
        "data": ["scratch"], "model": ["scratch"], "loss": ["scratch"], "optimizer": ["scratch"]}
    assert by_name["tests.plugins.only_loss"]["hooks"] == ["register_losses"]
    assert out["roles"]["loss"]["half_squared"] == "tests.plugins.only_loss"
    (skipped,) = out["skipped"]
    assert skipped["name"] == "tests.plugins.broken_import" and skipped["source"] == "-p"
    assert "ImportError" in skipped["reason"]
    tasks = by_name["tasks"]
    assert (tasks["distribution"], tasks["source"], tasks["module"], tasks["hooks"]) == (
        "mxnet-harness", "built-in", "harness.tasks.builtin", ["register_tasks"])
    assert tasks["provides"] == {"task": ["linreg", "softmax", "mlp", "lenet"]}
    assert out["tasks"] == {"linreg": "tasks", "softmax": "tasks", "mlp": "tasks", "lenet": "tasks"}
    assert out["supports"]["loss"]["half_squared"] == ["linreg"]  # written for today's API: the seed's maths
    assert out["supports"]["optimizer"]["scratch"] == ["*"]
    assert out["supports"]["model"]["scratch"] == ["lenet", "linreg", "mlp", "softmax"]



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
    _, out, _ = _main(capsys, "plugins", "--hook", "tasks")
    assert [r.split()[0] for r in out.splitlines()[2:] if r.startswith(("tasks ", "scratch "))] == ["tasks"]
    code, out, err = _main(capsys, "plugins", "--hook", "register_lossses")
    assert code == 2 and out == ""
    assert err.strip() == (
        "harness: error: unknown hook 'register_lossses'; hooks: "
        "register_algorithms, register_data, register_fused_steps, register_losses, register_models, "
        "register_optimizers, register_tasks"
    )


def test_table_shows_distribution_version_source_hooks_and_roles(capsys):
    _, out, _ = _main(capsys, "-p", "tests.plugins.only_loss", "plugins")
    header, _, *rows = out.splitlines()
    assert header.split() == ["plugin", "distribution", "version", "source", "hooks", "data", "model", "loss",
                              "optimizer", "fused", "(model/loss/optimizer)", "tasks"]
    (row,) = [r for r in rows if r.startswith("tests.plugins.only_loss")]
    assert row.split() == ["tests.plugins.only_loss", "-p", "losses", "half_squared"]
    (row,) = [r for r in rows if r.startswith("scratch ")]
    assert row.split()[:4] == ["scratch", "mxnet-harness", "0.1.0", "built-in"]
    (row,) = [r for r in rows if r.startswith("tasks ")]
    assert row.split() == ["tasks", "mxnet-harness", "0.1.0", "built-in", "tasks",
                           "linreg,", "softmax,", "mlp,", "lenet"]
    assert row.index("linreg") == header.index("tasks")  # in the tasks column


def test_trace_prints_hook_calls_implementations_and_results():
    proc = run_cli("-p", "no:gluon", "-p", "tests.plugins.only_loss", "plugins", env={"HARNESS_TRACE_PLUGINS": "1"})
    assert proc.returncode == 0
    trace = [l for l in proc.stderr.splitlines() if l.startswith("harness: trace: ")]
    assert "harness: trace: register_losses(register) -> implementations: tests.plugins.only_loss" in trace
    i = trace.index("harness: trace: register_losses(register) -> implementations: tests.plugins.only_loss")
    assert trace[i + 1] == "harness: trace:   tests.plugins.only_loss registered loss 'half_squared' for linreg"
    assert trace[i + 2] == "harness: trace: register_losses returned []"
    assert "harness: trace:   scratch registered optimizer 'scratch' for any task" in trace
    assert "harness: trace:   scratch registered model 'scratch' for mlp" in trace
    assert "harness: trace:   tasks registered task 'softmax'" in trace
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

    run = run_cli("run", "--optimizer", "momentum", "--data", "gluon", "--model", "gluon", "--loss", "scratch",
                  "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["combination"] == {"data": "gluon", "model": "gluon", "loss": "scratch", "optimizer": "momentum",
                                     "algorithm": "momentum"}  # the example's optimizer declares its algorithm
    assert result["epochs"][-1]["loss"] < 1e-4
    assert abs(result["params"]["b"] - 4.2) < 0.02

    blocked = run_cli("-p", "no:momentum", "run", "--optimizer", "adam")
    assert blocked.returncode == 2 and "unknown optimizer 'adam'" in blocked.stderr


def test_verify_defaults_to_built_ins_and_compares_a_named_third_party_component_with_its_twin():
    _example_installed()
    from harness.check.verify import default_combinations
    from harness.core.loader import load

    registry = load()
    assert {"momentum", "adam"} <= set(registry.names("optimizer"))
    defaults = default_combinations(registry)
    assert defaults and all(c.optimizer not in ("momentum", "adam") for c in defaults)
    assert {c.optimizer for c in default_combinations(registry, every=True)} >= {"momentum", "adam"}

    named = run_cli("verify", "--epochs", "1", "--json", "--optimizer", "momentum", "--data", "scratch",
                    "--data", "gluon", "--loss", "scratch")
    assert named.returncode == 0, named.stdout
    rows = json.loads(named.stdout)["rows"]
    assert {r["reference"]["optimizer"] for r in rows} == {"momentum"}
    assert all(r["ok"] for r in rows)

    seed = run_cli("verify", "--epochs", "1", "--optimizer", "momentum", "--model", "scratch", "--data", "scratch",
                   "--loss", "scratch", "--against-seed")
    # the reference runs the same algorithm from scratch (d2l 7.4's momentum): the example's twin agrees with it
    assert seed.returncode == 0, seed.stdout
    assert "reference: scratch/scratch/scratch/scratch:momentum" in seed.stdout
    assert "all combinations agree" in seed.stdout


# The task dimension of the registry: components declare the tasks they support.

def _model(*params):  # factories only told apart by identity here; never trained
    raise AssertionError("not called")


def _other_model(*params):
    raise AssertionError("not called")


class Declared:
    """Components with and without ``tasks=``."""

    @staticmethod
    @hookimpl
    def register_data(register):
        register("mlp_data", _model, tasks=["mlp"])

    @staticmethod
    @hookimpl
    def register_models(register):
        register("seed_model", _model)  # no tasks=: linreg
        register("image_model", _model, tasks=["softmax", "mlp"])
        register("multi", _model, tasks=["linreg"])
        register("multi", _other_model, tasks=("softmax", "mlp"))  # the same name, other tasks: merged

    @staticmethod
    @hookimpl
    def register_optimizers(register):
        register("any_opt", _model)  # no tasks=: every task


def test_a_component_is_offered_only_for_the_tasks_it_declares():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)  # merging one plugin's registrations is not a duplicate
        reg = load(only=["scratch"], extra=[Declared])
    assert reg.names("model") == ["image_model", "multi", "scratch", "seed_model"]
    assert reg.names("model", "linreg") == ["multi", "scratch", "seed_model"]
    assert reg.names("model", "mlp") == ["image_model", "multi", "scratch"]
    assert reg.names("data", "mlp") == ["mlp_data", "scratch"] and reg.names("data", "linreg") == ["scratch"]
    assert reg.names("optimizer", "a task nobody registered") == ["any_opt", "scratch"]
    assert reg.get("model", "image_model").tasks == ["mlp", "softmax"]
    assert reg.get("optimizer", "any_opt").describe_tasks() == "any task"
    combos = reg.combinations("softmax", data=["scratch"], loss=["scratch"], optimizer=["scratch"])
    assert [c.model for c in combos] == ["image_model", "multi", "scratch"]
    assert {c.model for c in reg.combinations("linreg")} == {"multi", "scratch", "seed_model"}


def test_one_plugin_registering_a_name_for_several_tasks_is_one_component_with_a_factory_per_task():
    reg = load(only=["scratch"], extra=[Declared])
    multi = reg.get("model", "multi")
    assert multi.plugin == "Declared" and multi.tasks == ["linreg", "mlp", "softmax"]
    assert multi.factories == {"linreg": _model, "softmax": _other_model, "mlp": _other_model}
    assert reg.resolve(Combination(model="multi"), "mlp")["model"] is _other_model
    assert reg.resolve(Combination(model="multi"), "linreg")["model"] is _model
    assert multi.factory is _model  # the seed's
    assert reg.plugins["Declared"].provides["model"] == ["seed_model", "image_model", "multi"]  # listed once


class Twice:
    """Registers a data loader, then one model name twice for ``mlp``."""

    @staticmethod
    @hookimpl
    def register_data(register):
        register("twice_data", _model)

    @staticmethod
    @hookimpl
    def register_models(register):
        register("twice", _model, tasks=["softmax", "mlp"])
        register("twice", _other_model, tasks=["mlp"])


def test_a_name_registered_twice_for_one_task_skips_the_plugin_naming_the_task():
    with pytest.warns(PluginWarning) as warned:
        reg = load(only=["scratch"], extra=[Twice])
    (message,) = [str(w.message) for w in warned]
    assert message == "skipped plugin 'Twice': plugin 'Twice' registered model 'twice' twice for mlp"
    assert "Twice" not in reg.plugins and [s.name for s in reg.skipped] == ["Twice"]
    # nothing it registered before the error stays behind
    assert "twice" not in reg.names("model") and "twice_data" not in reg.names("data")
    with pytest.raises(PluginError, match=r"^plugin 'Twice' registered model 'twice' twice for mlp$"):
        load(only=["scratch"], extra=[Twice], strict=True)


class TwinA:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("twin", _model, tasks=["softmax"])

    @staticmethod
    @hookimpl
    def register_tasks(register):
        register("toy", _model)


class TwinB:
    @staticmethod
    @hookimpl
    def register_models(register):
        register("twin", _other_model, tasks=["mlp"])  # another task, but the same name

    @staticmethod
    @hookimpl
    def register_tasks(register):
        register("toy", _other_model)


def _register_line(hook) -> int:
    lines, first = inspect.getsourcelines(hook)
    (i,) = [i for i, line in enumerate(lines) if "register(" in line]
    return first + i


def test_a_name_two_plugins_register_is_selectable_by_neither_whatever_the_tasks():
    with pytest.warns(PluginWarning) as warned:
        reg = load(only=["scratch"], extra=[TwinA, TwinB])
    assert sorted(str(w.message) for w in warned) == [
        "duplicate model 'twin' registered by plugins 'TwinA' and 'TwinB'; neither is selectable",
        "duplicate task 'toy' registered by plugins 'TwinA' and 'TwinB'; neither is selectable",
    ]
    # each warning points at the second plugin's register call, in this file
    assert {(w.filename, w.lineno) for w in warned} == {(__file__, _register_line(TwinB.register_models)),
                                                        (__file__, _register_line(TwinB.register_tasks))}
    for task in ("softmax", "mlp", None):
        assert "twin" not in reg.names("model", task)
        with pytest.raises(HarnessError, match=r"^ambiguous model 'twin': registered by plugins 'TwinA' and 'TwinB'; "):
            reg.get("model", "twin", task)
    assert "toy" not in reg.task_names()
    with pytest.raises(HarnessError,
                       match=r"^ambiguous task 'toy': registered by plugins 'TwinA' and 'TwinB'; block one"):
        reg.make_task("toy")
    assert reg.conflicts == {("model", "twin"): ["TwinA", "TwinB"], ("task", "toy"): ["TwinA", "TwinB"]}


@pytest.mark.parametrize(
    "args, message",
    [
        # written for today's API (no tasks=): the seed's maths only
        (["-p", "tests.plugins.only_loss", "--task", "mlp", "--loss", "half_squared"],
         r"loss 'half_squared' does not support task 'mlp'; it supports: linreg; losses for mlp: .*\bscratch\b"),
        (["-p", "tests.plugins.task_twoclass", "--task", "twoclass"],
         r"model 'scratch' does not support task 'twoclass'; it supports: lenet, linreg, mlp, softmax; "
         r"models for twoclass: twoclass$"),
        (["-p", "tests.plugins.task_twoclass", "--model", "twoclass"],
         r"model 'twoclass' does not support task 'linreg'; it supports: twoclass; "
         r"models for linreg: .*\bgluon, scratch$"),
        (["--task", "nope"], r"unknown task 'nope'; available: lenet, linreg, mlp, softmax$"),
        (["-p", "tests.plugins.task_twoclass", "--task", "nope"],
         r"unknown task 'nope'; available: lenet, linreg, mlp, softmax, twoclass$"),
        (["--task", "mlp", "--num-inputs", "5"],
         r"task 'mlp' does not take --num-inputs; its options: --dataset, --data-dir, --num-examples, --seed$"),
        (["-p", "tests.plugins.task_twoclass", "--task", "twoclass", "--dataset", "digits"],
         r"task 'twoclass' does not take --dataset; its options: --num-examples, --seed$"),
    ],
    ids=["old-loss-on-mlp", "default-model-on-new-task", "new-model-on-linreg", "unknown-task", "unknown-task-plugin",
         "option-not-taken", "option-not-taken-plugin"],
)
def test_task_mistakes_on_run_are_one_line_exit_2(capsys, args, message):
    code, out, err = _main(capsys, "run", *args)
    assert code == 2 and out == "", out + err
    (line,) = err.splitlines()
    assert re.match("harness: error: " + message, line), line


TWOCLASS = ["-p", "tests.plugins.task_twoclass", "--task", "twoclass", "--model", "twoclass", "--loss", "twoclass"]


def test_a_third_party_task_trains_with_the_built_in_data_loader_and_optimizer():
    proc = run_cli("run", *TWOCLASS, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["combination"] == {"data": "scratch", "model": "twoclass", "loss": "twoclass", "optimizer": "scratch"}
    assert result["task"] == {"name": "twoclass", "num_examples": 200, "seed": 0}
    assert result["settings"]["epochs"] == 5 and result["settings"]["lr"] == 0.1  # the task's defaults
    epochs = result["epochs"]
    assert len(epochs) == 5 and epochs[-1]["loss"] < epochs[0]["loss"]
    assert epochs[-1]["test_acc"] >= 0.9  # its target; the clusters allow about 0.98
    assert result["true_params"] is None and result["params"]["W"]["shape"] == [2, 2]



def test_a_third_party_task_prints_its_epoch_line(capsys):
    code, out, err = _main(capsys, "run", *TWOCLASS, "--epochs", "1")
    assert code == 0, err
    assert re.match(r"epoch 1, loss \d\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}\n", out)
    assert "model=twoclass" in out and "task twoclass" in out


def test_a_third_party_task_is_listed_by_harness_tasks_and_plugins(capsys):
    code, out, err = _main(capsys, "tasks", "--json", "-p", "tests.plugins.task_twoclass")
    assert code == 0, err
    rows = {r["task"]: r for r in json.loads(out)["tasks"]}
    assert sorted(rows) == ["lenet", "linreg", "mlp", "softmax", "twoclass"]
    row = rows["twoclass"]
    assert (row["plugin"], row["kind"], row["options"], row["target"]) == (
        "tests.plugins.task_twoclass", "classification", "num_examples, seed", "test_acc >= 0.9")
    assert row["model"] == ["twoclass"] and row["loss"] == ["twoclass"]
    assert {"scratch", "gluon"} <= set(row["data"]) and {"scratch", "gluon"} <= set(row["optimizer"])
    assert all("twoclass" not in rows[t]["model"] for t in ("linreg", "mlp", "softmax"))

    code, out, err = _main(capsys, "plugins", "--json", "-p", "tests.plugins.task_twoclass")
    assert code == 0, err
    out = json.loads(out)
    (info,) = [p for p in out["plugins"] if p["name"] == "tests.plugins.task_twoclass"]
    assert info["hooks"] == ["register_losses", "register_models", "register_tasks"]
    assert info["provides"] == {"task": ["twoclass"], "model": ["twoclass"], "loss": ["twoclass"]}
    assert out["tasks"]["twoclass"] == "tests.plugins.task_twoclass"
    assert out["supports"]["model"]["twoclass"] == ["twoclass"] and out["supports"]["loss"]["twoclass"] == ["twoclass"]


class OldApiData:
    """A data loader written before tasks existed (no ``tasks=``)."""

    @staticmethod
    @hookimpl
    def register_data(register):
        from mxnet_harness_plugins.scratch import data_iter

        register("old_data", data_iter)


def test_components_written_for_todays_api_keep_their_meaning():
    """No ``tasks=``: models and losses are linreg's, data loaders and optimizers train any task, a new one too."""
    import mxnet as mx

    from harness.core.train import Session, Settings, train
    from tests.plugins import task_twoclass

    reg = load(only=["scratch", "gluon", "momentum"], extra=["tests.plugins.only_loss", "tests.plugins.dup_sgd_a",
                                                           OldApiData, task_twoclass])
    assert reg.get("loss", "half_squared").tasks == ["linreg"]
    for role, name in (("data", "old_data"), ("optimizer", "sgd2"), ("optimizer", "momentum")):
        assert reg.get(role, name).tasks == ["*"]
    task = reg.make_task("twoclass")
    for data, optimizer in (("old_data", "sgd2"), ("gluon", "momentum")):
        combo = Combination(data=data, model="twoclass", loss="twoclass", optimizer=optimizer)
        result = train(Session(reg, combo, task, Settings.for_task(task), mx.cpu()))
        assert result.epochs[-1]["test_acc"] >= 0.9, (combo.label, result.epochs[-1])


# The split: loading (harness.core.loader) sits above the registry (harness.core.registry), never the reverse.

def _harness_imports(deferred: bool = True) -> dict[str, set[str]]:
    """Each module of harness/ and the harness modules it imports: anywhere in its code, or
    (``deferred=False``) only those imported when it is (not inside a function)."""
    def name_of(path):
        parts = path.relative_to(ROOT).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    files = {name_of(p): p for p in (ROOT / "harness").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        tree = ast.parse(path.read_text())
        in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not deferred and id(node) in in_functions:
                continue
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        # the package itself only holds __version__ and a lazy API facade
        graph[name] = {d for d in deps if d in files and d not in (name, "harness")}
    return graph


def _reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for d in graph[todo.pop()] - seen:
            seen.add(d)
            todo.append(d)
    return seen


def test_the_registry_does_not_depend_on_plugin_loading_and_harness_imports_have_no_cycles():
    """Cycles through imports deferred into functions are left alone: they cannot break loading."""
    graph = _harness_imports()
    assert "harness.core.registry" in graph["harness.core.loader"]
    from harness.core import loader

    # the host's tasks load by module name, as every built-in: the plugin host imports nothing above it
    assert loader.BUILTIN_TASKS == "harness.tasks.builtin" and not {m for m in graph["harness.core.loader"]
                                                                     if m.startswith("harness.tasks")}
    assert "harness.core.loader" not in _reachable(graph, "harness.core.registry")  # not even inside a function
    assert not {"pluggy", "importlib.metadata"} & _absolute_imports("registry")  # discovery is not its job
    at_import = _harness_imports(deferred=False)
    assert "harness.tasks.builtin" not in at_import["harness.core.loader"]  # imported by load()
    cycles = sorted(m for m in at_import if m in _reachable(at_import, m))
    assert not cycles, f"modules on an import cycle: {cycles}"


def _absolute_imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "harness" / "core" / f"{module}.py").read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}


def test_plugins_re_exports_the_registry():
    from harness.core import loader as plugins
    from harness.core import registry

    for name in ("Registry", "Component", "FusedStep", "TaskEntry", "Skipped", "ANY_TASK_ROLES"):
        assert getattr(plugins, name) is getattr(registry, name)
    assert set(plugins.__all__) <= set(dir(plugins))

"""Issue 16: nothing lost, nothing silent.  One test (or case) per class of fault: a broken run reported as
fine, data lost, a traceback instead of one line, an option accepted and ignored, a message naming the wrong
cause.  Most cases fail before any work, so they run the command in this process."""
import json
import math
import os
import signal
import subprocess
import warnings

import pytest

import harness
from harness.cli import main
from harness.core.errors import HarnessError

from .conftest import HARNESS, ROOT
from .helpers import interruptible, wait_for_bytes

FAULTS = "tests.plugins.faults_under_run"
STATS = {"min": 0.009, "max": 0.011, "mean": 0.01, "stddev": 0.001, "rounds": 3, "median": 0.01, "iqr": 0.002,
         "q1": 0.009, "q3": 0.011, "iqr_outliers": 0, "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": 0.009,
         "hd15iqr": 0.011, "ops": 100.0, "total": 0.03, "iterations": 1}


def cli(capsys, *args):
    """``harness ARGS`` in this process: (exit code, stdout, stderr with the warnings as the CLI shows them)."""
    cwd = os.getcwd()
    os.chdir(ROOT)  # -p tests.plugins.X resolves from the repository
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = main(list(args))
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return code, out, err + "".join(f"harness: warning: {w.message}\n" for w in caught)


def one_line_error(code, err, expected_code=2):
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("harness: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def saved_run(tmp_path):
    """A storage with one saved run (a real bench document, tiny)."""
    storage = tmp_path / "storage"
    doc = {"machine_info": {"harness": {}}, "commit_info": {"id": "abc"}, "datetime": "2026-01-01T00:00:00",
           "benchmarks": [{"name": "test_epoch[seed-cpu-scratch-scratch-scratch-scratch]", "param": "seed-cpu-x",
                           "stats": {**STATS, "data": [0.01, 0.011, 0.009]},
                           "extra_info": {}}], "harness": {"not_run": []}}
    folder = storage / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    path = folder / "0001_abc_20260101_000000_x.json"
    path.write_text(json.dumps(doc))
    return storage, path, doc


# --- 4. accepted and ignored ---------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["run", "--servers", "3"], ["run", "--kvstore", "bogus"], ["run", "--timeout", "-1"], ["run", "--port", "0"],
    ["run", "--hosts", "/no/such/file"], ["run", "--write-spec", "spec.json"], ["run", "--placement", "servers"],
    ["bench", "--servers", "2"], ["bench", "--repeat", "2"], ["bench", "--worker-timeout", "5"],
])
def test_distributed_options_need_workers(capsys, args):
    code, out, err = cli(capsys, *args)
    line = one_line_error(code, err)
    assert "needs --workers" in line or "needs --processes" in line or "must be" in line or "unknown" in line
    assert out == ""  # nothing trained


@pytest.mark.parametrize("extra", [["--workers", "1"], ["--fused"], ["--processes", "2"], ["--all"]])
def test_bench_overhead_refuses_options_it_would_ignore(capsys, extra):
    code, _, err = cli(capsys, "bench", "--overhead", *extra)
    assert "cannot be combined: --overhead times the seed's own loop" in one_line_error(code, err)


def test_compare_with_no_case_in_common_is_an_error(capsys, tmp_path):
    def doc(name):
        return {"benchmarks": [{"name": name, "stats": {"data": [0.1, 0.2, 0.3]}}]}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(doc("x")))
    b.write_text(json.dumps(doc("y")))
    code, _, err = cli(capsys, "compare", str(a), str(b), "--fail-on-regression", "5%")
    assert "have no case in common" in one_line_error(code, err)


@pytest.mark.parametrize("args, message", [
    (["bench", "--target-loss", "inf"], "--target-loss must be a positive finite number, got inf"),
    (["bench", "--target-acc", "0.9", "--rounds", "1"], "--target-acc needs a task that measures test accuracy"),
    (["sweep", "--format", "bogus"], "unknown --format 'bogus'"),
    (["sweep", "--num-examples", ""], "--num-examples takes a comma-separated list of positive integers"),
    (["run", "--task", "softmax", "--data-dir", "/tmp"], "--data-dir is where fashion-mnist's files are"),
    (["ab", "--processes", "0"], "--processes must be a positive integer, got 0"),
    (["run", "--workers", "2", "--placement", "bogus"], "unknown --placement 'bogus'"),
    (["run", "--workers", "2", "--host", "192.0.2.1"], "is not an address of this machine"),
    (["run", "--workers", "2", "--host", "no-such-host.invalid"], "cannot be resolved"),
    (["bench", "--worker-timeout", "nan", "--processes", "2"], "--worker-timeout must be a positive finite"),
    (["bench", "--worker-timeout", "inf", "--processes", "2"], "--worker-timeout must be a positive finite"),
    (["ab", "--timeout", "nan"], "--timeout must be a positive finite"),
    (["ab", "--timeout", "inf"], "--timeout must be a positive finite"),
    (["run", "--workers", "2", "--timeout", "inf"], "--timeout must be a positive finite"),
    (["compare", "a", "b", "--alpha", "2"], "--alpha must be between 0 and 1, got 2"),
    (["history", "--alpha", "0"], "--alpha must be between 0 and 1, got 0"),
])
def test_bad_values_are_one_line_naming_the_option(capsys, args, message):
    code, out, err = cli(capsys, *args)
    assert message in one_line_error(code, err)
    assert "Traceback" not in out


def test_history_storage_that_is_a_file_says_so(capsys, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = cli(capsys, "history", "--storage", str(path))
    assert "is a file, not a directory" in one_line_error(code, err)


def test_blocking_an_unknown_plugin_warns_or_fails_when_strict(capsys):
    code, out, err = cli(capsys, "plugins", "-p", "no:fsat")
    assert code == 0 and "-p no:fsat blocks nothing: no plugin is named 'fsat'" in err
    code, _, err = cli(capsys, "plugins", "-p", "no:fsat", "--strict-plugins")
    assert "blocks nothing" in one_line_error(code, err)


def test_a_component_for_a_task_that_does_not_exist_warns(capsys):
    code, _, err = cli(capsys, "plugins", "-p", FAULTS)
    assert code == 0 and "registered model 'for_no_task' for task 'no-such-task', which no plugin provides" in err
    code, _, err = cli(capsys, "plugins", "-p", FAULTS, "--strict-plugins")
    assert "which no plugin provides" in one_line_error(code, err)


def test_a_plugin_that_exits_at_import_is_a_broken_plugin(capsys):
    code, out, err = cli(capsys, "plugins", "-p", "tests.plugins.exits_at_import")
    assert code == 0, err
    assert "skipped plugin 'tests.plugins.exits_at_import'" in err and "SystemExit: 3" in err
    code, _, err = cli(capsys, "plugins", "-p", "tests.plugins.exits_at_import", "--strict-plugins")
    assert "SystemExit" in one_line_error(code, err)


# --- 3. the Python API with wrong types: the CLI's messages ------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: harness.run(epochs="3"), "--epochs must be a positive integer, got '3'"),
    (lambda: harness.run(epochs=2.5), "--epochs must be a positive integer, got 2.5"),
    (lambda: harness.run(epochs=True), "--epochs must be a positive integer, got True"),
    (lambda: harness.run(lr="0.03"), "--lr must be a positive finite number, got '0.03'"),
    (lambda: harness.run(batch_size=10.0), "--batch-size must be an integer, got 10.0"),
    (lambda: harness.run(model=["scratch", "gluon"]), "--model must be one name"),
    (lambda: harness.run(servers=2), "--servers needs --workers"),
    (lambda: harness.bench(model=5), "--model must be a name or a list of names, got 5"),
    (lambda: harness.bench(rounds="2"), "--rounds must be a positive integer, got '2'"),
    (lambda: harness.bench(ctx=[0]), "--ctx must be a string, got [0] (list)"),
    (lambda: harness.bench(target_loss=math.inf), "--target-loss must be a positive finite number"),
    (lambda: harness.plugins(plugins=[None]), "plugins must hold modules"),
    (lambda: harness.plugins(plugins="no:fast"), "plugins must be a list"),
    (lambda: harness.verify(epochs=0), "--epochs must be a positive integer, got 0"),
])
def test_api_wrong_types_are_one_line_errors(call, message):
    with pytest.raises(HarnessError) as err:
        call()
    assert message in str(err.value)


# --- 2. data lost ------------------------------------------------------------------------------

def test_report_never_overwrites_a_saved_run_or_its_input(capsys, saved_run):
    storage, path, _ = saved_run
    before = path.read_bytes()
    code, _, err = cli(capsys, "report", "--storage", str(storage), "-o", str(path))
    assert "inside the run history" in one_line_error(code, err) or "inputs" in err
    code, _, err = cli(capsys, "report", str(path), "--storage", str(storage), "-o", str(path))
    assert "one of this command's inputs" in one_line_error(code, err)
    assert path.read_bytes() == before


def test_bench_outputs_may_not_collide_or_hit_the_storage(capsys, saved_run, tmp_path):
    storage, path, _ = saved_run
    before = path.read_bytes()
    same = tmp_path / "out"
    code, out, err = cli(capsys, "bench", "--json", str(same), "--csv", str(same), "--rounds", "1")
    assert "name the same file" in one_line_error(code, err) and out == ""
    code, out, err = cli(capsys, "bench", "--csv", str(path), "--storage", str(storage), "--rounds", "1")
    assert "inside the run history" in one_line_error(code, err)
    assert path.read_bytes() == before


@pytest.mark.parametrize("args", [["sweep", "--json", "{dir}"], ["sweep", "--plot", "/proc/nope/x.png"],
                                  ["run", "--workers", "2", "--write-spec", "{dir}"]])
def test_output_paths_are_checked_before_any_work(capsys, tmp_path, args):
    code, out, err = cli(capsys, *[a.format(dir=tmp_path) for a in args])
    assert "cannot write" in one_line_error(code, err)
    assert "[1/" not in err  # no sweep point ran


def test_new_plugin_dir_that_is_a_file(capsys, tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    code, _, err = cli(capsys, "new-plugin", "zzz", "--dir", str(path))
    assert "is a file" in one_line_error(code, err)


def test_sigterm_during_bench_keeps_the_finished_rows(tmp_path):
    """SIGTERM is Ctrl-C: the rows done are written, the exit code is 128 + 15."""
    out = tmp_path / "run.json"
    marker = tmp_path / "steps"
    proc = subprocess.Popen(
        [HARNESS, "-p", "tests.plugins.slow", "bench", "--num-examples", "2000", "--rounds", "3", "--no-references",
         "--data", "scratch", "--model", "scratch", "--loss", "scratch", "--optimizer", "scratch",
         "--optimizer", "slow", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=interruptible,
        env={**os.environ, "HARNESS_TEST_STEP_LOG": str(marker)})
    try:
        wait_for_bytes(marker, proc, 1, 180, f"never got {marker}")  # the slow (second) case has started
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert "kept the 1 finished combinations" in stderr
    doc = json.loads(out.read_text())
    assert doc["harness"]["interrupted"] is True and len(doc["benchmarks"]) == 1


def test_ctrl_c_in_run_json_prints_the_finished_epochs(tmp_path):
    marker = tmp_path / "steps"
    proc = subprocess.Popen(
        [HARNESS, "-p", "tests.plugins.slow", "run", "--optimizer", "slow", "--epochs", "50", "--num-examples", "200",
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=interruptible,
        env={**os.environ, "HARNESS_TEST_STEP_LOG": str(marker)})
    try:
        wait_for_bytes(marker, proc, 46, 180, "the run never passed epoch 2")  # 20 steps an epoch
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    doc = json.loads(stdout)
    assert doc["interrupted"] is True and len(doc["epochs"]) >= 2
    assert "interrupted after" in stderr


# --- 3. tracebacks instead of one line ------------------------------------------------------------

@pytest.mark.parametrize("role, name, message", [
    ("--optimizer", "raises_mid_epoch", "optimizer 'raises_mid_epoch' of plugin '{p}' failed: RuntimeError: boom"),
    ("--optimizer", "factory_raises", "optimizer 'factory_raises' of plugin '{p}' failed: ValueError: bad factory"),
    ("--optimizer", "returns_none", "optimizer 'returns_none' of plugin '{p}' failed: TypeError"),
    ("--model", "model_returns_none", "model 'model_returns_none' of plugin '{p}' failed: TypeError"),
])
def test_plugin_failures_under_run_name_plugin_and_role(capsys, role, name, message):
    code, _, err = cli(capsys, "run", "-p", FAULTS, role, name, "--epochs", "1", "--num-examples", "20")
    assert message.format(p=FAULTS) in one_line_error(code, err, expected_code=1)


def test_corrupt_saved_runs_are_skipped_with_one_warning(capsys, saved_run):
    storage, path, doc = saved_run
    bad = dict(doc, benchmarks=[{**doc["benchmarks"][0], "stats": {**STATS, "data": ["x", 1]}}])
    (path.parent / "0002_abc_20260102_000000_x.json").write_text(json.dumps({**bad, "datetime": "2026-01-02"}))
    (path.parent / "0003_x.json").mkdir()
    for args in (["history"], ["history", "--case", "seed-cpu-x"]):
        code, out, err = cli(capsys, *args, "--storage", str(storage))
        assert code == 0, err
        assert err.count("skipped") == 1 and "0002_abc" in err and "stats.data" in err
        assert "Traceback" not in err


def test_stdout_on_a_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([HARNESS, "plugins"], stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("harness: error: cannot write to standard output: No space left on device")
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


# --- 1. broken runs reported as fine -----------------------------------------------------------------

def test_nan_on_parameter_server_workers_fails_the_run(capsys):
    code, out, err = cli(capsys, "run", "--workers", "2", "--lr", "1e30", "--epochs", "2", "--num-examples", "100",
                         "--json")
    assert code == 1, err
    assert json.loads(out)["status"] == "failed"
    assert "diverged at epoch 1 (loss not finite)" in err


def test_a_plugin_optimizer_writing_nan_on_workers_fails_bench_workers(capsys, tmp_path):
    code, out, err = cli(capsys, "bench", "-p", FAULTS, "--workers", "1", "--optimizer", "writes_nan",
                         "--rounds", "1", "--num-examples", "100", "-q", "--csv", str(tmp_path / "x.csv"))
    assert code == 1, err
    assert "FAILED: worker rank 0" in out and "diverged at epoch 1" in out


def test_ab_side_that_cannot_start_names_the_side_and_variable(capsys):
    code, _, err = cli(capsys, "ab", "--b-env", "PYTHONHOME=/nonexistent", "--rounds", "4", "--processes", "4",
                       "--alpha", "0.5", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
                       "--optimizer", "scratch", "--no-references")
    line = one_line_error(code, err)
    assert "side B" in line and "PYTHONHOME=/nonexistent" in line and "--b-env" in line

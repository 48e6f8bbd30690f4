"""The `harness` command as a user types it, in a subprocess."""
import json
import os

import pytest

from .conftest import run_cli


def test_run_prints_the_seeds_epoch_lines_then_parameters():
    proc = run_cli("run", "--data", "scratch", "--optimizer", "gluon")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [l.split(",")[0] for l in lines[:3]] == ["epoch 1", "epoch 2", "epoch 3"]
    assert "optimizer=gluon" in proc.stdout
    assert lines[-2].startswith("w learned [") and "true [2.000000, -3.400000]" in lines[-2]
    assert lines[-1].startswith("b learned") and lines[-1].endswith("true 4.200000")


def test_run_json_contract():
    proc = run_cli("run", "--model", "gluon", "--loss", "gluon", "--epochs", "2", "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["combination"] == {"data": "scratch", "model": "gluon", "loss": "gluon", "optimizer": "scratch"}
    assert out["ctx"] == "cpu(0)"
    assert [e["epoch"] for e in out["epochs"]] == [1, 2]
    assert all(set(e) == {"epoch", "loss", "seconds"} and e["seconds"] > 0 for e in out["epochs"])
    assert len(out["params"]["w"]) == 2 and isinstance(out["params"]["b"], float)
    assert out["true_params"] == {"w": [2.0, -3.4], "b": 4.2}
    assert out["task"]["seed"] == 7


def test_run_is_deterministic_across_processes():
    a, b = (json.loads(run_cli("run", "--data", "gluon", "--json", "--epochs", "1").stdout) for _ in range(2))
    assert a["epochs"][0]["loss"] == b["epochs"][0]["loss"]
    assert a["params"] == b["params"]


def test_verify_table_and_exit_code():
    # the seed's 16 (fast's 81 more are verified in test_fast): the table and exit code are what is tested here
    proc = run_cli("verify", "-p", "no:fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max |Δ| vs ref" in proc.stdout
    assert proc.stdout.count(" ok") >= 16
    assert "all combinations agree" in proc.stdout


def test_plugins_json_lists_builtins():
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    by_name = {p["name"]: p for p in out["plugins"]}
    for name in ("scratch", "gluon"):
        assert by_name[name]["source"] == "built-in"
        assert by_name[name]["distribution"] == "mxnet-harness"
        assert by_name[name]["provides"] == {r: [name] for r in ("data", "model", "loss", "optimizer")}


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--optimizer", "sdg"], "unknown optimizer 'sdg'; available: "),
        (["run", "--loss", "half_squared", "--optimizer", "tests.plugins.only_loss", "-p", "tests.plugins.only_loss"],
         "plugin 'tests.plugins.only_loss' provides no optimizer (it provides: loss)"),
        (["run", "--lr", "0"], "--lr must be a positive finite number, got 0.0"),
        (["run", "--lr", "-1"], "--lr must be a positive finite number"),
        (["run", "--batch-size", "0"], "--batch-size must be between 1 and --num-examples (1000), got 0"),
        (["run", "--batch-size", "1001"], "--batch-size must be between 1 and --num-examples (1000), got 1001"),
        (["run", "--num-examples", "0"], "--num-examples must be a positive integer, got 0"),
        (["run", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["run", "--ctx", "gpu:x"], "invalid context 'gpu:x'; valid: cpu, gpu, gpu:N"),
        (["run", "--ctx", "gpu"], "context gpu: no GPU usable"),
        (["verify", "--ctx", "gpu:1"], "context gpu:1: no GPU usable"),
        (["run", "--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
        (["run", "--nope"], "unrecognized arguments: --nope"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert message in err[0]
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback():
    proc = run_cli("run", "--optimizer", "sdg", "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "unknown optimizer 'sdg'" in proc.stderr


def test_divergence_reports_epoch_and_partial_history():
    proc = run_cli("run", "--lr", "100", "--json")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("diverged at epoch 1 (loss not finite); try a smaller --lr")
    out = json.loads(proc.stdout)
    assert out["diverged_at"] == 1
    assert out["epochs"][0]["loss"] is None  # NaN is written as null
    text = run_cli("run", "--lr", "100")
    assert text.returncode == 1 and text.stdout.startswith("epoch 1, loss nan")


def test_python_dash_m_works():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("harness ")


def test_dash_p_before_and_after_the_subcommand_both_count():
    proc = run_cli("-p", "tests.plugins.only_loss", "plugins", "--json", "-p", "tests.plugins.phased")
    assert proc.returncode == 0, proc.stderr
    names = {p["name"] for p in json.loads(proc.stdout)["plugins"]}
    assert {"tests.plugins.only_loss", "tests.plugins.phased"} <= names


def test_written_files_are_readable_by_others(tmp_path):
    from harness.core.files import write_atomic

    path = tmp_path / "out" / "r.json"
    write_atomic(path, "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "{}" and (path.stat().st_mode & 0o777) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left behind


def test_writing_to_a_pipe_or_device_keeps_it_one(tmp_path):
    """``--json /dev/null`` must not rename a regular file over the device; a FIFO stands in for it here."""
    import stat
    import threading

    from harness.core.files import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "{}")
    reader.join(timeout=30)
    assert got == ["{}"] and stat.S_ISFIFO(fifo.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]

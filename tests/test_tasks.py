"""The task dimension end to end: softmax regression and the MLP beside the seed's linear regression."""
import json
import re

import mxnet as mx
import numpy as np
import pytest

from harness.cli import main
from harness.core.train import Session, Settings, train
from harness.errors import HarnessError
from harness.measure import workloads
from harness.roles import Combination

from .conftest import run_cli

BOOK_LINE = re.compile(r"^epoch (\d+), loss (\d+\.\d{4}), train acc (\d\.\d{3}), test acc (\d\.\d{3}) \(\d+\.\d+s\)$")


@pytest.fixture(scope="module")
def registry():
    from harness.core.loader import load

    return load(only=["scratch", "gluon"])


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("task", ["softmax", "mlp"])
def test_run_prints_the_books_epoch_line_and_learns_the_digits(capsys, task):
    code, out, err = _cli(capsys, "run", "--task", task)
    assert code == 0, err
    lines = out.splitlines()
    epochs = [BOOK_LINE.match(line) for line in lines[:-1]]
    assert all(epochs), lines
    assert [int(m.group(1)) for m in epochs] == list(range(1, 11))  # digits default: 10 epochs
    losses = [float(m.group(2)) for m in epochs]
    assert losses[-1] < losses[0] / 3
    assert float(epochs[-1].group(4)) >= 0.9  # the task's target on digits
    assert lines[-1].endswith(f"; task {task} on digits")


def test_run_json_of_a_classification_task(capsys):
    code, out, err = _cli(capsys, "run", "--task", "mlp", "--model", "gluon", "--epochs", "2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["task"]["name"] == "mlp" and doc["task"]["dataset"] == "digits"
    assert doc["task"]["num_examples"] == 1437 and doc["task"]["num_test"] == 360
    # train_ch3's running loss and accuracy, the test accuracy, and the whole-split evaluation beside them
    assert set(doc["epochs"][0]) == {"epoch", "loss", "train_acc", "test_acc", "eval_loss", "eval_train_acc", "seconds"}
    assert doc["true_params"] is None
    # the Gluon net's (out, in) weights reported in the task's (in, out) layout
    assert [doc["params"][n]["shape"] for n in ("W1", "b1", "W2", "b2")] == [[64, 256], [256], [256, 10], [10]]
    assert doc["settings"] == {"epochs": 2, "batch_size": 32, "lr": 0.5, "shuffle": True, "divisor": "book"}


@pytest.mark.parametrize("task", ["softmax", "mlp"])
def test_every_scratch_gluon_mix_computes_the_same_maths(capsys, task):
    code, out, err = _cli(capsys, "-p", "no:fast", "verify", "--task", task, "--epochs", "2", "--json")
    doc = json.loads(out)
    assert code == 0, [(r["combination"], r["max_abs_diff"], r["error"]) for r in doc["rows"] if not r["ok"]]
    assert doc["task"] == task and doc["tolerance"] == 1e-4
    assert len(doc["rows"]) == 16 and all(r["ok"] for r in doc["rows"])
    # not vacuous: the Gluon and scratch models really trained, and differ from the starting point
    assert all(r["final_loss"] < 2.0 for r in doc["rows"])


def test_verify_tells_apart_different_maths(registry):
    """Scratch softmax regression with and without the bias update must not agree."""
    from harness.check.verify import max_abs_diff

    task = registry.make_task("softmax")
    settings = Settings.for_task(task, epochs=1, shuffle=False)
    base = train(Session(registry, Combination(), task, settings, mx.cpu()))
    other = train(Session(registry, Combination(), task, Settings.for_task(task, epochs=1, lr=0.45, shuffle=False),
                          mx.cpu()))
    assert max_abs_diff(base, base) == 0
    assert max_abs_diff(base, other) > task.tolerance


def test_canonical_layout_compares_scratch_and_gluon_weights(registry):
    task = registry.make_task("softmax")
    sessions = [Session(registry, Combination(model=m), task, Settings.for_task(task), mx.cpu())
                for m in ("scratch", "gluon")]
    raw = [s.net.arrays()[0].shape for s in sessions]
    assert raw == [(64, 10), (10, 64)]  # Dense holds (out, in)
    a, b = (s.arrays() for s in sessions)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (64, 10)


def test_bench_reports_accuracy_and_time_to_accuracy(capsys, tmp_path):
    out_json = tmp_path / "mlp.json"
    code, out, err = _cli(capsys, "bench", "-q", "--task", "mlp", "--data", "scratch", "--model", "scratch",
                          "--model", "gluon", "--rounds", "2", "--no-references", "--wide", "--json", str(out_json))
    assert code == 0, err
    assert "test acc" in out and "param err" not in out
    assert "task mlp, workload digits (digits: 1437 training examples, batch 32, lr 0.5; target test_acc >= 0.9)" in out
    doc = json.loads(out_json.read_text())
    names = [b["name"] for b in doc["benchmarks"]]
    assert len(names) == 8 and all(n.startswith("test_epoch[mlp-digits-cpu-scratch-") for n in names)
    for entry in doc["benchmarks"]:
        info = entry["extra_info"]
        assert info["workload"]["task"] == "mlp" and info["target"] == {"metric": "test_acc", "value": 0.9}
        assert 0.1 < info["test_acc"] <= 1 and info["param_error"] is None
        assert len(info["test_accs"]) == 3  # warm-up included
        if info["epochs_to_target"] is not None:
            assert info["test_accs"][info["epochs_to_target"] - 1] >= 0.9
            assert all(a < 0.9 for a in info["test_accs"][: info["epochs_to_target"] - 1])


def test_linreg_stays_the_default_everywhere(capsys):
    code, out, _ = _cli(capsys, "run", "--epochs", "1")
    assert code == 0 and out.startswith("epoch 1, loss ") and "task" not in out
    assert workloads.workload(None).task == "linreg"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "--task", "nope"], "unknown task 'nope'; available: lenet, linreg, mlp, softmax"),
        # a plugin written before tasks existed: its loss is for linreg
        (["-p", "tests.plugins.only_loss", "run", "--task", "mlp", "--loss", "half_squared"],
         "loss 'half_squared' does not support task 'mlp'; it supports: linreg; losses for mlp: "),
        (["run", "--task", "mlp", "--num-inputs", "5"], "task 'mlp' does not take --num-inputs"),
        (["run", "--task", "softmax", "--dataset", "mnist"],
         "unknown --dataset 'mnist' for task softmax; valid: digits"),
        (["run", "--seed", "-1"], "--seed must be an integer from 0 to"),
        (["run", "--task", "mlp", "--seed", "-1"], "--seed must be an integer from 0 to"),
        (["run", "--num-examples", "100000000", "--num-inputs", "1000"], "needs"),
        (["bench", "--task", "softmax", "--workload", "seed"], "workload 'seed' is not for task 'softmax'"),
        (["verify", "--task", "mlp", "--optimizer", "nope"], "unknown optimizer 'nope'"),
    ],
)
def test_bad_task_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = _cli(capsys, *argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("harness: error: ") and message in err, err


def test_missing_fashion_mnist_names_the_files_without_downloading(tmp_path):
    proc = run_cli("run", "--task", "softmax", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    err = proc.stderr
    assert err.count("\n") == 1 and "Traceback" not in err
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        assert name in err
    assert str(tmp_path) in err


def test_tasks_command_lists_components_per_task(capsys):
    code, out, err = _cli(capsys, "tasks", "--json")
    assert code == 0, err
    rows = {r["task"]: r for r in json.loads(out)["tasks"]}
    assert set(rows) >= {"linreg", "softmax", "mlp"}
    assert rows["linreg"]["model"] == ["fast", "gluon", "scratch"]
    assert {"gluon", "scratch"} <= set(rows["mlp"]["model"]) and {"gluon", "scratch"} <= set(rows["softmax"]["loss"])
    assert {"momentum", "scratch", "gluon"} <= set(rows["mlp"]["optimizer"])  # any-task components: every task
    assert rows["softmax"]["target"] == "test_acc >= 0.9" and rows["linreg"]["target"] == "loss < 0.0001"
    assert rows["mlp"]["defaults"] == "epochs 10, batch 32, lr 0.5"
    assert rows["mlp"]["params"] == [{"name": "W1", "shape": [64, 256]}, {"name": "b1", "shape": [256]},
                                     {"name": "W2", "shape": [256, 10]}, {"name": "b2", "shape": [10]}]
    assert (rows["linreg"]["output"], rows["softmax"]["output"]) == ("regression", "classes")
    assert rows["linreg"]["workloads"] == ["seed", "large", "ch7"]
    assert rows["mlp"]["workloads"] == ["digits", "book", "fashion-mnist"]
    assert rows["softmax"]["references"] == ["numpy", "torch"]
    code, out, _ = _cli(capsys, "tasks")
    assert code == 0 and "multilayer perceptron" in out
    assert ("  output regression; params w (2, 1), b (1,); workloads seed, large, ch7; "
            "reference loops numpy, torch") in out


def test_task_contract_errors_in_the_api(registry):
    with pytest.raises(HarnessError, match="model 'scratch' does not support task 'ghost'; "
                                           "it supports: lenet, linreg, mlp, softmax; models for ghost: none"):
        registry.resolve(Combination(), "ghost")
    task = registry.make_task("mlp", dataset="synthetic", num_examples=500)
    assert task.num_examples == 500 and task.num_inputs == 784
    with pytest.raises(HarnessError, match="--num-examples applies to --dataset synthetic only"):
        registry.make_task("mlp", num_examples=100)


def test_image_task_runs_data_parallel_on_the_parameter_server():
    proc = run_cli("run", "--task", "softmax", "--workers", "2", "--epochs", "2", "--timeout", "60", timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.match(r"^epoch 2, loss \d+\.\d{4}, train acc 0\.\d{3}, test acc (0\.\d{3}) "
                    r"\(.*rank 0, exchange \d+%\)$", lines[1])
    assert float(re.search(r"test acc (0\.\d+)", lines[1]).group(1)) > 0.8
    assert "global batch 64" in proc.stdout


def test_one_way_to_choose_combinations(registry):
    """bench, verify, sweep and pytest benchmarks/ all pick through Registry.choose."""
    from harness.api import load_plugins
    from harness.check import verify as verification
    from harness.measure import planning

    full = load_plugins([])
    seed = full.choose("linreg")
    assert Combination() in seed and Combination("fast", "fast", "fast", "fast") in seed
    assert Combination("fast", "fast", "fast", "fast", fused=True) in seed  # each whole plugin, fused too
    assert not any(c.data == "fast" and c.model != "fast" for c in seed)  # fast is not mixed by default
    assert planning.select(full, {}, False) == seed
    assert verification.default_combinations(full, "mlp") == full.choose("mlp", scope="builtin", fused=True)
    assert full.choose("linreg", scope="own") == full.own_combinations("linreg")
    narrowed = full.choose("mlp", {"optimizer": ["momentum"]}, scope="seed")
    assert {c.optimizer for c in narrowed} == {"momentum"} and len(narrowed) == 8
    assert set(full.choose("softmax", scope="all")) >= set(full.choose("softmax", scope="builtin"))


# --- plugin tasks are first-class: the binary tutorial from docs/writing-plugins.md ---------------------------------

def _binary_tutorial(tmp_path):
    from .conftest import ROOT

    doc = (ROOT / "docs" / "writing-plugins.md").read_text()
    (tmp_path / "harness_logreg.py").write_text(doc.split("<!-- tutorial-binary -->\n```python\n")[1].split("```")[0])


def test_a_plugin_task_names_its_components_and_shows_its_parameters(tmp_path):
    _binary_tutorial(tmp_path)
    run = run_cli("-p", "harness_logreg", "run", "--task", "logreg", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["combination"] == {"data": "scratch", "model": "logreg", "loss": "logistic", "optimizer": "scratch"}
    assert doc["epochs"][-1]["test_acc"] >= 0.9 and doc["epochs"][-1]["loss"] < doc["epochs"][0]["loss"]
    tasks = run_cli("-p", "harness_logreg", "tasks", cwd=tmp_path)
    assert ("  output binary; params w (2, 1), b (1,); workloads small, large; reference loops numpy, torch; "
            "default components: model logreg, loss logistic") in tasks.stdout


def test_bench_on_a_plugin_task_says_why_rows_are_missing(tmp_path):
    """The two-cluster test task declares no reference loops: bench lists those rows as skipped with the reason,
    and 'vs scratch' is blank because scratch has no model or loss for it, which the footer says."""
    out = tmp_path / "run.json"
    proc = run_cli("-p", "tests.plugins.task_twoclass", "bench", "--task", "twoclass", "--data", "scratch",
                   "--optimizer", "scratch", "--rounds", "1", "--warmup", "0", "-q", "--wide", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("SKIPPED: task 'twoclass' declares no numpy loop (Task.reference_loops.numpy_scores, numpy_step)"
            in proc.stdout)
    assert "SKIPPED: task 'twoclass' declares no torch loop" in proc.stdout
    assert "'vs scratch' is blank: scratch provides no model, loss for task twoclass" in proc.stdout
    assert "'vs scratch' = epoch time" not in proc.stdout
    names = [b["extra_info"]["workload"]["name"] for b in json.loads(out.read_text())["benchmarks"]]
    assert names == ["default"]  # a task without workloads of its own: its defaults


def test_bench_runs_a_plugin_tasks_own_workload_and_reference_loops(tmp_path):
    _binary_tutorial(tmp_path)
    out = tmp_path / "run.json"
    proc = run_cli("-p", "harness_logreg", "bench", "--task", "logreg", "--workload", "large", "--num-examples", "2000",
                   "--data", "scratch", "--optimizer", "scratch", "--rounds", "1", "--warmup", "0", "-q",
                   "--json", str(out), cwd=tmp_path, env={"HARNESS_TORCH_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {b["extra_info"]["combination"].get("reference"): b["extra_info"]
            for b in json.loads(out.read_text())["benchmarks"]}
    assert {None, "numpy"} <= set(rows) and rows[None]["workload"]["batch_size"] == 1000
    torch_ran = "torch" in rows
    assert torch_ran or "SKIPPED: torch is not importable" in proc.stdout
    for name in ("numpy", "torch")[:1 + torch_ran]:  # the plugin's own maths, imported by name in the worker too
        assert rows[name]["test_acc"] > 0.9 and rows[name]["steps_per_epoch"] == 2

"""Reference implementations outside MXNet: same data, same init, same maths as the harness, on every task."""
import importlib
import json
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest

from harness.core.loader import load
from harness.core.train import Session, Settings, train
from harness.errors import HarnessError
from harness.roles import Combination
from harness.tasks import reference
from harness.tasks.builtin import LinReg
from tests.helpers import weights

from .conftest import run_cli

TORCH_MISSING = reference._import_error("torch")
needs_torch = pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))


class InProcessTorch:
    """The worker's PyTorch loop built in this process: the same maths, without a process start per test."""

    name = "torch-in-process"

    def __init__(self, task, settings):
        self.loop = reference.TorchLoop(task.reference_loops.torch_scores, task.output,
                                        reference._host_data(task, "torch"), settings.batch_size,
                                        settings.lr, settings.shuffle, task.seed, reference.GATHER_ONCE_BYTES)
        self.steps_per_epoch = -(-task.num_examples // settings.batch_size)
        self.run_epoch, self.metrics, self.arrays = self.loop.run_epoch, self.loop.metrics, self.loop.arrays

    def evaluate(self):
        return self.metrics()["loss"]

    def close(self):
        pass


REFERENCES = [reference.NumpyReference, pytest.param(InProcessTorch, marks=needs_torch)]
IDS = ["numpy", "torch"]


def _train(ref_cls, task, settings):
    ref = ref_cls(task, settings)
    try:
        records = []
        for _ in range(settings.epochs):
            ref.run_epoch()
            records.append(ref.metrics())
        return ref, [r["loss"] for r in records], records
    finally:
        ref.close()


@pytest.fixture(scope="module")
def registry():
    return load(only=["scratch"])


@pytest.fixture(scope="module")
def scratch_unshuffled(registry):
    return train(Session(registry, Combination(), LinReg(), Settings(shuffle=False), mx.cpu()))


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
def test_unshuffled_trajectory_matches_scratch(scratch_unshuffled, ref_cls):
    ref, losses, _ = _train(ref_cls, LinReg(), Settings(shuffle=False))
    w, b = weights(ref)
    np.testing.assert_allclose(w, scratch_unshuffled.params["w"], rtol=0, atol=1e-5)
    assert abs(b - scratch_unshuffled.params["b"]) < 1e-5
    np.testing.assert_allclose(losses, [e["loss"] for e in scratch_unshuffled.epochs], rtol=1e-3)


# --- the image tasks on the bundled digits ---------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["softmax", "mlp"])
def image_scratch_run(request, registry):
    """The all-scratch MXNet run of an image task on digits: 3 epochs, shuffling off, dividing each batch by its
    real length as the reference loops do (not the book's fixed batch size)."""
    task = registry.make_task(request.param)
    settings = Settings.for_task(task, epochs=3, shuffle=False, divisor="exact")
    return task, settings, train(Session(registry, Combination(), task, settings, mx.cpu()))


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
def test_image_task_unshuffled_trajectory_matches_scratch(image_scratch_run, ref_cls):
    # the task's own verify tolerance (1e-4) on every epoch's loss and every final parameter
    task, settings, run = image_scratch_run
    ref, losses, records = _train(ref_cls, task, settings)
    assert [a.shape for a in ref.arrays()] == [tuple(s) for s in task.param_shapes]
    # the reference loops evaluate the whole split after each epoch: the harness keeps that as eval_loss
    np.testing.assert_allclose(losses, [e["eval_loss"] for e in run.epochs], rtol=0, atol=task.tolerance)
    for mine, theirs in zip(ref.arrays(), run.arrays):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=task.tolerance)
    # accuracies are the same counts: a 1e-4 difference in the parameters flips no prediction here
    evaluated = [(e["eval_train_acc"], e["test_acc"]) for e in run.epochs]
    assert [(r["train_acc"], r["test_acc"]) for r in records] == evaluated
    # not vacuous: the parameters moved far beyond the tolerance, and the loss fell
    start = task.initial_params(mx.cpu())[0].asnumpy()
    assert np.max(np.abs(ref.arrays()[0] - start)) > 100 * task.tolerance
    assert losses[-1] < losses[0] < np.log(10)


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
@pytest.mark.parametrize("task_name", ["softmax", "mlp"])
def test_image_task_converges_shuffled_to_the_target(registry, ref_cls, task_name):
    task = registry.make_task(task_name)
    settings = Settings.for_task(task)  # digits: 10 epochs, batch 32
    ref, losses, records = _train(ref_cls, task, settings)
    assert task.target.reached(records[-1]), records[-1]  # test accuracy >= 0.9
    assert records[-1]["train_acc"] > 0.9 and losses[-1] < 0.5 * losses[0]
    assert ref.steps_per_epoch == -(-task.num_examples // 32) == 45


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
@pytest.mark.parametrize(
    "task,batch_size",
    [(LinReg(), 10), (LinReg(num_examples=1005), 10), (LinReg(), 7), (LinReg(100000, 100), 1000)],
    ids=["seed", "short-last-batch", "batch-7", "large"],
)
def test_converges_shuffled(ref_cls, task, batch_size):
    settings = Settings(batch_size=batch_size)  # lr 0.03, 3 epochs
    ref, losses, _ = _train(ref_cls, task, settings)
    w, b = weights(ref)
    assert np.max(np.abs(w - task.true_w)) < 0.02
    assert abs(b - task.true_b) < 0.02
    assert losses[-1] < 1e-4
    assert ref.steps_per_epoch == -(-task.num_examples // batch_size)


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
def test_shuffle_is_seeded_and_both_gather_paths_give_the_same_batches(monkeypatch, ref_cls):
    task, settings = LinReg(num_examples=100), Settings(batch_size=7)
    once, _, _ = _train(ref_cls, task, settings)
    monkeypatch.setattr(reference, "GATHER_ONCE_BYTES", 0)
    per_batch, _, _ = _train(ref_cls, task, settings)
    np.testing.assert_array_equal(weights(once)[0], weights(per_batch)[0])
    other, _, _ = _train(ref_cls, replace(task, seed=1), settings)
    assert not np.array_equal(weights(once)[0], weights(other)[0])


@needs_torch
def test_numpy_and_torch_agree_shuffled(registry):
    for task, settings in ((LinReg(num_inputs=5), Settings()),
                           (registry.make_task("softmax"), Settings(epochs=2, batch_size=32, lr=0.1))):
        a, _, _ = _train(reference.NumpyReference, task, settings)
        b, _, _ = _train(InProcessTorch, task, settings)
        for x, y in zip(a.arrays(), b.arrays()):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-4)


# --- the PyTorch worker process --------------------------------------------------------------------------------------

@needs_torch
def test_torch_worker_trains_like_scratch_without_mxnet_and_ends(image_scratch_run):
    task, settings, run = image_scratch_run
    ref = reference.TorchReference(task, settings, threads=1)
    proc = ref._proc
    try:
        losses = []
        for _ in range(settings.epochs):
            ref.run_epoch()
            losses.append(ref.evaluate())
        np.testing.assert_allclose(losses, [e["eval_loss"] for e in run.epochs], rtol=0, atol=task.tolerance)
        for mine, theirs in zip(ref.arrays(), run.arrays):
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=task.tolerance)
        extra = ref.extra_metrics()
        assert extra["torch_threads"] == 1 and extra["torch_thread_trials_s"] is None
        assert extra["mxnet_imported"] is False  # the worker never loads MXNet's runtime
        assert len(extra["worker_epoch_seconds"]) == settings.epochs
        assert all(s > 0 for s in extra["worker_epoch_seconds"])
    finally:
        ref.close()
    assert proc.wait(timeout=10) == 0


@needs_torch
def test_torch_worker_picks_its_fastest_thread_count(monkeypatch):
    monkeypatch.delenv(reference.THREADS_ENV, raising=False)
    ref = reference.TorchReference(LinReg(), Settings())
    try:
        info = ref.extra_metrics()
        trials = info["torch_thread_trials_s"]
        assert sorted(trials) == list(range(1, reference._usable_cpus() + 1))
        assert info["torch_threads"] == min(trials, key=trials.get)
        # the calibration ran on copies with a throw-away order: the run still starts from the host's draw
        np.testing.assert_array_equal(ref.arrays()[0], LinReg().initial_params(mx.cpu())[0].asnumpy())
    finally:
        ref.close()


@needs_torch
def test_torch_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv(reference.THREADS_ENV, "2")
    ref = reference.TorchReference(LinReg(num_examples=50), Settings())
    try:
        assert ref.extra_metrics()["torch_threads"] == 2
    finally:
        ref.close()
    monkeypatch.setenv(reference.THREADS_ENV, "two")
    with pytest.raises(HarnessError, match="HARNESS_TORCH_THREADS must be a positive integer, got 'two'"):
        reference.TorchReference(LinReg(num_examples=50), Settings())


@needs_torch
def test_a_dead_worker_is_an_error_naming_its_exit_code():
    ref = reference.TorchReference(LinReg(num_examples=50), Settings(), threads=1)
    try:
        ref._proc.kill()
        ref._proc.wait(timeout=10)
        with pytest.raises(RuntimeError, match=r"PyTorch worker process ended \(exit code -9\) during 'epoch'"):
            ref.run_epoch()
    finally:
        ref.close()


# --- which references exist, and for which tasks ---------------------------------------------------------------------

class _OtherTask(LinReg):
    name = "other"
    reference_loops = None


class _NumpyOnly(LinReg):
    name = "numpy-only"
    reference_loops = replace(LinReg.reference_loops, torch_scores=None)


def test_a_task_without_loops_is_refused_with_what_it_lacks(registry):
    message = ("the numpy reference cannot train task 'other': task 'other' declares no numpy loop "
               "(Task.reference_loops.numpy_scores, numpy_step)")
    with pytest.raises(HarnessError) as exc:
        reference.NumpyReference(_OtherTask(), Settings())
    assert str(exc.value) == message
    with pytest.raises(HarnessError, match="the torch reference cannot train task 'other'"):
        reference.TorchReference(_OtherTask(), Settings())
    for info in reference.references(_OtherTask()):
        assert not info.available
        assert info.skip_reason.startswith(f"task 'other' declares no {info.name} loop")
    numpy_row, torch_row = reference.references(_NumpyOnly())
    assert numpy_row.available
    assert torch_row.skip_reason == "task 'numpy-only' declares no torch loop (Task.reference_loops.torch_scores)"
    for name in registry.task_names():  # every built-in task brings each loop, or says why it has none
        task = registry.make_task(name)
        stated = task.reference_loops.why_none or {}
        for info in reference.references(task):
            assert info.available or info.skip_reason == stated.get(info.name) or (
                info.name == "torch" and TORCH_MISSING), (name, info)


def test_references_list_numpy_and_explain_a_missing_torch(monkeypatch):
    names = [r.name for r in reference.references()]
    assert names == ["numpy", "torch"]
    numpy_ref = reference.references()[0]
    assert numpy_ref.available and numpy_ref.factory is reference.NumpyReference

    real_import = importlib.import_module

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(reference.importlib, "import_module", no_torch)
    torch_ref = reference.references()[1]
    assert not torch_ref.available
    assert "torch is not importable" in torch_ref.skip_reason
    assert "mxnet-harness[torch]" in torch_ref.skip_reason


@needs_torch
def test_bench_image_task_has_both_reference_rows_with_torch_threads(tmp_path):
    out = tmp_path / "run.json"
    proc = run_cli("bench", "--task", "softmax", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
                   "--optimizer", "scratch", "--rounds", "1", "--warmup", "0", "-q", "--json", str(out),
                   env={reference.THREADS_ENV: "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {b["extra_info"]["combination"].get("reference"): b["extra_info"]
            for b in json.loads(out.read_text())["benchmarks"]}
    assert set(rows) == {None, "numpy", "torch"}
    assert rows["torch"]["torch_threads"] == 1 and rows["torch"]["mxnet_imported"] is False
    for name in ("numpy", "torch"):
        assert rows[name]["test_acc"] is not None and rows[name]["steps_per_epoch"] == 45
    assert "numpy (reference)" in proc.stdout and "torch (reference)" in proc.stdout
    assert "vs numpy" in proc.stdout and "vs torch" in proc.stdout


# --- a plugin's task brings its own loops: the one-logit tutorial task ---------------------------------------------

@pytest.fixture(scope="module")
def logreg(tmp_path_factory):
    """The binary tutorial's registry and task, and its all-scratch-data MXNet run without shuffling."""
    from harness.core.loader import import_plugin

    from .conftest import ROOT

    doc = (ROOT / "docs" / "writing-plugins.md").read_text()
    path = tmp_path_factory.mktemp("logreg") / "harness_logreg.py"
    path.write_text(doc.split("<!-- tutorial-binary -->\n```python\n")[1].split("```")[0])
    registry = load(only=["scratch"], extra=[import_plugin(str(path))])
    task = registry.make_task("logreg")
    settings = Settings.for_task(task, epochs=3, shuffle=False, divisor="exact")  # the loops' divisor
    combo = Combination(model="logreg", loss="logistic")
    return task, settings, train(Session(registry, combo, task, settings, mx.cpu()))


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=IDS)
def test_a_binary_plugin_task_trains_its_own_loops_like_mxnet(logreg, ref_cls):
    task, settings, run = logreg
    ref, losses, records = _train(ref_cls, task, settings)
    np.testing.assert_allclose(losses, [e["eval_loss"] for e in run.epochs], rtol=0, atol=1e-5)
    for mine, theirs in zip(ref.arrays(), run.arrays):
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-5)
    evaluated = [(e["eval_train_acc"], e["test_acc"]) for e in run.epochs]
    assert [(r["train_acc"], r["test_acc"]) for r in records] == evaluated
    # not vacuous: it learned (log 2 is the loss of a zero logit), and the weights moved far beyond the tolerance
    assert records[-1]["test_acc"] > 0.9 and losses[-1] < losses[0] < 0.1 * np.log(2)
    assert np.max(np.abs(ref.arrays()[0] - task.initial_params(mx.cpu())[0].asnumpy())) > 0.1

"""Reference implementations outside MXNet: same data, same init, same maths as the harness."""
from tests.helpers import weights
import importlib
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest

from harness import reference
from harness.plugins import load
from harness.roles import Combination
from harness.tasks import LinReg
from harness.train import Session, Settings, train

TORCH_MISSING = reference._import_error("torch")
needs_torch = pytest.mark.skipif(TORCH_MISSING is not None, reason=str(TORCH_MISSING))


def _train(ref_cls, task, settings):
    ref = ref_cls(task, settings)
    losses = []
    for _ in range(settings.epochs):
        ref.run_epoch()
        losses.append(ref.evaluate())
    return ref, losses


@pytest.fixture(scope="module")
def scratch_unshuffled():
    registry = load(only=["scratch"])
    return train(Session(registry, Combination(), LinReg(), Settings(shuffle=False), mx.cpu()))


REFERENCES = [reference.NumpyReference, pytest.param(reference.TorchReference, marks=needs_torch)]


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=["numpy", "torch"])
def test_unshuffled_trajectory_matches_scratch(scratch_unshuffled, ref_cls):
    ref, losses = _train(ref_cls, LinReg(), Settings(shuffle=False))
    w, b = weights(ref)
    np.testing.assert_allclose(w, scratch_unshuffled.params["w"], rtol=0, atol=1e-5)
    assert abs(b - scratch_unshuffled.params["b"]) < 1e-5
    np.testing.assert_allclose(losses, [e["loss"] for e in scratch_unshuffled.epochs], rtol=1e-3)


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=["numpy", "torch"])
@pytest.mark.parametrize(
    "task,batch_size",
    [(LinReg(), 10), (LinReg(num_examples=1005), 10), (LinReg(), 7), (LinReg(100000, 100), 1000)],
    ids=["seed", "short-last-batch", "batch-7", "large"],
)
def test_converges_shuffled(ref_cls, task, batch_size):
    settings = Settings(batch_size=batch_size)  # lr 0.03, 3 epochs
    ref, losses = _train(ref_cls, task, settings)
    w, b = weights(ref)
    assert np.max(np.abs(w - task.true_w)) < 0.02
    assert abs(b - task.true_b) < 0.02
    assert losses[-1] < 1e-4
    assert ref.steps_per_epoch == -(-task.num_examples // batch_size)


@pytest.mark.parametrize("ref_cls", REFERENCES, ids=["numpy", "torch"])
def test_shuffle_is_seeded_and_both_gather_paths_give_the_same_batches(monkeypatch, ref_cls):
    task, settings = LinReg(num_examples=100), Settings(batch_size=7)
    once, _ = _train(ref_cls, task, settings)
    monkeypatch.setattr(reference, "GATHER_ONCE_BYTES", 0)
    per_batch, _ = _train(ref_cls, task, settings)
    np.testing.assert_array_equal(weights(once)[0], weights(per_batch)[0])
    other, _ = _train(ref_cls, replace(task, seed=1), settings)
    assert not np.array_equal(weights(once)[0], weights(other)[0])


@needs_torch
def test_numpy_and_torch_agree_shuffled():
    task, settings = LinReg(num_inputs=5), Settings()
    a, _ = _train(reference.NumpyReference, task, settings)
    b, _ = _train(reference.TorchReference, task, settings)
    np.testing.assert_allclose(weights(a)[0], weights(b)[0], rtol=0, atol=1e-5)


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

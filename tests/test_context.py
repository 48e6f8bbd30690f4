"""--ctx parsing and the GPU detection / skip logic, exercised on a CPU-only machine."""
import mxnet as mx
import pytest

from harness.core import context
from harness.errors import HarnessError


@pytest.mark.parametrize("spec, parsed", [("cpu", ("cpu", 0)), ("gpu", ("gpu", 0)), ("gpu:3", ("gpu", 3)),
                                          (" GPU:1 ", ("gpu", 1))])
def test_parse(spec, parsed):
    assert context.parse(spec) == parsed


@pytest.mark.parametrize("spec", ["tpu", "gpu:", "gpu:-1", "gpu:x", "cpu,gpu", ""])
def test_malformed(spec):
    with pytest.raises(HarnessError, match=r"invalid context .*; valid: cpu, gpu, gpu:N"):
        context.parse(spec)


def test_this_machine_sees_no_gpu():
    # the pip wheel is CPU-only; detection must say 0, not raise
    assert context.num_gpus() == 0
    assert "no GPU usable" in context.unavailable_reason("gpu")


def test_gpu_without_gpus_is_a_clear_error():
    with pytest.raises(HarnessError, match=r"context gpu:0: no GPU usable .*; valid here: cpu$"):
        context.resolve("gpu:0", gpus=0)


def test_gpu_selection_with_gpus():
    assert context.resolve("gpu", gpus=2) == mx.gpu(0)
    assert context.resolve("gpu:1", gpus=2) == mx.gpu(1)
    assert context.resolve("cpu", gpus=2) == mx.cpu()
    with pytest.raises(HarnessError, match=r"no such GPU .*valid here: cpu, gpu:0..gpu:1"):
        context.resolve("gpu:2", gpus=2)


def test_matrix_plan_skips_gpu_with_reason():
    assert context.plan(["cpu", "gpu"], gpus=0) == [("cpu", None), ("gpu", context.unavailable_reason("gpu", 0))]
    assert context.plan(["cpu", "gpu"], gpus=1) == [("cpu", None), ("gpu", None)]


ON = [mx.cpu(0), mx.cpu(1), mx.Context("cpu_shared", 0), mx.cpu_pinned(0)]


@pytest.mark.parametrize("target", [mx.cpu(0), mx.cpu(1)], ids=str)
@pytest.mark.parametrize("source", ON, ids=str)
def test_mover_decides_as_as_in_context_does(source, target):
    """The training loop's placement: the array itself on the run's context, else a copy there, as ``as_in_context``."""
    a = mx.nd.arange(6, ctx=source).reshape((3, 2))
    moved, expected = context.mover(target)(a), a.as_in_context(target)
    assert (moved is a) == (expected is a) == (source == target)
    assert moved.context == target and (moved.asnumpy() == a.asnumpy()).all()


def test_one_mover_places_a_run_of_arrays():
    move = context.mover(mx.cpu(0))  # its buffers are reused from call to call
    arrays = [mx.nd.ones((2,), ctx=c) for c in ON * 2]
    assert [move(a) is a for a in arrays] == [c == mx.cpu(0) for c in ON * 2]

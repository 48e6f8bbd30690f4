"""The lenet task (d2l 5.5/5.10): LeNet with batch norm from scratch, in Gluon and fast; its data, verify,
the moving statistics and the PyTorch reference.  Small: the first rows of the digits, one epoch."""
import importlib.util
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from harness.check.conformance import check_plugin, conformance_cases
from harness.check.verify import verify
from harness.cli import main
from harness.core.roles import Combination, Model
from harness.core.train import Session, Settings, train
from harness.hookspecs import hookimpl
from harness.tasks import datasets, lenet, reference
from harness.tasks.lenet import LeNet, initial_state
from mxnet_harness_plugins import gluon as gluon_plugin
from mxnet_harness_plugins import scratch

ROWS = 64


@pytest.fixture(scope="module")
def registry():
    from harness.core.loader import load

    return load(only=["scratch", "gluon", "fast"])


@pytest.fixture(scope="module")
def task(registry):
    return registry.make_task("lenet", num_examples=ROWS)


def test_digits_in_mnists_frame():
    images = np.zeros((2, 1, 8, 8), dtype=np.float32)
    images[0] = 1.0
    framed = datasets.to_mnist_frame(images)
    assert framed.shape == (2, 1, 28, 28) and framed.dtype == np.float32
    # a constant image fills exactly the centred 20x20 box; an empty one stays empty
    assert framed[0, 0, 4:24, 4:24].min() == pytest.approx(1.0) and framed[0].sum() == pytest.approx(400.0)
    assert framed[1].sum() == 0.0
    # a stroke in the left half of the 8x8 stays in the left half of the box
    images[1, 0, :, :4] = 1.0
    framed = datasets.to_mnist_frame(images)
    assert framed[1, 0, 4:24, 4:13].min() > 0.99 and framed[1, 0, :, 15:].max() == 0.0


def test_task_shapes_and_the_xavier_draw(task):
    assert task.image_shape == (1, 28, 28) and task.num_examples == ROWS
    shapes = dict(zip(task.param_names, task.param_shapes))
    assert shapes["conv0_weight"] == (6, 1, 5, 5) and shapes["conv1_weight"] == (16, 6, 5, 5)
    assert shapes["dense0_weight"] == (120, 256) and shapes["dense2_weight"] == (10, 84)  # 16 × 4 × 4 inputs
    assert len(task.param_names) == 18 and len(task.state_names) == 8
    params = dict(zip(task.param_names, (p.asnumpy() for p in task.initial_params(mx.cpu()))))
    bound = np.sqrt(3 / ((150 + 400) / 2))  # conv1: fan_in 6·25, fan_out 16·25
    assert 0.9 * bound < np.abs(params["conv1_weight"]).max() <= bound
    assert (params["bn0_gamma"] == 1).all() and (params["bn0_beta"] == 0).all() and (params["conv0_bias"] == 0).all()
    assert [len(s) for s in initial_state(task)] == [6, 6, 16, 16, 120, 120, 84, 84]


def test_batch_norm_from_scratch_is_the_books():
    X = nd.array(np.random.RandomState(0).normal(size=(4, 3, 5, 5)))
    gamma, beta = nd.ones((1, 3, 1, 1)) * 2, nd.ones((1, 3, 1, 1))
    mean0, var0 = nd.zeros((1, 3, 1, 1)), nd.ones((1, 3, 1, 1))
    with autograd.record():  # training mode: this batch's statistics, per channel
        Y, mean1, var1 = scratch.batch_norm(X, gamma, beta, mean0, var0, eps=1e-5, momentum=0.9)
    x = X.asnumpy()
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(Y.asnumpy(), 2 * (x - mu) / np.sqrt(var + 1e-5) + 1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean1.asnumpy(), 0.1 * mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(var1.asnumpy(), 0.9 + 0.1 * var, rtol=1e-5)
    # predict mode: the moving statistics, which stay as they were
    Y, mean2, var2 = scratch.batch_norm(X, gamma, beta, mean1, var1, eps=1e-5, momentum=0.9)
    np.testing.assert_allclose(Y.asnumpy(), 2 * (x - mean1.asnumpy()) / np.sqrt(var1.asnumpy() + 1e-5) + 1, rtol=1e-4,
                               atol=1e-5)
    assert mean2 is mean1 and var2 is var1


@pytest.mark.parametrize("factory", [scratch.lenet_model, gluon_plugin.lenet_model])
def test_models_start_from_the_host_and_keep_moving_stats_as_state(task, factory):
    model = Model(factory(*task.initial_params(mx.cpu())))
    assert len(model.params) == len(task.param_names)  # gamma/beta trained; running mean/var are no parameters
    for got, want in zip(task.canonical(model.arrays()), task.initial_params(mx.cpu())):
        np.testing.assert_array_equal(got, want.asnumpy())
    np.testing.assert_array_equal(np.concatenate(task.state(model)), np.concatenate(initial_state(task)))


def test_training_mode_in_steps_predict_mode_in_evaluation(registry, task):
    settings = Settings(epochs=1, batch_size=16, lr=0.1)
    session = Session(registry, Combination(model="gluon", loss="gluon", optimizer="gluon"), task, settings, mx.cpu())
    session.run_epoch()
    after_steps = np.concatenate(session.state())
    assert not np.allclose(after_steps, np.concatenate(initial_state(task)))  # the steps updated them
    session.metrics()
    np.testing.assert_array_equal(np.concatenate(session.state()), after_steps)  # evaluating did not
    # and evaluation used them: predict mode gives other scores than this batch's own statistics
    X = session.features[:16]
    with autograd.train_mode():
        trained = session.net(X).asnumpy()
    assert not np.allclose(session.net(X).asnumpy(), trained, atol=1e-4)


def test_every_model_computes_the_same_maths(registry, task):
    settings = Settings(epochs=1, batch_size=16, lr=0.1)
    combos = [Combination(), Combination(model="gluon", loss="gluon"), Combination("fast", "fast", "fast", "fast"),
              Combination(model="fast", optimizer="gluon")]
    rows, ref, ok = verify(registry, task, settings, mx.cpu(), combos)
    assert ok, [(r["combination"].label, r["max_abs_diff"], r["error"]) for r in rows]
    assert all(r["max_abs_diff"] < task.tolerance for r in rows)


class _SlowAverages:
    """A LeNet whose batch norms average with momentum 0.5: same parameters after training, other moving stats."""

    @hookimpl
    def register_models(self, register):
        def model(*params):
            net = gluon_plugin.lenet_model(*params)
            for block in net._children.values():
                if isinstance(block, nn.BatchNorm):
                    block._kwargs["momentum"] = 0.5
            return net

        register("slow_averages", model, tasks=["lenet"])


def test_verify_compares_the_moving_statistics(task):
    from harness.core.loader import load

    registry = load(only=["scratch", "gluon"], extra=[_SlowAverages()])
    settings = Settings(epochs=1, batch_size=16, lr=0.1)
    rows, _, ok = verify(registry, task, settings, mx.cpu(), [Combination(), Combination(model="slow_averages")])
    assert not ok
    row = rows[-1]
    assert row["combination"].model == "slow_averages" and row["max_abs_diff"] > 1e-2


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_pytorch_lenet_trains_like_mxnet(registry, task):
    # the loop divides by each batch's real length and evaluates the whole split: eval_loss, --divisor exact
    settings = Settings(epochs=1, batch_size=16, lr=0.1, shuffle=False, divisor="exact")
    mxnet_run = train(Session(registry, Combination(model="gluon"), task, settings, mx.cpu()))
    loop = reference.TorchLoop(lenet.torch_scores, task.output, _host(task), 16, 0.1, False, 0)
    loop.run_epoch()
    assert loop.metrics()["loss"] == pytest.approx(mxnet_run.epochs[-1]["eval_loss"], abs=1e-4)
    for got, want in zip(loop.arrays(), mxnet_run.arrays):
        np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-4)
    # PyTorch keeps the unbiased variance: the moving means agree, the variances by n/(n-1) at most
    for name, got, want in zip(task.state_names, lenet.torch_state(loop.params), mxnet_run.state):
        np.testing.assert_allclose(got.numpy(), want, rtol=0.07 if name.endswith("var") else 1e-3, atol=1e-5)


def _host(task):
    data = task.data(mx.cpu())
    return {"features": data.features.asnumpy(), "labels": data.labels.asnumpy(),
            "test_features": data.test_features.asnumpy(), "test_labels": data.test_labels.asnumpy(),
            "params": [p.asnumpy() for p in task.initial_params(mx.cpu())]}


def test_numpy_reference_says_why_it_has_no_lenet(task):
    numpy_row, torch_row = reference.references(task)
    assert numpy_row.skip_reason == lenet.NO_NUMPY and reference.missing_loops("torch", task) is None


def test_run_and_bad_input_from_the_command_line(capsys):
    code = main(["run", "--task", "lenet", "--model", "gluon", "--num-examples", "64", "--epochs", "1",
                 "--batch-size", "16"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.match(r"^epoch 1, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3} \(", out)
    assert out.splitlines()[-1].endswith("; task lenet on digits")
    code = main(["run", "--task", "lenet", "--dataset", "cifar"])
    out, err = capsys.readouterr()
    assert code == 2 and err.strip().splitlines() == [
        "harness: error: unknown --dataset 'cifar' for task lenet; valid: digits, fashion-mnist, synthetic"]


class _LeNetCopy(LeNet):
    name = "lenet_copy"


class _RegistersLeNet:
    @hookimpl
    def register_tasks(self, register):
        def make(num_examples=None, seed=0):
            return _LeNetCopy(num_examples_=num_examples, seed=seed)

        register("lenet_copy", make)


def test_the_conformance_kit_checks_a_conv_task_and_its_components():
    report = check_plugin(_RegistersLeNet(), tasks=["lenet_copy"])
    assert report.ok and [str(c) for c in report.cases] == ["loads", "task:lenet_copy:contract"], str(report)
    # the contracts of every built-in role on 4-D batches (training each to the target is the kit's long part)
    for plugin in ("mxnet_harness_plugins.scratch", "mxnet_harness_plugins.gluon", "mxnet_harness_plugins.fast"):
        contracts = [c for c in conformance_cases(plugin, tasks=["lenet"]) if c.kind == "contract"]
        assert len(contracts) == 4
        for case in contracts:
            case.check()

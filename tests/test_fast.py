"""The ``fast`` plugin: same mathematics as scratch in every mix, whatever the batch arithmetic."""
import itertools

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd

import mxnet_harness_plugins.fast as fast
import mxnet_harness_plugins.gluon as gluon_plugin
import mxnet_harness_plugins.scratch as scratch
from harness.check.verify import verify
from harness.core.loader import load
from harness.core.train import Session, Settings, train
from harness.roles import ROLES, Combination, Model
from harness.tasks.builtin import LinReg
from tests.helpers import weights

IMPLS = ["scratch", "gluon", "fast"]
FAST_COMBOS = [Combination(*c) for c in itertools.product(IMPLS, repeat=4) if "fast" in c]


@pytest.fixture(scope="module")
def registry():
    return load(only=IMPLS)


def test_fast_registers_through_its_entry_point(registry):
    info = registry.plugins["fast"]
    assert (info.source, info.module) == ("built-in", "mxnet_harness_plugins.fast")
    for role in ROLES:
        assert registry.get(role, "fast").plugin == "fast"


def test_verify_passes_with_fast_in_every_mix(registry):
    # shuffling off, identical init: every mix with fast follows the all-scratch trajectory
    combos = [Combination()] + FAST_COMBOS
    rows, reference, ok = verify(registry, LinReg(), Settings(), mx.cpu(), combos=combos)
    assert reference == Combination()
    assert ok, [(r["combination"].label, r["max_abs_diff"], r["error"]) for r in rows if not r["ok"]]
    assert len(rows) == 1 + 65
    # and that trajectory converges, so each of these mixes does at the seed settings
    assert rows[0]["final_loss"] < 1e-4


def _converges(registry, combo, task=LinReg(), settings=Settings()):  # noqa: B008 (frozen dataclasses)
    result = train(Session(registry, combo, task, settings, mx.cpu()))
    assert np.max(np.abs(np.array(result.params["w"]) - task.true_w)) < 0.02, result.params
    assert abs(result.params["b"] - task.true_b) < 0.02, result.params
    assert result.final_loss < 1e-4
    return result


# every role of fast next to each other implementation, shuffled as the seed trains
SHUFFLED = sorted({Combination(*c) for role in range(4) for other in ("scratch", "gluon")
                   for c in (["fast"] * role + [other] + ["fast"] * (3 - role),
                             [other] * role + ["fast"] + [other] * (3 - role))} | {Combination(*["fast"] * 4)})


@pytest.mark.parametrize("combo", SHUFFLED, ids=lambda c: c.label)
def test_fast_mixes_converge_shuffled_at_seed_settings(registry, combo):
    _converges(registry, combo)


def _rows_seen(batches):
    return np.concatenate([y.asnumpy() for _, y in batches])


@pytest.mark.parametrize("num_examples,batch_size", [(1005, 10), (1000, 7), (10, 10), (3, 10)])
@pytest.mark.parametrize("epoch_buffer", [True, False])
def test_loader_yields_every_row_once_with_a_short_last_batch(monkeypatch, num_examples, batch_size, epoch_buffer):
    if not epoch_buffer:  # the path for data too large to copy: one take per batch
        monkeypatch.setattr(fast, "EPOCH_BUFFER_MAX_BYTES", 0)
    features = nd.array(np.arange(num_examples * 3).reshape(num_examples, 3))
    labels = nd.arange(num_examples)
    sizes = [min(batch_size, num_examples - i) for i in range(0, num_examples, batch_size)]
    for shuffle in (False, True):
        batches = list(fast.data_iter(batch_size, features, labels, shuffle))
        assert [X.shape for X, _ in batches] == [(s, 3) for s in sizes]
        assert [y.shape for _, y in batches] == [(s,) for s in sizes]
        for X, y in batches:  # rows stay paired with their labels
            np.testing.assert_array_equal(X.asnumpy()[:, 0], y.asnumpy() * 3)
        seen = _rows_seen(batches)
        if shuffle:
            assert sorted(seen) == list(range(num_examples))
        else:
            np.testing.assert_array_equal(seen, np.arange(num_examples))


def test_loader_shuffles_differently_each_epoch_and_is_seeded():
    features, labels = nd.array(np.arange(200).reshape(100, 2)), nd.arange(100)
    np.random.seed(3)
    first, second = (_rows_seen(fast.data_iter(10, features, labels)) for _ in range(2))
    np.random.seed(3)
    again = _rows_seen(fast.data_iter(10, features, labels))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_ordered_batches_are_views_cached_per_arrays():
    features, labels = nd.array(np.arange(40).reshape(20, 2)), nd.arange(20)
    first = list(fast.data_iter(5, features, labels, False))
    assert [id(b) for b in fast.data_iter(5, features, labels, False)] == [id(b) for b in first]
    features[:] = features + 1  # views: a change to the data shows in the batches
    assert first[0][0].asnumpy()[0, 0] == 1
    other = nd.array(np.arange(40).reshape(20, 2))
    assert list(fast.data_iter(5, other, labels, False))[0][0].asnumpy()[0, 0] == 0
    assert len(list(fast.data_iter(4, features, labels, False))) == 5


@pytest.mark.parametrize("num_examples,batch_size", [(1005, 10), (1000, 7)])
def test_short_last_batch_trains_like_scratch(registry, num_examples, batch_size):
    combos = [Combination(), Combination(*["fast"] * 4), Combination("fast", "fast", "gluon", "gluon"),
              Combination("gluon", "fast", "fast", "scratch")]
    task, settings = LinReg(num_examples=num_examples), Settings(batch_size=batch_size)
    rows, _, ok = verify(registry, task, settings, mx.cpu(), combos=combos)
    assert ok, [(r["combination"].label, r["max_abs_diff"], r["error"]) for r in rows]
    _converges(registry, Combination(*["fast"] * 4), task, settings)


def _batch(num_inputs=2, size=7, seed=0):
    rng = np.random.RandomState(seed)
    return nd.array(rng.normal(size=(size, num_inputs))), nd.array(rng.normal(size=(size,)))


def test_model_and_loss_compute_scratch_values_and_gradients_for_any_shape():
    task = LinReg(num_inputs=3)
    net_fast, params_fast = fast.model(*task.initial_params(mx.cpu()))
    net_ref, params_ref = scratch.model(*task.initial_params(mx.cpu()))
    fast_loss = fast.loss()
    for size in (7, 3, 7, 1000):  # shapes alternate, as short last batches and evaluation do
        X, y = _batch(3, size, seed=size)
        with autograd.record():
            l_fast = fast_loss(net_fast(X, *params_fast), y)
        l_fast.backward()
        with autograd.record():
            l_ref = scratch.squared_loss(net_ref(X, *params_ref), y)
        l_ref.backward()
        assert l_fast.shape == (size, 1)
        np.testing.assert_allclose(l_fast.asnumpy(), l_ref.asnumpy(), rtol=1e-6, atol=1e-7)
        for p, q in zip(params_fast, params_ref):
            np.testing.assert_allclose(p.grad.asnumpy(), q.grad.asnumpy(), rtol=1e-6, atol=1e-7)
    assert sorted(net_fast.ops) == [(3, 3), (7, 3), (1000, 3)]


def test_model_starts_from_the_hosts_parameters_and_serves_gluon_trainer():
    w, b = LinReg().initial_params(mx.cpu())
    expected = w.asnumpy().copy()
    model = Model(fast.model(w, b))
    np.testing.assert_array_equal(weights(model)[0], expected.reshape(-1))
    assert model.params[0] is w and model.params[1] is b  # weight then bias
    step = gluon_plugin.trainer(model, 0.1)  # the Parameters take over the buffers
    X, y = _batch()
    with autograd.record():
        l = scratch.squared_loss(model(X), y)
    l.backward()
    step(7)
    assert not np.array_equal(weights(model)[0], expected.reshape(-1))
    # the model now computes on the Trainer's parameters
    np.testing.assert_allclose(model(X).asnumpy(), scratch.linreg(X, *model.params).asnumpy(), rtol=1e-6)


def _two_steps(build, make_step, batch_sizes=(7, 3)):
    """Parameters after two steps of ``make_step`` on a model from ``build``."""
    model = Model(build(*LinReg().initial_params(mx.cpu())))
    step = make_step(model, 0.05)
    for i, size in enumerate(batch_sizes):
        X, y = _batch(size=size, seed=i)
        with autograd.record():
            l = scratch.squared_loss(model(X), y)
        l.backward()
        step(size)
    return [p.asnumpy() for p in model.params]


@pytest.mark.parametrize("build", [scratch.model, gluon_plugin.model, fast.model], ids=["scratch", "gluon", "fast"])
def test_optimizer_updates_any_model_like_scratch_sgd_and_trainer(build):
    ours = _two_steps(build, fast.optimizer)
    for make_step in (scratch.optimizer, gluon_plugin.trainer):
        theirs = _two_steps(build, make_step)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not np.array_equal(ours[0], _two_steps(build, fast.optimizer, batch_sizes=(7, 7))[0])


def test_optimizer_rescales_by_the_batch_it_is_given():
    w, b = nd.array([[1.0], [2.0]]), nd.array([0.5])
    net, params = fast.model(w, b)
    params[0].grad[:] = nd.array([[4.0], [8.0]])
    params[1].grad[:] = nd.array([2.0])
    step = fast.optimizer(Model((net, params)), 0.5)
    step(4)  # w -= 0.5 * grad / 4
    np.testing.assert_array_equal(w.asnumpy(), [[0.5], [1.0]])
    np.testing.assert_array_equal(b.asnumpy(), [0.25])


def test_optimizer_handles_more_weights_than_one_fused_call_takes():
    rng = np.random.RandomState(0)
    params = [nd.array(rng.normal(size=(3,))) for _ in range(fast.MULTI_SGD_MAX * 2 + 1)]
    for p in params:
        p.attach_grad()
        p.grad[:] = nd.array(rng.normal(size=(3,)))
    expected = [(p - 0.1 * p.grad / 5).asnumpy() for p in params]
    fast.optimizer(Model((None, params)), 0.1)(5)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.asnumpy(), e, rtol=0, atol=1e-6)


def _epoch(features, labels, batch_size=5):
    # as the host's loop does: each batch is used, then dropped
    seen = [np.concatenate([X.asnumpy()[:, 0], y.asnumpy()]) for X, y in fast.data_iter(batch_size, features, labels)]
    return np.concatenate(seen)


def test_shuffled_epochs_reuse_one_buffer_when_no_batch_is_kept():
    features, labels = nd.array(np.arange(40).reshape(20, 2)), nd.arange(20)
    _epoch(features, labels)
    first = fast._EpochBuffer._last
    _epoch(features, labels)
    _epoch(nd.array(np.arange(40).reshape(20, 2) + 1), nd.arange(20))  # same shape, other data: reused too
    assert fast._EpochBuffer._last is first


def test_kept_or_pending_batches_are_never_overwritten_by_a_later_epoch():
    features, labels = nd.array(np.arange(40).reshape(20, 2)), nd.arange(20)
    kept = list(fast.data_iter(5, features, labels))  # a caller keeping a whole epoch
    one = next(iter(fast.data_iter(5, features, labels)))[0]  # one batch of an abandoned epoch
    pending = fast.data_iter(5, features, labels)  # created, not started
    running = fast.data_iter(5, features, labels)
    first = next(running)
    snapshot = [(X.asnumpy(), y.asnumpy()) for X, y in kept]
    one_before = one.asnumpy()
    for _ in range(3):
        _epoch(features, labels)
    for (X, y), (x0, y0) in zip(kept, snapshot):
        np.testing.assert_array_equal(X.asnumpy(), x0)
        np.testing.assert_array_equal(y.asnumpy(), y0)
    np.testing.assert_array_equal(one.asnumpy(), one_before)
    # each still yields its own whole epoch, rows paired with labels: pending all 4 batches, running the other 3
    for it, seen_before, count in ((pending, [], 4), (running, [first], 3)):
        batches = [(X.asnumpy(), y.asnumpy()) for X, y in it]
        assert len(batches) == count
        for X, y in batches:
            np.testing.assert_array_equal(X[:, 0], y * 2)
        rows = np.concatenate([y for _, y in batches] + [b[1].asnumpy() for b in seen_before])
        assert sorted(rows) == list(range(20))


# ---- the image tasks: softmax regression and the MLP on the bundled digits ---------------------------------------

FAST = Combination(*["fast"] * 4)
IMAGE_MIXES = [Combination(), FAST, Combination(*["fast"] * 4, fused=True),
               Combination("gluon", "fast", "fast", "gluon"), Combination("fast", "gluon", "fast", "scratch"),
               Combination("scratch", "fast", "scratch", "fast"), Combination("fast", "scratch", "gluon", "fast")]


@pytest.mark.parametrize("task_name", ["softmax", "mlp"])
def test_image_tasks_register_fast_model_loss_and_fused_step(registry, task_name):
    for role in ROLES:
        assert registry.get(role, "fast", task_name).plugin == "fast"
    assert FAST in registry.own_combinations(task_name)
    assert registry.fused_variants([FAST, Combination()], task_name) == [Combination(*["fast"] * 4, fused=True)]


@pytest.mark.parametrize("task_name", ["softmax", "mlp"])
def test_verify_image_task_fast_mixes_and_fused_agree_with_scratch(registry, task_name):
    # digits: 1437 rows in batches of 32, so every epoch ends with a short batch of 29
    task = registry.make_task(task_name)
    settings = Settings.for_task(task, epochs=3)
    rows, reference, ok = verify(registry, task, settings, mx.cpu(), combos=IMAGE_MIXES)
    assert reference == Combination()
    assert ok, [(r["combination"].label, r["max_abs_diff"], r["error"]) for r in rows if not r["ok"]]
    assert all(r["max_abs_diff"] <= task.tolerance for r in rows)
    assert rows[0]["final_loss"] < 0.5  # it learned: ln 10 = 2.3 at the start


@pytest.mark.parametrize("combo", [FAST, Combination(*["fast"] * 4, fused=True)], ids=lambda c: c.label)
def test_fast_mlp_reaches_the_digits_target_shuffled(registry, combo):
    task = registry.make_task("mlp")
    result = train(Session(registry, combo, task, Settings.for_task(task), mx.cpu()))
    assert task.target.reached(result.epochs[-1]), result.epochs[-1]


def test_image_model_starts_from_the_hosts_draw_held_transposed():
    reg = load(only=["scratch", "fast"])
    mlp = reg.make_task("mlp")
    draw = [p.asnumpy() for p in mlp.initial_params(mx.cpu())]
    model = Model(fast.mlp_model(*mlp.initial_params(mx.cpu())))
    assert [p.shape for p in model.params] == [(256, 64), (256,), (10, 256), (10,)]
    for mine, host in zip(mlp.canonical(model.arrays()), draw):
        np.testing.assert_array_equal(mine, host)


def test_image_model_and_loss_compute_scratch_values_and_gradients():
    reg = load(only=["scratch", "fast"])
    mlp = reg.make_task("mlp")
    split = mlp.data(mx.cpu())
    net_fast, params_fast = fast.mlp_model(*mlp.initial_params(mx.cpu()))
    net_ref, params_ref = scratch.mlp_model(*mlp.initial_params(mx.cpu()))
    # train the scratch pair a little so the scores are not all near zero
    for p in params_ref:
        p[:] = p + nd.array(np.random.RandomState(1).normal(scale=0.05, size=p.shape))
    for p, q in zip(params_fast, params_ref):
        p[:] = q.T if q.ndim == 2 else q
    fast_loss = fast.softmax_cross_entropy()
    for rows in (slice(0, 32), slice(32, 61), slice(0, 32)):  # a short batch between two full ones
        X, y = split.features[rows], split.labels[rows]
        assert X.ndim == 4
        with autograd.record():
            l_fast = fast_loss(net_fast(X, *params_fast), y)
        l_fast.backward()
        with autograd.record():
            l_ref = scratch.softmax_cross_entropy(net_ref(X, *params_ref), y)
        l_ref.backward()
        assert l_fast.shape == (X.shape[0],)
        np.testing.assert_allclose(l_fast.asnumpy(), l_ref.asnumpy(), rtol=1e-5, atol=1e-6)
        for p, q in zip(params_fast, params_ref):
            grad = q.grad.asnumpy()
            np.testing.assert_allclose(p.grad.asnumpy(), grad.T if grad.ndim == 2 else grad, rtol=1e-4, atol=1e-5)
    assert sorted(net_fast.ops) == [(29, 1, 8, 8), (32, 1, 8, 8)]


def test_loader_hands_out_image_batches_paired_with_their_labels():
    images = nd.array(np.arange(50 * 4, dtype=np.float32).reshape(50, 1, 2, 2))
    labels = nd.arange(50)
    for shuffle in (False, True):
        batches = list(fast.data_iter(16, images, labels, shuffle))
        assert [X.shape for X, _ in batches] == [(16, 1, 2, 2)] * 3 + [(2, 1, 2, 2)]
        for X, y in batches:
            np.testing.assert_array_equal(X.asnumpy()[:, 0, 0, 0], y.asnumpy() * 4)
        seen = _rows_seen(batches)
        assert sorted(seen) == list(range(50))
        assert np.array_equal(seen, np.arange(50)) != shuffle


def test_dense_fused_step_refuses_layers_it_cannot_update():
    W, b = nd.ones((64, 10)), nd.zeros(10)
    W.attach_grad()
    b.attach_grad()
    with pytest.raises(ValueError, match=r"needs fast's layers \[W \(out, in\)"):
        fast.dense_fused_step(Model((None, [W, b])), 0.1)  # (in, out): scratch's layout


def test_fused_mlp_via_the_cli():
    from .conftest import run_cli

    proc = run_cli("run", "--task", "mlp", "--data", "fast", "--model", "fast", "--loss", "fast", "--optimizer", "fast",
                   "--fused", "--epochs", "2")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "train acc" in lines[-1] and "test acc" in lines[-1]


def test_pytest_benchmarks_take_the_task_its_combinations_fused_variants_and_references(tmp_path):
    # benchmarks/ under pytest-benchmark: the mlp matrix (3 built-in implementations per role, fast's fused
    # variant, the two references), and a few cases run for real into the JSON
    import json
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    def pytest_benchmarks(*args):
        return subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_matrix.py", "-p", "no:cacheprovider",
                               "--harness-plugin", "no:momentum", "--task", "mlp", "--workload", "digits",
                               "--harness-ctx", "cpu", "--harness-rounds", "1", "--harness-warmup", "0", *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=600,
                              env={**os.environ, "HARNESS_TORCH_THREADS": "1"})

    listed = pytest_benchmarks("--collect-only", "-q")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ids = [line.split("[", 1)[1].rstrip("]") for line in listed.stdout.splitlines() if "test_epoch[" in line]
    # 81 mixes, fast's fused step behind each of the 3 loaders, 2 references
    assert len(ids) == 3 ** 4 + 3 + 2
    assert sorted(i for i in ids if i.endswith("-fused")) == [
        f"mlp-digits-cpu-{data}-fast-fast-fast-fused" for data in ("fast", "gluon", "scratch")]
    assert "mlp-digits-cpu-fast-fast-fast-fast-fused" in ids and "mlp-digits-cpu-gluon-scratch-fast-gluon" in ids
    assert {"mlp-digits-cpu-ref-numpy", "mlp-digits-cpu-ref-torch"} <= set(ids)
    out = tmp_path / "bm.json"
    ran = pytest_benchmarks("-q", "-k", "fast-fast-fast-fast or ref", f"--benchmark-json={out}")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    entries = {b["param"]: b for b in json.loads(out.read_text())["benchmarks"]}
    assert set(entries) == {"mlp-digits-cpu-fast-fast-fast-fast", "mlp-digits-cpu-fast-fast-fast-fast-fused",
                            "mlp-digits-cpu-ref-numpy", "mlp-digits-cpu-ref-torch"}
    for entry in entries.values():
        assert entry["group"] == "mlp-digits-cpu"
        assert entry["extra_info"]["workload"]["task"] == "mlp" and entry["extra_info"]["test_acc"] > 0.5
    assert entries["mlp-digits-cpu-ref-torch"]["extra_info"]["torch_threads"] == 1
    bad = pytest_benchmarks("--collect-only", "-q", "--task", "nope")  # a usage error, nothing collected
    assert bad.returncode != 0 and "UsageError" in bad.stdout and "task 'nope'" in bad.stdout


def test_lenet_padded_first_layer_is_gluons_lenet():
    """fast computes the first layer on 8 channels (2 held at zero) so oneDNN runs it blocked: the outputs,
    the 6-channel parameters' gradients and the moving statistics are Gluon's unpadded LeNet's."""
    from harness.tasks.lenet import LeNet, moving_stats

    task = LeNet.create("digits")
    x = mx.nd.array(np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32))
    runs = []
    for make in (fast.lenet_model, gluon_plugin.lenet_model):
        net = make(*task.initial_params(mx.cpu()))
        trainable = [p for p in net.collect_params().values() if p.grad_req != "null"]
        with autograd.record():
            y = net(x)
        y.backward(mx.nd.ones_like(y))
        runs.append((y.asnumpy(), [p.grad().asnumpy() for p in trainable], [a.asnumpy() for a in moving_stats(net)],
                     net(x).asnumpy()))  # inference: the moving statistics
    (y1, g1, m1, e1), (y2, g2, m2, e2) = runs
    assert [g.shape for g in g1] == [tuple(s) for s in task.param_shapes]
    assert [m.shape for m in m1] == [m.shape for m in m2] and m1[0].shape == (6,)
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6)
    for name, a, b in zip(task.param_names, g1, g2):
        # conv biases before a batch norm have a gradient of rounding noise only
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(b).max()), err_msg=name)
    for a, b in zip(m1, m2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e1, e2, rtol=1e-5, atol=1e-6)

"""The ``fast`` plugin: same mathematics as scratch in every mix, whatever the batch arithmetic."""
from tests.helpers import weights
import itertools

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd

import plugins.fast as fast
import plugins.gluon as gluon_plugin
import plugins.scratch as scratch
from harness.plugins import load
from harness.roles import ROLES, Combination, Model
from harness.tasks import LinReg
from harness.train import Session, Settings, train
from harness.verify import verify

IMPLS = ["scratch", "gluon", "fast"]
FAST_COMBOS = [Combination(*c) for c in itertools.product(IMPLS, repeat=4) if "fast" in c]


@pytest.fixture(scope="module")
def registry():
    return load(only=IMPLS)


def test_fast_registers_through_its_entry_point(registry):
    info = registry.plugins["fast"]
    assert (info.source, info.module) == ("built-in", "plugins.fast")
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


def _converges(registry, combo, task=LinReg(), settings=Settings()):
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
    next(running)
    snapshot = [(X.asnumpy(), y.asnumpy()) for X, y in kept]
    one_before = one.asnumpy()
    for _ in range(3):
        _epoch(features, labels)
    for (X, y), (x0, y0) in zip(kept, snapshot):
        np.testing.assert_array_equal(X.asnumpy(), x0)
        np.testing.assert_array_equal(y.asnumpy(), y0)
    np.testing.assert_array_equal(one.asnumpy(), one_before)
    for it in (pending, running):  # each still yields its own epoch, rows paired with labels
        for X, y in it:
            np.testing.assert_array_equal(X.asnumpy()[:, 0], y.asnumpy() * 2)
    assert len(list(pending)) == 0

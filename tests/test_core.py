"""The host: every combination of the seed's plugins trains, mixes and agrees."""
import itertools

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd

from harness.check.verify import TOLERANCE, verify
from harness.core.loader import load
from harness.core.train import Session, Settings, train
from harness.errors import Diverged, HarnessError, PluginError
from harness.hookspecs import hookimpl
from harness.roles import ROLES, Combination, Model
from harness.tasks.builtin import LinReg
from tests.helpers import weights

SEED_COMBOS = [Combination(*c) for c in itertools.product(["scratch", "gluon"], repeat=4)]


def test_builtins_register_by_module_name(builtin_registry):
    for role in ROLES:
        assert builtin_registry.names(role) == ["gluon", "scratch"]
    for name in ("scratch", "gluon"):
        info = builtin_registry.plugins[name]
        assert info.source == "built-in"
        assert info.distribution == "mxnet-harness"
        assert info.module == f"mxnet_harness_plugins.{name}"  # plugins/, installed under the project's name
        assert info.hooks == ["register_data", "register_losses", "register_models", "register_optimizers"]
    assert sorted(builtin_registry.combinations()) == sorted(SEED_COMBOS)


@pytest.mark.parametrize("combo", SEED_COMBOS, ids=lambda c: c.label)
def test_every_combination_trains_at_seed_settings(builtin_registry, combo):
    task = LinReg()
    result = train(Session(builtin_registry, combo, task, Settings(), mx.cpu()))
    assert len(result.epochs) == 3
    assert np.max(np.abs(np.array(result.params["w"]) - task.true_w)) < 0.02
    assert abs(result.params["b"] - task.true_b) < 0.02
    assert result.final_loss < 1e-4
    # the seed's trajectory: ~0.04 after one epoch, then down by orders of magnitude
    assert result.epochs[0]["loss"] > result.final_loss


def test_verify_all_combinations_agree(builtin_registry):
    rows, reference, ok = verify(builtin_registry, LinReg(), Settings(), mx.cpu())
    assert reference == Combination()
    assert ok, [(r["combination"].label, r["max_abs_diff"], r["error"]) for r in rows]
    assert len(rows) == 16
    assert all(r["max_abs_diff"] <= TOLERANCE for r in rows)


def _doubled(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2  # twice the seed's squared loss: other maths


class DoubledLoss:
    @staticmethod
    @hookimpl
    def register_losses(register):
        register("doubled", lambda: _doubled)


def test_verify_flags_a_combination_that_differs():
    reg = load(only=["scratch", "gluon"], extra=["tests.plugins.only_loss", DoubledLoss])
    same, doubled = Combination(model="gluon", loss="half_squared"), Combination(loss="doubled")
    rows, reference, ok = verify(reg, LinReg(), Settings(epochs=1), mx.cpu(), combos=[same, doubled])
    assert reference == Combination()  # the all-scratch run, trained as an extra row
    by_combo = {r["combination"]: r for r in rows}
    assert set(by_combo) == {Combination(), same, doubled}
    assert all(r["reference"] == Combination() and r["error"] == "" for r in rows)
    # the seed's maths from another model and a third-party loss agrees...
    assert by_combo[same]["ok"] and by_combo[same]["max_abs_diff"] <= TOLERANCE
    # ...other maths does not, and fails the whole run
    assert not by_combo[doubled]["ok"] and by_combo[doubled]["max_abs_diff"] > 100 * TOLERANCE
    assert not ok


def test_seeding_makes_runs_deterministic(builtin_registry):
    def once(seed, combo=Combination(data="gluon", optimizer="gluon")):  # noqa: B008 (a frozen dataclass)
        r = train(Session(builtin_registry, combo, LinReg(seed=seed), Settings(epochs=2), mx.cpu()))
        return [e["loss"] for e in r.epochs], r.params

    assert once(3) == once(3)
    assert once(3) != once(4)


def test_every_model_starts_from_the_hosts_parameters(builtin_registry):
    task = LinReg(num_inputs=5)
    starts = []
    for name in ("scratch", "gluon"):
        factory = builtin_registry.get("model", name).factory
        w, b = task.initial_params(mx.cpu())
        model = Model(factory(w, b))
        starts.append(weights(model))
    (w0, b0), (w1, b1) = starts
    np.testing.assert_array_equal(w0, w1)
    assert b0 == b1 == 0.0
    np.testing.assert_allclose(w0, task.initial_params(mx.cpu())[0].asnumpy().ravel())


def test_gluon_trainer_drives_a_raw_scratch_model(builtin_registry):
    """The trap: the Trainer must update the very arrays the scratch model computes on."""
    task = LinReg()
    w, b = task.initial_params(mx.cpu())
    model = Model(builtin_registry.get("model", "scratch").factory(w, b))
    step = builtin_registry.get("optimizer", "gluon").factory(model, 0.5)
    before = weights(model)[0].copy()
    split = task.data(mx.cpu())
    X, y = split.features, split.labels
    with autograd.record():
        l = ((model(X) - y.reshape((-1, 1))) ** 2 / 2)
    l.backward()
    step(X.shape[0])
    assert not np.allclose(weights(model)[0], before)
    assert all(p.grad is not None for p in model.params)


def test_model_without_gradients_is_rejected():
    w, b = nd.zeros((2, 1)), nd.zeros((1,))
    with pytest.raises(TypeError, match="attach_grad"):
        Model((lambda X, w, b: nd.dot(X, w) + b, [w, b]))


def test_gluon_block_model_exposes_both_views():
    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    model = Model(net)
    assert model.block is net
    assert [p.shape for p in model.params] == [(1, 2), (1,)]
    assert model.collect_params() == list(net.collect_params().values())


def test_unknown_name_lists_the_available_ones(builtin_registry):
    with pytest.raises(HarnessError, match=r"unknown optimizer 'sdg'; available: gluon, scratch"):
        builtin_registry.resolve(Combination(optimizer="sdg"))


def test_plugin_that_provides_none_of_the_roles_asked():
    reg = load(only=["scratch", "gluon"], extra=["tests.plugins.only_loss"])
    assert reg.plugins["tests.plugins.only_loss"].provides == {"loss": ["half_squared"]}
    with pytest.raises(HarnessError,
                       match=r"plugin 'tests.plugins.only_loss' provides no optimizer \(it provides: loss\)"):
        reg.get("optimizer", "tests.plugins.only_loss")
    assert reg.get("loss", "half_squared").plugin == "tests.plugins.only_loss"


def test_duplicate_names_are_an_error():
    with pytest.warns(UserWarning, match="duplicate loss 'scratch'"):
        reg = load(only=["scratch", "gluon"], extra=["tests.plugins.dup_scratch_loss"])
    with pytest.raises(HarnessError, match="ambiguous loss 'scratch'"):
        reg.get("loss", "scratch")
    assert reg.get("optimizer", "scratch").plugin == "scratch"  # the rest still works
    with pytest.raises(PluginError, match="duplicate loss 'scratch'"):
        load(only=["scratch", "gluon"], extra=["tests.plugins.dup_scratch_loss"], strict=True)


def test_combinations_narrow_by_role(builtin_registry):
    combos = builtin_registry.combinations(data=["scratch"], optimizer=["gluon", "scratch", "gluon"])
    assert len(combos) == 1 * 2 * 2 * 2
    assert {c.data for c in combos} == {"scratch"}
    with pytest.raises(HarnessError, match="unknown model 'nope'"):
        builtin_registry.combinations(model=["nope"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=0), "--lr must be a positive"),
        (dict(lr=-0.1), "--lr must be a positive"),
        (dict(lr=float("nan")), "--lr must be a positive"),
        (dict(batch_size=0), "--batch-size must be between 1 and --num-examples"),
        (dict(batch_size=1001), "--batch-size must be between 1 and --num-examples"),
        (dict(epochs=0), "--epochs must be a positive"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(HarnessError, match=message):
        Settings(**kwargs).check(LinReg())


@pytest.mark.parametrize("kwargs", [dict(num_examples=0), dict(num_examples=-5), dict(num_inputs=0)])
def test_bad_task(kwargs):
    with pytest.raises(HarnessError, match="must be a positive integer"):
        LinReg(**kwargs)


def test_divergence_keeps_the_partial_history(builtin_registry):
    with pytest.raises(Diverged) as info:
        train(Session(builtin_registry, Combination(), LinReg(), Settings(lr=100.0), mx.cpu()))
    assert info.value.epoch == 1
    assert len(info.value.result.epochs) == 1
    assert str(info.value) == "diverged at epoch 1"


def test_short_last_batch_and_other_sizes(builtin_registry):
    task = LinReg(num_examples=1005, num_inputs=4)
    for combo in (Combination(), Combination("gluon", "gluon", "gluon", "gluon"),
                  Combination("gluon", "scratch", "gluon", "scratch")):
        result = train(Session(builtin_registry, combo, task, Settings(batch_size=10), mx.cpu()))
        assert np.max(np.abs(np.array(result.params["w"]) - task.true_w)) < 0.02
    assert task.true_w.tolist() == [2.0, -3.4, 2.0, -3.4]

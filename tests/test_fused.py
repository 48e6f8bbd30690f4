"""Fused training steps: the register_fused_steps hook, the registry, Session, the CLI and the kit."""
import json
import textwrap
import warnings

import mxnet as mx
import numpy as np
import pytest

from harness.check.verify import max_abs_diff
from harness.core.loader import PluginWarning, load
from harness.core.train import Session, Settings, train
from harness.errors import HarnessError
from harness.roles import Combination
from harness.tasks.builtin import LinReg
from harness.testing import check_plugin

from .conftest import run_cli

FAST = Combination(*["fast"] * 4)
SCRATCH = Combination()


@pytest.fixture(scope="module")
def registry():
    return load(only=["scratch", "gluon", "fast"])


def _train(registry, combo, task=LinReg(), settings=Settings(shuffle=False)):  # noqa: B008 (frozen dataclasses)
    return train(Session(registry, combo, task, settings, mx.cpu()))


def test_combination_fused_is_opt_in_and_labelled():
    assert Combination("fast", "fast", "fast", "fast") == FAST and not FAST.fused
    fused = Combination("fast", "fast", "fast", "fast", fused=True)
    assert fused != FAST
    assert fused.label == "fast/fast/fast/fast+fused" and FAST.label == "fast/fast/fast/fast"
    assert FAST.as_dict() == {"data": "fast", "model": "fast", "loss": "fast", "optimizer": "fast"}
    assert fused.as_dict() == {**FAST.as_dict(), "fused": True}
    assert fused.fused_key == ("fast", "fast", "fast")


def test_registry_lists_fast_fused_steps(registry):
    steps = {step.key: step.plugin for step in registry.fused_steps()}
    assert steps == {("fast", "fast", "fast"): "fast", ("scratch", "scratch", "scratch"): "fast"}
    assert registry.plugins["fast"].provides["fused"] == ["fast/fast/fast", "scratch/scratch/scratch"]
    assert "register_fused_steps" in registry.plugins["fast"].hooks
    combos = [SCRATCH, Combination("gluon"), Combination(model="gluon"), FAST]
    assert registry.fused_variants(combos) == [
        Combination(fused=True), Combination("gluon", fused=True), Combination(*["fast"] * 4, fused=True)
    ]


def test_unknown_fused_triple_is_one_line_naming_the_available_ones(registry):
    combo = Combination("fast", "gluon", "fast", "fast", fused=True)
    message = ("no fused step for model 'gluon', loss 'fast', optimizer 'fast'; "
               "fused steps exist for: fast/fast/fast, scratch/scratch/scratch")
    with pytest.raises(HarnessError) as exc:
        registry.fused_step(combo)
    assert str(exc.value) == message
    with pytest.raises(HarnessError, match="no fused step for model 'gluon'"):
        Session(registry, combo, LinReg(), Settings(), mx.cpu())
    with pytest.raises(HarnessError, match="fused steps exist for: none"):
        load(only=["scratch"]).fused_step(Combination(fused=True))


@pytest.mark.parametrize("task", [LinReg(), LinReg(num_examples=1005)], ids=["N1000", "N1005-short-last-batch"])
def test_fused_step_follows_the_unfused_trajectories(registry, task):
    runs = {c.label: _train(registry, c, task) for c in (SCRATCH, FAST, Combination(fused=True),
                                                         Combination(*["fast"] * 4, fused=True))}
    reference = runs[SCRATCH.label]
    for label, result in runs.items():
        assert max_abs_diff(result, reference) <= 1e-6, label
    # the comparison is not vacuous: training moved the parameters far from the start
    assert reference.epochs[0]["loss"] > 100 * reference.epochs[-1]["loss"]


def test_short_last_batch_with_wide_features(registry):
    # 237 = 4·50 + 37: the step builds a graph per batch size and rescales by the real length
    task, settings = LinReg(num_examples=237, num_inputs=7, seed=5), Settings(epochs=4, batch_size=50, shuffle=False)
    plain = _train(registry, FAST, task, settings)
    fused = _train(registry, Combination(*["fast"] * 4, fused=True), task, settings)
    assert max_abs_diff(fused, plain) <= 1e-6
    assert plain.final_loss < plain.epochs[0]["loss"]


@pytest.mark.parametrize("combo", [Combination(*["fast"] * 4, fused=True), Combination("gluon", fused=True)],
                         ids=lambda c: c.label)
def test_fused_step_converges_shuffled_at_seed_settings(registry, combo):
    task = LinReg()
    result = _train(registry, combo, task, Settings())
    assert np.max(np.abs(np.array(result.params["w"]) - task.true_w)) < 0.02
    assert abs(result.params["b"] - task.true_b) < 0.02
    assert result.final_loss < 1e-4


def test_fused_session_laps_data_then_update_and_skips_the_optimizer(registry):
    task, settings = LinReg(num_examples=25), Settings(batch_size=10)
    session = Session(registry, Combination(*["fast"] * 4, fused=True), task, settings, mx.cpu())
    assert session.step is None and session.fused_step is not None
    phases = []
    session.run_epoch(lap=phases.append)
    assert phases == ["data", "update"] * 3
    plain = Session(registry, FAST, task, settings, mx.cpu())
    assert plain.fused_step is None
    phases = []
    plain.run_epoch(lap=phases.append)
    assert phases == ["data", "forward", "backward", "update"] * 3


def test_fused_step_refuses_parameters_it_cannot_update(registry):
    # a Gluon Dense keeps its weight as (1, D): the fused graph's X·w would be wrong maths
    from harness.roles import Model

    w, b = LinReg().initial_params(mx.cpu())
    net = Model(registry.get("model", "gluon").factory(w, b))
    with pytest.raises(ValueError, match=r"needs params \[w \(D, 1\), b \(1,\)\]"):
        registry.fused_step(FAST)(net, 0.03)


PLUGIN = '''
from harness.hookspecs import hookimpl
from mxnet_harness_plugins.fast import fused_step


def {name}(net, lr):
    return fused_step(net, {lr})


@hookimpl
def register_fused_steps(register):
    register({triple}, {name})
'''


def _plugin(tmp_path, module, triple, lr="lr"):
    path = tmp_path / f"{module}.py"
    path.write_text(textwrap.dedent(PLUGIN.format(name="step", lr=lr, triple=", ".join(map(repr, triple)))))
    return str(path)


def test_a_triple_two_plugins_register_is_selectable_by_neither(tmp_path):
    path = _plugin(tmp_path, "second_fast_step", ("fast", "fast", "fast"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = load(extra=[path], only=["scratch", "fast"])
    (warning,) = [str(w.message) for w in caught if w.category is PluginWarning]
    assert warning.startswith("duplicate fused 'fast/fast/fast' registered by plugins ")
    assert "'fast'" in warning and "second_fast_step.py'" in warning and warning.endswith("; neither is selectable")
    with pytest.raises(HarnessError, match="ambiguous fused step 'fast/fast/fast': registered by plugins .*'fast'"):
        reg.fused_step(Combination(*["fast"] * 4, fused=True))
    assert [s.label for s in reg.fused_steps()] == ["scratch/scratch/scratch"]


def test_the_kit_checks_a_fused_step_against_its_unfused_triple(tmp_path):
    good = check_plugin(_plugin(tmp_path, "good_step", ("fast", "scratch", "scratch")))
    assert good.ok, str(good)
    assert [str(c) for c in good.cases if c.kind == "fused"] == ["fused:fast/scratch/scratch:matches-unfused"]
    bad = check_plugin(_plugin(tmp_path, "doubled_step", ("fast", "scratch", "scratch"), lr="2 * lr"))
    assert not bad.ok
    (failure,) = bad.failures
    assert "fused step 'fast/scratch/scratch': differs from the unfused scratch/fast/scratch/scratch by" in failure[1]


def test_run_fused_via_the_cli():
    proc = run_cli("run", "--data", "fast", "--model", "fast", "--loss", "fast", "--optimizer", "fast", "--fused",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["combination"] == {"data": "fast", "model": "fast", "loss": "fast", "optimizer": "fast", "fused": True}
    assert out["epochs"][-1]["loss"] < 1e-4
    text = run_cli("run", "--fused")
    assert text.returncode == 0, text.stderr
    assert "optimizer=scratch as one fused step on cpu" in text.stdout


def test_run_fused_on_a_triple_without_one_is_exit_2_one_line():
    proc = run_cli("run", "--model", "gluon", "--fused")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "harness: error: no fused step for model 'gluon', loss 'scratch', optimizer 'scratch'; "
        "fused steps exist for: fast/fast/fast, scratch/scratch/scratch"
    ]


def test_verify_runs_and_passes_the_fused_variants():
    proc = run_cli("verify", "--data", "fast", "--model", "fast", "--loss", "fast", "--optimizer", "fast", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {json.dumps(r["combination"], sort_keys=True): r for r in json.loads(proc.stdout)["rows"]}
    fused = rows[json.dumps({**FAST.as_dict(), "fused": True}, sort_keys=True)]
    assert fused["ok"] and fused["max_abs_diff"] <= 1e-6
    assert fused["reference"] == SCRATCH.as_dict()
    table = run_cli("verify", "--data", "scratch", "--model", "scratch", "--loss", "scratch", "--optimizer", "scratch")
    assert table.returncode == 0, table.stdout + table.stderr
    (row,) = [line.split() for line in table.stdout.splitlines() if " fused " in line]
    assert row[:5] == ["scratch", "scratch", "scratch", "scratch", "fused"] and row[-2:] == ["0", "ok"]


def test_plugins_lists_fused_steps():
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["fused"] == {"fast/fast/fast": "fast", "scratch/scratch/scratch": "fast"}
    (fast,) = [p for p in out["plugins"] if p["name"] == "fast"]
    assert fast["provides"]["fused"] == ["fast/fast/fast", "scratch/scratch/scratch"]
    table = run_cli("plugins", "--hook", "fused_steps")
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if line.startswith("fast ")]
    assert row.endswith("fast/fast/fast, scratch/scratch/scratch")
    assert not any(line.startswith("scratch ") for line in table.stdout.splitlines())


def test_large_batches_take_fully_connected_and_stay_within_tolerance_of_dot(monkeypatch):
    # the real step decides by the batch's size: spy on the graphs it builds, one per batch size
    from mxnet import nd

    import mxnet_harness_plugins.fast as fast
    from harness.roles import Model

    built = {}
    real = fast._sgd_step_symbol

    def spy(lr, batch_size, fully_connected=False):
        built[int(batch_size)] = fully_connected
        return real(lr, batch_size, fully_connected)

    monkeypatch.setattr(fast, "_sgd_step_symbol", spy)
    rng = np.random.RandomState(0)
    X, y = nd.array(rng.normal(size=(1000, 128))), nd.array(rng.normal(size=(1000,)))
    w0 = rng.normal(size=(128, 1))
    # one row below the threshold, exactly at it (2^15 = 256 rows of 128), and a large batch
    below, at = fast.FC_MIN_ELEMENTS // 128 - 1, fast.FC_MIN_ELEMENTS // 128
    results = {}
    for sizes in ((below, at, 1000), (1000,)):
        w, b = nd.array(w0), nd.array([0.5])
        step = fast.fused_step(Model(fast.model(w, b)), 0.03)
        for _ in range(3):
            for n in sizes:
                step(X[:n], y[:n])
        results[sizes] = np.concatenate([w.asnumpy().ravel(), b.asnumpy()])
    assert built == {below: False, at: True, 1000: True}
    # FullyConnected is not bitwise scratch's dot: the same steps with dot stay within verify's 1e-5
    w, b = nd.array(w0), nd.array([0.5])
    op = nd.CachedOp(real(0.03, 1000.0, False), fast.STATIC)
    for _ in range(3):
        op(w, X, b, y, out=[w, b])
    np.testing.assert_allclose(results[(1000,)], np.concatenate([w.asnumpy().ravel(), b.asnumpy()]), rtol=0, atol=1e-5)
    assert not np.allclose(results[(1000,)], np.concatenate([w0.ravel(), [0.5]]), atol=1e-3)  # it trained

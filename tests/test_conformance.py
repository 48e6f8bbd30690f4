"""The conformance kit: it passes good components, explains each contract
violation, and works as a plain call and as a pytest plugin."""
import subprocess
import sys
import textwrap

import pytest

from harness.errors import HarnessError
from harness.testing import ConformanceError, Thresholds, assert_conformant, check_plugin, conformance_cases

from .conftest import ROOT


@pytest.fixture(scope="module")
def violations():
    return check_plugin("tests.plugins.kit_violations", partners="each")


def _failure(report, case_id):
    found = [msg for case, msg in report.failures if str(case) == case_id]
    assert found, f"{case_id} did not fail; failures: {[str(c) for c, _ in report.failures]}"
    return found[0]


@pytest.mark.parametrize(
    "case_id, message",
    [
        ("data:column_labels:contract", "data 'column_labels': batch 0 has y of shape (5, 1); expected (5,), one label per row of X"),
        ("model:detached:contract", "model 'detached': net(X) is not connected to the autograd graph of its params"),
        ("model:biasless:contract", "model 'biasless': parameter 1 (shape (1,)) received no gradient after backward"),
        ("model:gradless:contract", "model 'gradless': model parameter has no gradient buffer; call attach_grad()"),
        ("loss:broadcast:contract", "loss 'broadcast': loss(y_hat (5, 1), y (5,)) returned shape (5, 5); expected (5,) or (5, 1); did you forget y.reshape(y_hat.shape)?"),
        ("optimizer:frozen:contract", "optimizer 'frozen': step(5) did not change the parameters of the "),
        ("optimizer:ascent:contract", "optimizer 'ascent': one step on a batch did not lower that batch's loss"),
        ("optimizer:timid:converges[scratch/scratch/scratch/timid]", "optimizer 'timid' with data=scratch, model=scratch, loss=scratch: did not converge in 3 epochs (lr 0.03, batch 10): final loss "),
    ],
)
def test_each_violation_gets_a_readable_failure(violations, case_id, message):
    assert message in _failure(violations, case_id)


def test_good_components_pass_and_broken_ones_are_not_trained(violations):
    passed = {str(c) for c in violations.cases} - {str(c) for c, _ in violations.failures} - {str(c) for c, _ in violations.skipped}
    assert "loss:squared:contract" in passed
    assert {p for p in passed if p.startswith("loss:squared:converges")}  # trained with every built-in partner
    skipped = {str(c) for c, _ in violations.skipped}
    assert "optimizer:frozen:converges[scratch/scratch/scratch/frozen]" in skipped
    assert not any(s.startswith("optimizer:timid") for s in skipped)  # its contract holds; only training fails
    assert not violations.ok
    with pytest.raises(ConformanceError, match="FAILED optimizer:frozen:contract"):
        assert_conformant("tests.plugins.kit_violations", roles=["optimizer"], partners="each")


def test_partners_cover_every_built_in_of_the_other_roles():
    from harness.plugins import load
    from harness.testing import builtin_plugin_names

    registry = load(only=builtin_plugin_names())
    names = {role: registry.builtin_names(role) for role in ("data", "model", "optimizer")}
    assert all({"scratch", "gluon"} <= set(n) for n in names.values())
    every = [c for c in conformance_cases("tests.plugins.only_loss") if c.kind == "converges"]
    assert sorted((c.data, c.model, c.optimizer) for c in (e.combination for e in every)) == sorted(
        (d, m, o) for d in names["data"] for m in names["model"] for o in names["optimizer"]
    )
    each = [c for c in conformance_cases("tests.plugins.only_loss", partners="each") if c.kind == "converges"]
    assert len(each) == max(len(n) for n in names.values())
    for role, expected in names.items():
        assert {getattr(c.combination, role) for c in each} == set(expected)
    assert {c.combination.loss for c in every + each} == {"half_squared"}


def test_built_in_plugins_conform():
    for name in ("scratch", "gluon"):
        report = check_plugin(name, partners="each")
        assert report.ok, str(report)


def test_thresholds_are_configurable():
    strict = Thresholds(loss=1e-6)
    report = check_plugin("tests.plugins.only_loss", partners="each", thresholds=strict)
    assert not report.ok
    assert all("final loss" in msg and "(needs < 1e-06)" in msg for _, msg in report.failures)
    loose = Thresholds(weight=5, bias=5, loss=100)
    report = check_plugin("tests.plugins.kit_violations", roles=["optimizer"], partners="each", thresholds=loose)
    assert {c.name for c, _ in report.failures} == {"frozen", "ascent"}  # timid is good enough for loose thresholds


def test_load_problems_fail_the_loads_case():
    (case,) = conformance_cases("tests.plugins.dup_scratch_loss")
    with pytest.raises(ConformanceError, match="duplicate loss 'scratch'"):
        case.check()
    (case,) = conformance_cases("tests.plugins.broken_import")
    with pytest.raises(ConformanceError, match="does not load: No module named 'a_dependency_that_is_not_installed'"):
        case.check()
    report = check_plugin("tests.plugins.only_loss", roles=["optimizer"])
    assert [str(c) for c, _ in report.failures] == ["loads"]
    assert "registers no components for roles optimizer" in report.failures[0][1]


def test_bad_arguments_are_harness_errors():
    with pytest.raises(HarnessError, match="unknown role lsos; valid: data, model, loss, optimizer"):
        conformance_cases("tests.plugins.only_loss", roles=["lsos"])
    with pytest.raises(HarnessError, match="partners must be 'all' or 'each'"):
        conformance_cases("tests.plugins.only_loss", partners="some")


def test_as_a_pytest_plugin_one_test_per_check(tmp_path):
    test = tmp_path / "test_kit.py"
    test.write_text(
        textwrap.dedent(
            """
            import pytest

            harness_plugin = "tests.plugins.kit_violations"
            harness_options = {"roles": ["optimizer"], "partners": "each"}

            def test_conformance(harness_case):
                harness_case.check()

            @pytest.mark.harness_plugin("tests.plugins.only_loss", partners="each")
            def test_marked(harness_case):
                harness_case.check()
            """
        )
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-o", "addopts=", "-p", "harness.testing", str(test)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAILED" in out and "test_conformance[optimizer:frozen:contract]" in out
    assert "test_conformance[optimizer:ascent:contract]" in out
    assert "test_conformance[optimizer:timid:converges[scratch/scratch/scratch/timid]]" in out
    assert "test_marked" not in out.split("short test summary")[-1]  # only_loss passes
    from harness.testing import builtin_plugin_names

    partners = len(builtin_plugin_names())
    marked = len(conformance_cases("tests.plugins.only_loss", partners="each"))
    # kit_violations' optimizers: loads and timid's contract pass; frozen's and ascent's contracts fail,
    # and all three fail training with each partner set (no skipping in pytest mode)
    assert f"{2 + 3 * partners} failed, {2 + marked} passed" in out

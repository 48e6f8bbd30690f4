"""The conformance kit: it passes good components on every task they support, explains each
contract violation of each task, and works as a plain call and as a pytest plugin."""
import json
import subprocess
import sys
import textwrap

import pytest

from harness.errors import HarnessError
from harness.testing import ConformanceError, Thresholds, assert_conformant, check_plugin, conformance_cases

from .conftest import ROOT, run_cli

DOC = (ROOT / "docs" / "writing-plugins.md").read_text()


@pytest.fixture(scope="module")
def violations():
    return check_plugin("tests.plugins.kit_violations", partners="each")


@pytest.fixture(scope="module")
def task_violations():
    return check_plugin("tests.plugins.kit_tasks", partners="each")


def _failure(report, case_id):
    found = [msg for case, msg in report.failures if str(case) == case_id]
    assert found, f"{case_id} did not fail; failures: {[str(c) for c, _ in report.failures]}"
    return found[0]


def _passed(report) -> set:
    return {str(c) for c in report.cases} - {str(c) for c, _ in report.failures} - {str(c) for c, _ in report.skipped}


@pytest.mark.parametrize(
    "case_id, message",
    [
        ("data:column_labels:contract",
         "data 'column_labels': batch 0 has y of shape (5, 1); expected (5,), one label per row of X"),
        ("softmax:data:column_labels:contract",
         "data 'column_labels' on softmax: batch 0 has y of shape (5, 1); expected (5,)"),
        ("model:detached:contract", "model 'detached': net(X) is not connected to the autograd graph of its params"),
        ("model:biasless:contract", "model 'biasless': parameter 1 (shape (1,)) received no gradient after backward"),
        ("model:gradless:contract", "model 'gradless': model parameter has no gradient buffer; call attach_grad()"),
        ("loss:broadcast:contract",
         "loss 'broadcast': loss(y_hat (5, 1), y (5,)) returned shape (5, 5); "
         "expected (5,) or (5, 1); did you forget y.reshape(y_hat.shape)?"),
        ("optimizer:frozen:contract", "optimizer 'frozen': step(5) did not change the parameters of the "),
        ("softmax:optimizer:frozen:contract",
         "optimizer 'frozen' on softmax: step(5) did not change the parameters of the "),
        ("optimizer:ascent:contract", "optimizer 'ascent': one step on a batch did not lower that batch's loss"),
        ("softmax:optimizer:ascent:contract",
         "optimizer 'ascent' on softmax: one step on a batch did not lower that batch's loss"),
        ("optimizer:timid:converges[scratch/scratch/scratch/timid]",
         "optimizer 'timid' with data=scratch, model=scratch, loss=scratch: "
         "did not converge in 3 epochs (lr 0.03, batch 10): final loss "),
    ],
)
def test_each_violation_gets_a_readable_failure(violations, case_id, message):
    assert message in _failure(violations, case_id)


@pytest.mark.parametrize(
    "case_id, message",
    [
        ("softmax:data:flat_images:contract",
         "data 'flat_images' on softmax: batch 0 has X of shape (5, 64); expected (b, 1, 8, 8) with 1 <= b <= 5"),
        ("mlp:model:fresh_mlp:contract",
         "model 'fresh_mlp' on mlp: does not start from the initial parameters the host passed in (W1 differs); "
         "copy the given W1, b1, W2, b2 into its parameters"),
        ("softmax:model:probabilities:contract",
         "model 'probabilities' on softmax: net(X) returns probabilities (each row sums to 1); "
         "return the scores before the softmax"),
        ("softmax:model:one_score:contract",
         "model 'one_score' on softmax: net(X) with X of shape (5, 1, 8, 8) returned shape (5, 1); "
         "expected (5, 10) scores, one per class"),
        ("softmax:loss:no_softmax:contract",
         "loss 'no_softmax' on softmax: values are -log(y_hat[y]) of the scores themselves, "
         "not the cross-entropy of their softmax"),
        ("mlp:loss:no_softmax:contract",
         "loss 'no_softmax' on mlp: values are -log(y_hat[y]) of the scores themselves"),
        ("softmax:loss:batch_mean:contract",
         "loss 'batch_mean' on softmax: loss(y_hat (5, 10), y (5,)) returned shape (1,); "
         "expected (5,) or (5, 1); do not sum or average"),
    ],
)
def test_each_task_violation_gets_a_readable_failure(task_violations, case_id, message):
    assert message in _failure(task_violations, case_id)


def test_a_component_for_a_task_nobody_provides_fails_the_load_with_its_name():
    report = check_plugin("tests.plugins.kit_unknown_task")
    assert not report.ok
    assert ("registered model 'elsewhere' for task 'no_such_task', which no plugin provides; "
            "tasks: lenet, linreg, mlp, softmax") in _failure(report, "loads")


def test_any_task_components_are_checked_on_linreg_and_an_image_task(violations, task_violations):
    timid = [msg for case, msg in violations.failures if str(case).startswith("softmax:optimizer:timid:converges[")]
    assert timid and all(" on softmax: did not converge in " in m and "final test_acc " in m and "(needs >= 0.9)" in m
                         for m in timid)
    passed = _passed(task_violations)
    assert "data:flat_images:contract" in passed  # flat rows are right for linreg ...
    assert {p for p in passed if p.startswith("data:flat_images:converges[")}
    assert {str(c) for c, _ in task_violations.failures} >= {"softmax:data:flat_images:contract"}  # ... not for images
    assert not [c for c in task_violations.cases if c.name == "flat_images" and c.task == "mlp"]


def test_good_components_of_a_task_pass_and_are_trained_on_it(task_violations):
    passed = _passed(task_violations)
    assert {"mlp:model:good_mlp:contract", "softmax:loss:good_xent:contract"} <= passed
    trained = {p for p in passed
               if p.startswith(("mlp:model:good_mlp:converges[", "softmax:loss:good_xent:converges["))}
    assert len(trained) == 6  # partners="each": three combinations for each
    assert not [c for c in task_violations.cases if c.name == "good_mlp" and c.task != "mlp"]


def test_good_components_pass_and_broken_ones_are_not_trained(violations):
    passed = _passed(violations)
    assert "loss:squared:contract" in passed
    assert {p for p in passed if p.startswith("loss:squared:converges")}  # trained with every built-in partner
    skipped = {str(c) for c, _ in violations.skipped}
    assert "optimizer:frozen:converges[scratch/scratch/scratch/frozen]" in skipped
    assert {s for s in skipped if s.startswith("softmax:optimizer:frozen:converges[")}
    assert not any(s.startswith(("optimizer:timid", "softmax:optimizer:timid")) for s in skipped)  # contract holds
    assert not violations.ok
    with pytest.raises(ConformanceError, match="FAILED optimizer:frozen:contract"):
        assert_conformant("tests.plugins.kit_violations", roles=["optimizer"], partners="each", task="linreg")


def test_a_registered_task_gets_a_contract_check():
    cases = {str(c): c for c in conformance_cases("tests.plugins.kit_task_violations", partners="each")}
    assert {"task:stale:contract", "stale:model:stale_model:contract", "stale:loss:stale_loss:contract"} <= set(cases)
    with pytest.raises(ConformanceError, match=r"task 'stale': initial_params\(\) must return fresh arrays "
                                               r"with the same values on every call \(w changed\)"):
        cases["task:stale:contract"].check()
    cases["stale:loss:stale_loss:contract"].check()  # its components are checked against its kind's contracts


def test_partners_cover_every_built_in_of_the_other_roles():
    from harness.core.loader import load
    from harness.testing import builtin_plugin_names

    registry = load(only=builtin_plugin_names())
    names = {role: registry.builtin_names(role, "linreg") for role in ("data", "model", "optimizer")}
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
    # on an image task, the partners are the built-ins that support it
    mlp = [c for c in conformance_cases("tests.plugins.kit_tasks", names=["good_mlp"]) if c.kind == "converges"]
    assert {(c.combination.data, c.combination.loss, c.combination.optimizer) for c in mlp} == {
        (d, l, o) for d in registry.builtin_names("data", "mlp") for l in registry.builtin_names("loss", "mlp")
        for o in registry.builtin_names("optimizer", "mlp")
    }


@pytest.mark.parametrize("plugin", ["scratch", "gluon"])
def test_built_in_plugins_conform_on_every_task(plugin):
    """Every contract on every task, and one training per component and task (the suite's budget)."""
    cases = conformance_cases(plugin, partners="each")
    contracts = [c for c in cases if c.kind == "contract"]
    assert {(c.task, c.role) for c in contracts} == {
        ("linreg", "data"), ("softmax", "data"), ("linreg", "optimizer"), ("softmax", "optimizer"),
        *((t, r) for t in ("linreg", "softmax", "mlp", "lenet") for r in ("model", "loss")),
    }
    first = {}
    for c in cases:
        # LeNet's trainings take minutes on 2 cores: its contracts run here, its training in harness run
        if c.kind == "converges" and c.task != "lenet":
            first.setdefault((c.task, c.role, c.name), c)
    for case in contracts + list(first.values()):
        case.check()


def test_task_option_checks_one_task():
    cases = conformance_cases("tests.plugins.kit_tasks", task="mlp", partners="each")
    assert {c.task for c in cases if c.kind != "loads"} == {"mlp"}
    assert "mlp:data:flat_images:contract" in {str(c) for c in cases}  # any-task components: on the chosen task
    assert "mlp:model:good_mlp:contract" in {str(c) for c in cases}
    both = conformance_cases("tests.plugins.kit_tasks", tasks=["softmax", "mlp"], roles=["loss"])
    assert {(c.task, c.name) for c in both if c.kind == "contract"} == {
        ("softmax", "no_softmax"), ("mlp", "no_softmax"), ("softmax", "batch_mean"), ("softmax", "good_xent")}
    report = check_plugin("tests.plugins.only_loss", task="mlp")
    assert [str(c) for c, _ in report.failures] == ["loads"]
    assert "registers no components on task mlp" in report.failures[0][1]


def test_a_task_object_is_used_as_given():
    from harness.tasks.builtin import LinReg

    assert check_plugin("tests.plugins.only_loss", partners="each", task="linreg").ok
    small = check_plugin("tests.plugins.only_loss", partners="each", task=LinReg(num_examples=40))
    assert not small.ok  # 12 steps cannot reach the seed's target
    assert all("did not converge in 3 epochs" in msg and "final loss" in msg for _, msg in small.failures)


def test_names_narrow_the_components():
    cases = conformance_cases("tests.plugins.kit_violations", names=["timid"], partners="each")
    assert {c.name for c in cases if c.kind != "loads"} == {"timid"}
    assert {c.task for c in cases if c.kind != "loads"} == {"linreg", "softmax"}


def test_thresholds_are_configurable():
    strict = Thresholds(loss=1e-6)
    report = check_plugin("tests.plugins.only_loss", partners="each", thresholds=strict)
    assert not report.ok
    assert all("final loss" in msg and "(needs < 1e-06)" in msg for _, msg in report.failures)
    loose = Thresholds(weight=5, bias=5, loss=100)
    report = check_plugin("tests.plugins.kit_violations", roles=["optimizer"], partners="each", thresholds=loose,
                          task="linreg")
    assert {c.name for c, _ in report.failures} == {"frozen", "ascent"}  # timid is good enough for loose thresholds
    (case,) = [c for c in conformance_cases("tests.plugins.kit_tasks", names=["good_xent"], partners="each",
                                             thresholds=Thresholds(accuracy=0.999)) if c.kind == "converges"][:1]
    with pytest.raises(ConformanceError,
                       match=r"on softmax: did not converge in 10 epochs .*final test_acc 0\.9\d+ \(needs >= 0\.999\)"):
        case.check()


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
    with pytest.raises(HarnessError, match="unknown task 'lineg'; available: lenet, linreg, mlp, softmax"):
        conformance_cases("tests.plugins.only_loss", task="lineg")
    with pytest.raises(HarnessError, match="task must be a task name or a harness.task.Task, got 3"):
        conformance_cases("tests.plugins.only_loss", tasks=[3])


def test_importing_the_pytest_plugin_is_cheap_and_keeps_every_public_name():
    code = (
        "import sys, harness.testing as t\n"
        "assert 'mxnet' not in sys.modules, 'harness.testing imported mxnet'\n"
        "names = ['assert_conformant', 'check_plugin', 'conformance_cases', 'Thresholds', 'Case', 'ConformanceError',\n"
        "         'builtin_plugin_names', 'registry_from_pytest', 'harness_registry', 'pytest_generate_tests']\n"
        "print([n for n in names if not hasattr(t, n)])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    import harness.check.conformance as library
    import harness.testing as plugin

    assert plugin.check_plugin is library.check_plugin and plugin.ConformanceError is library.ConformanceError


def test_as_a_pytest_plugin_one_test_per_check(tmp_path):
    test = tmp_path / "test_kit.py"
    test.write_text(
        textwrap.dedent(
            """
            import pytest

            harness_plugin = "tests.plugins.kit_violations"
            harness_options = {"roles": ["optimizer"], "partners": "each", "tasks": ["linreg"]}

            def test_conformance(harness_case):
                harness_case.check()

            @pytest.mark.harness_plugin("tests.plugins.only_loss", partners="each")
            def test_marked(harness_case):
                harness_case.check()

            @pytest.mark.harness_plugin("tests.plugins.kit_tasks", task="softmax", names=["no_softmax"],
                                        partners="each")
            def test_marked_task(harness_case):
                harness_case.check()
            """
        )
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-o", "addopts=", "-p", "harness.testing", str(test)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "FAILED" in out and "test_conformance[optimizer:frozen:contract]" in out
    assert "test_conformance[optimizer:ascent:contract]" in out
    assert "test_conformance[optimizer:timid:converges[scratch/scratch/scratch/timid]]" in out
    assert "test_marked_task[softmax:loss:no_softmax:contract]" in out
    assert "test_marked_task[mlp:" not in out  # task= narrows to softmax
    assert "test_marked[" not in out.split("short test summary")[-1]  # only_loss passes
    from harness.testing import builtin_plugin_names

    partners = len(builtin_plugin_names())
    marked = len(conformance_cases("tests.plugins.only_loss", partners="each"))
    no_softmax = len(conformance_cases("tests.plugins.kit_tasks", task="softmax", names=["no_softmax"],
                                       partners="each"))
    # kit_violations' optimizers: loads and timid's contract pass; frozen's and ascent's contracts fail,
    # and all three fail training with each partner set (no skipping in pytest mode); no_softmax: loads passes,
    # its contract fails, and training with it diverges with every partner set
    assert f"{2 + 3 * partners + no_softmax - 1} failed, {2 + marked + 1} passed" in out


def test_the_docs_tutorials_pass_the_kit(tmp_path):
    for marker, module in (("tutorial-mlp", "harness_hybrid_mlp"), ("tutorial-task", "harness_blobs")):
        code = DOC.split(f"<!-- {marker} -->\n```python\n")[1].split("```")[0]
        (tmp_path / f"{module}.py").write_text(code)
    mlp = conformance_cases(str(tmp_path / "harness_hybrid_mlp.py"), partners="each")
    assert {(c.task, c.kind) for c in mlp if c.kind != "loads"} == {("mlp", "contract"), ("mlp", "converges")}
    for case in mlp[:3]:  # loads, contract, one training (the suite's budget)
        case.check()
    blobs = check_plugin(str(tmp_path / "harness_blobs.py"), partners="each")
    assert blobs.ok, str(blobs)
    assert {str(c) for c in blobs.cases if c.kind == "contract"} == {
        "task:blobs:contract", "blobs:model:linear:contract", "blobs:loss:xent:contract"}
    run = run_cli("-p", "harness_blobs", "run", "--task", "blobs", "--model", "linear", "--loss", "xent", "--json",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["epochs"][-1]["test_acc"] >= 0.9


def test_an_unchanged_optimizer_plugin_trains_the_mlp():
    """harness-momentum registers no tasks=: its optimizers are for every task, the MLP included.
    Heavy-ball momentum 0.9 steps ~10x SGD's, so it takes a tenth of SGD's lr (at 0.5 it diverges)."""
    proc = run_cli("run", "--task", "mlp", "--optimizer", "momentum", "--lr", "0.05", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["combination"]["optimizer"] == "momentum" and out["task"]["name"] == "mlp"
    assert out["epochs"][-1]["test_acc"] > 0.8  # chance is 0.1


# --- a plugin task with one logit: the binary tutorial, and what the kit says about breaking its contract -----------

BINARY_CODE = DOC.split("<!-- tutorial-binary -->\n```python\n")[1].split("```")[0]

BINARY_VIOLATIONS = '''

def two_scores(w, b):  # scores per class, on a task whose output contract is one logit
    w.attach_grad()
    b.attach_grad()
    return (lambda X, w, b: nd.dot(X, nd.concat(w, -w, dim=1)) + b), [w, b]


def crashing():
    return lambda y_hat, y: nd.broadcast_add(y_hat, nd.ones((3, 3)))  # MXNet refuses the shapes


@dataclass(frozen=True)
class OddKind(LogReg):
    name = "oddkind"
    kind = "regression"  # but output = BINARY


@dataclass(frozen=True)
class NoLoss(LogReg):
    name = "noloss"
    components = {"loss": "nope"}


@hookimpl
def register_tasks(register):
    for cls in (LogReg, OddKind, NoLoss):
        register(cls.name, cls)


@hookimpl
def register_models(register):
    register("logreg", logreg, tasks=["logreg"])
    register("two_scores", two_scores, tasks=["logreg"])


@hookimpl
def register_losses(register):
    register("logistic", gloss.SigmoidBinaryCrossEntropyLoss, tasks=["logreg"])
    register("crashing", crashing, tasks=["logreg"])
    register("xent_on_a_logit", gloss.SoftmaxCrossEntropyLoss, tasks=["logreg"])
'''


@pytest.fixture(scope="module")
def logreg_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("logreg") / "harness_logreg.py"
    path.write_text(BINARY_CODE)
    return path


def test_the_binary_tutorial_passes_the_kit(logreg_path):
    report = check_plugin(str(logreg_path), partners="each")
    assert report.ok, str(report)
    assert {str(c) for c in report.cases if c.kind == "contract"} == {
        "task:logreg:contract", "logreg:model:logreg:contract", "logreg:loss:logistic:contract"}
    assert sum(c.kind == "converges" for c in report.cases) >= 2


def test_roles_task_checks_only_the_task(logreg_path):
    report = check_plugin(str(logreg_path), roles=["task"])
    assert [str(c) for c in report.cases] == ["loads", "task:logreg:contract"] and report.ok, str(report)
    with pytest.raises(HarnessError, match="unknown role tsak; valid: data, model, loss, optimizer, task"):
        check_plugin(str(logreg_path), roles=["tsak"])


def test_binary_contract_violations_are_one_clear_line_each(tmp_path):
    path = tmp_path / "logreg_violations.py"
    path.write_text(BINARY_CODE + BINARY_VIOLATIONS)
    report = check_plugin(str(path), names=["two_scores", "crashing", "xent_on_a_logit", "oddkind", "noloss"],
                          partners="each")
    assert _failure(report, "logreg:model:two_scores:contract") == (
        "model 'two_scores' on logreg: net(X) with X of shape (5, 2) returned shape (5, 2); expected (5, 1), "
        "one logit per row (before the sigmoid): the task's output contract is binary")
    crash = _failure(report, "logreg:loss:crashing:contract")
    assert crash.startswith("loss 'crashing' on logreg: loss(y_hat (5, 1), y (5,)) raised MXNetError: ")
    assert _failure(report, "logreg:loss:xent_on_a_logit:contract").startswith(
        "loss 'xent_on_a_logit' on logreg: values are not the logistic loss of one logit per example")
    assert _failure(report, "task:oddkind:contract") == (
        "task 'oddkind': output 'binary' does not fit kind 'regression'; expected one of 'regression' "
        "(output contracts: regression, binary, classes)")
    assert _failure(report, "task:noloss:contract").startswith(
        "task 'noloss': default loss 'nope': unknown loss 'nope'")
    assert len(report.failures) == 5
    for _, message in report.failures:  # one line, never MXNet's stack trace
        assert "\n" not in message and "Stack trace" not in message and len(message) < 400

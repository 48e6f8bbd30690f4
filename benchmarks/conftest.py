"""pytest-benchmark suites over every combination × context × workload.

The matrix comes from the plugin registry, so installed third-party plugins
join automatically.  Options (pytest's own ``-p`` is taken, hence the prefix):

  --harness-plugin MODULE|no:NAME   load or block a plugin, like ``harness -p``
  --task linreg|softmax|mlp|...      the task (default linreg); its combinations and their fused variants
  --workload NAME                   linreg: seed, large; image tasks: digits, book, fashion-mnist; plus
                                    --num-examples/--num-inputs/--batch-size/--lr/--seed/--target-loss/--target-acc/
                                    --dataset/--data-dir
  --harness-ctx cpu,gpu             contexts; an unusable GPU is skipped with the reason
  --harness-rounds N, --harness-warmup N
"""
from __future__ import annotations

import pytest

from harness import __version__
from harness.api import load_plugins
from harness.errors import Diverged, HarnessError
from harness.measure import environment, planning, workloads
from harness.measure.overhead import describe


def pytest_addoption(parser):
    group = parser.getgroup("harness", "mxnet-harness benchmarks")
    group.addoption("--harness-plugin", action="append", default=[], metavar="MODULE|no:NAME",
                    help="load MODULE as a plugin, or block plugin NAME (repeatable)")
    group.addoption("--harness-ctx", default="cpu,gpu", help="comma-separated contexts (default %(default)s)")
    workloads.add_workload_options(group.addoption, timing_prefix="harness-")

def _config_error(exc: HarnessError):
    raise pytest.UsageError(str(exc)) from None


def workload_of(config, registry=None) -> workloads.Workload:
    try:
        return workloads.workload_from(config.getoption, timing_prefix="harness-", registry=registry)
    except HarnessError as exc:
        _config_error(exc)

def registry_of(config):
    if not hasattr(config, "_harness_registry"):
        try:
            config._harness_registry = load_plugins(config.getoption("--harness-plugin"))
        except HarnessError as exc:
            _config_error(exc)
    return config._harness_registry


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    try:
        ctxs = planning.parse_ctxs(config.getoption("--harness-ctx"))
    except HarnessError as exc:
        _config_error(exc)
    registry = registry_of(config)
    load = workload_of(config, registry)
    try:
        task = load.build_task(registry)  # an unknown task or bad option: a usage error, before collection
        load.settings(task)
    except HarnessError as exc:
        _config_error(exc)
    combos = registry.choose(load.task, scope="all", fused=True)  # the same matrix as harness bench --all
    planned = planning.cases(combos, ctxs, load) + planning.reference_cases(ctxs, load, task)
    params = [
        pytest.param(case, id=case.id, marks=[pytest.mark.skip(reason=skip)] if skip else [])
        for case, skip in planned
    ]
    metafunc.parametrize("case", params)


@pytest.fixture(scope="session")
def harness_registry(pytestconfig):
    return registry_of(pytestconfig)


@pytest.fixture(scope="session")
def harness_workload(pytestconfig):
    return workload_of(pytestconfig)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["harness"] = environment.harness_env()


_NOT_RUN = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember failed and skipped cases: pytest-benchmark leaves them out of its JSON."""
    report = (yield).get_result()
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    if case is None or not (report.failed or (report.skipped and report.when == "setup")):
        return
    if report.failed:
        error = call.excinfo.exconly().splitlines()[0] if call.excinfo else report.longreprtext.splitlines()[-1]
        if call.excinfo and call.excinfo.errisinstance(Diverged):
            error = f"diverged at epoch {call.excinfo.value.epoch} (loss not finite)"
    else:
        error = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    item.config.stash.setdefault(_NOT_RUN, []).append({
        "name": item.name, "status": "failed" if report.failed else "skipped", "error": error,
        "combination": case.combination(), "ctx": case.ctx, "workload": case.workload.name,
    })


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["harness"] = {"version": __version__, "interrupted": False, "not_run": config.stash.get(_NOT_RUN, [])}


_OVERHEAD = pytest.StashKey[dict]()


@pytest.fixture
def overhead_result(pytestconfig) -> dict:
    """Filled by ``test_overhead``; printed in the terminal summary."""
    return pytestconfig.stash.setdefault(_OVERHEAD, {})


def pytest_terminal_summary(terminalreporter, config):
    result = config.stash.get(_OVERHEAD, None)
    if result:
        terminalreporter.write_line(describe(result))

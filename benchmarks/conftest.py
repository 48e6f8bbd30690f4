"""pytest-benchmark suites over every combination × context × workload.

The matrix comes from the plugin registry, so installed third-party plugins
join automatically.  Options (pytest's own ``-p`` is taken, hence the prefix):

  --harness-plugin MODULE|no:NAME   load or block a plugin, like ``harness -p``
  --workload seed|large             plus --num-examples/--num-inputs/--batch-size/--lr overrides
  --harness-ctx cpu,gpu             contexts; an unusable GPU is skipped with the reason
  --harness-rounds N, --harness-warmup N
"""
from __future__ import annotations

import pytest

from harness import bench, environment
from harness.errors import HarnessError
from harness.overhead import describe
from harness.plugins import load


def pytest_addoption(parser):
    group = parser.getgroup("harness", "mxnet-harness benchmarks")
    group.addoption("--harness-plugin", action="append", default=[], metavar="MODULE|no:NAME",
                    help="load MODULE as a plugin, or block plugin NAME (repeatable)")
    group.addoption("--workload", default="seed", help=f"{' or '.join(bench.WORKLOADS)} (default %(default)s)")
    group.addoption("--harness-ctx", default="cpu,gpu", help="comma-separated contexts (default %(default)s)")
    group.addoption("--harness-rounds", type=int, help="timed epochs per case (default: the workload's)")
    group.addoption("--harness-warmup", type=int, help="untimed epochs first (default: the workload's)")
    group.addoption("--num-examples", type=int, help="override the workload's N")
    group.addoption("--num-inputs", type=int, help="override the workload's D")
    group.addoption("--batch-size", type=int, help="override the workload's batch size")
    group.addoption("--lr", type=float, help="override the workload's learning rate")


def _config_error(exc: HarnessError):
    raise pytest.UsageError(str(exc)) from None


def workload_of(config) -> bench.Workload:
    opt = config.getoption
    try:
        return bench.workload(opt("--workload"), num_examples=opt("--num-examples"), num_inputs=opt("--num-inputs"),
                              batch_size=opt("--batch-size"), lr=opt("--lr"), rounds=opt("--harness-rounds"),
                              warmup=opt("--harness-warmup"))
    except HarnessError as exc:
        _config_error(exc)


def registry_of(config):
    if not hasattr(config, "_harness_registry"):
        specs = config.getoption("--harness-plugin")
        extra = [s for s in specs if not s.startswith("no:")]
        blocked = [s[3:] for s in specs if s.startswith("no:")]
        try:
            config._harness_registry = load(extra=extra, blocked=blocked)
        except HarnessError as exc:
            _config_error(exc)
    return config._harness_registry


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    try:
        ctxs = bench.parse_ctxs(config.getoption("--harness-ctx"))
    except HarnessError as exc:
        _config_error(exc)
    planned = bench.cases(registry_of(config).combinations(), ctxs, workload_of(config))
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


_OVERHEAD = pytest.StashKey[dict]()


@pytest.fixture
def overhead_result(pytestconfig) -> dict:
    """Filled by ``test_overhead``; printed in the terminal summary."""
    return pytestconfig.stash.setdefault(_OVERHEAD, {})


def pytest_terminal_summary(terminalreporter, config):
    result = config.stash.get(_OVERHEAD, None)
    if result:
        terminalreporter.write_line(describe(result))

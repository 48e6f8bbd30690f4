"""The seed's hand-written scratch loop against the harness running the
all-scratch combination, same data and parameters, side by side: before each
timed harness epoch, pedantic's ``setup`` runs and times one seed epoch, so
both see the same machine noise.  The ratio of medians goes into
``extra_info`` and the terminal summary."""
import pytest

from harness.core.context import resolve
from harness.core.timing import EpochRunner, synced_clock
from harness.core.train import Session
from harness.measure.overhead import SeedLoop, summarize
from harness.roles import Combination
from harness.task import seed_everything


@pytest.mark.benchmark(timer=synced_clock, group="overhead")
def test_overhead(benchmark, harness_registry, harness_workload, overhead_result):
    if harness_workload.task != "linreg":
        pytest.skip(f"the overhead benchmark runs the seed's linear-regression loop; --task is {harness_workload.task}")
    task = harness_workload.build_task(harness_registry)
    settings, ctx = harness_workload.settings(task), resolve("cpu")
    seed_everything(task.seed)
    seed = EpochRunner(SeedLoop(task, settings, ctx))
    harness = EpochRunner(Session(harness_registry, Combination(), task, settings, ctx))

    def seed_epoch():
        seed.epoch()
        seed.evaluate()

    benchmark.pedantic(harness.epoch, setup=seed_epoch, teardown=harness.evaluate, rounds=harness_workload.rounds,
                       warmup_rounds=harness_workload.warmup, iterations=1)
    if benchmark.stats:  # None under --benchmark-disable
        result = summarize(seed.seconds[harness_workload.warmup:], benchmark.stats.stats.data)
        benchmark.extra_info.update(result)
        overhead_result.update(result)

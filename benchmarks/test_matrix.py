"""One timed round = one full epoch, engine synchronised inside the clock."""
import pytest

from harness.core.timing import EpochRunner, synced_clock
from harness.measure import measuring, memory
from harness.output import bench_json


@pytest.mark.benchmark(timer=synced_clock)
def test_epoch(benchmark, case, harness_registry):
    load = case.workload
    runner = EpochRunner(case.session(harness_registry))
    benchmark.group = f"{load.label}-{case.ctx}"  # as harness bench --json groups it
    memory.reset_peak_rss()
    # the loss is evaluated in teardown, outside the clock; warm-up rounds are not in the stats
    try:
        benchmark.pedantic(runner.epoch, teardown=runner.evaluate, rounds=load.rounds, warmup_rounds=load.warmup,
                           iterations=1)
        if benchmark.stats:  # None under --benchmark-disable
            metrics = measuring.metrics(case, benchmark.stats.stats, runner, memory.peak_rss_mib())
            benchmark.extra_info.update(bench_json.extra_info(case, metrics))
    finally:
        getattr(runner.session, "close", lambda: None)()  # a reference's worker process ends with its case

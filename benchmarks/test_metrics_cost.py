"""What ``train_ch3``'s running metrics cost per step: the same epoch of an image task with the loss and
accuracy sums accumulated on the device (the book's printed line, the default) and without them.

The sums are added inside the step without a host sync (``l.sum()``, ``argmax == y``, ``sum``, two
in-place adds: a handful of engine operators) and read once per epoch, outside the clock.  Both
variants run in one test, alternating round by round so machine load hits them alike; the µs per
step of each and their difference go into ``extra_info``.  ``--task`` picks the image task
(default here: ``softmax``, whose step is the smallest, so the accumulation shows most).
"""
import statistics

import pytest

from harness.core.context import resolve
from harness.core.timing import synced_clock
from harness.core.train import Session
from harness.roles import Combination

VARIANTS = ("running", "none")


@pytest.mark.benchmark(timer=synced_clock, group="metrics")
def test_running_metrics_cost(benchmark, harness_registry, harness_workload):
    load = harness_workload
    task_name = load.task if load.task != "linreg" else "softmax"
    if load.task == "linreg":
        from harness.measure import workloads

        load = workloads.workload(None, "softmax", rounds=load.rounds, warmup=load.warmup)
    task = load.build_task(harness_registry)
    settings, ctx = load.settings(task), resolve("cpu")
    sessions = {v: Session(harness_registry, Combination(), task, settings, ctx) for v in VARIANTS}
    sessions["none"].running = False  # the same loop, no sums
    steps = -(-task.num_examples // settings.batch_size)
    seconds = {v: [] for v in VARIANTS}

    def timed(variant):
        start = synced_clock()
        sessions[variant].run_epoch()
        seconds[variant].append(synced_clock() - start)

    def other_first():  # "none" before each timed "running" round: paired, alternating
        timed("none")

    for _ in range(load.warmup):
        timed("none")
        timed("running")
    seconds = {v: [] for v in VARIANTS}
    benchmark.pedantic(lambda: timed("running"), setup=other_first, rounds=load.rounds, iterations=1)
    us = {v: statistics.median(s) / steps * 1e6 for v, s in seconds.items() if s}
    if len(us) == 2:
        benchmark.extra_info.update({"task": task_name, "steps_per_epoch": steps,
                                     "us_per_step_running": us["running"], "us_per_step_none": us["none"],
                                     "us_per_step_cost": us["running"] - us["none"]})
    assert sessions["running"].metrics()["train_acc"] >= 0  # the sums were read (once, after the epoch)

"""The clock waits for MXNet's engine: work a step only enqueues is in the measured time."""
import math
import time

import mxnet as mx
import pytest

from harness.core.loader import load
from harness.core.timing import EpochRunner, measure, synced_clock
from harness.core.train import Session, Settings
from harness.errors import Diverged
from harness.roles import Combination
from harness.tasks.builtin import LinReg
from tests.plugins import slow

TASK = LinReg(num_examples=50, num_inputs=2)
SETTINGS = Settings(batch_size=10)
STEPS = 5  # 50 examples in batches of 10


@pytest.fixture(scope="module")
def registry():
    return load(only=["scratch", "gluon"], extra=["tests.plugins.slow", "tests.plugins.faulty"])


def slow_session(registry):
    return Session(registry, Combination(optimizer="slow"), TASK, SETTINGS, mx.cpu())


def test_slow_plugin_work_is_asynchronous(registry):
    # the control: without synchronisation the enqueued sleeps are invisible,
    # so the next test would fail with an unsynchronised clock
    session = slow_session(registry)
    mx.nd.waitall()
    start = time.perf_counter()
    session.run_epoch()
    unsynced = time.perf_counter() - start
    mx.nd.waitall()
    assert unsynced < STEPS * slow.SLEEP * 0.8


def test_measured_epoch_includes_enqueued_work(registry):
    runner = measure(slow_session(registry), rounds=2, warmup=1)
    assert len(runner.seconds) == 3 and len(runner.losses) == 3
    for seconds in runner.seconds:
        assert seconds >= STEPS * slow.SLEEP


def test_synced_clock_waits_for_the_engine():
    x = mx.nd.zeros((1,))
    mx.nd.waitall()
    start = synced_clock()
    for _ in range(3):
        x = mx.nd.Custom(x, op_type="harness_test_sleep")
    assert synced_clock() - start >= 3 * slow.SLEEP


def test_time_to_target_counts_from_the_first_epoch():
    runner = EpochRunner(session=None)
    runner.seconds = [0.5, 0.25, 0.125, 0.1]
    runner.losses = [1.0, 0.01, 1e-5, 1e-6]
    assert runner.time_to_target(1e-4) == (0.875, 3)
    assert runner.time_to_target(2.0) == (0.5, 1)
    assert runner.time_to_target(1e-9) == (None, None)


def test_divergence_is_raised_with_the_trace(registry):
    session = Session(registry, Combination(optimizer="explode"), TASK, SETTINGS, mx.cpu())
    with pytest.raises(Diverged) as info:
        measure(session, rounds=3, warmup=0)
    assert info.value.epoch == 1
    assert math.isnan(info.value.result.losses[0]) and len(info.value.result.seconds) == 1

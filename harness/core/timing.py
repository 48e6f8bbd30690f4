"""The clock every measurement uses: MXNet is asynchronous, so a reading is
only taken once the engine has finished all queued work.

:class:`EpochRunner` is the one place an epoch is timed; ``harness bench``
drives it through :func:`measure`, ``benchmarks/`` through pytest-benchmark's
``pedantic`` (whose own timer is :func:`synced_clock` too).
"""
from __future__ import annotations

import math
import time

import mxnet as mx

from harness.core.errors import Diverged


def synced_clock() -> float:
    """``time.perf_counter()`` after ``mx.nd.waitall()``; usable as pytest-benchmark's ``timer``."""
    mx.nd.waitall()
    return time.perf_counter()


class EpochRunner:
    """Trains a :class:`harness.core.train.Session` epoch by epoch, keeping the trace.

    ``epoch()`` is the timed part: one pass over the data, the engine drained
    before and after.  ``evaluate()`` computes the training loss outside the
    clock.  ``seconds`` and ``losses`` cover every epoch from the first, so
    time-to-target counts warm-up epochs too (MLPerf: from the start of training).
    """

    def __init__(self, session):
        self.session = session
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []  # CPU time of this process (all its threads) in the same window
        self.losses: list[float] = []
        self.records: list[dict] = []  # every metric of each evaluated epoch

    def epoch(self) -> None:
        start = synced_clock()
        cpu = time.process_time()
        self.session.run_epoch()
        self.seconds.append(synced_clock() - start)
        self.cpu_seconds.append(time.process_time() - cpu)

    def evaluate(self) -> float:
        metrics = getattr(self.session, "metrics", None)
        record = metrics() if metrics else {"loss": self.session.evaluate()}
        loss = record["loss"]
        self.records.append(record)
        self.losses.append(loss)
        if not math.isfinite(loss):
            raise Diverged(len(self.losses), self)
        return loss

    def time_to_target(self, target) -> tuple[float | None, int | None]:
        """Training seconds and epochs until the ``target`` (a :class:`harness.task.Target`, or a loss to
        drop below) is first reached; ``(None, None)`` if never."""
        records = self.records if len(self.records) == len(self.losses) else [{"loss": x} for x in self.losses]
        for i, record in enumerate(records):
            reached = target.reached(record) if hasattr(target, "reached") else record["loss"] < target
            if reached:
                return math.fsum(self.seconds[: i + 1]), i + 1
        return None, None


def measure(session, rounds: int, warmup: int) -> EpochRunner:
    """``warmup`` untimed epochs, then ``rounds`` timed ones (``runner.seconds[warmup:]``)."""
    runner = EpochRunner(session)
    for _ in range(warmup + rounds):
        runner.epoch()
        runner.evaluate()
        Interrupt.check()
    return runner


class Interrupt:
    """Ctrl-C that cannot be lost: a KeyboardInterrupt raised inside a finalizer (MXNet frees arrays in
    ``__del__``) is swallowed by Python, so the handler also records it and epoch loops re-raise it."""

    requested = False

    @classmethod
    def check(cls) -> None:
        if cls.requested:
            raise KeyboardInterrupt

    @classmethod
    def handler(cls, signum, frame):
        cls.requested = True
        raise KeyboardInterrupt

    @classmethod
    def install(cls):
        """Install the handler (main thread only); returns a callable that restores the previous one."""
        import signal
        import threading

        cls.requested = False
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.signal(signal.SIGINT, cls.handler)

        def restore():
            signal.signal(signal.SIGINT, previous)
            cls.requested = False

        return restore

"""Measuring cases: one :class:`Case` run into a :class:`Row` (its timed rounds as pytest-benchmark
:class:`Stats` and every metric the outputs report), a failing case into a failed row, and a whole plan
in order or round robin (``--interleave``).  ``harness bench``, its worker processes and ``benchmarks/``
all compute a row's metrics with :func:`metrics`, so they report the same numbers.
"""
from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field

from pytest_benchmark.stats import Stats

from harness.analysis import stats as rowstats
from harness.core.errors import Diverged
from harness.core.registry import Registry
from harness.core.timing import EpochRunner, Interrupt, measure
from harness.measure.memory import peak_rss_mib, reset_peak_rss
from harness.measure.planning import Case


def stats_of(seconds: list[float]) -> Stats:
    stats = Stats()
    for s in seconds:
        stats.update(s)
    return stats


def metrics(case: Case, stats: Stats, runner: EpochRunner, peak_rss: float) -> dict:
    """Everything a row reports besides the raw statistics; ``stats`` holds the timed rounds only."""
    load, session = case.workload, runner.session
    task, settings = session.task, session.settings
    target = load.target(task)
    ttt_seconds, ttt_epochs = runner.time_to_target(target)
    steps = math.ceil(task.num_examples / settings.batch_size)
    last = runner.records[-1]
    return {
        "epoch_min_s": stats.min,
        "epoch_median_s": stats.median,
        "epoch_iqr_s": stats.iqr,
        "rounds": stats.rounds,
        "warmup": load.warmup,
        "steps_per_epoch": steps,
        "batch_size": settings.batch_size,
        "num_examples": task.num_examples,
        "us_per_step": stats.median / steps * 1e6,
        "samples_per_s": task.num_examples / stats.median,
        "target_loss": target.value if target.metric == "loss" else None,
        "target": {"metric": target.metric, "value": target.value},
        "time_to_target_s": ttt_seconds,
        "epochs_to_target": ttt_epochs,
        "final_loss": runner.losses[-1],
        "train_acc": last.get("train_acc"),
        "test_acc": last.get("test_acc"),
        "param_error": task.param_error(session.arrays()),
        "peak_rss_mib": peak_rss,
        "epoch_seconds": runner.seconds,  # warm-up epochs first
        "losses": runner.losses,
        **({"test_accs": [r["test_acc"] for r in runner.records]} if "test_acc" in last else {}),
        **getattr(session, "extra_metrics", dict)(),  # a reference's own facts (PyTorch: its thread count)
        **rowstats.summary(stats.data),  # the median's CI and instability flags
    }


@dataclass
class Row:
    """One case's outcome: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    case: Case
    status: str
    error: str = ""
    stats: Stats | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return self.stats.median if self.stats else math.inf


def run_case(registry: Registry, case: Case) -> Row:
    """Measure one case; an exception or divergence becomes a failed row, never a crash."""
    load = case.workload
    runner = None
    reset_peak_rss()
    try:
        runner = measure(case.session(registry), load.rounds, load.warmup)
    except Exception as exc:  # a plugin's bug must not stop the other cases
        return failed_row(case, exc)
    return finished_row(case, runner)


def failed_row(case: Case, exc: Exception) -> Row:
    if isinstance(exc, Diverged):
        return Row(case, "failed", f"diverged at epoch {exc.epoch} (loss not finite)", metrics=_partial(exc.result))
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return Row(case, "failed", f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})".replace("\n", " "))


def finished_row(case: Case, runner: EpochRunner) -> Row:
    stats = stats_of(runner.seconds[case.workload.warmup:])
    return Row(case, "ok", stats=stats, metrics=metrics(case, stats, runner, peak_rss_mib()))


def _partial(runner) -> dict:
    return {"epoch_seconds": runner.seconds, "losses": runner.losses} if isinstance(runner, EpochRunner) else {}


def run_matrix(registry: Registry, planned: list[tuple[Case, str | None]], on_row=None) -> list[Row]:
    """Run every case in order; ``on_row(row)`` after each.  Ctrl-C propagates; rows so far are in ``on_row``'s
    hands."""
    rows = []
    for case, skip in planned:
        row = Row(case, "skipped", skip) if skip else run_case(registry, case)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def run_interleaved(registry: Registry, planned: list[tuple[Case, str | None]], on_row=None) -> list[Row]:
    """Round robin: every case's warm-up first, then timed round r of every case before round r + 1, so load
    that drifts during the run lands on all rows alike.  Every session stays alive to the end, so peak RSS
    is the whole run's.  On Ctrl-C the cases with at least one timed round become rows, then it propagates.
    """
    rows: dict[int, Row] = {}
    runners: dict[int, EpochRunner] = {}

    def attempt(i, case, work):
        try:
            work()
        except Exception as exc:  # a plugin's bug must not stop the other cases
            rows[i] = failed_row(case, exc)
            runners.pop(i, None)

    def one_epoch(runner):
        runner.epoch()
        runner.evaluate()
        Interrupt.check()

    try:
        for i, (case, skip) in enumerate(planned):
            if skip:
                rows[i] = Row(case, "skipped", skip)
                continue

            def start(i=i, case=case):
                runners[i] = runner = EpochRunner(case.session(registry))
                for _ in range(case.workload.warmup):
                    one_epoch(runner)

            attempt(i, case, start)
        for _ in range(max((case.workload.rounds for case, _ in planned), default=0)):
            for i in list(runners):
                case = planned[i][0]
                if len(runners[i].seconds) < case.workload.warmup + case.workload.rounds:
                    attempt(i, case, lambda r=runners[i]: one_epoch(r))
    finally:  # also on Ctrl-C: what was measured is kept
        for i, runner in runners.items():
            case = planned[i][0]
            if len(runner.seconds) > case.workload.warmup:
                rows[i] = finished_row(case, runner)
        done = [rows[i] for i in sorted(rows)]
        if on_row is not None:
            for row in done:
                on_row(row)
    return done


def sorted_rows(rows: list) -> list:
    """Fastest first; failed then skipped rows last (:class:`Row`)."""
    order = {"ok": 0, "failed": 1, "skipped": 2}
    return sorted(rows, key=lambda r: (order[r.status], r.median))

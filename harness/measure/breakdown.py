"""Where a training step's time goes: data loading, forward + loss, backward, update, for one session and
for every measured row of a benchmark (``harness bench --breakdown``); its table and PNG are
:mod:`harness.output.breakdown`.

Each phase ends with ``mx.nd.waitall()`` so its work is charged to it; that
synchronisation itself costs time and removes overlap between phases, so the
phases add up to more than an unperturbed step.
"""
from __future__ import annotations

import statistics

from harness.core.registry import Registry
from harness.core.timing import synced_clock
from harness.measure.measuring import Row, sorted_rows

PHASES = ("data", "forward", "backward", "update")
LABELS = {"data": "data loading", "forward": "forward + loss", "backward": "backward", "update": "update"}
NOTE = (
    "breakdown synchronises the engine between phases, which perturbs the total: the phases' sum is "
    "not the unsynchronised step time (it removes overlap between phases and adds the cost of each sync)"
)


class PhaseClock:
    """The ``lap`` callback of :meth:`harness.core.train.Session.run_epoch`: seconds per phase."""

    def __init__(self):
        self.totals = dict.fromkeys(PHASES, 0.0)
        self.steps = 0
        self._last = synced_clock()

    def __call__(self, phase: str) -> None:
        now = synced_clock()
        self.totals[phase] += now - self._last
        self._last = now
        if phase == "update":
            self.steps += 1

    def per_step(self) -> dict:
        return {p: self.totals[p] / self.steps for p in PHASES}


def breakdown(session, rounds: int = 3, warmup: int = 1) -> dict:
    """Median seconds per step for each phase over ``rounds`` epochs, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        session.run_epoch()
    per_round = []
    for _ in range(rounds):
        clock = PhaseClock()
        session.run_epoch(lap=clock)
        per_round.append(clock.per_step())
    return {p: statistics.median(r[p] for r in per_round) for p in PHASES}


def run_breakdown(registry: Registry, rows: list[Row], rounds: int = 3) -> list[Row]:
    """Time each phase of a step for every measured combination (not references), fastest first.

    The medians per phase, in seconds per step, go into ``row.metrics["breakdown_s_per_step"]``.
    """
    measured = [r for r in sorted_rows(rows) if r.status == "ok" and not r.case.reference]
    for r in measured:
        load = r.case.workload
        session = r.case.session(registry)
        r.metrics["breakdown_s_per_step"] = breakdown(session, rounds=min(rounds, load.rounds), warmup=load.warmup)
    return measured

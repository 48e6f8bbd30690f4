"""A/B in one session: the same cases in two environments, worker processes alternated A B B A …,
and per case the ratio B/A with its confidence interval and a verdict corrected for the whole matrix.

The unit of the test is the process pair, not the round: rounds of one process share its luck (on this
machine whole processes run up to 60 % apart while their own rounds agree within 2 %), so pooling rounds
calls that luck a change.  Per case, process ``k`` of A and process ``k`` of B run side by side; each pair
gives ``log(fastest round of B_k) - log(fastest round of A_k)``.  The statistics are
:mod:`harness.analysis.stats`: the exact sign test on those differences, ``exp`` of their median with its
distribution-free interval, Holm's step-down correction across the rows (family-wise error), and a row is
``slower``/``faster`` only when its adjusted p is below alpha *and* the ratio is beyond the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.analysis import stats

if TYPE_CHECKING:  # the rows come from measure/, which imports this package
    from harness.measure import measuring, planning

ALPHA = 0.05  # family-wise: the chance that an A/A run flags any row
CLOCKS = ("wall", "cpu")  # wall: synchronised epoch time; cpu: the worker process's CPU time in the same window
THRESHOLD = 0.01  # criterion's noise band: smaller changes are not called


@dataclass
class Pair:
    """One case on both sides; ``change`` is set when both sides measured it."""

    a: measuring.Row
    b: measuring.Row
    change: stats.Change | None = None

    @property
    def case(self) -> planning.Case:
        return self.a.case

    @property
    def verdict(self) -> str:
        if self.change is not None:
            return self.change.verdict
        if self.a.status == "skipped" or self.b.status == "skipped":
            return "skipped"
        if self.a.status == "ok" and self.b.status == "failed":
            return "failed in B"
        if self.a.status == "failed" and self.b.status == "ok":
            return "failed in A"
        return "failed in both"

    @property
    def unstable(self) -> list[str]:
        """Why the pairs do not pin the ratio down: its CI wider than ±10 % or short of its level.  The sides'
        own flags (pooled rounds, processes apart) stay in the JSON: the pairs already carry that spread."""
        if self.change is None:
            return []
        ci, level = self.change.ratio.ci, stats.CONFIDENCE
        if ci.level < level - 1e-9:
            return [f"{len(self.change.a)} pairs: ratio CI only {ci.level:.0%}"]
        half = (ci.high - ci.low) / 2 / self.change.ratio.estimate
        return [f"ratio CI ±{half:.0%}"] if half > 0.10 else []

    def regression(self, beyond: float) -> bool:
        """Slower by more than ``beyond`` (a fraction), or broken by B."""
        if self.verdict == "failed in B":
            return True
        return self.verdict == "slower" and self.change.ratio.estimate > 1 + beyond


def process_times(row: measuring.Row, clock: str = "wall") -> list[list[float]]:
    """A measured row's timed rounds on ``clock``, one list per worker process, in slot order."""
    return [list(p) for p in row.metrics["process_seconds" if clock == "wall" else "process_cpu_seconds"]]


def pair_up(rows_a: list[measuring.Row], rows_b: list[measuring.Row], alpha: float = ALPHA,
            threshold: float = THRESHOLD, confidence: float = stats.CONFIDENCE, clock: str = "wall") -> list[Pair]:
    """Pair the two sides' rows (same order), test every case both measured on its process pairs, Holm across them."""
    pairs = [Pair(a, b) for a, b in zip(rows_a, rows_b)]
    for p in pairs:
        if p.a.status == p.b.status == "ok":
            p.change = stats.paired_change(p.case.name, process_times(p.a, clock), process_times(p.b, clock),
                                           confidence)
    stats.judge([p.change for p in pairs if p.change is not None], alpha, threshold)
    return pairs


def counts(pairs: list[Pair]) -> dict[str, int]:
    found: dict[str, int] = {}
    for p in pairs:
        found[p.verdict] = found.get(p.verdict, 0) + 1
    return found


def to_document(pairs: list[Pair], settings: dict, sides: dict, machine: dict, commit: dict, interrupted: bool) -> dict:
    """Everything an A/B run found: settings, both environments, and per case both sides' raw rounds."""
    rows = []
    for p in pairs:
        entry = {"name": p.case.name, "combination": p.case.combination(), "ctx": p.case.ctx,
                 "workload": p.case.workload.as_dict(), "verdict": p.verdict, "unstable": p.unstable}
        if p.change is not None:
            entry.update(p.change.as_dict(settings["confidence"]))
        for side, row in (("A", p.a), ("B", p.b)):
            entry.setdefault(side.lower(), {}).update({
                "status": row.status, "error": row.error,
                "process_seconds": row.metrics.get("process_seconds"),
                "process_cpu_seconds": row.metrics.get("process_cpu_seconds"),
                "unstable": row.metrics.get("unstable", []), "peak_rss_mib": row.metrics.get("peak_rss_mib"),
            })
        rows.append(entry)
    return {"machine_info": machine, "commit_info": commit, "settings": settings, "sides": sides,
            "interrupted": interrupted, "counts": counts(pairs), "rows": rows}

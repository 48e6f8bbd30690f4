"""Step detection over a series of runs: where did a benchmark's time change, and is the change real?

asv's method, in two stages, neither of which compares two single points:

1. **Fit** a piecewise-constant function to the runs' medians by least absolute deviations (an L1
   "Potts" fit, exact by dynamic programming).  The number of segments ``k`` minimises asv's
   information criterion ``beta·k + log(L1 residual)`` with ``beta = 4·ln(n)/n``: one more segment
   must cut the residual by a factor ``exp(beta)`` to pay for itself, so noise buys no steps.
   A level lasts at least two runs, except the newest (one disturbed run is not a step, a slowdown
   that starts with the latest run is).  Adjacent segments whose levels differ by less than
   ``threshold`` (5 %, asv's default) are merged.
2. **Test** each remaining step with Mann–Whitney U on the *raw rounds* of the runs either side of it
   (every run of the segment before against every run of the segment after).  A step is a detected
   change only when ``p < alpha`` (0.002, the rule ``harness compare`` uses) as well.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import mannwhitneyu

from harness.analysis.compare import ALPHA, min_p_value

THRESHOLD = 0.05  # asv's regressions threshold
MAX_POINTS = 200  # the exact fit is cubic in n (0.3 s at 200); longer series use their newest 200 runs


@dataclass
class Segment:
    start: int  # first index, inclusive
    stop: int  # last index, exclusive
    level: float  # median of the segment's values


@dataclass
class Step:
    index: int  # first point of the new level
    before: float
    after: float
    p_value: float | None  # None: no raw rounds on one side
    min_p: float | None  # the smallest p the rounds either side could reach
    significant: bool

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before > 0 else math.inf

    @property
    def kind(self) -> str:
        return "slower" if self.ratio > 1 else "faster"

    def as_dict(self) -> dict:
        return {"index": self.index, "before": self.before, "after": self.after, "ratio": self.ratio,
                "p_value": self.p_value, "min_p": self.min_p, "significant": self.significant, "kind": self.kind}


@dataclass
class Detection:
    segments: list[Segment] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)  # every fitted step beyond the threshold
    offset: int = 0  # index of the series' first point used (see MAX_POINTS)

    @property
    def changes(self) -> list[Step]:
        """The steps the rank test confirms."""
        return [s for s in self.steps if s.significant]

    def as_dict(self) -> dict:
        return {"segments": [{"start": s.start, "stop": s.stop, "level": s.level} for s in self.segments],
                "steps": [s.as_dict() for s in self.steps]}


def _costs(y: np.ndarray) -> np.ndarray:
    """``c[i, j]``: L1 residual of y[i:j+1] around its median (upper triangle).

    A level must last two runs, except the latest: one disturbed run in the middle is not a step,
    while a slowdown that starts with the newest run is reported at once.
    """
    n = len(y)
    c = np.zeros((n, n))
    c[np.arange(n - 1), np.arange(n - 1)] = np.inf
    for i in range(n):
        for j in range(i + 1, n):
            part = y[i:j + 1]
            c[i, j] = np.abs(part - np.median(part)).sum()
    return c


def _best_partitions(y: np.ndarray, max_k: int) -> list[tuple[float, list[int]]]:
    """For k = 1..max_k segments: the smallest L1 residual and the segment starts achieving it."""
    n = len(y)
    c = _costs(y)
    # best[k][j]: residual of y[:j+1] cut into k+1 segments; start[k][j]: where its last segment starts
    best = np.full((max_k, n), np.inf)
    start = np.zeros((max_k, n), dtype=int)
    best[0] = c[0]
    for k in range(1, max_k):
        for j in range(k, n):
            options = best[k - 1, k - 1:j] + c[k:j + 1, j]
            i = int(np.argmin(options))
            best[k, j] = options[i]
            start[k, j] = i + k
    out = []
    for k in range(max_k):
        starts, j = [], n - 1
        for kk in range(k, 0, -1):
            s = start[kk, j]
            starts.append(s)
            j = s - 1
        out.append((float(best[k, n - 1]), [0, *reversed(starts)]))
    return out


def fit(values: list[float]) -> list[Segment]:
    """The piecewise-constant L1 fit whose number of segments minimises asv's information criterion."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    if n == 0:
        return []
    if n < 3:
        return [Segment(0, n, float(np.median(y)))]
    beta = 4 * math.log(n) / n
    floor = 1e-12 * (float(np.abs(y).max()) or 1.0)  # identical values: residual 0
    candidates = _best_partitions(y, max_k=min(n, 20))
    scores = [beta * (k + 1) + math.log(cost + floor) for k, (cost, _) in enumerate(candidates)]
    starts = candidates[int(np.argmin(scores))][1]
    return _segments(y, starts)


def _segments(y: np.ndarray, starts: list[int]) -> list[Segment]:
    bounds = [*starts, len(y)]
    return [Segment(a, b, float(np.median(y[a:b]))) for a, b in zip(bounds, bounds[1:])]


def merge_small(values: list[float], segments: list[Segment], threshold: float) -> list[Segment]:
    """Merge neighbours whose levels differ by less than ``threshold`` (relative), smallest step first."""
    y = np.asarray(values, dtype=float)
    segments = list(segments)
    while len(segments) > 1:
        rel = [abs(b.level - a.level) / max(min(abs(a.level), abs(b.level)), 1e-300)
               for a, b in zip(segments, segments[1:])]
        i = int(np.argmin(rel))
        if rel[i] >= threshold:
            break
        a, b = segments[i], segments[i + 1]
        segments[i:i + 2] = [Segment(a.start, b.stop, float(np.median(y[a.start:b.stop])))]
    return segments


def detect(values: list[float], rounds: list[list[float] | None] | None = None, threshold: float = THRESHOLD,
           alpha: float = ALPHA) -> Detection:
    """Fit, merge below ``threshold``, and rank-test every step on ``rounds`` (the raw times of each point)."""
    offset = max(0, len(values) - MAX_POINTS)
    values = list(values[offset:])
    rounds = list(rounds[offset:]) if rounds is not None else [None] * len(values)
    if len(rounds) != len(values):
        raise ValueError("rounds must have one entry per value")
    segments = merge_small(values, fit(values), threshold)
    steps = []
    for a, b in zip(segments, segments[1:]):
        left = [x for r in rounds[a.start:a.stop] if r for x in r]
        right = [x for r in rounds[b.start:b.stop] if r for x in r]
        if left and right:
            p = float(mannwhitneyu(left, right, alternative="two-sided").pvalue)
            floor = min_p_value(len(left), len(right))
        else:
            p = floor = None
        steps.append(Step(b.start + offset, a.level, b.level, p, floor, p is not None and p < alpha))
    for s in segments:
        s.start += offset
        s.stop += offset
    return Detection(segments, steps, offset)

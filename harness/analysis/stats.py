"""Statistics that cannot mislead: distribution-free intervals, Mann–Whitney and the sign test with
their attainable-p floors, Holm's correction across a matrix, instability flags.

Everything here is exact and distribution-free where it can be:

* the CI of a median is a pair of order statistics (binomial coverage);
* the CI of a ratio of two separate runs (compare) is the Hodges–Lehmann interval on log times, read off the
  exact null distribution of Mann–Whitney's U, so it excludes 1 exactly when the
  two-sided exact test rejects at the same level;
* A/B runs are judged on process pairs, one log ratio per pair: the exact sign test and the median
  ratio with its order-statistics interval, dual to it;
* a matrix of tests is corrected with Holm's step-down method, which bounds the
  family-wise error (the chance that *any* row is flagged when none changed):
  the question "how often does an unchanged run cry wolf" is a family-wise one.
  Benjamini–Hochberg bounds the expected share of false flags instead, which is
  weaker for that question, so it is not used.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported where it is used: it costs every worker process ~0.4 s at start-up otherwise

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """``[low, high]`` holding the estimand with probability ``level`` (the coverage actually achieved)."""

    low: float
    high: float
    level: float

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "level": self.level}


def median_ci(sample, confidence: float = CONFIDENCE) -> Interval:
    """Distribution-free CI of the median: order statistics ``x(k)``, ``x(n-k+1)``.

    ``P(x(k) <= median <= x(n-k+1)) = 1 - 2 P(Binom(n, 1/2) <= k-1)``; ``k`` is the largest with at
    least ``confidence`` coverage.  Too few values for that (n < 6 at 95 %) gives ``[min, max]`` with its
    smaller achieved ``level``.
    """
    x = np.sort(np.asarray(sample, dtype=float))
    n = len(x)
    if n == 0:
        raise ValueError("median_ci of an empty sample")

    def cdf(j: int) -> float:  # P(Binom(n, 1/2) <= j), exact
        return sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and 1 - 2 * cdf(k) >= confidence:
        k += 1
    level = 1 - 2 * cdf(k - 1)
    return Interval(float(x[k - 1]), float(x[n - k]), float(level))


@functools.lru_cache(maxsize=256)
def u_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the ``C(n+m, n)`` orderings give each ``U = 0 .. n·m`` (no ties): the coefficients
    of the Gaussian binomial ``prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i)``, in exact integers."""
    size = n * m + n * (n + 1) // 2 + m + 1
    c = [0] * size
    c[0] = 1
    for i in range(1, n + 1):
        shift = m + i
        for u in range(size - 1, shift - 1, -1):  # times (1 - q^shift)
            c[u] -= c[u - shift]
        for u in range(i, size):  # divided by (1 - q^i): the series is a polynomial, so this is exact
            c[u] += c[u - i]
    return tuple(c[: n * m + 1])


def min_p_value(n: int, m: int) -> float:
    """The smallest two-sided p Mann–Whitney U can reach with ``n`` and ``m`` values (all of one side first)."""
    return 2 / math.comb(n + m, n)


def min_rounds(alpha: float) -> int:
    """The fewest values a side (equal sides) for which Mann–Whitney can reach two-sided ``p < alpha``."""
    n = 1
    while min_p_value(n, n) >= alpha:
        n += 1
    return n


# Above this many pairs the exact distribution is slow to build; the normal approximation is fine there.
_EXACT_PAIRS = 2500


def _u_critical(n: int, m: int, confidence: float) -> tuple[int, float]:
    """The largest ``c`` with ``P(U <= c - 1) <= (1 - confidence) / 2`` (``c >= 1``), and the achieved level."""
    tail = (1 - confidence) / 2
    if n * m <= _EXACT_PAIRS:
        counts = u_counts(n, m)
        total = math.comb(n + m, n)
        cum, c = 0, 0
        while c < len(counts) and (cum + counts[c]) / total <= tail:
            cum += counts[c]
            c += 1
        c = max(c, 1)  # too few values: the widest interval, with what it achieves
        return c, 1 - 2 * sum(counts[:c]) / total
    from scipy.stats import norm

    mean, sd = n * m / 2, math.sqrt(n * m * (n + m + 1) / 12)
    c = max(1, int(math.floor(mean - norm.ppf(1 - tail) * sd + 0.5)))
    return c, float(1 - 2 * norm.cdf((c - 1 + 0.5 - mean) / sd))


@dataclass(frozen=True)
class Ratio:
    """``B / A`` of two samples of times: Hodges–Lehmann estimate and exact interval, on log times."""

    estimate: float
    ci: Interval


def ratio_ci(a, b, confidence: float = CONFIDENCE) -> Ratio:
    """Hodges–Lehmann ratio ``b / a``: ``exp`` of the median of all ``log b_j - log a_i``, with the
    distribution-free interval ``[D(c), D(nm-c+1)]`` of those differences (``c`` from U's exact null
    distribution; normal approximation above 2,500 pairs).  Too few values for ``confidence`` gives the
    widest interval, with the smaller ``level`` it achieves."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    if not len(la) or not len(lb):
        raise ValueError("ratio_ci needs values on both sides")
    diffs = np.sort((lb[None, :] - la[:, None]).ravel())
    c, level = _u_critical(len(la), len(lb), confidence)
    return Ratio(float(np.exp(np.median(diffs))),
                 Interval(float(np.exp(diffs[c - 1])), float(np.exp(diffs[len(diffs) - c])), float(level)))


# --- paired: process pairs of an A/B run --------------------------------------------
# Rounds of one process share that process's luck (thread placement, memory layout): on this machine a
# process's median can sit 60 % from the next one's while its own rounds agree within 2 %.  Pooling rounds
# as if independent then calls process luck a change.  The honest unit is the process; A and B processes
# run in pairs at the same time, so each pair gives one difference and the test is on those.  Under load a
# few pairs land far off either way (one process of the pair ran at half speed): the sign test counts them
# as one vote each, where the signed-rank test gave them its largest ranks and lost the rest.

def sign_test_p(d) -> float:
    """Two-sided exact sign test of differences ``d`` against 0 (zeros dropped): each pair is one vote, whatever
    its size, so one pair that a busy machine threw far off weighs no more than any other."""
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    k = int(min((d > 0).sum(), (d < 0).sum()))
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def min_sign_test_p(n: int) -> float:
    """The smallest two-sided p the sign test reaches with ``n`` pairs (all one sign)."""
    return 2 / 2 ** n


def min_pairs(alpha: float) -> int:
    """The fewest pairs for which the sign test can reach two-sided ``p < alpha``."""
    n = 1
    while min_sign_test_p(n) >= alpha:
        n += 1
    return n


def paired_ratio_ci(d, confidence: float = CONFIDENCE) -> Ratio:
    """Ratio ``exp(θ)`` of log differences ``d`` (one per pair): ``exp`` of their median and of its
    distribution-free interval (order statistics, :func:`median_ci`), which excludes 1 exactly when the sign
    test rejects at ``1 - level``.  Too few pairs for ``confidence`` gives the whole range, at its smaller level."""
    if not len(d):
        raise ValueError("paired_ratio_ci needs at least one pair")
    ci = median_ci(d, confidence)
    return Ratio(float(np.exp(np.median(d))), Interval(float(np.exp(ci.low)), float(np.exp(ci.high)), ci.level))


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann–Whitney U p-value: exact without ties (up to 2,500 pairs), else the normal approximation."""
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ties = len(np.unique(np.concatenate([a, b]))) < len(a) + len(b)
    method = "asymptotic" if ties or len(a) * len(b) > _EXACT_PAIRS else "exact"
    return float(mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue)


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): reject row i at family-wise level
    alpha when ``adjusted[i] < alpha``.  ``None`` entries (untested rows) stay ``None`` and do not count."""
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def holm_floor(alpha: float, tests: int) -> float:
    """The p a row must beat to be flagged at all under Holm over ``tests`` rows (its first step)."""
    return alpha / max(tests, 1)


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Exact binomial CI of a rate ``k / n`` (for false-positive and detection rates)."""
    from scipy.stats import beta

    tail = (1 - confidence) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - tail, k + 1, n - k))
    return Interval(low, high, confidence)


# --- instability (pyperf's rules, plus two for data pooled from processes) ----------------

def instability(sample, process_medians=None, confidence: float = CONFIDENCE) -> list[str]:
    """Why a row's numbers may be unstable; empty when none applies.

    pyperf's: std >= 10 % of the mean, min or max >= 50 % off the mean.  Ours: the median's CI is wider
    than ±10 % of it (or cannot reach ``confidence``), and the processes' medians spread over >= 10 %.
    """
    x = np.asarray(sample, dtype=float)
    flags = []
    if len(x) >= 2:
        mean, std = float(x.mean()), float(x.std(ddof=1))
        if mean > 0 and std >= 0.10 * mean:
            flags.append(f"std {std / mean:.0%} of mean")
        if mean > 0 and (x.min() <= 0.5 * mean or x.max() >= 1.5 * mean):
            flags.append("outlier >= 50% off mean")
    ci = median_ci(x, confidence)
    med = float(np.median(x))
    if ci.level < confidence - 1e-9:
        flags.append(f"{len(x)} rounds: median CI only {ci.level:.0%}")
    elif med > 0 and (ci.high - ci.low) / 2 > 0.10 * med:
        flags.append(f"median CI ±{(ci.high - ci.low) / 2 / med:.0%}")
    if process_medians is not None and len(process_medians) >= 2:
        pm = np.asarray(process_medians, dtype=float)
        spread = (pm.max() - pm.min()) / float(np.median(pm))
        if spread >= 0.10:
            flags.append(f"processes differ by {spread:.0%}")
    return flags


def summary(sample, process_medians=None, confidence: float = CONFIDENCE) -> dict:
    """What every result row carries besides its raw times: the median's CI and the instability flags."""
    ci = median_ci(sample, confidence)
    return {"epoch_median_ci_s": [ci.low, ci.high], "median_ci_level": ci.level,
            "unstable": instability(sample, process_medians, confidence)}


# --- one row of an A/B or old/new comparison -------------------------------------

@dataclass
class Change:
    """``b`` against ``a`` for one row; ``verdict`` is set by :func:`judge` once the whole matrix is known."""

    name: str
    a: list[float]
    b: list[float]
    ratio: Ratio
    p: float
    p_holm: float | None = None
    verdict: str = "same"
    # what a and b hold: rounds (Mann–Whitney) or the processes' fastest rounds (paired, sign test)
    unit: str = "rounds"
    test: str = "mann-whitney"

    @property
    def median_a(self) -> float:
        return float(np.median(self.a))

    @property
    def median_b(self) -> float:
        return float(np.median(self.b))

    def as_dict(self, confidence: float = CONFIDENCE) -> dict:
        return {
            "name": self.name, "verdict": self.verdict,
            "ratio": self.ratio.estimate, "ratio_ci": self.ratio.ci.as_dict(),
            "p": self.p, "p_holm": self.p_holm,
            "test": self.test,
            "a": {"median": self.median_a, "median_ci": median_ci(self.a, confidence).as_dict(),
                  self.unit: len(self.a)},
            "b": {"median": self.median_b, "median_ci": median_ci(self.b, confidence).as_dict(),
                  self.unit: len(self.b)},
        }


def change(name: str, a, b, confidence: float = CONFIDENCE) -> Change:
    return Change(name, [float(x) for x in a], [float(x) for x in b], ratio_ci(a, b, confidence), mann_whitney_p(a, b))


def paired_change(name: str, a_processes, b_processes, confidence: float = CONFIDENCE) -> Change:
    """B against A when process ``k`` of A and process ``k`` of B ran as a pair, at the same time: one log
    difference of their fastest rounds per pair, the sign test on those and their median as the ratio.
    ``a`` and ``b`` of the result are the processes' fastest rounds.

    The fastest round, not the median: a shared machine only ever adds time to a round (preemption, a
    neighbour's cache traffic), so the minimum of a process's few rounds is the least disturbed estimate of
    its speed; with two rounds the median is their mean, and one preempted round moves it."""
    if len(a_processes) != len(b_processes):
        raise ValueError(f"{len(a_processes)} A processes against {len(b_processes)} B processes: pairs needed")
    a = [float(np.min(p)) for p in a_processes]
    b = [float(np.min(p)) for p in b_processes]
    d = np.log(b) - np.log(a)
    return Change(name, a, b, paired_ratio_ci(d, confidence), sign_test_p(d), unit="processes",
                  test="sign test over process pairs")


def judge(changes: list[Change], alpha: float, threshold: float) -> list[Change]:
    """Holm-correct the matrix at family-wise ``alpha``; a row is ``slower``/``faster`` when its adjusted p is
    below ``alpha`` and its ratio estimate is beyond ``1 + threshold`` (or ``1 / (1 + threshold)``)."""
    for c, adj in zip(changes, holm([c.p for c in changes])):
        c.p_holm = adj
        if adj < alpha and c.ratio.estimate > 1 + threshold:
            c.verdict = "slower"
        elif adj < alpha and c.ratio.estimate < 1 / (1 + threshold):
            c.verdict = "faster"
        else:
            c.verdict = "same"
    return changes


def attainable_pairs(pairs: int, alpha: float, tests: int) -> str | None:
    """Why ``tests`` rows of ``pairs`` process pairs can never be flagged at family-wise ``alpha`` (else ``None``)."""
    floor, need = min_sign_test_p(pairs), holm_floor(alpha, tests)
    if floor < need:
        return None
    return (f"with {pairs} process pairs the smallest attainable sign-test p is {floor:.2g}, but Holm over {tests} "
            f"rows needs p < {need:.2g}: at least {min_pairs(need)} processes a side")


def attainable(n: int, m: int, alpha: float, tests: int) -> str | None:
    """Why ``tests`` rows of ``n`` vs ``m`` values can never be flagged at family-wise ``alpha`` (else ``None``)."""
    floor, need = min_p_value(n, m), holm_floor(alpha, tests)
    if floor < need:
        return None
    return (f"with {n} vs {m} rounds the smallest attainable Mann–Whitney p is {floor:.2g}, but Holm over {tests} rows "
            f"needs p < {need:.2g}: at least {min_rounds(need)} rounds a side")


# --- how rows show these in tables ------------------------------------------------

def format_ci(metrics: dict, scale: float = 1.0) -> str:
    """``low–high`` of a row's median CI (``*`` when it cannot reach 95 %)."""
    ci = metrics.get("epoch_median_ci_s")
    if not ci:
        return ""
    star = "*" if metrics.get("median_ci_level", 1.0) < CONFIDENCE - 1e-9 else ""
    return f"{ci[0] * scale:.4g}–{ci[1] * scale:.4g}{star}"


def format_rounds(metrics: dict) -> str | int:
    """``rounds``, or ``processes×rounds`` when the rounds came from several worker processes."""
    per = metrics.get("process_seconds")
    if not per:
        return metrics["rounds"]
    sizes = sorted({len(p) for p in per})
    return f"{len(per)}×{sizes[0]}" if len(sizes) == 1 else f"{len(per)}×{sizes[0]}-{sizes[-1]}"


def format_unstable(metrics: dict) -> str:
    """The table's ``unstable`` cell: ``UNSTABLE: why; why`` or empty."""
    flags = metrics.get("unstable")
    return f"UNSTABLE: {'; '.join(flags)}" if flags else ""

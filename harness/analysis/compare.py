"""``harness compare OLD NEW``: per-benchmark ratio new/old with its 95 % confidence
interval, tested for significance on the stored round times (asv's rule: Mann–Whitney U
at p < alpha *and* a change beyond a factor), Holm-corrected across all benchmarks so that
``alpha`` bounds the chance of flagging any unchanged one (see :mod:`harness.analysis.stats`).

Two separate runs drift apart on a shared machine; ``harness ab`` runs both sides in one
session, alternated, and is the trustworthy way to compare two environments."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from harness.analysis import stats
from harness.core.errors import HarnessError
from harness.core.files import read_json

ALPHA = 0.002  # asv's default
THRESHOLD = 0.10


@dataclass
class Comparison:
    name: str
    old_median: float | None
    new_median: float | None
    ratio: float | None  # new / old (Hodges–Lehmann): > 1 is slower
    p_value: float | None
    verdict: str  # slower, faster, same, failed, added, removed
    ratio_ci: stats.Interval | None = None
    p_holm: float | None = None  # Holm-adjusted across the benchmarks compared
    medians_ci: tuple | None = None  # (old, new) median CIs

    def regression(self, alpha: float = ALPHA, beyond: float = 0.0) -> bool:
        """A newly failed benchmark, or one significantly slower (Holm-adjusted p < ``alpha``) by more
        than ``beyond`` (0.05: 5 %): the rule ``--fail-on-regression`` gates on."""
        if self.verdict == "failed":
            return True
        return self.p_holm is not None and self.p_holm < alpha and self.ratio is not None and self.ratio > 1 + beyond


def load(path: str) -> dict[str, dict]:
    """``name -> {"data": [...], "error": str|None}`` from a pytest-benchmark JSON (ours or pytest's)."""
    doc = read_json(path, "expected a file from harness bench --json or pytest --benchmark-json")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise HarnessError(
            f"{path} is not a pytest-benchmark JSON (no 'benchmarks' list); expected harness bench --json output"
        )
    found = {}
    for i, bench in enumerate(doc["benchmarks"]):
        name = bench.get("name") if isinstance(bench, dict) else None
        has_stats = isinstance(bench, dict) and isinstance(bench.get("stats"), dict)
        data = bench.get("stats", {}).get("data") if has_stats else None
        if not isinstance(name, str):
            raise HarnessError(f"{path}: benchmarks[{i}] has no name")
        if not isinstance(data, list) or not data or not all(_is_time(x) for x in data):
            raise HarnessError(
                f"{path}: {name} has no raw round times in stats.data; "
                "save with --benchmark-json or --benchmark-save-data"
            )
        found[name] = {"data": [float(x) for x in data], "error": None}
    harness = doc.get("harness") if isinstance(doc.get("harness"), dict) else {}
    for entry in harness.get("not_run", []):
        if isinstance(entry, dict) and entry.get("status") == "failed":
            found.setdefault(str(entry.get("name")), {"data": None, "error": entry.get("error") or "failed"})
    return found


def _is_time(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def compare_runs(old: dict, new: dict, alpha: float = ALPHA, threshold: float = THRESHOLD) -> list[Comparison]:
    """One :class:`Comparison` per benchmark name in either run; verdicts Holm-corrected at family-wise ``alpha``."""
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if b is None:
            out.append(Comparison(name, _median(a), None, None, None, "removed"))
        elif b["data"] is None:
            out.append(Comparison(name, _median(a), None, None, None, "failed"))
        elif a is None or a["data"] is None:
            out.append(Comparison(name, None, _median(b), None, None, "added"))
        else:
            out.append(compare_one(name, a["data"], b["data"], alpha, threshold))
    tested = [c for c in out if c.p_value is not None]
    for c, adjusted in zip(tested, stats.holm([c.p_value for c in tested])):
        c.p_holm = adjusted
        c.verdict = _verdict(adjusted, c.ratio, alpha, threshold)
    return out


def _median(entry: dict | None) -> float | None:
    return statistics.median(entry["data"]) if entry and entry["data"] else None


def compare_one(name: str, old: list[float], new: list[float], alpha: float, threshold: float) -> Comparison:
    """One benchmark on its own (uncorrected; :func:`compare_runs` corrects across the matrix)."""
    old_med, new_med = statistics.median(old), statistics.median(new)
    if min(old) > 0 and min(new) > 0:
        ratio = stats.ratio_ci(old, new)
        estimate, ci = ratio.estimate, ratio.ci
    else:  # a zero time has no logarithm: ratio of medians, no interval
        estimate, ci = (new_med / old_med if old_med > 0 else math.inf), None
    p = stats.mann_whitney_p(old, new)
    return Comparison(name, old_med, new_med, estimate, p, _verdict(p, estimate, alpha, threshold), ci, p,
                      (stats.median_ci(old), stats.median_ci(new)))


def _verdict(p: float, ratio: float, alpha: float, threshold: float) -> str:
    if p < alpha and ratio > 1 + threshold:
        return "slower"
    if p < alpha and ratio < 1 / (1 + threshold):
        return "faster"
    return "same"


min_p_value = stats.min_p_value


def parse_percent(text: str) -> float:
    """``'5%'`` or ``'0.05'`` -> 0.05."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise HarnessError(f"invalid percentage {text!r}; valid: e.g. 5% or 0.05")
    return value

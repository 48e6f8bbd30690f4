"""``harness compare OLD NEW``: per-benchmark ratio of medians, tested for
significance on the stored round times (asv's rule: Mann–Whitney U at p < alpha
*and* a change beyond a factor)."""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from .errors import HarnessError

ALPHA = 0.002  # asv's default
THRESHOLD = 0.10


@dataclass
class Comparison:
    name: str
    old_median: float | None
    new_median: float | None
    ratio: float | None  # new / old: > 1 is slower
    p_value: float | None
    verdict: str  # slower, faster, same, failed, added, removed

    @property
    def regression(self) -> bool:
        return self.verdict in ("slower", "failed")


def load(path: str) -> dict[str, dict]:
    """``name -> {"data": [...], "error": str|None}`` from a pytest-benchmark JSON (ours or pytest's)."""
    try:
        with open(path, encoding="utf8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise HarnessError(f"cannot read {path}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc}); expected a file from harness bench --json or pytest --benchmark-json")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise HarnessError(f"{path} is not a pytest-benchmark JSON (no 'benchmarks' list); expected harness bench --json output")
    found = {}
    for i, bench in enumerate(doc["benchmarks"]):
        name = bench.get("name") if isinstance(bench, dict) else None
        data = bench.get("stats", {}).get("data") if isinstance(bench, dict) and isinstance(bench.get("stats"), dict) else None
        if not isinstance(name, str):
            raise HarnessError(f"{path}: benchmarks[{i}] has no name")
        if not isinstance(data, list) or not data or not all(_is_time(x) for x in data):
            raise HarnessError(
                f"{path}: {name} has no raw round times in stats.data; save with --benchmark-json or --benchmark-save-data"
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
    """One :class:`Comparison` per benchmark name in either run."""
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
    return out


def _median(entry: dict | None) -> float | None:
    return statistics.median(entry["data"]) if entry and entry["data"] else None


def compare_one(name: str, old: list[float], new: list[float], alpha: float, threshold: float) -> Comparison:
    old_med, new_med = statistics.median(old), statistics.median(new)
    ratio = new_med / old_med if old_med > 0 else math.inf
    p = float(mannwhitneyu(old, new, alternative="two-sided").pvalue)
    if p < alpha and ratio > 1 + threshold:
        verdict = "slower"
    elif p < alpha and ratio < 1 / (1 + threshold):
        verdict = "faster"
    else:
        verdict = "same"
    return Comparison(name, old_med, new_med, ratio, p, verdict)


def min_p_value(n: int, m: int) -> float:
    """The smallest two-sided p Mann–Whitney U can reach with samples of ``n`` and ``m`` rounds."""
    return 2 / math.comb(n + m, n)


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

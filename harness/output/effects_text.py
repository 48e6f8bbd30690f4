"""The effects section as text (``harness effects``, under ``harness bench``'s table): one line per role
choice, e.g. ``model  gluon instead of scratch  ×0.71 (0.69–0.73)  real``."""
from __future__ import annotations

import math

from tabulate import tabulate

from harness.analysis.effects import Analysis, Effect


def _value(e: Effect, x: float | None) -> str:
    if x is None:
        return ""
    return f"×{x:.3g}" if e.log_scale else f"{x:+.3g}"


def _digits(e: Effect) -> int:
    """Enough significant digits that the estimate and both bounds read apart (3 to 6)."""
    values = [e.scaled(x) for x in (e.low, e.estimate, e.high) if x is not None]
    for d in range(3, 7):
        if len({f"{v:.{d}g}" for v in values}) == len(set(values)):
            return d
    return 6


def _value(e: Effect, x: float | None, digits: int = 3) -> str:
    if x is None:
        return ""
    return f"×{x:.{digits}g}" if e.log_scale else f"{x:+.{digits}g}"


def _interval(e: Effect) -> str:
    if e.estimate is None:
        return e.note
    if e.low is None:
        return f"{_value(e, e.ratio)} ({e.note})" if e.note else _value(e, e.ratio)
    low, high = e.scaled(e.low), e.scaled(e.high)
    if e.log_scale and max(abs(low - 1), abs(high - 1)) < 0.01:  # a sliver: as a percentage, not ×0.999999
        pct = [(x - 1) * 100 for x in (e.ratio, low, high)]
        return f"{pct[0]:+.2g}% ({pct[1]:+.2g}% to {pct[2]:+.2g}%)"
    d = _digits(e)
    bounds = f"{low:.{d}g}–{high:.{d}g}" if e.log_scale else f"{low:+.{d}g} to {high:+.{d}g}"
    return f"{_value(e, e.ratio, d)} ({bounds})"


def _verdict(e: Effect) -> str:
    """``real`` when the interval excludes no effect; ``real, < 1%`` when it also lies within ±1 %."""
    if not e.real:
        return ""
    small = max(abs(e.low), abs(e.high)) < (math.log(1.01) if e.log_scale else 0.01)
    return "real, < 1%" if small else "real"


def _what(e: Effect) -> list[str]:
    if e.kind == "main":
        role, level, ref = e.terms[0]
        return [role, f"{level} instead of {ref}"]
    (r1, l1, _), (r2, l2, _) = e.terms
    return [f"{r1}×{r2}", f"{l1} {r1} with {l2} {r2}"]


def _section(a: Analysis, response: str, title: str) -> list[str]:
    mains, pairs = a.of(response, "main"), a.of(response, "interaction")
    if not mains:
        return []
    rows = [[*_what(e), _interval(e), _verdict(e)] for e in mains]
    if pairs:
        rows.append(["", "", "", ""])
        rows += [[*_what(e), _interval(e), _verdict(e)] for e in pairs]
    lines = [title, tabulate(rows, tablefmt="plain", disable_numparse=True)]
    real = [f"{e.terms[0][0]}×{e.terms[1][0]} ({_interval(e).split(' (')[0]})" for e in pairs if e.real]
    if pairs:
        if real:
            lines.append("real interactions: " + ", ".join(real))
        elif all(e.low is not None for e in pairs):
            lines.append(f"real interactions: none (every interval includes {'×1' if pairs[0].log_scale else '0'})")
    return lines


MAX_LISTED = 8


def render(analyses: list[Analysis]) -> str:
    out = []
    for a in analyses:
        if not a.cells:
            out += [f"Role effects, {a.group}: no combination ran ({len(a.missing)} failed or skipped)", ""]
            continue
        varied = ", ".join(f"{r} ({'/'.join(lv)})" for r, lv in a.factors.items())
        fixed = "; held fixed: " + ", ".join(f"{r} {lv}" for r, lv in a.fixed.items()) if a.fixed else ""
        out.append(f"Role effects, {a.group}: {a.cells} of {a.grid} combinations of {varied}{fixed}")
        out.append(f"{a.confidence:.0%} CIs from the {a.replicates}, Bonferroni-adjusted per family "
                   "(main effects; interactions); docs/statistics.md")
        out += _section(a, "time", "on epoch time (ratio of geometric means; interactions: the pair together "
                                   "against the product of its two effects):")
        if a.quality_metric:
            what = "test accuracy (difference)" if a.quality_metric == "test_acc" else "final loss (ratio)"
            section = _section(a, a.quality_metric, f"on {what}, CI from the fit's residual (no replicates):")
            out += section or [f"on {a.quality_metric}: not available for every combination"]
        for levels, why in a.missing[:MAX_LISTED]:
            out.append(f"missing: {'/'.join(levels.values())} ({why})")
        if len(a.missing) > MAX_LISTED:
            out.append(f"missing: {len(a.missing) - MAX_LISTED} more")
        if a.outside:
            out.append("left out (a level with too few combinations for the factorial): "
                       + ", ".join("/".join(lv.values()) for lv in a.outside))
        out.append("")
    return "\n".join(out).rstrip("\n")


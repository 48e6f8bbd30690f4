"""``harness ab``'s table: one row per pair of sides, slower first (the verdicts are :mod:`harness.analysis.ab`'s)."""
from __future__ import annotations

from harness.analysis import stats
from harness.analysis.ab import Pair
from harness.core.roles import ROLES
from harness.output.render import table


def order(p: Pair) -> tuple:
    rank = {"slower": 0, "failed in B": 0, "faster": 1, "same": 2}.get(p.verdict, 3)
    return rank, p.a.median


COLUMNS = [*ROLES, "ctx", "A (ms)", "A 95% CI", "B (ms)", "B 95% CI", "B/A", "B/A 95% CI", "p", "p (Holm)",
           "processes×rounds", "verdict"]


def display_rows(pairs: list[Pair]) -> list[dict]:
    """One table row per pair, slower first."""
    shown = []
    for p in sorted(pairs, key=order):
        row = {**p.case.columns(), "ctx": p.case.ctx, "verdict": p.verdict}
        if p.change is not None:
            c = p.change
            row.update({
                "A (ms)": c.median_a * 1e3, "A 95% CI": median_ci(c.a),
                "B (ms)": c.median_b * 1e3, "B 95% CI": median_ci(c.b),
                "B/A": f"{c.ratio.estimate:.3f}", "B/A 95% CI": ratio_ci(c.ratio.ci),
                "p": c.p, "p (Holm)": c.p_holm,
                "processes×rounds": f"{stats.format_rounds(p.a.metrics)} vs {stats.format_rounds(p.b.metrics)}",
            })
            if p.unstable:
                row["verdict"] += " (UNSTABLE: " + "; ".join(p.unstable) + ")"
        else:
            errors = [f"{side}: {r.error}" for side, r in (("A", p.a), ("B", p.b)) if r.status != "ok" and r.error]
            if errors:
                row["verdict"] += " — " + "; ".join(errors)
        shown.append(row)
    return shown


def render_table(pairs: list[Pair], tablefmt: str = "simple") -> str:
    return table(display_rows(pairs), COLUMNS, tablefmt=tablefmt, floatfmt=".4g")


def median_ci(sample: list[float]) -> str:
    ci = stats.median_ci(sample)
    return f"{ci.low * 1e3:.4g}–{ci.high * 1e3:.4g}" + ("*" if ci.level < stats.CONFIDENCE - 1e-9 else "")


def ratio_ci(ci: stats.Interval) -> str:
    star = "*" if ci.level < stats.CONFIDENCE - 1e-9 else ""
    return f"{ci.low:.3f}–{ci.high:.3f}{star}"

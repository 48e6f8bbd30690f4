"""The per-phase breakdown's views: its table and its stacked-bar PNG (measured by :mod:`harness.measure.breakdown`)."""
from __future__ import annotations

from harness.core.roles import ROLES
from harness.measure.breakdown import LABELS, NOTE, PHASES  # noqa: F401 (NOTE: shown under the table)
from harness.measure.measuring import Row
from harness.output.render import figure, png_bytes, table


def render_png(rows: list[dict]) -> bytes:
    """Stacked bars of µs per step by phase, one bar per row (``label`` + seconds per phase)."""
    fig = figure(max(6.0, 0.55 * len(rows) + 2), 4.5)
    ax = fig.subplots()
    positions = range(len(rows))
    bottom = [0.0] * len(rows)
    for phase in PHASES:
        values = [r[phase] * 1e6 for r in rows]
        ax.bar(positions, values, bottom=bottom, label=LABELS[phase])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("µs per step (synchronised phases)")
    ax.set_title("Per-role time breakdown")
    ax.legend()
    ax.set_xticks(positions, [r["label"] for r in rows], rotation=45, ha="right")
    return png_bytes(fig)


def breakdown_table(rows: list[Row], tablefmt: str = "simple") -> str:
    """µs per step by phase, their sum, and the unsynchronised step time from the matrix for scale."""
    shown = []
    for r in rows:
        phases = r.metrics["breakdown_s_per_step"]
        total = sum(phases.values())
        shown.append({
            **r.case.columns(),
            **{LABELS[p] + " µs": phases[p] * 1e6 for p in PHASES},
            "sum µs": total * 1e6,
            "unsynced µs/step": r.metrics["us_per_step"],
            "data share": f"{phases['data'] / total:.0%}",
        })
    columns = [*ROLES, *(LABELS[p] + " µs" for p in PHASES), "sum µs", "unsynced µs/step", "data share"]
    return table(shown, columns, tablefmt=tablefmt, floatfmt=".1f")


def breakdown_png(rows: list[Row]) -> bytes:
    return render_png([{"label": r.case.label, **r.metrics["breakdown_s_per_step"]} for r in rows])

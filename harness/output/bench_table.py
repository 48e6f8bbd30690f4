"""The results table: rows fastest first, each row's epoch time as a ratio to the all-scratch combination and
to each reference loop, and the table ``harness bench`` prints (which columns, how each cell is shown).
"""
from __future__ import annotations

from harness.analysis import stats as rowstats
from harness.measure.measuring import Row
from harness.output.render import table
from harness.core.roles import ROLES, Combination


def ratios(rows: list[Row]) -> dict[int, dict[str, float]]:
    """Per ok row (keyed by ``id``): its median epoch over each baseline's — ``scratch``, the all-scratch
    combination on the same context, and each reference that ran on the same workload."""
    ok = [r for r in rows if r.status == "ok"]
    scratch = {(r.case.workload.label, r.case.ctx): r.median for r in ok if r.case.combo == Combination()}
    refs = {(r.case.workload.label, r.case.reference): r.median for r in ok if r.case.reference}
    out = {}
    for r in ok:
        mine = {}
        base = scratch.get((r.case.workload.label, r.case.ctx))
        if base:
            mine["scratch"] = r.median / base
        for (workload_name, name), median in sorted(refs.items()):
            if workload_name == r.case.workload.label:
                mine[name] = r.median / median
        out[id(r)] = mine
    return out


def ratio_columns(rows: list[Row]) -> list[str]:
    names = ["scratch", *sorted({r.case.reference for r in rows if r.status == "ok" and r.case.reference})]
    return [f"vs {n}" for n in names]


def sorted_rows(rows: list[Row]) -> list[Row]:
    """Fastest first; failed then skipped rows last."""
    order = {"ok": 0, "failed": 1, "skipped": 2}
    return sorted(rows, key=lambda r: (order[r.status], r.median))

# --- rendering ------------------------------------------------------------------

COLUMNS = [*ROLES, "ctx", "epoch med (ms)", "95% CI (ms)", "IQR (ms)", "min (ms)", "rounds", "µs/step", "samples/s",
           "to target (s)", "epochs", "final loss", "test acc", "param err", "peak RSS (MiB)", "unstable", "status"]


def display_rows(rows: list[Row]) -> list[dict]:
    by_row = ratios(rows)
    shown = []
    for r in sorted_rows(rows):
        m = r.metrics
        row = {**r.case.columns(), "ctx": r.case.ctx}
        if r.status == "ok":
            row.update({
                "epoch med (ms)": m["epoch_median_s"] * 1e3,
                "95% CI (ms)": rowstats.format_ci(m, scale=1e3),
                "IQR (ms)": m["epoch_iqr_s"] * 1e3,
                "min (ms)": m["epoch_min_s"] * 1e3,
                "rounds": rowstats.format_rounds(m),
                "µs/step": m["us_per_step"],
                "samples/s": m["samples_per_s"],
                **{f"vs {name}": f"{x:.3g}×" for name, x in by_row[id(r)].items()},
                "to target (s)": m["time_to_target_s"] if m["time_to_target_s"] is not None else "never",
                "epochs": m["epochs_to_target"] or "",
                "final loss": m["final_loss"],
                "test acc": m.get("test_acc") if m.get("test_acc") is not None else "",
                "param err": m["param_error"] if m.get("param_error") is not None else "",
                "peak RSS (MiB)": m["peak_rss_mib"],
                "status": "reference" if r.case.reference else "ok",
                "unstable": rowstats.format_unstable(m),
            })
        else:
            row["status"] = f"{r.status.upper()}: {r.error}"
        shown.append(row)
    return shown


def table_columns(rows: list[Row]) -> list[str]:
    at = COLUMNS.index("samples/s") + 1
    columns = COLUMNS[:at] + ratio_columns(rows) + COLUMNS[at:]
    for name, key in (("test acc", "test_acc"), ("param err", "param_error")):  # only where some row has it
        if not any(r.metrics.get(key) is not None for r in rows):
            columns.remove(name)
    return columns


def render_table(rows: list[Row], tablefmt: str = "simple") -> str:
    return table(display_rows(rows), table_columns(rows), tablefmt=tablefmt, floatfmt=".4g")

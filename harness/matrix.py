"""The benchmark matrix: workloads, one measured case per combination × context,
the metrics of a result row, and the pytest-benchmark-compatible JSON.

``harness bench`` and ``benchmarks/`` both build :class:`Case` objects here
and turn a timed :class:`harness.timing.EpochRunner` into metrics with
:func:`metrics`, so the two report the same numbers.
"""
from __future__ import annotations

import csv
import io
import math
import resource
import traceback
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

import pytest_benchmark
from pytest_benchmark.stats import Stats

from . import __version__, breakdown, context, environment, reference, stats as rowstats
from .errors import Diverged, HarnessError
from .registry import Registry
from .report import role_columns, table, to_json
from .roles import ROLES, Combination
from .task import Target, Task
from .timing import EpochRunner, Interrupt, measure
from .train import Session, Settings

from .workloads import (OVERRIDES, TASK_WORKLOADS, WORKLOADS, Workload, add_workload_options, workload,  # noqa: F401
                        workload_from, workloads_for)
from .cases import REFERENCES, Case, cases, left_out, parse_ctxs, reference_cases, select  # noqa: F401
from .memory import peak_rss_mib, reset_peak_rss  # noqa: F401
from .measure import Row, failed_row, finished_row, metrics, run_case, run_interleaved, run_matrix, stats_of  # noqa: F401


def run_breakdown(registry: Registry, rows: list[Row], rounds: int = 3) -> list[Row]:
    """Time each phase of a step for every measured combination (not references), fastest first.

    The medians per phase, in seconds per step, go into ``row.metrics["breakdown_s_per_step"]``.
    """
    measured = [r for r in sorted_rows(rows) if r.status == "ok" and not r.case.reference]
    for r in measured:
        load = r.case.workload
        session = r.case.session(registry)
        r.metrics["breakdown_s_per_step"] = breakdown.breakdown(session, rounds=min(rounds, load.rounds), warmup=load.warmup)
    return measured


def breakdown_table(rows: list[Row], tablefmt: str = "simple") -> str:
    """µs per step by phase, their sum, and the unsynchronised step time from the matrix for scale."""
    shown = []
    for r in rows:
        phases = r.metrics["breakdown_s_per_step"]
        total = sum(phases.values())
        shown.append({
            **r.case.columns(),
            **{breakdown.LABELS[p] + " µs": phases[p] * 1e6 for p in breakdown.PHASES},
            "sum µs": total * 1e6,
            "unsynced µs/step": r.metrics["us_per_step"],
            "data share": f"{phases['data'] / total:.0%}",
        })
    columns = [*ROLES, *(breakdown.LABELS[p] + " µs" for p in breakdown.PHASES), "sum µs", "unsynced µs/step", "data share"]
    return table(shown, columns, tablefmt=tablefmt, floatfmt=".1f")


def breakdown_png(rows: list[Row]) -> bytes:
    return breakdown.render_png([{"label": r.case.label, **r.metrics["breakdown_s_per_step"]} for r in rows])


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


def to_csv(rows: list[Row], machine: dict | None = None, commit: dict | None = None) -> str:
    """One line per case (failed and skipped included) with every scalar metric and the environment."""
    machine, commit = machine or environment.machine_info(), commit or environment.commit_info()
    env = machine["harness"]
    context_columns = {
        "mxnet": env["mxnet"]["version"],
        "omp_num_threads": env["env"].get("OMP_NUM_THREADS") or "",
        "mxnet_engine_type": env["env"].get("MXNET_ENGINE_TYPE") or "",
        "cpu_model": env["cpu_model"],
        "cpu_count": env["cpu_count"]["usable"],
        "python": env["python"],
        "commit": commit.get("id"),
        "dirty": commit.get("dirty"),
    }
    ratio_fields = [c.replace("vs ", "ratio_to_") for c in ratio_columns(rows)]
    fields = ["workload", *ROLES, "reference", "ctx", "status", "error", "epoch_median_s", "epoch_iqr_s", "epoch_min_s",
              "rounds", "warmup", "steps_per_epoch", "us_per_step", "samples_per_s", *ratio_fields, "target_loss",
              "time_to_target_s", "epochs_to_target", "final_loss", "train_acc", "test_acc", "param_error", "peak_rss_mib",
              "task", *context_columns]
    by_row = ratios(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in sorted_rows(rows):
        writer.writerow({
            **r.metrics,
            "workload": r.case.workload.name,
            "task": r.case.workload.task,
            **(role_columns(r.case.combo) if r.case.combo else {}),
            "reference": r.case.reference or "",
            "ctx": r.case.ctx,
            "status": r.status,
            "error": r.error,
            **{f"ratio_to_{name}": x for name, x in by_row.get(id(r), {}).items()},
            **context_columns,
        })
    return out.getvalue()


def extra_info(case: Case, metrics: dict) -> dict:
    """What a pytest-benchmark entry carries besides its stats, from ``harness bench`` and ``benchmarks/`` alike."""
    return {**metrics, "combination": case.combination(), "ctx": case.ctx, "workload": case.workload.as_dict()}


def benchmark_entry(row: Row) -> dict:
    """A pytest-benchmark ``benchmarks[]`` element: what ``benchmarks/`` would write for the same case."""
    case = row.case
    stats = row.stats.as_dict()
    stats["data"] = list(row.stats.data)
    stats["iterations"] = 1
    return {
        "group": f"{case.workload.label}-{case.ctx}",
        "name": case.name,
        "fullname": f"benchmarks/test_matrix.py::{case.name}",
        "params": {"case": case.id},
        "param": case.id,
        "extra_info": extra_info(case, row.metrics),
        "options": {"disable_gc": False, "timer": "harness.timing.synced_clock", "min_rounds": case.workload.rounds,
                    "max_time": None, "min_time": None, "warmup": case.workload.warmup},
        "stats": stats,
    }


def to_document(rows: list[Row], interrupted: bool = False, machine: dict | None = None, commit: dict | None = None) -> dict:
    """The JSON ``pytest-benchmark compare`` reads; failed and skipped cases under ``harness`` (its loader
    requires stats on every benchmark)."""
    return {
        "machine_info": machine or environment.machine_info(),
        "commit_info": commit or environment.commit_info(),
        "benchmarks": [benchmark_entry(r) for r in sorted_rows(rows) if r.status == "ok"],
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": pytest_benchmark.__version__,
        "harness": {
            "version": __version__,
            "interrupted": interrupted,
            "not_run": [
                {"name": r.case.name, "status": r.status, "error": r.error, "combination": r.case.combination(),
                 "ctx": r.case.ctx, "workload": r.case.workload.name, "extra_info": r.metrics}
                for r in rows if r.status != "ok"
            ],
        },
    }


def to_json_text(rows: list[Row], interrupted: bool = False, machine: dict | None = None, commit: dict | None = None) -> str:
    return to_json(to_document(rows, interrupted, machine, commit))


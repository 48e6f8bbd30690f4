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
from .bench_table import (COLUMNS, display_rows, ratio_columns, ratios, render_table, sorted_rows,  # noqa: F401
                          table_columns)
from .breakdown import breakdown_png, breakdown_table, run_breakdown  # noqa: F401
from .bench_csv import to_csv  # noqa: F401


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


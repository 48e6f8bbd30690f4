"""The JSON of a benchmark (``--json``, ``--save``) in pytest-benchmark's format: one ``benchmarks[]`` entry
per measured case as ``pytest benchmarks/`` would write it (raw rounds in ``stats.data``, our metrics in
``extra_info``), the environment in ``machine_info``, and failed and skipped cases under ``harness.not_run``,
so ``pytest-benchmark compare`` and ``harness compare``/``history`` read the same files.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest_benchmark

from harness import __version__
from harness.measure import environment
from harness.output.bench_table import sorted_rows
from harness.measure.measuring import Row
from harness.measure.planning import Case
from harness.output.render import to_json


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
        "options": {"disable_gc": False, "timer": "harness.core.timing.synced_clock", "min_rounds": case.workload.rounds,
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


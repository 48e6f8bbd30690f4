"""The JSON of a benchmark (``--json``, ``--save``) in pytest-benchmark's format: one ``benchmarks[]`` entry
per measured case as ``pytest benchmarks/`` would write it (raw rounds in ``stats.data``, our metrics in
``extra_info``), the environment in ``machine_info``, and failed and skipped cases under ``harness.not_run``,
so ``pytest-benchmark compare`` and ``harness compare``/``history`` read the same files.  A view of
:class:`harness.output.model.Results`.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest_benchmark

from harness import __version__
from harness.core.files import to_json
from harness.measure.planning import Case
from harness.output.model import CaseResult, Results


def extra_info(case: Case, metrics: dict) -> dict:
    """What a pytest-benchmark entry carries besides its stats, from ``harness bench`` and ``benchmarks/`` alike."""
    return {**metrics, "combination": case.combination(), "ctx": case.ctx, "workload": case.workload.as_dict()}


def entry(c: CaseResult) -> dict:
    """A pytest-benchmark ``benchmarks[]`` element: what ``benchmarks/`` would write for the same case."""
    w = c.workload_info
    options = c.options or {"disable_gc": False, "timer": "harness.core.timing.synced_clock",
                            "min_rounds": w.get("rounds"), "max_time": None, "min_time": None,
                            "warmup": w.get("warmup")}
    return {
        "group": c.group,
        "name": c.name,
        "fullname": f"benchmarks/test_matrix.py::{c.name}",
        "params": {"case": c.case_id},
        "param": c.case_id,
        "extra_info": {**c.metrics, "combination": c.combination, "ctx": c.ctx, "workload": w},
        "options": options,
        "stats": c.stats,
    }


def document(results: Results) -> dict:
    """The JSON ``pytest-benchmark compare`` reads; failed and skipped cases under ``harness`` (its loader
    requires stats on every benchmark), in the order they ran."""
    return {
        "machine_info": results.machine_info,
        "commit_info": results.commit_info,
        "benchmarks": [entry(c) for c in results.sorted() if c.ok],
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": pytest_benchmark.__version__,
        "harness": {
            "version": __version__,
            "interrupted": results.interrupted,
            "not_run": [
                {"name": c.name, "status": c.status, "error": c.error, "combination": c.combination,
                 "ctx": c.ctx, "workload": c.workload, "extra_info": c.metrics}
                for c in sorted(results.cases, key=lambda c: c.order) if not c.ok
            ],
        },
    }


def to_document(rows, interrupted: bool = False, machine: dict | None = None, commit: dict | None = None) -> dict:
    """:func:`document` of measured rows (:class:`harness.measure.measuring.Row`)."""
    return document(Results.from_rows(rows, machine, commit, interrupted))


def to_json_text(rows, interrupted: bool = False, machine: dict | None = None, commit: dict | None = None) -> str:
    return to_json(to_document(rows, interrupted, machine, commit))


def write(results: Results) -> str:
    """The ``--json`` file's text."""
    return to_json(document(results)) + "\n"

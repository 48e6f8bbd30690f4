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
from .planning import REFERENCES, Case, cases, left_out, parse_ctxs, reference_cases, select  # noqa: F401
from .memory import peak_rss_mib, reset_peak_rss  # noqa: F401
from .measuring import Row, failed_row, finished_row, metrics, run_case, run_interleaved, run_matrix, stats_of  # noqa: F401
from .bench_table import (COLUMNS, display_rows, ratio_columns, ratios, render_table, sorted_rows,  # noqa: F401
                          table_columns)
from .breakdown import breakdown_png, breakdown_table, run_breakdown  # noqa: F401
from .bench_csv import to_csv  # noqa: F401
from .bench_json import benchmark_entry, extra_info, to_document, to_json_text  # noqa: F401

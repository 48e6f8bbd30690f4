"""The CSV of a benchmark (``--csv``): one line per case, failed and skipped included, with every scalar
metric, the ratios to the baselines and the environment the numbers depend on.
"""
from __future__ import annotations

import csv
import io

from harness.measure import environment
from harness.output.bench_table import ratio_columns, ratios, sorted_rows
from harness.measure.measuring import Row
from harness.output.render import role_columns
from harness.core.roles import ROLES


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

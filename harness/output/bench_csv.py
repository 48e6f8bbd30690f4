"""The CSV of a benchmark (``--csv``): one line per case, failed and skipped included, with every scalar
metric, the ratios to the baselines and the environment the numbers depend on.  A view of
:class:`harness.output.model.Results`.
"""
from __future__ import annotations

import csv
import io

from harness.core.roles import ROLES
from harness.output.model import Results

FIELDS = ["workload", *ROLES, "reference", "ctx", "status", "error", "epoch_median_s", "epoch_iqr_s", "epoch_min_s",
          "rounds", "warmup", "steps_per_epoch", "us_per_step", "samples_per_s", "*ratios", "target_loss",
          "time_to_target_s", "epochs_to_target", "final_loss", "train_acc", "test_acc", "param_error", "peak_rss_mib",
          "task", "*environment"]


def write(results: Results) -> str:
    """One line per case (failed and skipped included) with every scalar metric and the environment."""
    env = results.environment()
    ratio_fields = [f"ratio_to_{n}" for n in results.ratio_names]
    fields = []
    for f in FIELDS:
        fields += ratio_fields if f == "*ratios" else list(env) if f == "*environment" else [f]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for c in results.sorted():
        writer.writerow({
            **c.metrics,
            "workload": c.workload,
            "task": c.task,
            **(c.roles if not c.reference else {}),
            "reference": c.reference,
            "ctx": c.ctx,
            "status": c.status,
            "error": c.error,
            **{f"ratio_to_{name}": x for name, x in c.ratios.items()},
            **env,
        })
    return out.getvalue()


def to_csv(rows, machine: dict | None = None, commit: dict | None = None) -> str:
    """:func:`write` of measured rows (:class:`harness.measure.measuring.Row`)."""
    return write(Results.from_rows(rows, machine, commit))

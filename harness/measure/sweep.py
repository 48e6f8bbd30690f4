"""Scaling sweeps: how epoch and step time grow with N, D and the batch size."""
from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass

import numpy as np

from harness.core.errors import HarnessError
from harness.core.roles import Combination
from harness.core.timing import measure
from harness.core.train import Session, Settings
from harness.tasks import DEFAULT_TASK

#: Per-sample cost "stops falling" once a larger batch buys less than this.
KNEE_GAIN = 0.10


@dataclass(frozen=True)
class Point:
    combo: Combination
    num_examples: int | None
    num_inputs: int | None
    batch_size: int


def points(combos, ns, ds, bs) -> list[Point]:
    """Every grid point; batch sizes larger than N are left out."""
    grid = [Point(c, n, d, b) for c, n, d, b in itertools.product(combos, ns, ds, bs) if n is None or b <= n]
    if not grid:
        raise HarnessError("no valid sweep point: every --batch-size exceeds every --num-examples")
    return grid


def measure_point(registry, point: Point, ctx, rounds: int, warmup: int, lr: float | None, seed: int,
                  task_name: str = DEFAULT_TASK, **task_options) -> dict:
    """Median epoch seconds, µs per step and per sample at one grid point (a failure becomes ``error``)."""
    row = {"combo": point.combo, "N": point.num_examples, "D": point.num_inputs, "B": point.batch_size}
    try:
        task = registry.make_task(task_name, num_examples=point.num_examples, num_inputs=point.num_inputs, seed=seed,
                                  **task_options)
        row["N"], row["D"] = task.num_examples, getattr(task, "num_inputs", point.num_inputs)
        settings = Settings.for_task(task, epochs=rounds + warmup, batch_size=point.batch_size, lr=lr)
        runner = measure(Session(registry, point.combo, task, settings, ctx), rounds, warmup)
    except HarnessError:
        raise
    except Exception as exc:  # one failing point must not end the sweep
        return {**row, "error": f"{type(exc).__name__}: {exc}"}
    epoch = statistics.median(runner.seconds[warmup:])
    steps = math.ceil(row["N"] / point.batch_size)
    return {**row, "epoch_s": epoch, "step_us": epoch / steps * 1e6, "sample_us": epoch / row["N"] * 1e6, "error": ""}


def fit_loglog(xs, ys) -> tuple[float, float]:
    """Slope and R² of ``log y = a + slope·log x``; NaN with fewer than two distinct x."""
    x, y = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    if len(set(xs)) < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else 1.0
    return float(slope), float(r2)


def knee(batch_sizes, per_sample) -> int | None:
    """The smallest batch size after which a larger batch cuts the per-sample cost by less than ``KNEE_GAIN``."""
    pairs = sorted(zip(batch_sizes, per_sample))
    for (b, cost), (_, next_cost) in zip(pairs, pairs[1:]):
        if next_cost > cost * (1 - KNEE_GAIN):
            return b
    return None  # still falling at the largest batch size swept


def summarize(rows: list[dict]) -> list[dict]:
    """Per combination, D and B: slope and R² of epoch time against N; per combination, N and D: the knee batch size."""
    ok = [r for r in rows if not r["error"]]
    out = []
    by_series = lambda r: (r["combo"], r["D"], r["B"])  # noqa: E731
    for (combo, d, b), group in itertools.groupby(sorted(ok, key=by_series), key=by_series):
        group = list(group)
        slope, r2 = fit_loglog([r["N"] for r in group], [r["epoch_s"] for r in group])
        out.append({"combo": combo, "D": d, "B": b, "fit": "epoch time vs N", "slope": slope, "r2": r2,
                    "knee_B": None, "N": None})
    by_n = lambda r: (r["combo"], r["N"], r["D"])  # noqa: E731
    for (combo, n, d), group in itertools.groupby(sorted(ok, key=by_n), key=by_n):
        group = list(group)
        if len(group) > 1:
            bs = [r["B"] for r in group]
            k = knee(bs, [r["sample_us"] for r in group])
            k = k if k is not None else f"> {max(bs)}"
            out.append({"combo": combo, "D": d, "B": None, "fit": "per-sample cost vs B", "slope": None, "r2": None,
                        "knee_B": k, "N": n})
    return out

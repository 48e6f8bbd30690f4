"""Proof that every combination computes the same mathematics: train each one
without shuffling from identical parameters and compare with the all-scratch
reference."""
from __future__ import annotations

import math
from dataclasses import replace

import mxnet as mx
import numpy as np

from .errors import Diverged
from .plugins import Registry
from .roles import Combination
from .task import Task
from .train import Session, Settings, train

TOLERANCE = 1e-5


def _max_diff(result, reference) -> float:
    ours = [e["loss"] for e in result.epochs] + result.params["w"] + [result.params["b"]]
    ref = [e["loss"] for e in reference.epochs] + reference.params["w"] + [reference.params["b"]]
    return float(np.max(np.abs(np.array(ours) - np.array(ref))))


def verify(registry: Registry, task: Task, settings: Settings, ctx: mx.Context, combos: list[Combination] | None = None):
    """Rows ``{combination, final_loss, max_abs_diff, ok, error}`` and whether all agree within ``TOLERANCE``.

    The reference is the all-scratch combination when it is registered, else the first one.
    """
    settings = replace(settings, shuffle=False)
    combos = combos or registry.combinations()
    reference_combo = Combination() if Combination() in combos else combos[0]
    ordered = [reference_combo] + [c for c in combos if c != reference_combo]
    reference = None
    rows = []
    for combo in ordered:
        row = {"combination": combo, "final_loss": math.nan, "max_abs_diff": math.nan, "ok": False, "error": ""}
        try:
            result = train(Session(registry, combo, task, settings, ctx))
        except Diverged as exc:
            row["error"] = str(exc)
        except Exception as exc:  # one broken combination must not hide the others
            row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            row["final_loss"] = result.final_loss
            if reference is None:
                reference = result
            row["max_abs_diff"] = _max_diff(result, reference)
            row["ok"] = row["max_abs_diff"] <= TOLERANCE
        rows.append(row)
    return rows, reference_combo, all(r["ok"] for r in rows)

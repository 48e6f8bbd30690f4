"""Proof that combinations compute the same mathematics: train each one without
shuffling from identical parameters and compare with the all-scratch reference.

By default only the built-in plugins' implementations take part: they are the
seed's maths by design.  A third-party component may be different maths on
purpose (momentum is not SGD), so it is verified only when named; then the
check is that it computes the same numbers with every partner."""
from __future__ import annotations

import math
from dataclasses import replace

import mxnet as mx
import numpy as np

from harness.core.errors import Diverged
from harness.core.registry import Registry
from harness.core.roles import ROLES, Combination
from harness.core.task import Task
from harness.core.train import Session, Settings, train
from harness.tasks import DEFAULT_TASK

#: The seed's tolerance; each task states its own (``Task.tolerance``).
TOLERANCE = 1e-5


def max_abs_diff(result, reference, compare: str = "absolute") -> float:
    """The largest difference between two runs' epoch losses, final parameters (in the task's layout) and final
    state (batch norm's moving statistics, when the task has any); with ``compare="loss"``, the largest
    relative difference between their epoch losses."""
    def losses(run):
        # the whole training split after each epoch: what every run has, fused steps (which return no loss,
        # so no running average) included
        return [e.get("eval_loss", e["loss"]) for e in run.epochs]

    if compare == "loss":
        ours, theirs = (np.array(losses(run)) for run in (result, reference))
        return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))

    def flat(run):
        state = run.state or []
        return np.concatenate([losses(run), *(np.ravel(a) for a in [*run.arrays, *state])])

    mine, theirs = flat(result), flat(reference)
    if mine.shape != theirs.shape:  # one model keeps state (moving statistics) the other lacks
        return math.inf
    return float(np.max(np.abs(mine - theirs)))


def default_combinations(registry: Registry, task: str = DEFAULT_TASK, every: bool = False,
                         algorithms: list[str] | None = None, **named: list[str] | None) -> list[Combination]:
    """Combinations to verify on ``task``: ``named[role]`` where given, else the built-in
    implementations of that role that support the task (every installed one with
    ``every=True``), each optimizer once per algorithm of ``algorithms`` it implements (default:
    SGD, or its own), then the fused variant of each that has a fused step."""
    return registry.choose(task, named, scope="all" if every else "builtin", fused=True, algorithms=algorithms)


def twin(registry: Registry, combo: Combination, task: str = DEFAULT_TASK) -> Combination:
    """``combo`` with every built-in component replaced by the reference one (scratch, or the
    first built-in when scratch is blocked), unfused: what a third-party component or a
    fused step is compared with when it is not meant to be the seed's maths."""
    seed = Combination()

    def reference_name(role: str, name: str) -> str:
        builtins = registry.builtin_names(role, task)
        if name not in builtins:
            return name
        return getattr(seed, role) if getattr(seed, role) in builtins else builtins[0]

    return Combination(**{role: reference_name(role, getattr(combo, role)) for role in ROLES},
                       algorithm=combo.algorithm)


def tolerance(registry: Registry, task: Task, combo: Combination) -> float:
    """The largest difference accepted for ``combo``: the task's, or its algorithm's when larger
    (:attr:`harness.core.algorithm.Algorithm.tolerance`, e.g. Adam's ε placement)."""
    return max(task.tolerance, registry.algorithm(registry.effective_algorithm(combo, task.name)).tolerance)


def verify(
    registry: Registry,
    task: Task,
    settings: Settings,
    ctx: mx.Context,
    combos: list[Combination] | None = None,
    by_component: bool = False,
):
    """Rows ``{combination, reference, final_loss, max_abs_diff, ok, error}`` and whether all
    agree within the task's tolerance.

    ``combos`` defaults to :func:`default_combinations`.  The reference is the
    all-scratch combination (trained as an extra row when it is not among
    ``combos``), or the first combination when scratch is not loaded; with
    ``by_component`` each combination is compared with its :func:`twin` instead
    (trained as an extra reference when it is not among ``combos``).  A combination running
    another algorithm than SGD is compared with the all-scratch run of that algorithm, within
    :func:`tolerance`.
    Returns ``(rows, reference, ok)`` where ``reference`` is the first reference.
    """
    settings = replace(settings, shuffle=False)
    combos = combos or default_combinations(registry, task.name)
    seed = Combination()
    single = seed if all(getattr(seed, r) in registry.names(r, task.name) for r in ROLES) else combos[0]

    def against(combo):
        if by_component:
            return twin(registry, combo, task.name)
        same = replace(single, algorithm=combo.algorithm, fused=False)
        implements = registry.components["optimizer"][same.optimizer].implements(combo.algorithm, task.name)
        return same if implements else single

    reference_of = {c: against(c) for c in combos}
    references = list(dict.fromkeys(reference_of.values()))
    ordered = references + [c for c in combos if c not in references]
    results, rows = {}, []
    for combo in ordered:
        ref = reference_of.get(combo, combo)
        row = {"combination": combo, "reference": ref, "final_loss": math.nan, "max_abs_diff": math.nan, "ok": False,
               "error": "", "tolerance": math.nan}
        try:
            result = train(Session(registry, combo, task, settings, ctx))
        except Diverged as exc:
            row["error"] = str(exc)
        except Exception as exc:  # one broken combination must not hide the others
            row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            results[combo] = result
            row["final_loss"] = result.final_loss
            if ref in results:
                algorithm = registry.algorithm(registry.effective_algorithm(combo, task.name))
                row["max_abs_diff"] = max_abs_diff(result, results[ref], algorithm.compare)
                row["tolerance"] = tolerance(registry, task, combo)
                row["ok"] = row["max_abs_diff"] <= row["tolerance"]
            else:
                row["error"] = f"reference {ref.label} failed"
        rows.append(row)
    return rows, references[0], all(r["ok"] for r in rows)

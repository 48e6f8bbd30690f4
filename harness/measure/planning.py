"""Planning a benchmark: a :class:`Case` is one cell of the matrix (a combination or a reference loop on a
context and workload), and the functions here choose the combinations, pair them with contexts and the
task's reference loops, and say which cases are skipped and why.  ``harness bench``, ``harness ab`` and
``pytest benchmarks/`` plan with the same functions, so their case ids line up.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.core import context
from harness.core.errors import HarnessError
from harness.core.registry import Registry
from harness.core.roles import ROLES, Combination, role_columns
from harness.core.task import Task
from harness.core.train import Session
from harness.measure.workloads import Workload
from harness.tasks import DEFAULT_TASK, reference


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: a combination, or (``reference`` set) a non-mixable reference loop."""

    combo: Combination | None
    ctx: str
    workload: Workload
    reference: str | None = None

    @property
    def id(self) -> str:
        """The pytest parameter id, shared by ``benchmarks/`` and ``harness bench`` so their JSON lines up."""
        if self.reference:
            parts = ["ref", self.reference]
        else:
            parts = [getattr(self.combo, r) for r in ROLES] + (["fused"] if self.combo.fused else [])
            if self.combo.algorithm != "sgd":  # the seed's ids stay what they always were
                parts.append(self.combo.algorithm)
        return "-".join([self.workload.label, self.ctx, *parts])

    @property
    def name(self) -> str:
        return f"test_epoch[{self.id}]"

    @property
    def label(self) -> str:
        return f"{self.reference} (reference)" if self.reference else self.combo.label

    def columns(self) -> dict:
        """The role columns of a table row; a reference fills the first with its name."""
        if self.reference:
            return {role: (self.label if role == ROLES[0] else "") for role in ROLES}
        columns = role_columns(self.combo)
        if self.combo.fused:  # marked where its label marks it: "…/fast+fused"
            columns[ROLES[-1]] += "+fused"
        return columns

    def combination(self) -> dict:
        return {"reference": self.reference} if self.reference else self.combo.as_dict()

    def session(self, registry: Registry):
        w = self.workload
        task = w.build_task(registry)
        if self.reference:
            return reference.FACTORIES[self.reference](task, w.settings(task))
        return Session(registry, self.combo, task, w.settings(task), context.resolve(self.ctx))


def reference_cases(ctxs: list[str], load: Workload, task: Task | None = None) -> list[tuple[Case, str | None]]:
    """The reference loops (CPU only), each with why it is skipped here, if it is (``task``, the workload's
    built task, may declare no loop for one); asked when planning, not at import, since finding out whether
    torch works imports it (~0.7 s)."""
    if "cpu" not in ctxs:
        return []
    return [(Case(None, "cpu", load, info.name), info.skip_reason) for info in reference.references(task)]


def select(registry: Registry, fixed: dict, everything: bool, fused: bool = False,
           task: str = DEFAULT_TASK, algorithms=None) -> list[Combination]:
    """``harness bench``'s combinations: :meth:`harness.core.registry.Registry.choose` with the seed plugins
    by default, every registered implementation (and every fused variant) with ``everything``; each
    optimizer once per algorithm of ``algorithms`` it implements (default: SGD, or its own)."""
    return registry.choose(task, fixed, scope="all" if everything else "seed", fused=fused or everything,
                           algorithms=algorithms)


def left_out(registry: Registry, combos: list[Combination], task: str = DEFAULT_TASK) -> list[str]:
    """Registered ``role:name`` pairs for ``task`` that appear in no combination of ``combos``."""
    used = {(role, getattr(c, role)) for c in combos for role in ROLES}
    return [f"{role}:{name}" for role in ROLES for name in registry.names(role, task) if (role, name) not in used]


def cases(combos: list[Combination], ctxs: list[str], load: Workload) -> list[tuple[Case, str | None]]:
    """Every case with the reason it is skipped (``None`` when it runs)."""
    return [(Case(combo, spec, load), reason) for spec, reason in context.plan(ctxs) for combo in combos]


def parse_ctxs(text: str) -> list[str]:
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise HarnessError(f"--ctx needs at least one context; valid: {context.VALID}")
    for spec in specs:
        context.parse(spec)
    return list(dict.fromkeys(specs))

"""The results model: one :class:`CaseResult` per case, built once from a benchmark's rows (or from a saved
pytest-benchmark document), and :class:`Results` holding them with the environment they ran in.

Every view renders from it: the terminal table (:mod:`bench_table`), the CSV (:mod:`bench_csv`), the
pytest-benchmark JSON (:mod:`bench_json`), the figures (:mod:`figures`), ``to_frame()`` and the HTML report.
Numbers stay numbers here (CI bounds, ratios, rounds); formatting belongs to the views.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.core.roles import ROLES

CONFIDENCE = 0.95
STATUS_ORDER = {"ok": 0, "failed": 1, "skipped": 2}


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


@dataclass
class CaseResult:
    """One case of a benchmark: its names, status, statistics (seconds), ratios and curves.

    ``metrics`` is the row's raw metric dict (pytest-benchmark's ``extra_info`` minus the names), ``stats``
    pytest-benchmark's statistics with the raw rounds in ``data`` (``None`` when the case did not run)."""

    case_id: str
    name: str
    roles: dict  # role -> plugin name; empty strings for a reference
    fused: bool
    reference: str  # "" for a combination, else the reference's name (numpy, torch)
    ctx: str
    task: str
    workload: str  # the workload's name (seed, large, digits, ...)
    workload_label: str  # the name prefixed by the task unless linreg: what ratios and groups pair on
    status: str  # ok, failed, skipped
    error: str = ""
    order: int = 0  # position in the run, which the JSON's not_run list keeps
    metrics: dict = field(default_factory=dict)
    stats: dict | None = None
    workload_info: dict = field(default_factory=dict)
    combination: dict = field(default_factory=dict)
    ratios: dict = field(default_factory=dict)  # baseline name (scratch, numpy, torch) -> median / baseline's
    options: dict | None = None  # pytest-benchmark's options of a case read from a document

    # --- names -----------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """``scratch/gluon/scratch/gluon`` (``+fused``), or ``numpy (reference)``."""
        if self.reference:
            return f"{self.reference} (reference)"
        return "/".join(self.roles[r] for r in ROLES) + ("+fused" if self.fused else "")

    @property
    def group(self) -> str:
        return f"{self.workload_label}-{self.ctx}"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    # --- statistics (seconds) ----------------------------------------------------------------
    def _stat(self, key: str) -> float | None:
        return _num((self.stats or {}).get(key))

    @property
    def median_s(self) -> float | None:
        return self._stat("median")

    @property
    def sort_key(self) -> tuple:
        median = self.median_s
        return (STATUS_ORDER.get(self.status, 3), math.inf if median is None else median)

    @property
    def ci_s(self) -> tuple[float, float] | None:
        ci = self.metrics.get("epoch_median_ci_s")
        return (float(ci[0]), float(ci[1])) if ci else None

    @property
    def ci_level(self) -> float | None:
        return _num(self.metrics.get("median_ci_level")) if self.ci_s else None

    @property
    def ci_short(self) -> bool:
        """The median's CI cannot reach 95 % with these rounds."""
        return self.ci_level is not None and self.ci_level < CONFIDENCE - 1e-9

    @property
    def times(self) -> list[float]:
        """The timed rounds (seconds), warm-up excluded."""
        return [float(x) for x in (self.stats or {}).get("data") or []]

    @property
    def process_times(self) -> list[list[float]] | None:
        per = self.metrics.get("process_seconds")
        return [list(p) for p in per] if per else None

    @property
    def unstable(self) -> list[str]:
        return list(self.metrics.get("unstable") or [])

    def metric(self, key: str) -> float | None:
        return _num(self.metrics.get(key))

    @property
    def quality(self) -> tuple[str, float | None]:
        """The final quality metric: test accuracy where the task measures it, else the final training loss."""
        if self.metrics.get("test_acc") is not None:
            return "test_acc", self.metric("test_acc")
        return "final_loss", self.metric("final_loss")

    @property
    def rounds_label(self) -> str | int:
        """``rounds``, or ``processes×rounds`` when the rounds came from several worker processes."""
        per = self.metrics.get("process_seconds")
        if not per:
            return self.metrics.get("rounds", len(self.times))
        sizes = sorted({len(p) for p in per})
        return f"{len(per)}×{sizes[0]}" if len(sizes) == 1 else f"{len(per)}×{sizes[0]}-{sizes[-1]}"

    # --- the tidy record ---------------------------------------------------------------------
    def record(self, ratio_names: list[str] = ()) -> dict:
        """One flat row: strings only for names; numbers (or ``None``) for everything measured."""
        m, ci = self.metrics, self.ci_s
        process = self.process_times
        rec = {
            "case": self.case_id, "combination": self.label, **{r: self.roles.get(r, "") for r in ROLES},
            "fused": self.fused, "reference": self.reference, "ctx": self.ctx, "task": self.task,
            "workload": self.workload, "status": self.status, "error": self.error,
            "median_s": self.median_s, "ci_low_s": ci[0] if ci else None, "ci_high_s": ci[1] if ci else None,
            "ci_level": self.ci_level, "iqr_s": self._stat("iqr"), "min_s": self._stat("min"),
            "max_s": self._stat("max"), "mean_s": self._stat("mean"), "stddev_s": self._stat("stddev"),
            "rounds": int(m["rounds"]) if m.get("rounds") is not None else (len(self.times) or None),
            "processes": len(process) if process else None, "warmup": m.get("warmup"),
            "steps_per_epoch": m.get("steps_per_epoch"), "us_per_step": self.metric("us_per_step"),
            "samples_per_s": self.metric("samples_per_s"),
            **{f"ratio_to_{n}": self.ratios.get(n) for n in ratio_names},
            "time_to_target_s": self.metric("time_to_target_s"), "epochs_to_target": m.get("epochs_to_target"),
            "final_loss": self.metric("final_loss"), "train_acc": self.metric("train_acc"),
            "test_acc": self.metric("test_acc"), "param_error": self.metric("param_error"),
            "peak_rss_mib": self.metric("peak_rss_mib"), "unstable": bool(self.unstable),
            "unstable_why": "; ".join(self.unstable),
        }
        return rec


@dataclass
class Results:
    """A benchmark's cases (in the order they ran) and the environment of the run."""

    cases: list[CaseResult]
    machine: dict | None = None
    commit: dict | None = None
    interrupted: bool = False
    breakdown: list = field(default_factory=list)  # per-phase rows of --breakdown (harness.measure.breakdown)

    # --- building ---------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows, machine: dict | None = None, commit: dict | None = None,
                  interrupted: bool = False) -> Results:
        """From :class:`harness.measure.measuring.Row` objects (failed and skipped included)."""
        return cls([_from_row(i, r) for i, r in enumerate(rows)], machine, commit, interrupted).with_ratios()

    @classmethod
    def from_document(cls, doc: dict) -> Results:
        """From a ``--json`` / saved-run document (pytest-benchmark's format)."""
        harness = doc.get("harness") or {}
        cases = [_from_entry(i, b) for i, b in enumerate(doc.get("benchmarks") or []) if isinstance(b, dict)]
        cases += [_from_not_run(len(cases) + i, e) for i, e in enumerate(harness.get("not_run") or [])]
        return cls(cases, doc.get("machine_info"), doc.get("commit_info"),
                   bool(harness.get("interrupted"))).with_ratios()

    def with_ratios(self) -> Results:
        """Each ok case's median over the all-scratch combination's on the same workload and context, and over
        each reference's on the same workload."""
        ok = [c for c in self.cases if c.ok and c.median_s]
        scratch = {(c.workload_label, c.ctx): c.median_s for c in ok
                   if not c.reference and not c.fused and all(c.roles.get(r) == "scratch" for r in ROLES)}
        refs = {(c.workload_label, c.reference): c.median_s for c in ok if c.reference}
        for c in ok:
            c.ratios = {}
            base = scratch.get((c.workload_label, c.ctx))
            if base:
                c.ratios["scratch"] = c.median_s / base
            for (label, name), median in sorted(refs.items()):
                if label == c.workload_label:
                    c.ratios[name] = c.median_s / median
        return self

    # --- reading ----------------------------------------------------------------------------
    @property
    def ratio_names(self) -> list[str]:
        """``scratch`` and every reference that ran: the ratio columns, in order."""
        return ["scratch", *sorted({c.reference for c in self.cases if c.ok and c.reference})]

    def sorted(self) -> list[CaseResult]:
        """Fastest first; failed then skipped cases last (a stable sort: ties keep the run's order)."""
        return sorted(self.cases, key=lambda c: c.sort_key)

    def ok(self) -> list[CaseResult]:
        return [c for c in self.sorted() if c.ok]

    @property
    def machine_info(self) -> dict:
        if self.machine is None:
            from harness.measure import environment

            self.machine = environment.machine_info()
        return self.machine

    @property
    def commit_info(self) -> dict:
        if self.commit is None:
            from harness.measure import environment

            self.commit = environment.commit_info()
        return self.commit

    def environment(self) -> dict:
        """What the numbers depend on besides the code, as flat columns (the CSV's last ones)."""
        env, commit = self.machine_info["harness"], self.commit_info
        return {
            "mxnet": env["mxnet"]["version"],
            "omp_num_threads": env["env"].get("OMP_NUM_THREADS") or "",
            "mxnet_engine_type": env["env"].get("MXNET_ENGINE_TYPE") or "",
            "cpu_model": env["cpu_model"],
            "cpu_count": env["cpu_count"]["usable"],
            "python": env["python"],
            "commit": commit.get("id"),
            "dirty": commit.get("dirty"),
        }

    def records(self, environment: bool = False) -> list[dict]:
        """The tidy table: one flat dict per case, fastest first; numbers as numbers, strings only for names."""
        env = self.environment() if environment else {}
        return [{**c.record(self.ratio_names), **env} for c in self.sorted()]

    def effect_cells(self) -> dict[str, tuple[list, str | None, str]]:
        """The combinations (references and fused variants left out) as effect cells, per workload and context:
        ``group -> (cells, quality metric, replicate unit)``."""
        from harness.analysis.effects import Cell

        groups: dict[str, list[CaseResult]] = {}
        for c in self.cases:
            if not c.reference and not c.fused:
                groups.setdefault(c.group, []).append(c)
        out = {}
        for group, cases in groups.items():
            metric = "test_acc" if any(c.metrics.get("test_acc") is not None for c in cases) else "final_loss"
            ran = [c for c in cases if c.ok]
            by_process = bool(ran) and all(c.process_times and len(c.process_times) >= 2 for c in ran)
            cells = []
            for c in cases:
                times = ([float(sorted(p)[len(p) // 2]) for p in c.process_times] if by_process and c.ok
                         else c.times)
                cells.append(Cell(dict(c.roles), times, c.metric(metric), c.status, c.error))
            out[group] = (cells, metric, "processes (their median rounds)" if by_process else "rounds")
        return out

    def effects(self, confidence: float = CONFIDENCE, only_factorial: bool = False) -> list:
        """:func:`harness.analysis.effects.analyse` per workload and context (``only_factorial``: the groups
        whose matrix is factorial enough)."""
        from harness.analysis import effects

        out = []
        for group, (cells, metric, unit) in self.effect_cells().items():
            if only_factorial and not effects.factorial(cells):
                continue
            out.append(effects.analyse(cells, group, confidence, quality_metric=metric, replicates=unit))
        return out

    def to_frame(self, environment: bool = False):
        """:meth:`records` as a pandas DataFrame (numeric columns as float/int dtypes)."""
        try:
            import pandas as pd
        except ImportError:
            from harness.core.errors import HarnessError

            raise HarnessError("to_frame() needs pandas: pip install 'pandas<2.1' 'numpy<1.24' (MXNet 1.9.1 "
                               "needs numpy<1.24)") from None
        records = self.records(environment)
        frame = pd.DataFrame.from_records(records, columns=list(records[0]) if records else None)
        for column in frame.columns:
            kind = dtype(column)
            if kind:
                frame[column] = frame[column].astype(kind)
        return frame


INT_FIELDS = {"rounds", "processes", "warmup", "steps_per_epoch", "epochs_to_target", "cpu_count"}
BOOL_FIELDS = {"fused", "unstable"}
STR_FIELDS = {"case", "combination", *ROLES, "reference", "ctx", "task", "workload", "status", "error",
              "unstable_why", "mxnet", "omp_num_threads", "mxnet_engine_type", "cpu_model", "python", "commit"}


def dtype(column: str) -> str | None:
    """The pandas dtype of a record field: float64 for measurements (NaN where absent), nullable Int64 and
    boolean for counts and flags, ``None`` (object) for names."""
    if column in INT_FIELDS:
        return "Int64"
    if column in BOOL_FIELDS:
        return "boolean"
    if column in STR_FIELDS or column == "dirty":
        return None
    return "float64"


# --- builders ------------------------------------------------------------------------------

def _from_row(order: int, row) -> CaseResult:
    case = row.case
    stats = None
    if row.stats is not None:
        stats = row.stats.as_dict()
        stats["data"] = list(row.stats.data)
        stats["iterations"] = 1
    combo = case.combo
    return CaseResult(
        case_id=case.id, name=case.name,
        roles=_roles(combo.as_dict()) if combo else {r: "" for r in ROLES},
        fused=bool(combo and combo.fused), reference=case.reference or "", ctx=case.ctx,
        task=case.workload.task, workload=case.workload.name, workload_label=case.workload.label,
        status=row.status, error=row.error, order=order, metrics=dict(row.metrics), stats=stats,
        workload_info=case.workload.as_dict(), combination=case.combination(),
    )


def _roles(combo: dict) -> dict:
    """Role -> implementation name; the optimizer's as ``name:algorithm`` when it runs another algorithm than SGD."""
    roles = {r: str(combo.get(r, "")) for r in ROLES}
    if combo.get("algorithm") not in (None, "sgd"):
        roles[ROLES[-1]] += f":{combo['algorithm']}"
    return roles


def _entry_names(entry: dict, info: dict) -> dict:
    combo = info.get("combination") or entry.get("combination") or {}
    reference = combo.get("reference") or ""
    workload = info.get("workload") if isinstance(info.get("workload"), dict) else {}
    name = str(entry.get("name") or "")
    case_id = str(entry.get("param") or (name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else name))
    ctx = str(info.get("ctx") or entry.get("ctx") or "")
    group = str(entry.get("group") or "")
    wname = workload.get("name") or (entry.get("workload") if isinstance(entry.get("workload"), str) else "") or ""
    task = workload.get("task") or ""
    if group and ctx and group.endswith(f"-{ctx}"):
        label = group[: -len(ctx) - 1]
    else:  # a not-run entry has no group; its id starts with the label and the context
        label = case_id.split(f"-{ctx}-")[0] if ctx and f"-{ctx}-" in case_id else wname
    return dict(case_id=case_id, name=name, roles={r: "" for r in ROLES} if reference else _roles(combo),
                fused=bool(combo.get("fused")), reference=reference, ctx=ctx, task=task, workload=wname,
                workload_label=label, workload_info=workload, combination=combo)


_NAME_KEYS = ("combination", "ctx", "workload")


def _from_entry(order: int, entry: dict) -> CaseResult:
    info = entry.get("extra_info") or {}
    metrics = {k: v for k, v in info.items() if k not in _NAME_KEYS}
    return CaseResult(**_entry_names(entry, info), status="ok", order=order, metrics=metrics,
                      stats=dict(entry.get("stats") or {}), options=entry.get("options"))


def _from_not_run(order: int, entry: dict) -> CaseResult:
    info = entry.get("extra_info") or {}
    return CaseResult(**_entry_names(entry, {}), status=str(entry.get("status") or "failed"),
                      error=str(entry.get("error") or ""), order=order, metrics={**info})

"""The Python API: what the ``harness`` command does, as functions returning result objects.

The CLI is a thin layer over these (llm's ``cli.py`` over ``llm/__init__.py``): the same
keyword options, the same validation (a :class:`harness.errors.HarnessError` with the
CLI's one-line message), the same numbers.  In a notebook::

    import harness
    r = harness.run(task="mlp", model="gluon", epochs=2)
    r                      # the per-epoch table (_repr_html_)
    b = harness.bench(task="softmax", rounds=3, plugins=[my_plugin_module])
    b.table("github"); b.to_frame(); b.plot(); b.to_json()

``plugins=`` takes modules or objects with hook implementations (loaded without
installing them), ``-p`` style module names or ``.py`` paths, and ``"no:NAME"``
to block one.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from harness.core.errors import Diverged, HarnessError
from harness.tasks import DEFAULT_TASK
from harness.output.render import table, to_json, write_atomic
from harness.core.roles import ROLES, Combination, role_columns

__all__ = ["load_plugins", "plugins", "algorithms", "tasks", "run", "verify", "bench", "effects", "Result", "Training",
           "Verification", "Benchmark", "Effects", "PluginList"]


def load_plugins(plugins: Iterable = (), strict: bool | None = None, autoload: bool | None = None):
    """The registry, as ``-p`` and ``--strict-plugins`` would build it: the one way every entry point loads plugins.

    ``plugins``: modules or objects with hook implementations, module names / ``.py`` paths, or ``"no:NAME"``."""
    from harness.core.loader import load, parse_specs

    specs = [p for p in plugins if isinstance(p, str)]
    objects = [p for p in plugins if not isinstance(p, str)]
    extra, blocked = parse_specs(specs)
    return load(extra=[*extra, *objects], blocked=blocked, strict=strict or None, autoload=autoload)


class Result:
    """What every result offers: ``rows()`` as dicts, a tabulate ``table``, ``to_frame``, ``to_json``, ``plot``."""

    columns: list[str] = []
    floatfmt = ".4g"

    def rows(self) -> list[dict]:
        raise NotImplementedError

    def table(self, tablefmt: str = "simple") -> str:
        """The rows as a table in any tabulate format (``"github"``, ``"html"``, ...)."""
        self._check_format(tablefmt)
        return table(self.rows(), self.columns, tablefmt=tablefmt, floatfmt=self.floatfmt)

    @staticmethod
    def _check_format(tablefmt: str) -> None:
        from tabulate import tabulate_formats

        if tablefmt not in tabulate_formats:
            raise HarnessError(f"unknown table format {tablefmt!r}; valid: {', '.join(sorted(tabulate_formats))}")

    def to_frame(self):
        """The rows as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise HarnessError("to_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.rows(), columns=self.columns)

    def to_dict(self) -> dict:
        return {"rows": self.rows()}

    def to_json(self) -> str:
        return to_json(self.to_dict())

    def plot(self):
        """A matplotlib Figure."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.table("html")

    def __str__(self) -> str:
        return self.table()


# --- plugins and tasks --------------------------------------------------------------

FUSED_COLUMN = "fused (model/loss/optimizer)"

@dataclass
class PluginList(Result):
    registry: object
    columns: list = field(default_factory=lambda: ["plugin", "distribution", "version", "source", "hooks", *ROLES,
                                                   FUSED_COLUMN, "tasks"])

    @staticmethod
    def row(info) -> dict:
        """One plugin's table row: where it came from and what it provides."""
        return {"plugin": info.name, "distribution": info.distribution or "", "version": info.version or "",
                "source": info.source, "hooks": ", ".join(h.removeprefix("register_") for h in info.hooks),
                **{r: ", ".join(info.provides.get(r, [])) for r in ROLES},
                FUSED_COLUMN: ", ".join(info.provides.get("fused", [])), "tasks": ", ".join(info.provides.get("task", []))}

    def rows(self) -> list[dict]:
        return [self.row(info) for info in self.registry.plugins.values()]

    def to_dict(self) -> dict:
        reg = self.registry
        return {
            "plugins": [i.as_dict() for i in reg.plugins.values()],
            "skipped": [s.as_dict() for s in reg.skipped],
            "roles": {r: {n: c.plugin for n, c in sorted(reg.components[r].items())} for r in ROLES},
            "fused": {step.label: step.plugin for step in reg.fused_steps()},
            "tasks": {t.name: t.plugin for t in reg.tasks.values()},
            "supports": {r: {n: c.tasks for n, c in sorted(reg.components[r].items())} for r in ROLES},
        }


def plugins(plugins: Iterable = (), strict: bool | None = None) -> PluginList:
    """Every loaded plugin and what it provides (``harness plugins``)."""
    return PluginList(load_plugins(plugins, strict))


def algorithms(plugins: Iterable = (), strict: bool | None = None) -> list[dict]:
    """Every registered optimization algorithm (``harness algorithms``): its book section, defaults, the
    optimizers implementing it and the tolerance ``harness verify`` allows between them."""
    registry = load_plugins(plugins, strict)
    rows = []
    for name in registry.algorithm_names():
        entry, algorithm = registry.algorithms[name], registry.algorithm(name)
        rows.append({"algorithm": name, "section": algorithm.section, "title": algorithm.title,
                     "defaults": algorithm.describe(), "hyperparams": dict(algorithm.hyperparams), "lr": algorithm.lr,
                     "implementations": registry.implementations(name), "plugin": entry.plugin,
                     "tolerance": algorithm.tolerance, "why": algorithm.why})
    return rows


def tasks(plugins: Iterable = (), strict: bool | None = None) -> list[str]:
    """The names of every registered task."""
    return load_plugins(plugins, strict).task_names()


# --- run ------------------------------------------------------------------------------

@dataclass
class Training(Result):
    """One combination trained: ``result`` is :class:`harness.core.train.RunResult`; ``diverged`` when the loss stopped being finite."""

    result: object
    diverged: bool = False
    floatfmt = ".4g"  # significant digits: the seed's loss goes 0.04 -> 1.5e-4 -> 5e-5

    @property
    def columns(self) -> list[str]:
        return list(self.result.epochs[0]) if self.result.epochs else ["epoch"]

    def rows(self) -> list[dict]:
        return list(self.result.epochs)

    @property
    def metrics(self) -> dict:
        """The last epoch's metrics."""
        return self.result.epochs[-1] if self.result.epochs else {}

    @property
    def params(self) -> dict | None:
        return self.result.params

    def to_dict(self) -> dict:
        return self.result.as_dict()

    def plot(self):
        """Loss by epoch (integer ticks), accuracy by epoch where measured, loss against wall-clock time."""
        from harness.output.figures import training_figure

        return training_figure(self.result)


def run(data: str | None = None, model: str | None = None, loss: str | None = None, optimizer: str | None = None, *,
        algorithm: str | None = None, divisor: str | None = None,
        fused: bool = False, task: str = DEFAULT_TASK, ctx: str = "cpu", epochs: int | None = None,
        batch_size: int | None = None, lr: float | None = None, num_examples: int | None = None,
        num_inputs: int | None = None, seed: int = 0, dataset: str | None = None, data_dir: str | None = None,
        plugins: Iterable = (), strict: bool | None = None, on_epoch: Callable[[dict], None] | None = None,
        echo: bool = False) -> Training:
    """Train one combination (``harness run``): a role not named takes the task's default component
    (``Task.components``), else scratch; ``on_epoch(record)`` after each epoch; ``echo`` prints
    the task's epoch line (the book's ``epoch 1, loss ..., train acc ..., test acc ...``) as it goes.
    ``algorithm``: the optimization algorithm ``optimizer`` runs (``"adam"``: scratch or Gluon Adam;
    default SGD, or the optimizer's own when it implements one other only); ``divisor``: ``"book"``
    (default) or ``"exact"``, see :data:`harness.core.train.DIVISORS`.

    A diverging run is returned with ``diverged=True`` and the epochs so far."""
    from harness.core import context
    from harness.core.train import Session, Settings, train

    registry = load_plugins(plugins, strict)
    the_task = registry.make_task(task, num_examples=num_examples, num_inputs=num_inputs, dataset=dataset,
                                  data_dir=data_dir, seed=seed)
    settings = Settings.for_task(the_task, epochs=epochs, batch_size=batch_size, lr=lr, divisor=divisor)
    combo = Combination.for_task(the_task, fused, data=data, model=model, loss=loss, optimizer=optimizer)
    combo = replace(combo, algorithm=algorithm or registry.default_algorithm(combo.optimizer, the_task.name))
    registry.resolve(combo, the_task.name)  # unknown names, unsupported task, no fused step: before any work
    session = Session(registry, combo, the_task, settings, context.resolve(ctx))

    def each(record):
        if echo:
            print(the_task.epoch_line(record["epoch"], record, record["seconds"]), flush=True)
        if on_epoch is not None:
            on_epoch(record)

    try:
        return Training(train(session, on_epoch=each))
    except Diverged as exc:
        return Training(exc.result, diverged=True)


# --- verify ---------------------------------------------------------------------------

def _names(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


@dataclass
class Verification(Result):
    """Every combination against its reference: ``ok`` when all agree within ``tolerance``."""

    rows_: list
    reference: Combination
    ok: bool
    task: object
    settings: object
    ctx: object
    floatfmt = ".3g"

    @property
    def tolerance(self) -> float:
        return self.task.tolerance

    @property
    def references(self) -> list[Combination]:
        return list(dict.fromkeys(r["reference"] for r in self.rows_))

    @property
    def columns(self) -> list[str]:
        step = ["step"] if any(r["combination"].fused for r in self.rows_) else []
        algorithm = ["algorithm"] if any(r["combination"].algorithm != "sgd" for r in self.rows_) else []
        tolerances = {r.get("tolerance") for r in self.rows_ if r.get("tolerance") == r.get("tolerance")}
        tolerance = ["tolerance"] if tolerances - {self.task.tolerance} else []
        return [*ROLES, *algorithm, *step, *(["reference"] if len(self.references) > 1 else []), "final loss",
                "max |Δ| vs ref", *tolerance, "status"]

    def rows(self) -> list[dict]:
        return [
            {
                **role_columns(r["combination"]),
                "step": "fused" if r["combination"].fused else "",
                "algorithm": r["combination"].algorithm,
                "tolerance": r.get("tolerance"),
                "reference": r["reference"].label,
                "final loss": r["final_loss"],
                "max |Δ| vs ref": r["max_abs_diff"],
                "status": ("ok" if r["ok"] else "DIFFERS") if not r["error"] else f"FAILED: {r['error']}",
            }
            for r in self.rows_
        ]

    def to_dict(self) -> dict:
        return {"reference": self.reference.as_dict(), "task": self.task.name, "tolerance": self.tolerance,
                "ok": self.ok,
                "rows": [{**r, "combination": r["combination"].as_dict(), "reference": r["reference"].as_dict()}
                         for r in self.rows_]}

    def describe(self) -> str:
        dataset = getattr(self.task, "dataset", None)
        where = "" if self.task.name == DEFAULT_TASK else f", task {self.task.name}" + (f" ({dataset})" if dataset else "")
        refs = self.references
        scale = state = ""
        if self.task.verify_num_examples is not None or self.task.verify_lr is not None:
            scale = f", {self.task.num_examples} examples, batch {self.settings.batch_size}, lr {self.settings.lr:g}"
        if getattr(self.task, "state_names", None):
            state = " or moving statistic"
        return (f"reference{'s' if len(refs) > 1 else ''}: {', '.join(c.label for c in refs)}; shuffling off, "
                f"same initial parameters, {self.settings.epochs} epochs on {self.ctx}{where}{scale}; tolerance "
                f"{self.tolerance:g} (largest difference in any epoch's loss or final parameter{state}"
                + ("; an algorithm's own where larger, and Adam's on the losses' relative difference: "
                   "harness algorithms" if "tolerance" in self.columns else "")
                + ")\n"
                + ("all combinations agree" if self.ok else "some combinations DIFFER from the reference"))

    def plot(self):
        from harness.output.render import figure

        fig = figure(8, max(3.0, 0.25 * len(self.rows_) + 1))
        ax = fig.subplots()
        labels = [r["combination"].label for r in self.rows_]
        ax.barh(labels[::-1], [max(r["max_abs_diff"], 1e-12) if r["max_abs_diff"] == r["max_abs_diff"] else 0
                               for r in self.rows_][::-1])
        ax.axvline(self.tolerance, color="red", linestyle="--", label=f"tolerance {self.tolerance:g}")
        ax.set_xscale("log")
        ax.set(xlabel="max |Δ| vs reference", title=f"verify {self.task.name}")
        ax.legend()
        return fig


def verify(task: str = DEFAULT_TASK, *, data=None, model=None, loss=None, optimizer=None, algorithm=None,
           divisor: str | None = None, all: bool = False,
           against_seed: bool = False, ctx: str = "cpu", epochs: int | None = None, batch_size: int | None = None,
           lr: float | None = None, num_examples: int | None = None, num_inputs: int | None = None, seed: int = 0,
           dataset: str | None = None, data_dir: str | None = None, plugins: Iterable = (),
           strict: bool | None = None) -> Verification:
    """Check that combinations compute the same numbers (``harness verify``); each role takes a name or a list,
    and so does ``algorithm`` (each chosen optimizer runs each named algorithm it implements)."""
    from harness.core import context
    from harness.core.train import Settings
    from harness.check.verify import default_combinations, verify as run_verify

    registry = load_plugins(plugins, strict)
    the_task = registry.make_task(task, num_examples=num_examples, num_inputs=num_inputs, dataset=dataset,
                                  data_dir=data_dir, seed=seed)
    if num_examples is None and the_task.verify_num_examples is not None:
        the_task = registry.make_task(task, num_examples=the_task.verify_num_examples, num_inputs=num_inputs,
                                      dataset=dataset, data_dir=data_dir, seed=seed)
    epochs = epochs if epochs is not None else the_task.verify_epochs
    lr = lr if lr is not None else the_task.verify_lr
    settings = Settings.for_task(the_task, epochs=epochs, batch_size=batch_size, lr=lr, divisor=divisor)
    device = context.resolve(ctx)
    named = {"data": _names(data), "model": _names(model), "loss": _names(loss), "optimizer": _names(optimizer)}
    combos = default_combinations(registry, the_task.name, every=all, algorithms=_names(algorithm), **named)
    rows, reference, ok = run_verify(registry, the_task, settings, device, combos, by_component=not against_seed)
    return Verification(rows, reference, ok, the_task, settings, device)


# --- bench ----------------------------------------------------------------------------

@dataclass
class Benchmark(Result):
    """A benchmark matrix's rows (:class:`harness.measure.measuring.Row`, failed and skipped included) and how it ran."""

    rows_: list
    planned: list
    combos: list
    workload: object
    task: object
    registry: object
    interrupted: bool = False
    wall_s: float = 0.0
    broken_down: list = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    commit: dict = field(default_factory=dict)
    processes: int = 0

    @property
    def results(self):
        """The results model (:class:`harness.output.model.Results`) every view renders from, built once."""
        from harness.output.model import Results

        if getattr(self, "_results", None) is None or self._results_of != len(self.rows_):
            self._results = Results.from_rows(self.rows_, self.machine or None, self.commit or None,
                                              self.interrupted)
            self._results.breakdown = self.broken_down
            self._results_of = len(self.rows_)
        return self._results

    @property
    def columns(self) -> list[str]:
        return list(self.records()[0]) if self.rows_ else []

    def rows(self) -> list[dict]:
        """The tidy records: one flat dict per case, numbers as numbers (:meth:`Results.records`)."""
        return self.records()

    def records(self, environment: bool = False) -> list[dict]:
        return self.results.records(environment)

    def to_frame(self, environment: bool = False):
        """One row per case, numeric columns as numbers (needs pandas; see the README for a pin that keeps
        MXNet working)."""
        return self.results.to_frame(environment)

    def table(self, tablefmt: str = "simple", columns: list[str] | str | None = None, wide: bool = False) -> str:
        """The terminal table: by default the columns that fit 120 characters; ``columns`` picks (a list or
        ``"a,b,c"``), ``wide`` shows all; the marks are explained under it."""
        from harness.output import bench_table

        self._check_format(tablefmt)
        return bench_table.render(self.results, tablefmt, columns, wide)

    def _repr_html_(self) -> str:
        import html

        from harness.output import bench_table

        text, notes = bench_table.parts(self.results, "html")
        return (f"<p><b>{html.escape(self._caption())}</b></p>" + text
                + "".join(f"<br><small>{html.escape(n)}</small>" for n in notes))

    def _caption(self) -> str:
        load, env = self.workload, (self.machine or {}).get("harness") or {}
        where = f"; {env.get('cpu_model')}, MXNet {(env.get('mxnet') or {}).get('version')}" if env else ""
        return (f"task {self.task.name}, workload {load.name}, {load.rounds} rounds after {load.warmup} warm-up; "
                f"{len(self.rows_)} cases{where}")

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.rows_)

    @property
    def skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.rows_)

    def to_document(self) -> dict:
        """The pytest-benchmark-compatible document ``--json`` writes."""
        from harness.output import bench_json

        return bench_json.document(self.results)

    def to_dict(self) -> dict:
        return self.to_document()

    def to_json(self) -> str:
        from harness.output.render import to_json

        return to_json(self.to_document())

    def to_csv(self) -> str:
        from harness.output import bench_csv

        return bench_csv.write(self.results)

    def plot(self):
        """Epoch time per case (linear from zero, CI whiskers, which plugin gave each role) and loss against
        wall-clock time, as a matplotlib Figure."""
        from harness.output.figures import render_figure

        return render_figure(self.results)

    def effects(self, confidence: float = 0.95, only_factorial: bool = False) -> "Effects":
        """What each role choice costs: main effects and two-way interactions on log epoch time and on the final
        quality metric (:mod:`harness.analysis.effects`), per workload and context (``only_factorial``: only
        where two roles vary over at least four combinations that ran)."""
        return Effects(self.results.effects(_confidence(confidence), only_factorial), self)

    def write(self, **paths: str | None) -> None:
        """Write the outputs asked for (``json=``, ``csv=``, ``plot=``, ``breakdown_png=``: any name in
        :data:`harness.output.writers.WRITERS`), each atomically; an unwritable path is a one-line error."""
        from harness.output import writers

        for name in paths:
            if name not in writers.WRITERS:
                raise HarnessError(f"unknown output {name!r}; valid: {', '.join(writers.WRITERS)}")
        for name, path in paths.items():
            if not path or (name == "breakdown_png" and not self.broken_down):
                continue
            try:
                write_atomic(path, writers.render(name, self.results))
            except OSError as exc:
                raise HarnessError(f"cannot write {path}: {exc.strerror or exc}")

    def save(self, storage: str = ".benchmarks", name: str | None = None):
        """Store the run in pytest-benchmark's layout (``harness history`` reads it); returns the file."""
        from harness.analysis import history

        return history.save(self.to_document(), storage, name)

    def summary(self) -> str:
        """The line under the table: what ran, on what, how long."""
        refs = sum(bool(case.reference) for case, _ in self.planned)
        counted = f"{len(self.rows_)} of {len(self.planned)} rows ({len(self.planned) - refs} combinations"
        counted += f" + {refs} references)" if refs else ")"
        load, task = self.workload, self.task
        settings = load.settings(task)
        if load.task == DEFAULT_TASK:
            what = f"workload {load.name} (N={task.num_examples}, D={task.num_inputs}, batch {settings.batch_size})"
        else:
            data = f"{task.dataset}: " if getattr(task, "dataset", None) else ""
            what = (f"task {task.name}, workload {load.name} ({data}{task.num_examples} training examples, "
                    f"batch {settings.batch_size}, lr {settings.lr:g}; target {load.target(task).describe()})")
        if settings.lr_default and any(c.algorithm != "sgd" for c in self.combos):
            what += "; algorithms other than SGD at their book lr (harness algorithms)"
        where = (" in this process" if not self.processes else
                 f" per row, spread over {self.processes} fresh processes (each with its own warm-up)")
        return (f"{counted}; {self.failed} failed, {self.skipped} skipped; {what}, {load.rounds} rounds after "
                f"{load.warmup} warm-up{where}; {self.baseline_note()}; {self.wall_s:.1f} s")

    def baseline_note(self) -> str:
        """What 'vs scratch' means, or why it is blank: no all-scratch row ran (with the reason)."""
        seed, task = Combination(), self.workload.task
        if any(r.status == "ok" and r.case.combo == seed for r in self.rows_):
            return "'vs scratch' = epoch time / all-scratch's"
        lacking = [role for role in ROLES if getattr(seed, role) not in self.registry.names(role, task)]
        if lacking:
            why = f"{seed.data} provides no {', '.join(lacking)} for task {task}"
        elif seed not in self.combos:
            why = "the all-scratch combination is not in this matrix"
        else:
            why = "the all-scratch row did not finish"
        return f"'vs scratch' is blank: {why}"

    def left_out(self) -> list[str]:
        from harness.measure import planning

        return planning.left_out(self.registry, self.combos, self.workload.task)


# --- effects ----------------------------------------------------------------------------

def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise HarnessError(f"--confidence must be between 0 and 1 (e.g. 0.95), got {confidence:g}")
    return confidence


@dataclass
class Effects(Result):
    """Role effects (:class:`harness.analysis.effects.Analysis`, one per workload and context) with the
    benchmark or saved run they came from (``source``)."""

    analyses: list
    source: object = None
    floatfmt = ".4g"
    columns: list = field(default_factory=lambda: ["group", "response", "kind", "role", "level", "reference",
                                                   "estimate", "low", "high", "scale", "p", "real", "note"])

    def rows(self) -> list[dict]:
        """One flat row per effect (an interaction's roles and levels joined by ``×``); ``estimate``/``low``/``high``
        are ratios (times, losses) or differences (accuracy)."""
        out = []
        for a in self.analyses:
            for e in a.effects:
                d = e.as_dict()
                out.append({"group": a.group, "response": e.response, "kind": e.kind,
                            **{k: "×".join(t[k] for t in d["terms"]) for k in ("role", "level", "reference")},
                            **{k: d[k] for k in ("estimate", "low", "high", "scale", "p", "real", "note")}})
        return out

    def text(self) -> str:
        """The section ``harness effects`` prints: one line per role choice, which interactions are real,
        missing cells."""
        from harness.output import effects_text

        return effects_text.render(self.analyses)

    def to_dict(self) -> dict:
        return {"analyses": [a.as_dict() for a in self.analyses]}

    def plot(self):
        """Each effect on epoch time with its interval, per workload and context."""
        from harness.output.figures import effects_figure

        return effects_figure(self.analyses)

    def __str__(self) -> str:
        return self.text()


def effects(run=None, *, confidence: float = 0.95, storage: str = ".benchmarks", **bench_options) -> Effects:
    """What each role choice costs (``harness effects``).  ``run``: a :class:`Benchmark`, a ``--json`` file or a
    saved-run selector (``0003``) in ``storage``; ``None`` measures the matrix with :func:`bench`'s options."""
    from harness.output.model import Results

    _confidence(confidence)
    if run is None:
        return bench(**bench_options).effects(confidence)
    if isinstance(run, Benchmark):
        return run.effects(confidence)
    if bench_options:
        raise HarnessError(f"{', '.join(bench_options)}: options of a new measurement, but a saved run was given")
    from pathlib import Path

    from harness.analysis import history

    if Path(str(run)).suffix == ".json" and not Path(str(run)).is_file():
        raise HarnessError(f"cannot read {run}: no such file (a harness bench --json file or a saved run's number)")
    document = history.load_runs(storage, [str(run)])[-1].document
    return Effects(Results.from_document(document).effects(confidence), document)


def _drain() -> None:
    """Let the engine finish what an interrupted case queued, so the process exits cleanly."""
    import mxnet as mx

    try:
        mx.nd.waitall()
    except KeyboardInterrupt:
        pass


def plan_bench(registry, workload, *, ctx: str = "cpu", data=None, model=None, loss=None, optimizer=None,
               all: bool = False, fused: bool = False, references: bool = True, algorithm=None):
    """``(task, combos, planned)`` for a benchmark: every input checked before any work."""
    from harness.measure import planning

    ctxs = planning.parse_ctxs(ctx)
    task = workload.build_task(registry)  # bad task options and missing data fail before any work
    workload.settings(task)
    fixed = {"data": _names(data), "model": _names(model), "loss": _names(loss), "optimizer": _names(optimizer)}
    combos = planning.select(registry, fixed, all, fused, workload.task, algorithms=_names(algorithm))
    planned = planning.cases(combos, ctxs, workload)
    if references:
        planned += planning.reference_cases(ctxs, workload, task)
    return task, combos, planned


def bench(task: str | None = None, workload: str | None = None, *, data=None, model=None, loss=None, optimizer=None,
          algorithm=None, divisor: str | None = None, all: bool = False, fused: bool = False, ctx: str = "cpu", rounds: int | None = None,
          warmup: int | None = None, num_examples: int | None = None, num_inputs: int | None = None,
          batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
          target_loss: float | None = None, target_acc: float | None = None, dataset: str | None = None,
          data_dir: str | None = None, references: bool = True, interleave: bool = False, breakdown: bool = False,
          processes: int = 0, worker_timeout: float = 600.0, plugins: Iterable = (), strict: bool | None = None,
          progress: bool = False, on_row: Callable | None = None, registry=None, threads=None) -> Benchmark:
    """Time a matrix of combinations (``harness bench``).  Ctrl-C keeps the finished rows: the result says
    ``interrupted``.  ``progress`` shows a tqdm bar on stderr; ``on_row(row)`` is called as each row finishes.
    ``processes=K`` spreads each row's rounds over K fresh worker processes (``plugins`` then must be
    module names or paths the workers can import).  ``threads`` (N, ``"auto"``, ``"mxnet"``) is MXNet's
    OpenMP threads: workers start with it; this process's MXNet must already run with it (it reads
    ``OMP_NUM_THREADS`` on import; the CLI sets it first), else a :class:`HarnessError`."""
    from harness.measure import environment
    from harness.measure import measuring
    from harness.measure import workloads
    from harness.measure.breakdown import run_breakdown

    registry = registry or load_plugins(plugins, strict)
    load = workloads.workload(workload, task, registry, num_examples=num_examples, num_inputs=num_inputs, batch_size=batch_size,
                              lr=lr, seed=seed, target_loss=target_loss, target_acc=target_acc, dataset=dataset,
                              data_dir=data_dir, rounds=rounds, warmup=warmup, divisor=divisor)
    the_task, combos, planned = plan_bench(registry, load, ctx=ctx, data=data, model=model, loss=loss,
                                           optimizer=optimizer, all=all, fused=fused, references=references,
                                           algorithm=algorithm)
    workers_env, thread_info = _threads(threads, processes)
    from tqdm import tqdm

    bar = tqdm(total=len(planned), file=sys.stderr, unit="combo", leave=False,
               disable=not progress or not sys.stderr.isatty())
    done: list = []

    def finished(row):
        done.append(row)
        bar.set_postfix_str(f"done {row.case.label}", refresh=False)
        bar.update()
        if on_row is not None:
            on_row(row)

    from harness.core.timing import Interrupt

    start = time.perf_counter()
    interrupted, broken_down, wall = False, [], None
    restore = Interrupt.install()
    try:
        if processes:
            _run_processes(planned, processes, plugins, strict, interleave, worker_timeout, finished, workers_env)
        else:
            (measuring.run_interleaved if interleave else measuring.run_matrix)(registry, planned, on_row=finished)
        wall = time.perf_counter() - start  # the matrix only, not the breakdown
        if breakdown:
            broken_down = run_breakdown(registry, done)
    except KeyboardInterrupt:
        interrupted, broken_down = True, []  # a breakdown cut short is not reported
        _drain()
    finally:
        restore()
        bar.close()
    if wall is None:
        wall = time.perf_counter() - start
    return Benchmark(done, planned, combos, load, the_task, registry, interrupted, wall, broken_down,
                     environment.machine_info(thread_info), environment.commit_info(), processes)


def _threads(setting, processes: int) -> tuple[dict, dict]:
    """The variables worker processes start with, and the threads record, for a ``threads=`` setting."""
    from harness.measure import environment
    from harness.measure import threads as omp

    setting = omp.parse(setting)
    if setting is None:
        return {}, environment.threads_info()
    value = omp.target(setting)
    if processes:
        return {omp.VAR: value}, environment.threads_info(setting, workers={omp.VAR: value})
    have, want = omp.measure(), omp.expected(value)
    if have is not None and have != want:
        raise HarnessError(f"threads={setting} means {omp.VAR}={value if value is not None else 'unset'} ({want} "
                           f"OpenMP threads), but this process's MXNet, imported before, computes on {have}; set "
                           f"{omp.VAR} before importing mxnet (the CLI's --threads does), or pass processes=1 or more")
    return {}, environment.threads_info(setting)


def _run_processes(planned, processes, plugins, strict, interleave, timeout, on_row, env=None) -> None:
    """Each row's rounds in ``processes`` fresh worker processes, slot by slot across rows (:mod:`harness.measure.runner`)."""
    from harness.measure import runner

    if processes < 0:
        raise HarnessError(f"--processes must be >= 0, got {processes}")
    if interleave:
        raise HarnessError("--interleave is the in-process round robin; --processes already runs rows slot by slot")
    if timeout <= 0:
        raise HarnessError(f"--worker-timeout must be > 0 seconds, got {timeout:g}")
    specs = [p for p in plugins if isinstance(p, str)]
    if len(specs) != len(list(plugins)):
        raise HarnessError("processes= needs plugins given as module names or .py paths: worker processes import them")
    for case, skip in planned:
        if not skip:
            runner.split_rounds(case.workload.rounds, processes)
    runner.run(planned, processes, [runner.Environment(env=dict(env or {}))], specs, strict, timeout,
               on_row=lambda side, row: on_row(row))

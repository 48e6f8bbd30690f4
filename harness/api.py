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
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from harness import options as _options
from harness.core.errors import Diverged, HarnessError
from harness.core.files import read_json, to_json
from harness.core.roles import ROLES, Combination, role_columns
from harness.output.render import table
from harness.tasks import DEFAULT_TASK

__all__ = ["load_plugins", "plugins", "algorithms", "tasks", "run", "verify", "bench", "effects", "ab", "compare",
           "sweep", "history", "report", "Result", "Training", "DistributedTraining", "Verification", "Benchmark",
           "Effects", "Scaling", "AB", "Comparison", "Sweep", "History", "PluginList", "PluginFailure"]


def load_plugins(plugins: Iterable = (), strict: bool | None = None, autoload: bool | None = None):
    """The registry, as ``-p`` and ``--strict-plugins`` would build it: the one way every entry point loads plugins.

    ``plugins``: modules or objects with hook implementations, module names / ``.py`` paths, or ``"no:NAME"``."""
    from harness.core.loader import load, parse_specs
    from harness.options import check_plugins

    plugins = check_plugins(plugins)
    if strict is not None and not isinstance(strict, bool):
        raise HarnessError(f"strict must be True or False, got {strict!r}")
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
        _options.OPTIONS["format"].check("format", tablefmt)

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
    hook: str | None = None  # only the plugins implementing this hook

    @property
    def infos(self) -> list:
        return [i for i in self.registry.plugins.values() if self.hook is None or self.hook in i.hooks]

    @staticmethod
    def row(info) -> dict:
        """One plugin's table row: where it came from and what it provides."""
        return {"plugin": info.name, "distribution": info.distribution or "", "version": info.version or "",
                "source": info.source, "hooks": ", ".join(h.removeprefix("register_") for h in info.hooks),
                **{r: ", ".join(info.provides.get(r, [])) for r in ROLES},
                FUSED_COLUMN: ", ".join(info.provides.get("fused", [])),
                "tasks": ", ".join(info.provides.get("task", []))}

    def rows(self) -> list[dict]:
        return [self.row(info) for info in self.infos]

    def to_dict(self) -> dict:
        reg = self.registry
        return {
            "plugins": [i.as_dict() for i in self.infos],
            "skipped": [s.as_dict() for s in reg.skipped],
            "roles": {r: {n: c.plugin for n, c in sorted(reg.components[r].items())} for r in ROLES},
            "fused": {step.label: step.plugin for step in reg.fused_steps()},
            "tasks": {t.name: t.plugin for t in reg.tasks.values()},
            "supports": {r: {n: c.tasks for n, c in sorted(reg.components[r].items())} for r in ROLES},
        }


def plugins(plugins: Iterable = (), strict: bool | None = None, hook: str | None = None) -> PluginList:
    """Every loaded plugin and what it provides (``harness plugins``); ``hook``: only those implementing it."""
    _options.check("plugins", dict(hook=hook))
    listing = PluginList(load_plugins(plugins, strict))
    if hook is not None:
        registry = listing.registry
        known = sorted(n for n in dir(registry.pm.hook) if not n.startswith("_"))
        name = hook if hook in known else f"register_{hook}"  # the table's short names work too
        if name not in known:
            raise HarnessError(f"unknown hook {hook!r}; hooks: {', '.join(known)}")
        listing.hook = name
    return listing


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
    """One combination trained: ``result`` is :class:`harness.core.train.RunResult`; ``diverged`` when the loss
    stopped being finite."""

    result: object
    diverged: bool = False
    interrupted: bool = False
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
        return {**self.result.as_dict(), **({"interrupted": True} if self.interrupted else {})}

    def plot(self):
        """Loss by epoch (integer ticks), accuracy by epoch where measured, loss against wall-clock time."""
        from harness.output.figures import training_figure

        return training_figure(self.result)


class OutputFailure(OSError):
    """Standard output could not be written (a full disk, a closed descriptor)."""


def _echo(line: str) -> None:
    try:
        print(line, flush=True)
    except OSError as exc:
        raise OutputFailure(exc.errno, exc.strerror) from exc


def run(data: str | None = None, model: str | None = None, loss: str | None = None, optimizer: str | None = None, *,
        algorithm: str | None = None, divisor: str | None = None,
        fused: bool = False, task: str = DEFAULT_TASK, ctx: str = "cpu", epochs: int | None = None,
        batch_size: int | None = None, lr: float | None = None, num_examples: int | None = None,
        num_inputs: int | None = None, seed: int = 0, dataset: str | None = None, data_dir: str | None = None,
        plugins: Iterable = (), strict: bool | None = None, on_epoch: Callable[[dict], None] | None = None,
        echo: bool = False, workers: int | None = None, servers: int | None = None, kvstore: str | None = None,
        placement: str | None = None, timeout: float | None = None, deadline: float | None = None,
        host: str | None = None, port: int | None = None, hosts: str | None = None,
        write_spec: str | None = None):
    """Train one combination (``harness run``): a role not named takes the task's default component
    (``Task.components``), else scratch; ``on_epoch(record)`` after each epoch; ``echo`` prints
    the task's epoch line (the book's ``epoch 1, loss ..., train acc ..., test acc ...``) as it goes.
    ``algorithm``: the optimization algorithm ``optimizer`` runs (``"adam"``: scratch or Gluon Adam;
    default SGD, or the optimizer's own when it implements one other only); ``divisor``: ``"book"``
    (default) or ``"exact"``, see :data:`harness.core.train.DIVISORS`.

    A diverging run is returned with ``diverged=True`` and the epochs so far; Ctrl-C (or SIGTERM under the
    CLI) returns the finished epochs with ``interrupted=True``.  ``workers=N`` trains data-parallel on MXNet's
    parameter server (the other distributed options need it) and returns a :class:`DistributedTraining`;
    with ``write_spec=PATH`` it writes the job instead of running it."""
    from harness.core import context
    from harness.core.train import RunResult, Session, Settings, train

    for role, name in (("data", data), ("model", model), ("loss", loss), ("optimizer", optimizer)):
        if name is not None and not isinstance(name, str):
            raise HarnessError(f"--{role} must be one name (a string), got {name!r}")
    dist = dict(workers=workers, servers=servers, kvstore=kvstore, placement=placement, timeout=timeout,
                deadline=deadline, host=host, port=port, hosts=hosts, write_spec=write_spec)
    _options.check("run", dict(fused=fused, task=task, ctx=ctx, epochs=epochs, batch_size=batch_size, lr=lr,
                               num_examples=num_examples, num_inputs=num_inputs, seed=seed, dataset=dataset,
                               data_dir=data_dir, echo=echo, algorithm=algorithm, divisor=divisor, **dist))
    registry = load_plugins(plugins, strict)
    the_task = registry.make_task(task, num_examples=num_examples, num_inputs=num_inputs, dataset=dataset,
                                  data_dir=data_dir, seed=seed)
    settings = Settings.for_task(the_task, epochs=epochs, batch_size=batch_size, lr=lr, divisor=divisor)
    combo = Combination.for_task(the_task, fused, data=data, model=model, loss=loss, optimizer=optimizer)
    combo = replace(combo, algorithm=algorithm or registry.default_algorithm(combo.optimizer, the_task.name))
    registry.resolve(combo, the_task.name)  # unknown names, unsupported task, no fused step: before any work
    if workers is not None:
        given = dict(num_examples=num_examples, num_inputs=num_inputs, dataset=dataset, data_dir=data_dir, seed=seed)
        return _run_distributed(registry, combo, the_task, settings, ctx, workers, dist, plugins, strict, given,
                                on_epoch, echo)
    device = context.resolve(ctx)
    done: list[dict] = []

    def each(record):
        done.append(record)
        if echo:
            _echo(the_task.epoch_line(record["epoch"], record, record["seconds"]))
        if on_epoch is not None:
            on_epoch(record)

    try:
        session = Session(registry, combo, the_task, settings, device)
        return Training(train(session, on_epoch=each))
    except Diverged as exc:
        return Training(exc.result, diverged=True)
    except KeyboardInterrupt:
        return Training(RunResult(combo, str(device), the_task, settings, epochs=done), interrupted=True)
    except (HarnessError, OutputFailure):
        raise
    except (Exception, SystemExit) as exc:  # a plugin's bug (or exit): one line naming plugin and role
        raise PluginFailure(_blame(exc, registry, combo, the_task.name)) from exc


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
        if self.task.name == DEFAULT_TASK:
            where = ""
        else:
            where = f", task {self.task.name}" + (f" ({dataset})" if dataset else "")
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
    from harness.check.verify import default_combinations
    from harness.check.verify import verify as run_verify
    from harness.core import context
    from harness.core.train import Settings

    _options.check("verify", dict(task=task, data=data, model=model, loss=loss, optimizer=optimizer, all=all,
                                  against_seed=against_seed, ctx=ctx, epochs=epochs, batch_size=batch_size, lr=lr,
                                  num_examples=num_examples, num_inputs=num_inputs, seed=seed, dataset=dataset,
                                  data_dir=data_dir, algorithm=algorithm, divisor=divisor))
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
    """A benchmark matrix's rows (:class:`harness.measure.measuring.Row`, failed and skipped included) and how it
    ran."""

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
        from harness.core.files import to_json

        return to_json(self.to_document())

    def to_csv(self) -> str:
        from harness.output import bench_csv

        return bench_csv.write(self.results)

    def plot(self):
        """Epoch time per case (linear from zero, CI whiskers, which plugin gave each role) and loss against
        wall-clock time, as a matplotlib Figure."""
        from harness.output.figures import render_figure

        return render_figure(self.results)

    def effects(self, confidence: float = 0.95, only_factorial: bool = False) -> Effects:
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
            _options.write_output(path, writers.render(name, self.results))

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
    if workload.target_acc is not None and task.kind != "classification":
        raise HarnessError(f"--target-acc needs a task that measures test accuracy; task {task.name} is "
                           f"{task.kind or 'not a classification'} (use --target-loss)")
    fixed = {"data": _names(data), "model": _names(model), "loss": _names(loss), "optimizer": _names(optimizer)}
    combos = planning.select(registry, fixed, all, fused, workload.task, algorithms=_names(algorithm))
    planned = planning.cases(combos, ctxs, workload)
    if references:
        planned += planning.reference_cases(ctxs, workload, task)
    return task, combos, planned


def bench(task: str | None = None, workload: str | None = None, *, data=None, model=None, loss=None, optimizer=None,
          algorithm=None, divisor: str | None = None, all: bool = False, fused: bool = False, ctx: str = "cpu",
          rounds: int | None = None, warmup: int | None = None, num_examples: int | None = None,
          num_inputs: int | None = None, batch_size: int | None = None, lr: float | None = None,
          seed: int | None = None,
          target_loss: float | None = None, target_acc: float | None = None, dataset: str | None = None,
          data_dir: str | None = None, references: bool = True, interleave: bool = False, breakdown: bool = False,
          processes: int = 0, worker_timeout: float | None = None, plugins: Iterable = (),
          strict: bool | None = None, progress: bool = False, on_row: Callable | None = None, registry=None,
          threads=None, workers=None, repeat: int | None = None, servers: int | None = None,
          kvstore: str | None = None, placement: str | None = None, timeout: float | None = None,
          deadline: float | None = None, host: str | None = None, port: int | None = None, hosts: str | None = None):
    """Time a matrix of combinations (``harness bench``).  Ctrl-C keeps the finished rows: the result says
    ``interrupted``.  ``progress`` shows a tqdm bar on stderr; ``on_row(row)`` is called as each row finishes.
    ``processes=K`` spreads each row's rounds over K fresh worker processes (``plugins`` then must be
    module names or paths the workers can import).  ``threads`` (N, ``"auto"``, ``"mxnet"``) is MXNet's
    OpenMP threads: workers start with it; this process's MXNet must already run with it (it reads
    ``OMP_NUM_THREADS`` on import; the CLI sets it first), else a :class:`HarnessError`.  ``workers="1,2,4"``
    (or a list) measures instead the scaling on MXNet's parameter server, one job per worker count (a
    :class:`Scaling`); the other distributed options need it."""
    from harness.measure import environment, measuring, workloads
    from harness.measure.breakdown import run_breakdown

    dist = dict(servers=servers, kvstore=kvstore, placement=placement, timeout=timeout, deadline=deadline,
                host=host, port=port, hosts=hosts)
    values = dict(task=task, workload=workload, data=data, model=model, loss=loss, optimizer=optimizer, all=all,
                  fused=fused, ctx=ctx, rounds=rounds, warmup=warmup, num_examples=num_examples,
                  num_inputs=num_inputs, batch_size=batch_size, lr=lr, seed=seed, target_loss=target_loss,
                  target_acc=target_acc, dataset=dataset, data_dir=data_dir, references=references,
                  interleave=interleave, breakdown=breakdown, processes=processes or None,
                  worker_timeout=worker_timeout, progress=progress, repeat=repeat, algorithm=algorithm,
                  divisor=divisor, threads=threads, **dist)
    _options.check("bench", {**values, "workers": None if workers is None else str(workers)})
    registry = registry or load_plugins(plugins, strict)
    load = workloads.workload(workload, task, registry, num_examples=num_examples, num_inputs=num_inputs,
                              batch_size=batch_size, lr=lr, seed=seed, target_loss=target_loss, target_acc=target_acc,
                              dataset=dataset,
                              data_dir=data_dir, rounds=rounds, warmup=warmup, divisor=divisor)
    if workers is not None:
        if any(a != "sgd" for a in _names(algorithm) or []):
            raise HarnessError("--algorithm with --workers: the scaling benchmark runs plain SGD (drop --algorithm, "
                               "or use harness run --workers N --algorithm NAME)")
        return _scaling(registry, load, workers, dist, ctx, dict(data=_names(data), model=_names(model),
                        loss=_names(loss), optimizer=_names(optimizer)), all, plugins, strict, repeat or 1,
                        progress, on_row)
    worker_timeout = 600.0 if worker_timeout is None else worker_timeout
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
    """Each row's rounds in ``processes`` fresh worker processes, slot by slot across rows
    (:mod:`harness.measure.runner`)."""
    from harness.measure import runner

    specs = [p for p in plugins if isinstance(p, str)]
    if len(specs) != len(list(plugins)):
        raise HarnessError("processes= needs plugins given as module names or .py paths: worker processes import them")
    for case, skip in planned:
        if not skip:
            runner.split_rounds(case.workload.rounds, processes)
    runner.run(planned, processes, [runner.Environment(env=dict(env or {}))], specs, strict, timeout,
               on_row=lambda side, row: on_row(row))


# --- plugin failures under run ----------------------------------------------------------

class PluginFailure(HarnessError):
    """A plugin's component raised (or returned something unusable) while training: names plugin and role."""


#: What the host was doing, by the text of its line in harness/core/train.py, -> the role it was calling.
_HOST_CALLS = (('factories["data"]', "data"), ("data_iter(", "data"), ('factories["model"]', "model"),
               ("Model(", "model"), ('factories["loss"]', "loss"), ('factories["optimizer"]', "optimizer"),
               ("step(X.shape[0])", "optimizer"), ("step(batch_size if book", "optimizer"),
               ("fused_step", "fused step"), ("step(X, y", "fused step"),
               ("l.backward()", "model"), ("loss(net(X), y)", "loss"), ("metrics(", "model"))


def _blame(exc: BaseException, registry, combo: Combination, task: str) -> str:
    """``exc`` as one line: which plugin's which role failed, and how."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    host = [i for i, f in enumerate(frames) if f.filename.replace("\\", "/").endswith("harness/core/train.py")]
    role = None
    if host:
        line = frames[host[-1]].line or ""
        role = next((r for text, r in _HOST_CALLS if text in line), None)
        deeper = frames[host[-1] + 1:]
        if role == "loss" and deeper and deeper[0].filename.replace("\\", "/").endswith("harness/core/roles.py"):
            role = "model"  # net(X) inside the loss's line
    what = " ".join(f"{type(exc).__name__}: {exc}".split())
    if role == "fused step":
        step = registry.fused.get(combo.fused_key)
        owner = f" of plugin {step.plugin!r}" if step is not None else ""
        return f"fused step {'/'.join(combo.fused_key)!r}{owner} failed: {what}"
    if role is None:
        return f"{combo.label} failed: {what}"
    component = registry.get(role, getattr(combo, role), task)
    return f"{role} {component.name!r} of plugin {component.plugin!r} failed: {what}"


# --- run --workers ------------------------------------------------------------------------

@dataclass
class DistributedTraining(Result):
    """One data-parallel job (``run --workers N``): ``status`` ok, failed, interrupted or written."""

    document: dict
    combination: Combination
    task: object
    settings: object
    workers: int
    steps: int
    status: str = "ok"
    error: str = ""
    job: object = None
    spec_path: str | None = None
    timings: dict = field(default_factory=dict)
    columns = ["rank", "epoch", "loss", "seconds", "exchange_seconds"]

    def rows(self) -> list[dict]:
        return [{"rank": int(rank), **{k: e.get(k) for k in self.columns[1:]}}
                for rank, w in self.document.get("ranks", {}).items() for e in w.get("epochs", [])]

    @property
    def processes(self) -> int:
        return 1 + self.document["servers"] + self.workers

    def to_dict(self) -> dict:
        return self.document


def _run_distributed(registry, combo, task, settings, ctx, workers, dist, plugins, strict, given, on_epoch, echo):
    from harness.distributed import jobs

    spec_path = dist.pop("write_spec")
    dist.pop("workers")
    opts = jobs.JobOptions(**dist)
    if spec_path:
        _options.check_outputs({"--write-spec": spec_path})
    prepared = jobs.prepare(registry, combo, task, settings, workers, opts, ctx, list(plugins), strict, given,
                            here=not spec_path)
    document = {"combination": combo.as_dict(), "task": task.as_dict(), "settings": settings.as_dict(),
                "workers": workers, "servers": opts.servers, "kvstore": opts.kvstore, "placement": opts.placement}
    made = dict(combination=combo, task=task, settings=settings, workers=workers, steps=prepared.steps,
                job=prepared.job)
    if spec_path:
        import json

        _options.write_output(spec_path, json.dumps(prepared.spec, indent=2) + "\n", "--write-spec")
        return DistributedTraining(document, status="written", spec_path=spec_path, **made)
    def each(event):  # rank 0's epochs as they finish
        if echo:
            share = event["exchange_seconds"] / event["seconds"] if event["seconds"] else 0.0
            line = task.epoch_line(event["epoch"], event, event["seconds"])
            _echo(f"{line[:line.rindex(')')]}, rank 0, exchange {100 * share:.0f}%)")
        if on_epoch is not None:
            on_epoch(event)

    result = jobs.run(prepared, each)
    document.update({"status": result.status, "error": result.error, "port": result.port, "timings": result.timings,
                     "ranks": {str(rank): w for rank, w in sorted(result.workers.items())}})
    return DistributedTraining(document, status=result.status, error=result.error, timings=result.timings, **made)


# --- bench --workers -------------------------------------------------------------------------

@dataclass
class Scaling(Result):
    """``bench --workers``: one row per combination × worker count (:class:`harness.measure.measuring.Row`)."""

    measured: object  # harness.distributed.jobs.Scaling

    @property
    def rows_(self) -> list:
        return self.measured.rows

    @property
    def interrupted(self) -> bool:
        return self.measured.interrupted

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.rows_)

    @property
    def columns(self) -> list[str]:
        from harness.distributed.scaling import COLUMNS

        return list(COLUMNS)

    def rows(self) -> list[dict]:
        from harness.distributed.scaling import display_rows

        return display_rows(self.rows_)

    def table(self, tablefmt: str = "simple") -> str:
        from harness.distributed.scaling import render_table

        _options.check("bench", {"format": tablefmt})
        return render_table(self.rows_, tablefmt)

    def to_json(self) -> str:
        from harness.output import bench_json

        m = self.measured
        return bench_json.to_json_text(self.rows_, m.interrupted, m.machine, m.commit)

    def to_dict(self) -> dict:
        import json

        return json.loads(self.to_json())

    def to_csv(self) -> str:
        from harness.distributed.scaling import to_csv

        return to_csv(self.rows_, self.measured.machine, self.measured.commit)

    def write(self, json: str | None = None, csv: str | None = None) -> None:
        for path, render, what in ((json, lambda: self.to_json() + "\n", "--json"), (csv, self.to_csv, "--csv")):
            if path:
                _options.write_output(path, render(), what)

    def summary(self) -> str:
        from harness.measure import environment

        m, load, task, opts = self.measured, self.measured.workload, self.measured.task, self.measured.opts
        planned, repeat = len(m.planned), m.repeat
        cores = (m.machine.get("harness") or {}).get("cpu_count", {}).get("usable") or environment.machine_info()[
            "harness"]["cpu_count"]["usable"]
        return (f"{len(self.rows_)} of {planned} rows ({planned * repeat} jobs); {self.failed} failed; workload "
                f"{load.label} (N={task.num_examples}, D={getattr(task, 'num_inputs', '')}, batch {load.batch_size} "
                f"per worker), {load.rounds} rounds after {load.warmup} warm-up"
                f"{f' in each of {repeat} jobs (A B … B A)' if repeat > 1 else ''}; "
                f"{opts.kvstore}, {opts.servers} server(s), placement {opts.placement}; scheduler, servers and "
                f"workers share this machine's {cores} cores; {m.wall_s:.1f} s\n"
                "a round = one global epoch (slowest rank); efficiency = samples/s with N workers / (N × with 1); "
                "exchange share = time in the kvstore exchange / epoch time"
                + (" (the optimizer's whole step for placements kvstore and servers)"
                   if opts.placement != "harness" else ""))


def _scaling(registry, load, workers, dist, ctx, fixed, every, plugins, strict, repeat, progress, on_row):
    from harness.distributed import jobs

    opts = jobs.JobOptions(**dist)
    task, load, planned, job_kwargs, the_ctx = jobs.plan_scaling(registry, load, workers, opts, ctx, fixed, every)

    def done(row):
        if progress:
            print(f"done {row.case.combo.label} × {row.case.workers} worker(s): {row.status}", file=sys.stderr,
                  flush=True)
        if on_row is not None:
            on_row(row)

    return Scaling(jobs.measure_scaling(planned, task, load, opts, job_kwargs, the_ctx, list(plugins), strict,
                                        repeat, on_row=done))


# --- compare --------------------------------------------------------------------------------

def _ci_ms(ci) -> str:
    return f"{ci.low * 1e3:.4g}–{ci.high * 1e3:.4g}" + ("*" if ci.level < 0.95 - 1e-9 else "")


@dataclass
class Comparison(Result):
    """Two bench runs case by case (``harness compare``): ``results`` are
    :class:`harness.analysis.compare.Comparison`; ``regressions`` those beyond ``fail_at``."""

    results: list
    old: dict
    new: dict
    alpha: float
    threshold: float
    fail_at: float | None = None
    floatfmt = ".4g"

    @property
    def columns(self) -> list[str]:
        rows = self.rows()
        return list(rows[0]) if rows else ["benchmark"]

    def rows(self) -> list[dict]:
        return [
            {
                "benchmark": c.name,
                "old median (ms)": c.old_median * 1e3 if c.old_median is not None else "",
                "old 95% CI": _ci_ms(c.medians_ci[0]) if c.medians_ci else "",
                "new median (ms)": c.new_median * 1e3 if c.new_median is not None else "",
                "new 95% CI": _ci_ms(c.medians_ci[1]) if c.medians_ci else "",
                "new/old": c.ratio if c.ratio is not None else "",
                "new/old 95% CI": f"{c.ratio_ci.low:.3f}–{c.ratio_ci.high:.3f}"
                + ("*" if c.ratio_ci.level < 0.95 - 1e-9 else "") if c.ratio_ci else "",
                "p (Mann–Whitney U)": c.p_value if c.p_value is not None else "",
                "p (Holm)": c.p_holm if c.p_holm is not None else "",
                "verdict": c.verdict,
            }
            for c in self.results
        ]

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {"alpha": self.alpha, "threshold": self.threshold, "results": [asdict(c) for c in self.results]}

    @property
    def tested(self) -> int:
        return sum(c.p_value is not None for c in self.results)

    def summary(self) -> str:
        counts = {v: sum(c.verdict == v for c in self.results)
                  for v in ("slower", "faster", "same", "failed", "added", "removed")}
        return (", ".join(f"{n} {v}" for v, n in counts.items() if n)
                + f"; significant at Holm-adjusted p < {self.alpha:g} over {self.tested} benchmarks with a change "
                f"beyond {self.threshold:.0%}; new/old = Hodges–Lehmann ratio with its exact 95% CI (* = too few "
                "rounds for 95%)")

    def unreachable(self) -> str:
        """Why no benchmark can be called changed (too few rounds), or ``""``."""
        from harness.analysis import stats

        sizes = [(len(self.old[c.name]["data"]), len(self.new[c.name]["data"])) for c in self.results
                 if c.p_value is not None]
        found = [why for why in (stats.attainable(n, m, self.alpha, self.tested) for n, m in sizes) if why]
        return found[0] if found else ""

    @property
    def regressions(self) -> list:
        if self.fail_at is None:
            return []
        return [c for c in self.results if c.regression(self.alpha, self.fail_at)]


def compare(old: str, new: str, *, threshold: str = "10%", alpha: float | None = None,
            fail_on_regression: str | None = None) -> Comparison:
    """Compare two ``bench --json`` files (``harness compare``); two runs with no case in common are an error."""
    from harness.analysis import compare as cmp

    alpha = cmp.ALPHA if alpha is None else alpha
    _options.check("compare", dict(threshold=threshold, alpha=alpha, fail_on_regression=fail_on_regression))
    limit = cmp.parse_percent(threshold)
    fail_at = cmp.parse_percent(fail_on_regression) if fail_on_regression is not None else None
    before, after = cmp.load(old), cmp.load(new)
    if not set(before) & set(after):
        raise HarnessError(f"{old} and {new} have no case in common: nothing to compare (were they run with the "
                           "same --task and --workload?)")
    return Comparison(cmp.compare_runs(before, after, alpha=alpha, threshold=limit), before, after, alpha, limit,
                      fail_at)


# --- ab ---------------------------------------------------------------------------------------

@dataclass
class AB(Result):
    """Both sides of ``harness ab``: ``pairs`` (:class:`harness.analysis.ab.Pair`), one per case both finished."""

    pairs: list
    planned: list
    sides: list
    settings: dict
    interrupted: bool
    machine: dict = field(default_factory=dict)
    commit: dict = field(default_factory=dict)
    fail_at: float | None = None

    @property
    def columns(self) -> list[str]:
        from harness.output import ab_table

        return list(ab_table.COLUMNS)

    def rows(self) -> list[dict]:
        from harness.output import ab_table

        return ab_table.display_rows(self.pairs)

    def table(self, tablefmt: str = "simple") -> str:
        from harness.output import ab_table

        _options.check("ab", {"format": tablefmt})
        return ab_table.render_table(self.pairs, tablefmt)

    def to_dict(self) -> dict:
        from harness.analysis import ab as judge

        described = {s.name: {"python": s.python, "env": s.env} for s in self.sides}
        return judge.to_document(self.pairs, self.settings, described, self.machine, self.commit, self.interrupted)

    def summary(self) -> str:
        from harness.analysis import ab as judge

        st, found = self.settings, judge.counts(self.pairs)
        refs = sum(bool(case.reference) for case, _ in self.planned)
        counted = f"{len(self.pairs)} of {len(self.planned)} rows ({len(self.planned) - refs} combinations"
        counted += f" + {refs} references)" if refs else ")"
        return (f"{counted}: " + ", ".join(f"{n} {v}" for v, n in found.items())
                + f"; A, B = median over the processes of each one's fastest epoch ({st['clock']} clock), with its "
                f"95% CI; B/A = median of the {st['processes']} process pairs' ratios with its distribution-free 95% "
                f"CI; verdicts: sign test over the pairs, Holm-corrected over "
                f"{sum(p.change is not None for p in self.pairs)} rows at family-wise alpha {st['alpha']:g}, change "
                f"beyond {st['threshold']:.0%}; {st['rounds']} rounds per side in {st['processes']} processes; "
                f"{st['wall_s']:.1f} s")

    @property
    def failed(self) -> bool:
        return any(p.verdict.startswith("failed") for p in self.pairs)

    @property
    def regressions(self) -> list:
        return [] if self.fail_at is None else [p for p in self.pairs if p.regression(self.fail_at)]

    def busy(self) -> str:
        """A note when other jobs kept the machine's cores busy (wall-clock verdicts lose power), else ``""``."""
        import os

        load, cores = self.settings["load_average"], os.cpu_count() or 1
        if max(load) <= cores or self.settings["clock"] == "cpu":
            return ""
        return (f"harness: note: the machine was busy (load average {load[0]:.1f} -> {load[1]:.1f} on {cores} cores, "
                "this run included); wall-clock verdicts lose power under load: read the intervals, repeat on a "
                "quieter machine, or judge CPU time (--clock cpu)")


AB_PROCESSES = 24  # pairs of processes per case: the test's sample size; docs/statistics.md has the measurements
AB_ROUNDS_PER_PROCESS = 2  # more buys little: most of the noise of a short row is between processes


def ab(task: str | None = None, workload: str | None = None, *, a_python: str | None = None,
       b_python: str | None = None, a_env: dict | None = None, b_env: dict | None = None, data=None, model=None,
       loss=None, optimizer=None, all: bool = False, fused: bool = False, ctx: str = "cpu",
       rounds: int | None = None, warmup: int | None = None, num_examples: int | None = None,
       num_inputs: int | None = None, batch_size: int | None = None, lr: float | None = None,
       seed: int | None = None, target_loss: float | None = None, target_acc: float | None = None,
       dataset: str | None = None, data_dir: str | None = None, processes: int = AB_PROCESSES,
       clock: str = "wall", alpha: float | None = None, threshold: str | None = None,
       fail_on_regression: str | None = None, timeout: float | None = None, references: bool = True,
       plugins: Iterable = (), strict: bool | None = None, progress: bool = False, threads=None,
       divisor: str | None = None) -> AB:
    """The same cases in two environments (interpreters and/or environment variables), alternated A B B A in
    fresh worker processes, with a Holm-corrected verdict per case (``harness ab``).  Ctrl-C keeps the cases
    both sides finished.  ``plugins`` must be module names or paths the workers can import."""
    import os

    from harness.analysis import ab as judge
    from harness.analysis import stats
    from harness.analysis.compare import parse_percent
    from harness.measure import environment, runner, workloads

    alpha = judge.ALPHA if alpha is None else alpha
    threshold = f"{judge.THRESHOLD:.0%}" if threshold is None else threshold
    timeout = runner.TIMEOUT if timeout is None else timeout
    _options.check("ab", dict(task=task, workload=workload, data=data, model=model, loss=loss, optimizer=optimizer,
                              all=all, fused=fused, ctx=ctx, rounds=rounds, warmup=warmup, num_examples=num_examples,
                              num_inputs=num_inputs, batch_size=batch_size, lr=lr, seed=seed, target_loss=target_loss,
                              target_acc=target_acc, dataset=dataset, data_dir=data_dir, processes=processes,
                              clock=clock, alpha=alpha, threshold=threshold, fail_on_regression=fail_on_regression,
                              timeout=timeout, references=references, progress=progress, threads=threads))
    plugins = _options.check_plugins(plugins)
    if any(not isinstance(p, str) for p in plugins):
        raise HarnessError("ab needs plugins given as module names or .py paths: worker processes import them")
    limit = parse_percent(threshold)
    fail_at = parse_percent(fail_on_regression) if fail_on_regression is not None else None
    sides = [runner.Environment("A", a_python or sys.executable, dict(a_env or {})),
             runner.Environment("B", b_python or sys.executable, dict(b_env or {}))]
    from harness.measure import threads as omp

    setting = omp.chosen(threads)
    if setting is not None:  # the workers start with it; a side's own env wins
        for side in sides:
            side.env.setdefault(omp.VAR, omp.target(setting))
    rounds = AB_ROUNDS_PER_PROCESS * processes if rounds is None else rounds
    registry = load_plugins(plugins, strict)
    load = workloads.workload(workload, task, registry, num_examples=num_examples, num_inputs=num_inputs,
                              batch_size=batch_size, lr=lr, seed=seed, target_loss=target_loss, target_acc=target_acc,
                              dataset=dataset, data_dir=data_dir, rounds=rounds, warmup=warmup, divisor=divisor)
    _, _, planned = plan_bench(registry, load, ctx=ctx, data=data, model=model, loss=loss, optimizer=optimizer,
                               all=all, fused=fused, references=references)
    runner.split_rounds(load.rounds, processes)
    tested = sum(not skip for _, skip in planned)
    why = stats.attainable_pairs(processes, alpha, tested)
    if why:
        raise HarnessError(f"{why} (--processes), or fewer rows, or a larger --alpha")
    for side in sides:
        side.check()

    from tqdm import tqdm

    bar = tqdm(total=processes * tested, file=sys.stderr, unit="case", leave=False,
               disable=not progress or not sys.stderr.isatty())
    done: list[dict] = [{}, {}]
    index = {id(case): i for i, (case, _) in enumerate(planned)}

    def on_row(side, row):
        done[side][index[id(row.case)]] = row

    start, loadavg_before = time.perf_counter(), os.getloadavg()[0]
    interrupted = False
    try:
        runner.run(planned, processes, sides, plugins, strict, timeout, on_row=on_row, on_job=bar.update,
                   per_case=False)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    wall, loadavg = time.perf_counter() - start, [loadavg_before, os.getloadavg()[0]]
    both = sorted(set(done[0]) & set(done[1]))
    pairs = judge.pair_up([done[0][i] for i in both], [done[1][i] for i in both], alpha, limit, clock=clock)
    settings = {"clock": clock, "alpha": alpha, "correction": "holm", "threshold": limit,
                "confidence": stats.CONFIDENCE, "processes": processes, "rounds": load.rounds,
                "load_average": loadavg, "warmup": load.warmup, "test": "sign test over process pairs",
                "workload": load.as_dict(), "wall_s": wall,
                "order": "slot by slot, each worker measuring every case; per case A B B A, B first in odd slots"}
    return AB(pairs, planned, sides, settings, interrupted, environment.machine_info(), environment.commit_info(),
              fail_at)


# --- sweep ------------------------------------------------------------------------------------

@dataclass
class Sweep(Result):
    """``harness sweep``: a row per grid point (``error`` set where it failed) and the log-log fits."""

    points: list
    fits: list
    interrupted: bool = False
    columns = [*ROLES, "N", "D", "B", "epoch s", "µs/step", "µs/sample", "error"]
    fit_columns = ["combination", "fit", "at", "slope", "R²", "per-sample cost stops falling at B"]

    def rows(self) -> list[dict]:
        return [{**role_columns(r["combo"]), "N": r["N"], "D": r["D"], "B": r["B"], "epoch s": r.get("epoch_s"),
                 "µs/step": r.get("step_us"), "µs/sample": r.get("sample_us"), "error": r["error"]}
                for r in self.points]

    def fit_rows(self) -> list[dict]:
        return [{"combination": f["combo"].label, "fit": f["fit"],
                 "at": f"D={f['D']} B={f['B']}" if f["B"] is not None else f"N={f['N']} D={f['D']}",
                 "slope": f["slope"], "R²": f["r2"], "per-sample cost stops falling at B": f["knee_B"]}
                for f in self.fits]

    def fit_table(self, tablefmt: str = "simple") -> str:
        _options.check("sweep", {"format": tablefmt})
        return table(self.fit_rows(), self.fit_columns, tablefmt=tablefmt, floatfmt=".3f")

    @property
    def failed(self) -> bool:
        return any(r["error"] for r in self.points)

    def to_dict(self) -> dict:
        return {"points": [{**r, "combo": r["combo"].as_dict()} for r in self.points],
                "fits": [{**f, "combo": f["combo"].as_dict()} for f in self.fits]}

    def png(self) -> bytes | None:
        from harness.output.sweep import render_png

        return render_png(self.points) if any(not r["error"] for r in self.points) else None


def _grid(text, flag: str) -> list[int]:
    if isinstance(text, (list, tuple)):
        values = list(text)
    else:
        try:
            values = [int(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            values = []
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values):
        raise HarnessError(f"{flag} takes a comma-separated list of positive integers, got {text!r}")
    return sorted(set(values))


def sweep(task: str = DEFAULT_TASK, *, data=None, model=None, loss=None, optimizer=None, num_examples=None,
          num_inputs=None, batch_size="10,100,1000", ctx: str = "cpu", rounds: int = 3, warmup: int = 1,
          lr: float | None = None, seed: int = 0, dataset: str | None = None, data_dir: str | None = None,
          plugins: Iterable = (), strict: bool | None = None, on_point: Callable | None = None) -> Sweep:
    """Epoch and step time over a grid of N, D and batch size (``harness sweep``); each grid option takes
    ``"1000,4000"`` or a list.  ``on_point(i, total, point)`` before each point; Ctrl-C keeps the points done."""
    from harness.core import context
    from harness.measure.sweep import measure_point, points, summarize

    _options.check("sweep", dict(task=task, data=data, model=model, loss=loss, optimizer=optimizer, ctx=ctx,
                                 rounds=rounds, warmup=warmup, lr=lr, seed=seed, dataset=dataset, data_dir=data_dir))
    sized = task == DEFAULT_TASK or dataset == "synthetic"
    ns = _grid(num_examples if num_examples is not None else "1000,4000,16000", "--num-examples") \
        if sized or num_examples is not None else [None]
    ds = _grid(num_inputs if num_inputs is not None else "2", "--num-inputs") \
        if task == DEFAULT_TASK or num_inputs is not None else [None]
    bs = _grid(batch_size, "--batch-size")
    registry = load_plugins(plugins, strict)
    registry.make_task(task, dataset=dataset, data_dir=data_dir, seed=seed)  # bad task options: before any work
    device = context.resolve(ctx)
    combos = registry.choose(task, {"data": _names(data), "model": _names(model), "loss": _names(loss),
                                    "optimizer": _names(optimizer)}, scope="own")
    grid = points(combos, ns, ds, bs)
    rows, interrupted = [], False
    try:
        for i, point in enumerate(grid, 1):
            if on_point is not None:
                on_point(i, len(grid), point)
            rows.append(measure_point(registry, point, device, rounds, warmup, lr, seed, task, dataset=dataset,
                                      data_dir=data_dir))
    except KeyboardInterrupt:
        interrupted = True
    return Sweep(rows, summarize(rows), interrupted)


# --- history and report -------------------------------------------------------------------------

@dataclass
class History:
    """Saved runs (:class:`harness.analysis.history.Run`) and their series with detected steps."""

    runs: list
    series: list
    threshold: float
    alpha: float
    headline: str = ""  # the report's one-line summary, once written

    def method(self) -> str:
        return (f"piecewise-constant fit of each case's medians, steps under {self.threshold:.0%} merged, "
                f"each step tested with Mann–Whitney U on the rounds either side (p < {self.alpha:g})")

    def case(self, wanted: str) -> list:
        from harness.analysis.history import find_case

        return find_case(self.series, wanted)


def history(runs: Iterable[str] = (), *, storage: str | None = None, threshold: str | None = None,
            alpha: float | None = None) -> History:
    """Saved runs (``harness history``): files or globs in ``storage``; a damaged run is skipped with a warning."""
    from harness.analysis import history as hist
    from harness.analysis.changepoints import THRESHOLD
    from harness.analysis.compare import ALPHA, parse_percent

    storage = hist.DEFAULT_STORAGE if storage is None else storage
    threshold = f"{THRESHOLD:.0%}" if threshold is None else threshold
    alpha = ALPHA if alpha is None else alpha
    _options.check("history", dict(storage=storage, threshold=threshold, alpha=alpha))
    if isinstance(runs, str) or not all(isinstance(r, str) for r in runs):
        raise HarnessError(f"runs must be a list of files or globs, got {runs!r}")
    limit = parse_percent(threshold)
    found = hist.load_runs(storage, list(runs))
    return History(found, hist.build_series(found, threshold=limit, alpha=alpha), limit, alpha)


def _read_verify(path: str) -> dict:
    doc = read_json(path, "expected harness verify --json output")
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list) or "ok" not in doc:
        raise HarnessError(f"{path} is not harness verify --json output (no 'ok' and 'rows')")
    return {"path": path, **doc}


def report(runs: Iterable[str] = (), *, output: str = "report.html", storage: str | None = None,
           threshold: str | None = None, alpha: float | None = None, verify: Iterable[str] = (),
           title: str = "mxnet-harness report") -> History:
    """Write one self-contained HTML file over the saved runs (``harness report``); ``output`` may not be one
    of the runs, a verify input, or a file in the storage."""
    from harness.analysis import history as hist
    from harness.output import html_report

    storage = hist.DEFAULT_STORAGE if storage is None else storage
    _options.check("report", dict(output=output, title=title))
    verify = list(verify)
    _options.check_outputs({"-o": output}, inputs=[*runs, *verify], storage=storage)
    found = history(runs, storage=storage, threshold=threshold, alpha=alpha)
    for run in found.runs:
        if run.path.resolve() == Path(output).resolve():
            raise HarnessError(f"-o {output} is one of the runs the report reads: it would be overwritten")
    docs = [_read_verify(path) for path in verify]
    data = html_report.payload(found.runs, found.series, docs, title, found.method(), alpha=found.alpha,
                               threshold=found.threshold)
    _options.write_output(output, html_report.page(data), "-o")
    found.headline = data["headline"]
    return found

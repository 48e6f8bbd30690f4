"""Workloads: a task at a size with its hyper-parameters and measuring length, those each task declares
(``Task.workloads``), and the command-line options that pick and override them (for ``harness bench``,
``harness ab`` and ``pytest benchmarks/`` alike).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from harness.core.errors import HarnessError
from harness.core.registry import Registry
from harness.core.task import DEFAULT_WORKLOADS, Target, Task, TaskWorkload, declared
from harness.core.train import Settings
from harness.tasks import DEFAULT_TASK


@dataclass(frozen=True)
class Workload:
    """A task at a size, its hyper-parameters and how long to measure it; ``None`` takes the task's value."""

    name: str
    num_examples: int | None = None
    num_inputs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    target_loss: float | None = None
    rounds: int = 10
    warmup: int = 1
    seed: int = 0
    task: str = DEFAULT_TASK
    dataset: str | None = None
    data_dir: str | None = None
    target_acc: float | None = None
    divisor: str | None = None  # the step's batch divisor rule (harness.core.train.DIVISORS); None: "book"

    def check(self) -> None:
        if self.rounds < 1:
            raise HarnessError(f"--rounds must be a positive integer, got {self.rounds}")
        if self.warmup < 0:
            raise HarnessError(f"--warmup must be >= 0, got {self.warmup}")
        if self.target_loss is not None and not self.target_loss > 0:
            raise HarnessError(f"--target-loss must be > 0, got {self.target_loss}")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            raise HarnessError(f"--target-acc must be in (0, 1], got {self.target_acc}")
        if self.target_loss is not None and self.target_acc is not None:
            raise HarnessError("give --target-loss or --target-acc, not both")

    def build_task(self, registry: Registry) -> Task:
        return registry.make_task(self.task, num_examples=self.num_examples, num_inputs=self.num_inputs,
                                  dataset=self.dataset, data_dir=self.data_dir, seed=self.seed)

    def settings(self, task: Task) -> Settings:
        return Settings.for_task(task, epochs=self.warmup + self.rounds, batch_size=self.batch_size, lr=self.lr,
                                 divisor=self.divisor)

    def target(self, task: Task) -> Target:
        if self.target_loss is not None:
            return Target("loss", self.target_loss)
        if self.target_acc is not None:
            return Target("test_acc", self.target_acc, higher=True)
        return task.target

    @property
    def label(self) -> str:
        """The workload's name, prefixed by its task unless that is the seed's."""
        return self.name if self.task == DEFAULT_TASK else f"{self.task}-{self.name}"

    def as_dict(self) -> dict:
        return asdict(self)


def _builtins() -> Registry:
    from harness.core.loader import load

    return load(autoload=False)  # the host's own tasks only


def declared_workloads(registry: Registry, task: str) -> tuple[TaskWorkload, ...]:
    """What ``task`` declares (``Task.workloads``), read from its class, else from the task built at its defaults."""
    entry = registry.tasks.get(task)
    cls = declared(entry.factory) if entry is not None else None
    found = cls.workloads if cls is not None else registry.make_task(task).workloads
    return tuple(found) or DEFAULT_WORKLOADS


def workloads_for(task: str, registry: Registry | None = None) -> list[str]:
    return [w.name for w in declared_workloads(registry or _builtins(), task)]


def _known_elsewhere(registry: Registry, name: str) -> bool:
    """Whether another task whose class shows its workloads declares ``name`` (for a clearer error)."""
    classes = [declared(e.factory) for e in registry.tasks.values()]
    return any(name == w.name for cls in classes if cls is not None for w in (*cls.workloads, *DEFAULT_WORKLOADS))


def workload(name: str | None, task: str | None = None, registry: Registry | None = None, **overrides) -> Workload:
    """A workload ``task`` declares (default: its first) with ``overrides`` (``None`` values ignored), checked;
    ``registry`` knows the task (default: the built-in tasks)."""
    task = task or DEFAULT_TASK
    registry = registry or _builtins()
    offered = {w.name: w for w in declared_workloads(registry, task)}
    valid = list(offered)
    name = name or valid[0]
    if name not in offered:
        if _known_elsewhere(registry, name):
            raise HarnessError(f"workload {name!r} is not for task {task!r}; valid for {task}: {', '.join(valid)}")
        raise HarnessError(f"unknown workload {name!r}; valid: {', '.join(valid)} (for task {task})")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "target_acc" in given and "target_loss" not in given:
        given["target_loss"] = None  # the user's target replaces the workload's
    spec = offered[name]
    chosen = Workload(task=task, **{f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "description"})
    chosen = replace(chosen, **given)
    chosen.check()
    return chosen


#: Workload fields a user may override: option name -> (type, help); ``rounds``/``warmup`` may take a prefix.
OVERRIDES = {
    "num_examples": (int, "override the workload's N"),
    "num_inputs": (int, f"override the workload's D ({DEFAULT_TASK})"),
    "batch_size": (int, "override the workload's batch size"),
    "lr": (float, "override the workload's learning rate"),
    "seed": (int, "data, initial parameters and shuffling (default 0)"),
    "target_loss": (float, f"time to this training loss ({DEFAULT_TASK} default 1e-4)"),
    "target_acc": (float, "time to this test accuracy (image tasks; default digits 0.9, book-scale 0.8)"),
    "dataset": (str, "image tasks: digits, synthetic or fashion-mnist (the workload's by default)"),
    "data_dir": (str, "fashion-mnist: directory of its four .gz files"),
    "divisor": (str, "a step divides the summed gradient by: book (the fixed batch size, d2l's; default) "
                "or exact (the batch's real length)"),
    "rounds": (int, "timed epochs per combination (seed 10, large 5, digits 10, book 3)"),
    "warmup": (int, "untimed epochs before them (default 1)"),
}


def add_workload_options(add, timing_prefix: str = "") -> None:
    """Add ``--task``, ``--workload`` and the overrides with ``add`` (argparse's ``add_argument`` or pytest's
    ``addoption``)."""
    add("--task", default=None, help=f"{task_help()}, or a plugin's task")
    add("--workload", default=None, help=f"{workload_help()} (`harness tasks` lists each task's workloads)")
    for name, (kind, text) in OVERRIDES.items():
        prefix = timing_prefix if name in ("rounds", "warmup") else ""
        add(f"--{prefix}{name.replace('_', '-')}", type=kind, dest=f"{prefix}{name}".replace("-", "_"), help=text)


def workload_from(get, timing_prefix: str = "", registry: Registry | None = None) -> Workload:
    """The workload options added by :func:`add_workload_options`, read with ``get(dest)``."""
    def dest(name):
        return (timing_prefix if name in ("rounds", "warmup") else "").replace("-", "_") + name

    return workload(get("workload"), get("task"), registry, **{name: get(dest(name)) for name in OVERRIDES})


def _builtin_classes() -> tuple[type[Task], ...]:
    from harness.tasks import builtin

    return builtin.TASKS


def task_help() -> str:
    """``--task``'s help, from the built-in tasks: 'linreg (default), softmax, mlp'."""
    names = [cls.name for cls in _builtin_classes()]
    return ", ".join(f"{n} (default)" if n == DEFAULT_TASK else n for n in names)


def workload_help() -> str:
    """``--workload``'s help, from the built-in tasks' declared workloads (their first is the default)."""
    groups: dict[tuple, list[str]] = {}
    for cls in _builtin_classes():
        names = tuple(w.name + (f" ({w.description})" if w.description else "") + (" (default)" if i == 0 else "")
                      for i, w in enumerate(cls.workloads))
        groups.setdefault(names, []).append(cls.name)
    return "; ".join(f"{', '.join(tasks)}: " + ", ".join(names) for names, tasks in groups.items())

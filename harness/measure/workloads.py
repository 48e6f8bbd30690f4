"""Workloads: a task at a size with its hyper-parameters and measuring length, the built-in ones per task,
and the command-line options that pick and override them (for ``harness bench``, ``harness ab`` and
``pytest benchmarks/`` alike).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from harness.core.errors import HarnessError
from harness.core.registry import Registry
from harness.core.task import Target, Task
from harness.core.train import Settings


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
    task: str = "linreg"
    dataset: str | None = None
    data_dir: str | None = None
    target_acc: float | None = None

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
        return Settings.for_task(task, epochs=self.warmup + self.rounds, batch_size=self.batch_size, lr=self.lr)

    def target(self, task: Task) -> Target:
        if self.target_loss is not None:
            return Target("loss", self.target_loss)
        if self.target_acc is not None:
            return Target("test_acc", self.target_acc, higher=True)
        return task.target

    @property
    def label(self) -> str:
        """The workload's name, prefixed by its task unless that is the seed's."""
        return self.name if self.task == "linreg" else f"{self.task}-{self.name}"

    def as_dict(self) -> dict:
        return asdict(self)


#: Rounds chosen so each default matrix (16 combinations) stays near a minute on 2 cores.
WORKLOADS = {
    "seed": Workload("seed", num_examples=1000, num_inputs=2, batch_size=10, target_loss=1e-4, rounds=10, warmup=1),
    "large": Workload("large", num_examples=100_000, num_inputs=100, batch_size=1000, target_loss=1e-4, rounds=5,
                      warmup=1),
    # the image tasks: the bundled digits, the book's scale on synthetic images, Fashion-MNIST from files
    "digits": Workload("digits", dataset="digits", rounds=10, warmup=1),
    "book": Workload("book", dataset="synthetic", rounds=3, warmup=1),
    "fashion-mnist": Workload("fashion-mnist", dataset="fashion-mnist", rounds=3, warmup=1),
    # a plugin's task: its own data and defaults
    "default": Workload("default", rounds=5, warmup=1),
}
#: The built-in tasks' workloads; every other task has "default".
TASK_WORKLOADS = {"linreg": ("seed", "large"), "softmax": ("digits", "book", "fashion-mnist"),
                  "mlp": ("digits", "book", "fashion-mnist")}


def workloads_for(task: str) -> list[str]:
    return list(TASK_WORKLOADS.get(task, ("default",)))


def workload(name: str | None, task: str | None = None, **overrides) -> Workload:
    """A built-in workload (default: the task's first) for ``task`` with ``overrides`` (``None`` values ignored), checked."""
    task = task or "linreg"
    valid = workloads_for(task)
    name = name or valid[0]
    if name not in WORKLOADS:
        raise HarnessError(f"unknown workload {name!r}; valid: {', '.join(valid)} (for task {task})")
    if name not in valid:
        raise HarnessError(f"workload {name!r} is not for task {task!r}; valid for {task}: {', '.join(valid)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "target_acc" in given and "target_loss" not in given:
        given["target_loss"] = None  # the user's target replaces the workload's
    chosen = replace(WORKLOADS[name], task=task, **given)
    chosen.check()
    return chosen


#: Workload fields a user may override: option name -> (type, help); ``rounds``/``warmup`` may take a prefix.
OVERRIDES = {
    "num_examples": (int, "override the workload's N"),
    "num_inputs": (int, "override the workload's D (linreg)"),
    "batch_size": (int, "override the workload's batch size"),
    "lr": (float, "override the workload's learning rate"),
    "seed": (int, "data, initial parameters and shuffling (default 0)"),
    "target_loss": (float, "time to this training loss (linreg default 1e-4)"),
    "target_acc": (float, "time to this test accuracy (image tasks; default digits 0.9, book-scale 0.8)"),
    "dataset": (str, "image tasks: digits, synthetic or fashion-mnist (the workload's by default)"),
    "data_dir": (str, "fashion-mnist: directory of its four .gz files"),
    "rounds": (int, "timed epochs per combination (seed 10, large 5, digits 10, book 3)"),
    "warmup": (int, "untimed epochs before them (default 1)"),
}


def add_workload_options(add, timing_prefix: str = "") -> None:
    """Add ``--task``, ``--workload`` and the overrides with ``add`` (argparse's ``add_argument`` or pytest's ``addoption``)."""
    add("--task", default=None, help="linreg (default), softmax, mlp, or a plugin's task")
    add("--workload", default=None, help="linreg: seed (default) or large; image tasks: digits (default), book "
        "(synthetic 60,000 × 1×28×28, batch 256) or fashion-mnist")
    for name, (kind, text) in OVERRIDES.items():
        prefix = timing_prefix if name in ("rounds", "warmup") else ""
        add(f"--{prefix}{name.replace('_', '-')}", type=kind, dest=f"{prefix}{name}".replace("-", "_"), help=text)


def workload_from(get, timing_prefix: str = "") -> Workload:
    """The workload options added by :func:`add_workload_options`, read with ``get(dest)``."""
    def dest(name):
        return (timing_prefix if name in ("rounds", "warmup") else "").replace("-", "_") + name

    return workload(get("workload"), get("task"), **{name: get(dest(name)) for name in OVERRIDES})

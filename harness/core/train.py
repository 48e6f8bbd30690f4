"""Assemble one combination on one context and train it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import mxnet as mx
from mxnet import autograd

from harness.core.context import mover
from harness.core.errors import Diverged, HarnessError
from harness.core.registry import Registry
from harness.core.roles import Combination, Model
from harness.core.task import Task, seed_everything
from harness.core.timing import synced_clock


@dataclass(frozen=True)
class Settings:
    """The seed's hyper-parameters by default; :meth:`for_task` takes another task's."""

    epochs: int = 3
    batch_size: int = 10
    lr: float = 0.03
    shuffle: bool = True

    @classmethod
    def for_task(cls, task: Task, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, shuffle: bool = True) -> "Settings":
        """The task's defaults where a value is ``None``, checked against the task."""
        d = task.defaults
        settings = cls(d.epochs if epochs is None else epochs, d.batch_size if batch_size is None else batch_size,
                       d.lr if lr is None else lr, shuffle)
        settings.check(task)
        return settings

    def check(self, task: Task) -> None:
        if self.epochs <= 0:
            raise HarnessError(f"--epochs must be a positive integer, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise HarnessError(f"--lr must be a positive finite number, got {self.lr}")
        if not 0 < self.batch_size <= task.num_examples:
            raise HarnessError(
                f"--batch-size must be between 1 and --num-examples ({task.num_examples}), got {self.batch_size}"
            )

    def as_dict(self) -> dict:
        return asdict(self)


class Session:
    """One combination assembled on one context: the seed's training loop, role by role,
    or, for a fused combination, the plugin's fused step in place of model, loss and optimizer."""

    def __init__(self, registry: Registry, combo: Combination, task: Task, settings: Settings, ctx: mx.Context,
                 optimizer_options: dict | None = None):
        """``optimizer_options``: keywords for the optimizer factory (a distributed run's ``kvstore=`` ...)."""
        settings.check(task)
        factories = registry.resolve(combo, task.name)
        self.combo, self.task, self.settings, self.ctx = combo, task, settings, ctx
        seed_everything(task.seed)
        self.split = task.data(ctx)
        self.features, self.labels = self.split.features, self.split.labels
        self.data_iter = factories["data"]
        self.net = Model(factories["model"](*task.initial_params(ctx)))
        self.loss = factories["loss"]()  # a fused run still evaluates with it
        if combo.fused:
            self.step = None
            self.fused_step = registry.fused_step(combo, task.name)(self.net, settings.lr)
        else:
            self.step = factories["optimizer"](self.net, settings.lr, **(optimizer_options or {}))
            self.fused_step = None

    def run_epoch(self, lap=None) -> None:
        """One pass over the data; returns without waiting for the engine.

        ``lap(phase)``, if given, is called as each phase of a step ends:
        ``"data"``, ``"forward"`` (model and loss), ``"backward"``, ``"update"``;
        a fused step reports ``"data"`` and then the whole step as ``"update"``.
        """
        if self.fused_step is not None:
            return self._run_fused_epoch(lap)
        move, net, loss, step = mover(self.ctx), self.net, self.loss, self.step
        for X, y in self.data_iter(self.settings.batch_size, self.features, self.labels, self.settings.shuffle):
            X, y = move(X), move(y)
            if lap:
                lap("data")
            with autograd.record():
                l = loss(net(X), y)
            if lap:
                lap("forward")
            l.backward()
            if lap:
                lap("backward")
            step(X.shape[0])  # the real length: the last batch may be short
            if lap:
                lap("update")

    def _run_fused_epoch(self, lap) -> None:
        move, step = mover(self.ctx), self.fused_step
        for X, y in self.data_iter(self.settings.batch_size, self.features, self.labels, self.settings.shuffle):
            X, y = move(X), move(y)
            if lap:
                lap("data")
            step(X, y)
            if lap:
                lap("update")

    def metrics(self) -> dict:
        """The task's quality metrics now: mean training loss, as the seed prints it, and (classification) accuracies."""
        return self.task.metrics(self.net, self.loss, self.split)

    def evaluate(self) -> float:
        """Mean loss over the whole training set."""
        return self.metrics()["loss"]

    def arrays(self) -> list:
        """The parameters as NumPy in the task's layout (:meth:`harness.task.Task.canonical`)."""
        return self.task.canonical(self.net.arrays())

    def state(self) -> list:
        """The model's state beside its parameters (:meth:`harness.core.task.Task.state`), as NumPy."""
        return self.task.state(self.net)


@dataclass
class RunResult:
    combination: Combination
    ctx: str
    task: Task
    settings: Settings
    epochs: list[dict] = field(default_factory=list)
    params: dict | None = None
    diverged_at: int | None = None
    arrays: list | None = None  # final parameters as NumPy (not in the JSON)
    state: list | None = None  # final state (batch norm's moving statistics) as NumPy (not in the JSON)

    @property
    def final_loss(self) -> float:
        return self.epochs[-1]["loss"] if self.epochs else math.nan

    def as_dict(self) -> dict:
        return {
            "combination": self.combination.as_dict(),
            "ctx": self.ctx,
            "task": self.task.as_dict(),
            "settings": self.settings.as_dict(),
            "epochs": self.epochs,
            "params": self.params,
            "true_params": self.task.truth(),
            "diverged_at": self.diverged_at,
        }


def train(session: Session, on_epoch=None) -> RunResult:
    """Train for ``settings.epochs``; each epoch's time includes the engine finishing its work.

    Raises :class:`Diverged` (carrying the partial result) when the loss stops being finite.
    """
    result = RunResult(session.combo, str(session.ctx), session.task, session.settings)
    for epoch in range(1, session.settings.epochs + 1):
        start = synced_clock()
        session.run_epoch()
        seconds = synced_clock() - start
        record = {"epoch": epoch, **session.metrics(), "seconds": seconds}
        result.epochs.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(record["loss"]):
            result.diverged_at = epoch
            raise Diverged(epoch, result)
    result.arrays = session.arrays()
    result.state = session.state()
    result.params = session.task.param_summary(result.arrays)
    return result

"""Assemble one combination on one context and train it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import mxnet as mx
from mxnet import autograd, nd

from harness.core.context import mover
from harness.core.errors import Diverged, HarnessError
from harness.core.registry import Registry
from harness.core.roles import Combination, Model
from harness.core.task import Task, seed_everything
from harness.core.timing import synced_clock

#: How a step divides the batch's summed gradient: ``book`` by the fixed batch size, also on a short
#: last batch (``sgd(params, lr, batch_size)``, ``trainer.step(batch_size)`` in d2l); ``exact`` by the
#: batch's real length (the true mean gradient).
DIVISORS = ("book", "exact")


@dataclass(frozen=True)
class Settings:
    """The seed's hyper-parameters by default; :meth:`for_task` takes another task's.

    ``lr_default``: ``lr`` is the task's default, not the user's, so an algorithm with a learning
    rate of its own (the book's chapter 7 sections) takes that one instead.
    """

    epochs: int = 3
    batch_size: int = 10
    lr: float = 0.03
    shuffle: bool = True
    divisor: str = "book"
    lr_default: bool = False

    @classmethod
    def for_task(cls, task: Task, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, shuffle: bool = True, divisor: str | None = None) -> Settings:
        """The task's defaults where a value is ``None``, checked against the task."""
        d = task.defaults
        settings = cls(d.epochs if epochs is None else epochs, d.batch_size if batch_size is None else batch_size,
                       d.lr if lr is None else lr, shuffle, divisor or "book", lr is None)
        settings.check(task)
        return settings

    def check(self, task: Task) -> None:
        if self.divisor not in DIVISORS:
            raise HarnessError(f"--divisor must be one of {', '.join(DIVISORS)}, got {self.divisor!r}")
        if self.epochs <= 0:
            raise HarnessError(f"--epochs must be a positive integer, got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise HarnessError(f"--lr must be a positive finite number, got {self.lr}")
        if not 0 < self.batch_size <= task.num_examples:
            raise HarnessError(
                f"--batch-size must be between 1 and --num-examples ({task.num_examples}), got {self.batch_size}"
            )

    def as_dict(self) -> dict:
        out = asdict(self)
        del out["lr_default"]  # how lr was chosen, not a setting: the result reports the lr the run used
        return out


class Session:
    """One combination assembled on one context: the seed's training loop, role by role,
    or, for a fused combination, the plugin's fused step in place of model, loss and optimizer."""

    def __init__(self, registry: Registry, combo: Combination, task: Task, settings: Settings, ctx: mx.Context,
                 optimizer_options: dict | None = None):
        """``optimizer_options``: keywords for the optimizer factory (a distributed run's ``kvstore=`` ...)."""
        settings.check(task)
        factories = registry.resolve(combo, task.name)
        self.combo, self.task, self.settings, self.ctx = combo, task, settings, ctx
        #: the optimization algorithm run, its hyper-parameters and the learning rate (the algorithm's
        #: own when the user gave none and it has one, e.g. Adam's 0.01)
        self.algorithm = registry.effective_algorithm(combo, task.name)
        algorithm = registry.algorithm(self.algorithm)
        self.hyperparams = dict(algorithm.hyperparams)
        self.lr = algorithm.lr if settings.lr_default and algorithm.lr is not None else settings.lr
        self.running = task.running_metrics  # train_ch3's averages, accumulated during the epoch
        self._sums: dict | None = None
        self._seen = 0
        seed_everything(task.seed)
        self.split = task.data(ctx)
        self.features, self.labels = self.split.features, self.split.labels
        self.data_iter = factories["data"]
        self.net = Model(factories["model"](*task.initial_params(ctx)))
        self.loss = factories["loss"]()  # a fused run still evaluates with it
        if combo.fused:
            self.step = None
            self.fused_step = registry.fused_step(combo, task.name)(self.net, self.lr)
            self._check_fused_divisor()
        else:
            self.step = factories["optimizer"](self.net, self.lr, **self.hyperparams, **(optimizer_options or {}))
            self.fused_step = None

    def run_epoch(self, lap=None) -> None:
        """One pass over the data; returns without waiting for the engine.

        ``lap(phase)``, if given, is called as each phase of a step ends:
        ``"data"``, ``"forward"`` (model and loss), ``"backward"``, ``"update"``;
        a fused step reports ``"data"`` and then the whole step as ``"update"``.

        With :attr:`running` (the task prints ``train_ch3``'s line) each batch's loss sum and
        correct count are added, before its update, to sums that stay on the device: no host
        sync inside the step; :meth:`metrics` reads them once after the epoch.
        """
        if self.fused_step is not None:
            return self._run_fused_epoch(lap)
        move, net, loss, step = mover(self.ctx), self.net, self.loss, self.step
        batch_size = self.settings.batch_size
        book = self.settings.divisor == "book"
        sums = self._start_sums()
        terms = self.task.running_terms
        for X, y in self.data_iter(batch_size, self.features, self.labels, self.settings.shuffle):
            X, y = move(X), move(y)
            if lap:
                lap("data")
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y)
            if sums is not None:
                for key, value in terms(y_hat, y, l).items():
                    sums[key] += value  # queued on the engine, read after the epoch
                self._seen += X.shape[0]
            if lap:
                lap("forward")
            l.backward()
            if lap:
                lap("backward")
            step(batch_size if book else X.shape[0])  # book: the fixed size, also on a short last batch
            if lap:
                lap("update")

    def _start_sums(self) -> dict | None:
        if not self.running:
            return None
        self._sums, self._seen = {key: nd.zeros((1,), ctx=self.ctx) for key in self.task.running_keys}, 0
        return self._sums

    def _run_fused_epoch(self, lap) -> None:
        move, step = mover(self.ctx), self.fused_step
        batch_size = self.settings.batch_size
        book = self.settings.divisor == "book"
        self._sums = None  # a fused step returns no loss: its metrics are the whole-split evaluation
        for X, y in self.data_iter(batch_size, self.features, self.labels, self.settings.shuffle):
            X, y = move(X), move(y)
            if lap:
                lap("data")
            if book and X.shape[0] != batch_size:
                step(X, y, batch_size)  # the short last batch, divided by the fixed size
            else:
                step(X, y)
            if lap:
                lap("update")

    def _check_fused_divisor(self) -> None:
        """The book's rule on a short last batch needs ``step(X, y, batch_size)``; say so before any work."""
        import inspect

        short = self.task.num_examples % self.settings.batch_size
        if self.settings.divisor != "book" or not short:
            return
        try:
            takes = "batch_size" in inspect.signature(self.fused_step).parameters
        except (TypeError, ValueError):
            takes = True
        if not takes:
            raise HarnessError(f"fused step {self.combo.label} divides by the batch's real length and takes no "
                               f"batch_size: with --divisor book the last batch ({short} rows) needs it; use "
                               "--divisor exact or a --batch-size that divides the data")

    def metrics(self) -> dict:
        """The task's metrics after an epoch, as the book prints them.

        The whole-split evaluation (:meth:`harness.core.task.Task.metrics`: ``loss``, and for
        classification ``train_acc`` and ``test_acc``) is what the seed (3.2) prints.  When the
        task prints ``train_ch3``'s line, ``loss`` and ``train_acc`` are instead the epoch's running
        averages over its batches, taken before each update, and the whole-split values are kept
        as ``eval_loss`` and ``eval_train_acc``.
        """
        evaluated = self.task.metrics(self.net, self.loss, self.split)
        if not self._sums or not self._seen:
            return evaluated
        out = dict(evaluated)
        for key, total in self._sums.items():
            out[f"eval_{key}"] = evaluated.get(key)
            out[key] = float(total.asscalar()) / self._seen
        return out

    def evaluate(self) -> float:
        """Mean loss over the whole training set."""
        return self.task.metrics(self.net, self.loss, self.split)["loss"]

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
    hyperparams: dict = field(default_factory=dict)  # the algorithm's, besides lr

    @property
    def final_loss(self) -> float:
        return self.epochs[-1]["loss"] if self.epochs else math.nan

    def as_dict(self) -> dict:
        return {
            "combination": self.combination.as_dict(),
            "ctx": self.ctx,
            "task": self.task.as_dict(),
            "settings": self.settings.as_dict(),
            **({"hyperparams": self.hyperparams} if self.hyperparams else {}),
            "epochs": self.epochs,
            "params": self.params,
            "true_params": self.task.truth(),
            "diverged_at": self.diverged_at,
        }


def train(session: Session, on_epoch=None) -> RunResult:
    """Train for ``settings.epochs``; each epoch's time includes the engine finishing its work.

    Raises :class:`Diverged` (carrying the partial result) when the loss stops being finite.
    """
    settings = replace(session.settings, lr=session.lr)  # the learning rate the algorithm ran with
    result = RunResult(session.combo, str(session.ctx), session.task, settings)
    result.hyperparams = session.hyperparams
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

"""The task contract: what a task owns and what every other module asks it.

A task owns its data (a training and a test split, put on the run's context),
its initial parameters (named, ordered, drawn once from the seed so every model
starts from the same values), its default hyper-parameters, its quality
metrics and its time-to-quality target, its output contract (what a model
returns), and optionally its default components, its workloads and its
reference loops outside MXNet.  Models and losses are written for a task; data
loaders and optimizers only see batches and parameters, so they work for any
task.  The built-in tasks live in :mod:`harness.tasks` (one module each); a
plugin adds one with the ``register_tasks`` hook.

This module imports no MXNet (the arrays' methods do the work): the PyTorch
reference worker unpickles a task's reference loops, and with them this module,
in a process that must stay free of MXNet.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import mxnet as mx
    from mxnet import nd

#: Largest seed NumPy's ``RandomState`` takes (we also add 1 for the initial parameters).
MAX_SEED = 2**32 - 2


@dataclass(frozen=True)
class Defaults:
    """A task's hyper-parameters when the user gives none (the book's, or the seed's)."""

    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Target:
    """Time-to-quality: the first epoch whose ``metric`` is below (``higher=False``) or above ``value``."""

    metric: str  # "loss" or "test_acc"
    value: float
    higher: bool = False

    def reached(self, metrics: dict) -> bool:
        got = metrics.get(self.metric)
        if got is None or not math.isfinite(got):
            return False
        return got >= self.value if self.higher else got < self.value

    def describe(self) -> str:
        return f"{self.metric} {'>=' if self.higher else '<'} {self.value:g}"


#: The output contracts: what ``net(X)`` returns for a batch of ``b`` rows, and the loss it is written for.
REGRESSION = "regression"  # (b, 1) real values; squared loss (y_hat - y)**2 / 2
BINARY = "binary"  # (b, 1) one logit, labels 0/1; logistic loss -log sigmoid(±y_hat)
CLASSES = "classes"  # (b, k) one score per class before the softmax; softmax cross-entropy
OUTPUTS = (REGRESSION, BINARY, CLASSES)


@dataclass(frozen=True)
class TaskWorkload:
    """A named size of a task for ``harness bench``/``ab`` (``--workload NAME``); ``None`` takes the task's value.

    ``num_examples``/``num_inputs``/``dataset`` build the task (only the options it takes), ``batch_size``/``lr``
    train it, ``target_loss``/``target_acc`` replace its target, ``rounds`` timed epochs follow ``warmup`` ones."""

    name: str
    num_examples: int | None = None
    num_inputs: int | None = None
    dataset: str | None = None
    batch_size: int | None = None
    lr: float | None = None
    target_loss: float | None = None
    target_acc: float | None = None
    rounds: int = 10
    warmup: int = 1
    description: str = ""  # for --workload's help, e.g. "synthetic 60,000 × 1×28×28, batch 256"


#: What a task without workloads of its own is benchmarked at: its own data and defaults.
DEFAULT_WORKLOADS = (TaskWorkload("default", rounds=5, warmup=1),)


@dataclass(frozen=True)
class ReferenceLoops:
    """A task's maths outside MXNet, for the reference rows of ``harness bench``; a loop left ``None`` has no row.

    Module-level functions on float32 arrays (the PyTorch worker imports ``torch_scores`` by its module and
    name), the parameters in the task's order, ``X`` flattened to ``(b, inputs)``:

    * ``numpy_scores(params, X)``: the model's output, as the task's output contract shapes it;
    * ``numpy_step(params, X, y, scale)``: one SGD step with the analytic gradient, in place, ``scale = lr / b``
      (``y`` is ``(b, 1)`` for one output, class indices ``(b,)`` for scores per class);
    * ``torch_scores(params, X)``: the output with PyTorch tensors; autograd and the contract's loss do the rest.

    The loss, the accuracies and the update around these come from the output contract, in
    :mod:`harness.tasks.reference`.
    """

    numpy_scores: Callable | None = None
    numpy_step: Callable | None = None
    torch_scores: Callable | None = None
    #: why a reference has no loop, by reference name ("numpy", "torch"): what bench shows for the missing row
    why_none: dict | None = None


@dataclass
class Split:
    """A task's data on one context: the training split, and the test split when the task has one."""

    features: nd.NDArray
    labels: nd.NDArray
    test_features: nd.NDArray | None = None
    test_labels: nd.NDArray | None = None


def check_seed(seed: int) -> None:
    if not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        raise HarnessError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed}")


class Task:
    """Base class of every task; subclasses set the class attributes and implement the methods.

    ``param_names``/``param_shapes``: the initial parameters in order; a model
    factory receives them as positional arrays (``model(*params)``) and must start
    from exactly those values.  A model may hold a 2-D weight transposed (Gluon's
    ``Dense`` stores ``(out, in)``); :meth:`canonical` undoes that for comparisons.
    """

    name: str = ""
    kind: str = ""  # "regression" or "classification"
    description: str = ""
    defaults: Defaults
    target: Target
    #: default components by role, e.g. ``{"model": "mine"}``: what ``run`` trains when the user names none
    #: (a role not named here: the seed's scratch)
    components: dict = {}
    #: the workloads ``harness bench --workload NAME`` offers, the first the default
    workloads: tuple = DEFAULT_WORKLOADS
    #: the maths outside MXNet for the reference rows (``None``: none)
    reference_loops: ReferenceLoops | None = None
    #: what a verify run compares with, and the largest difference it accepts
    tolerance: float = 1e-5
    #: epochs ``harness verify`` trains when not told (None: the task's default epochs); rounding
    #: differences between equal maths (a fused log-softmax vs the book's softmax then log) grow
    #: with training, so a task may verify over fewer epochs than it trains
    verify_epochs: int | None = None
    #: learning rate and training rows ``harness verify`` uses when not told (None: the task's); a chaotic task
    #: (LeNet with batch norm at lr 1.0 doubles a rounding difference every step) verifies over a short, gentle run
    verify_lr: float | None = None
    verify_num_examples: int | None = None
    seed: int = 0

    @property
    def output(self) -> str:
        """The output contract (:data:`OUTPUTS`): a regression task's is :data:`REGRESSION`, a classification
        task's :data:`CLASSES`; a binary classifier with one logit sets ``output = BINARY``."""
        return CLASSES if self.kind == "classification" else REGRESSION

    # --- data and parameters ---------------------------------------------------
    @property
    def num_examples(self) -> int:
        """Rows in the training split."""
        raise NotImplementedError

    @property
    def param_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def param_shapes(self) -> tuple[tuple[int, ...], ...]:
        raise NotImplementedError

    def data(self, ctx: mx.Context) -> Split:
        """The data on ``ctx``, the same values on every context and every call."""
        raise NotImplementedError

    def initial_params(self, ctx: mx.Context) -> list[nd.NDArray]:
        """Fresh arrays on ``ctx``, ordered as :attr:`param_names`."""
        raise NotImplementedError

    def as_dict(self) -> dict:
        raise NotImplementedError

    # --- quality ------------------------------------------------------------------
    def metrics(self, net, loss, split: Split) -> dict:
        """``{"loss": mean training loss}`` after an epoch; classification adds ``train_acc`` and ``test_acc``."""
        out = {"loss": _mean_loss(net, loss, split.features, split.labels)}
        if self.kind == "classification":
            out["train_acc"] = accuracy(net, split.features, split.labels)
            out["test_acc"] = accuracy(net, split.test_features, split.test_labels)
        return out

    @property
    def running_metrics(self) -> bool:
        """Whether the printed ``loss`` (and ``train_acc``) are ``train_ch3``'s running averages over the
        epoch's batches, taken before each update (d2l 3.6 on: the classification tasks), rather than the
        whole training split evaluated after the epoch (the seed's 3.2 line: regression)."""
        return self.kind == "classification"

    @property
    def running_keys(self) -> tuple[str, ...]:
        """The metrics :meth:`running_terms` returns."""
        return ("loss", "train_acc") if self.kind == "classification" else ("loss",)

    def running_terms(self, y_hat, y, l) -> dict:
        """One batch's contribution to the running sums, as NDArrays (no host sync): ``train_ch3``'s
        ``l.sum()`` and ``(y_hat.argmax(axis=1) == y).sum()``."""
        terms = {"loss": l.sum()}
        if self.kind == "classification":
            terms["train_acc"] = (y_hat.argmax(axis=1) == y.astype("float32")).sum()
        return terms

    def canonical(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Parameters as NumPy in :attr:`param_shapes` (a transposed 2-D weight turned back)."""
        out = []
        for a, shape in zip(arrays, self.param_shapes):
            a = np.asarray(a, dtype=np.float64)
            if a.shape != shape and a.ndim == 2 and a.T.shape == shape:
                a = a.T
            out.append(a.reshape(shape))
        return out

    def state(self, model) -> list[np.ndarray]:
        """The model's state beside its parameters (batch norm's moving statistics) as NumPy, compared by
        ``harness verify``; none by default."""
        return []

    def truth(self) -> dict | None:
        """The true parameters by name, when the task knows them (synthetic regression)."""
        return None

    def param_error(self, arrays: list[np.ndarray]) -> float | None:
        """Largest ``|learned - true|`` over every parameter; ``None`` when the truth is unknown."""
        return None

    def param_summary(self, arrays: list[np.ndarray]) -> dict:
        """The learned parameters as JSON: shape and norm of each (small tasks give the values)."""
        return {name: {"shape": list(a.shape), "norm": float(np.linalg.norm(a))}
                for name, a in zip(self.param_names, self.canonical(arrays))}

    def epoch_line(self, epoch: int, metrics: dict, seconds: float) -> str:
        """What ``harness run`` prints after each epoch."""
        return f"epoch {epoch}, loss {metrics['loss']:f} ({seconds:.3f}s)"


def declared(make_task: Callable) -> type[Task] | None:
    """The :class:`Task` class a registered ``make_task`` builds, when that shows without building one: the
    class itself, or a classmethod of it (``None`` for any other function)."""
    for candidate in (make_task, getattr(make_task, "__self__", None)):
        if isinstance(candidate, type) and issubclass(candidate, Task):
            return candidate
    return None


def _mean_loss(net, loss, features, labels, chunk: int = 8192) -> float:
    """Mean of the per-example loss over a split, in chunks so large splits need little memory."""
    total = 0.0
    for i in range(0, features.shape[0], chunk):
        total += float(loss(net(features[i:i + chunk]), labels[i:i + chunk]).sum().asscalar())
    return total / features.shape[0]


def accuracy(net, features, labels, chunk: int = 8192) -> float:
    """The book's ``evaluate_accuracy``: share of rows whose highest score is the label; with one output
    per row (a binary classifier's logit) the prediction is 1 where it is positive."""
    right = 0.0
    for i in range(0, features.shape[0], chunk):
        y_hat = net(features[i:i + chunk])
        if y_hat.ndim == 1 or y_hat.shape[1] == 1:
            predicted = y_hat.reshape((-1,)) > 0
        else:
            predicted = y_hat.argmax(axis=1)
        right += float((predicted == labels[i:i + chunk].astype("float32")).sum().asscalar())
    return right / features.shape[0]


def seed_everything(seed: int) -> None:
    """Seed every RNG a plugin may draw from: Python's (seed ``data_iter``), NumPy's (Gluon ``DataLoader``), MXNet's."""
    import mxnet as mx

    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)

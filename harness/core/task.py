"""The task contract: what a task owns and what every other module asks it.

A task owns its data (a training and a test split, put on the run's context),
its initial parameters (named, ordered, drawn once from the seed so every model
starts from the same values), its default hyper-parameters, its quality
metrics and its time-to-quality target.  Models and losses are written for a
task; data loaders and optimizers only see batches and parameters, so they
work for any task.  Built-in tasks live in :mod:`harness.tasks.builtin`; a plugin adds
one with the ``register_tasks`` hook.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import mxnet as mx
import numpy as np
from mxnet import nd

from harness.core.errors import HarnessError

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
    #: what a verify run compares with, and the largest difference it accepts
    tolerance: float = 1e-5
    #: epochs ``harness verify`` trains when not told (None: the task's default epochs); rounding
    #: differences between equal maths (a fused log-softmax vs the book's softmax then log) grow
    #: with training, so a task may verify over fewer epochs than it trains
    verify_epochs: int | None = None
    seed: int = 0

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
        """``{"loss": mean training loss, ...}`` after an epoch; classification adds accuracies."""
        return {"loss": _mean_loss(net, loss, split.features, split.labels)}

    def canonical(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Parameters as NumPy in :attr:`param_shapes` (a transposed 2-D weight turned back)."""
        out = []
        for a, shape in zip(arrays, self.param_shapes):
            a = np.asarray(a, dtype=np.float64)
            if a.shape != shape and a.ndim == 2 and a.T.shape == shape:
                a = a.T
            out.append(a.reshape(shape))
        return out

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
        return "epoch %d, loss %f (%.3fs)" % (epoch, metrics["loss"], seconds)


def _mean_loss(net, loss, features, labels, chunk: int = 8192) -> float:
    """Mean of the per-example loss over a split, in chunks so large splits need little memory."""
    total = 0.0
    for i in range(0, features.shape[0], chunk):
        total += float(loss(net(features[i:i + chunk]), labels[i:i + chunk]).sum().asscalar())
    return total / features.shape[0]


def accuracy(net, features, labels, chunk: int = 8192) -> float:
    """The book's ``evaluate_accuracy``: share of rows whose highest score is the label."""
    right = 0.0
    for i in range(0, features.shape[0], chunk):
        y_hat = net(features[i:i + chunk])
        right += float((y_hat.argmax(axis=1) == labels[i:i + chunk].astype("float32")).sum().asscalar())
    return right / features.shape[0]


def seed_everything(seed: int) -> None:
    """Seed every RNG a plugin may draw from: Python's (seed ``data_iter``), NumPy's (Gluon ``DataLoader``), MXNet's."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)

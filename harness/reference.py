"""Reference implementations of the seed's workload outside MXNet, to put
MXNet's numbers in context.  They are not plugins and do not mix with roles.

Each reference trains on the host's data (``Task.data`` on the CPU) from the
host's initial parameters (``Task.initial_params``), in float32, with the
seed's step ``w ← w − lr·Σgrad/b`` and the harness's batch order policy:
shuffle once per epoch (``settings.shuffle``), else row order.  The API is
the part of :class:`harness.train.Session` a timing loop needs::

    ref = NumpyReference(task, settings)
    for epoch in range(settings.epochs):
        ref.run_epoch()        # synchronous: nothing is left queued
    loss = ref.evaluate()      # mean squared-error term over the whole set
    arrays = ref.arrays()      # [w, b] as NumPy, like Session.arrays

:func:`references` lists every reference with why it cannot run here, if so.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import mxnet as mx
import numpy as np

from .task import Task

#: Shuffled data up to this size is gathered once per epoch, larger data per batch.
GATHER_ONCE_BYTES = 4 << 20


def _host_arrays(task: Task):
    """The host's data and initial parameters as float32 NumPy arrays."""
    split = task.data(mx.cpu())
    w, b = task.initial_params(mx.cpu())
    return split.features.asnumpy(), split.labels.asnumpy(), w.asnumpy(), b.asnumpy()


class _Reference:
    """Data, batch order and bookkeeping shared by the references."""

    name = ""

    def __init__(self, task: Task, settings):
        self.task, self.settings = task, settings
        self.features, self.labels, self.w0, self.b0 = _host_arrays(task)
        self.num_examples = len(self.features)
        self.batch_size = settings.batch_size
        # its own generator, seeded like the host's, so a reference never
        # disturbs (or is disturbed by) anything else drawing random numbers
        self.rng = np.random.RandomState(task.seed)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.num_examples // self.batch_size)

    def _batches(self, features, labels, gather):
        """One epoch's ``(X, y)`` batches of ``features``/``labels`` (this reference's array type).

        Shuffling draws one permutation per epoch.  Small data is gathered once
        and sliced; large data is gathered batch by batch as it is needed (the
        same batches, without a fresh N×D copy per epoch: at N=1e5, D=100 the
        copy's page faults cost more than the maths).
        """
        n, size = self.num_examples, self.batch_size
        order = self.rng.permutation(n) if self.settings.shuffle else None
        if order is not None and self.features.nbytes <= GATHER_ONCE_BYTES:
            features, labels, order = gather(features, order), gather(labels, order), None
        for i in range(0, n, size):
            if order is None:
                yield features[i:i + size], labels[i:i + size]
            else:
                rows = order[i:i + size]
                yield gather(features, rows), gather(labels, rows)


class NumpyReference(_Reference):
    """The speed-of-light row: NumPy with the analytic gradient, no autograd.

    For ``l = (X·w + b − y)² / 2`` summed over a batch: ``∂l/∂w = Xᵀ·err`` and
    ``∂l/∂b = Σ err`` with ``err = X·w + b − y``.
    """

    name = "numpy"

    def __init__(self, task: Task, settings):
        super().__init__(task, settings)
        self.w = self.w0.copy()  # (num_inputs, 1)
        self.b = self.b0.copy()  # (1,)
        self.lr = np.float32(settings.lr)

    def run_epoch(self) -> None:
        w, b, lr = self.w, self.b, self.lr
        labels = self.labels.reshape(-1, 1)
        for X, y in self._batches(self.features, labels, lambda a, rows: a.take(rows, axis=0)):
            err = X @ w + b - y  # (b, 1)
            scale = lr / np.float32(len(X))
            w -= scale * (X.T @ err)  # in place: w, b stay the same arrays
            b -= scale * err.sum(axis=0)

    def evaluate(self) -> float:
        err = self.features @ self.w + self.b - self.labels.reshape(-1, 1)
        return float(np.mean(err * err / 2))

    def arrays(self) -> list[np.ndarray]:
        return [self.w.copy(), self.b.copy()]


class TorchReference(_Reference):
    """PyTorch eager in the seed's style: autograd for the gradient, a manual
    SGD step under ``no_grad``.

    The fastest eager variant measured (docs/performance.md): ``addmm`` for
    ``X·w + b``, the seed's loss as one summed ``mse_loss`` / 2, ``sub_`` with
    ``alpha=lr/b`` for the update, and gradients dropped (``grad = None``)
    rather than zeroed.
    """

    name = "torch"

    def __init__(self, task: Task, settings):
        super().__init__(task, settings)
        import torch
        import torch.nn.functional

        self.torch, self.F = torch, torch.nn.functional
        self.X = torch.from_numpy(self.features)
        self.y = torch.from_numpy(self.labels)
        self.w = torch.from_numpy(self.w0.copy()).requires_grad_()
        self.b = torch.from_numpy(self.b0.copy()).requires_grad_()
        self.lr = float(settings.lr)

    def run_epoch(self) -> None:
        torch, F = self.torch, self.F
        w, b, lr = self.w, self.b, self.lr

        def gather(a, rows):
            return torch.index_select(a, 0, torch.from_numpy(rows))

        for X, y in self._batches(self.X, self.y.view(-1, 1), gather):
            l = F.mse_loss(torch.addmm(b, X, w), y, reduction="sum") / 2  # Σ (ŷ − y)² / 2
            l.backward()
            with torch.no_grad():
                w.sub_(w.grad, alpha=lr / len(X))
                b.sub_(b.grad, alpha=lr / len(X))
            w.grad = None
            b.grad = None

    def evaluate(self) -> float:
        with self.torch.no_grad():
            err = self.torch.addmm(self.b, self.X, self.w) - self.y.view(-1, 1)
            return float((err * err / 2).mean())

    def arrays(self) -> list[np.ndarray]:
        return [self.w.detach().numpy().copy(), self.b.detach().numpy().copy()]


@dataclass(frozen=True)
class ReferenceInfo:
    """One reference; ``factory(task, settings)`` builds it when ``skip_reason`` is None."""

    name: str
    factory: Callable
    skip_reason: str | None = None
    tasks: tuple[str, ...] = ("linreg",)

    @property
    def available(self) -> bool:
        return self.skip_reason is None


def _import_error(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # not installed, or installed but broken
        return f"{module} is not importable ({type(exc).__name__}: {exc})"
    return None


def references() -> list[ReferenceInfo]:
    """Every reference, each with the reason it cannot run here (None when it can)."""
    torch_missing = _import_error("torch")
    if torch_missing:
        torch_missing += "; install it with: pip install 'mxnet-harness[torch]'"
    return [
        ReferenceInfo(NumpyReference.name, NumpyReference),
        ReferenceInfo(TorchReference.name, TorchReference, torch_missing),
    ]

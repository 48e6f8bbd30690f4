"""``linreg``: the seed's synthetic linear regression ``o = X·w* + b* + noise`` (d2l 3.2/3.3), the default task.

Its facts live here: the task, its workloads (``seed``, ``large``) and its reference loops outside MXNet.
MXNet is imported where the arrays are made: the PyTorch reference worker imports this module for
:func:`torch_scores` and must stay free of MXNet.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.core.errors import HarnessError
from harness.core.task import Defaults, ReferenceLoops, Split, Target, Task, TaskWorkload, check_seed

NAME = "linreg"
SEED_W = (2.0, -3.4)
SEED_B = 4.2

#: Rounds chosen so each default matrix (16 combinations) stays near a minute on 2 cores.
WORKLOADS = (
    TaskWorkload("seed", num_examples=1000, num_inputs=2, batch_size=10, target_loss=1e-4, rounds=10, warmup=1),
    TaskWorkload("large", num_examples=100_000, num_inputs=100, batch_size=1000, target_loss=1e-4, rounds=5, warmup=1),
)


# --- reference loops: l = (X·w + b − y)² / 2 summed over a batch ------------------------------------------------------

def numpy_scores(params, X):
    w, b = params
    return X @ w + b


def numpy_step(params, X, y, scale):
    """``∂l/∂w = Xᵀ·err``, ``∂l/∂b = Σ err`` with ``err = X·w + b − y``."""
    w, b = params
    err = X @ w + b - y  # (b, 1)
    w -= scale * (X.T @ err)
    b -= scale * err.sum(axis=0)


def torch_scores(params, X):
    import torch

    w, b = params
    return torch.addmm(b, X, w)


@dataclass(frozen=True)
class LinReg(Task):
    """``o = X·w* + b* + noise`` (the seed's task); the seed's sizes by default."""

    num_examples: int = 1000
    num_inputs: int = 2
    noise: float = 0.01
    seed: int = 0

    name = NAME
    kind = "regression"
    description = "linear regression o = X·w + b on synthetic data (the seed, d2l 3.2/3.3)"
    defaults = Defaults(epochs=3, batch_size=10, lr=0.03)
    target = Target("loss", 1e-4)
    tolerance = 1e-5
    workloads = WORKLOADS
    reference_loops = ReferenceLoops(numpy_scores, numpy_step, torch_scores)

    def __post_init__(self):
        if not (isinstance(self.num_examples, int) and self.num_examples > 0):
            raise HarnessError(f"--num-examples must be a positive integer, got {self.num_examples}")
        if not (isinstance(self.num_inputs, int) and self.num_inputs > 0):
            raise HarnessError(f"--num-inputs must be a positive integer, got {self.num_inputs}")
        if not self.noise >= 0:
            raise HarnessError(f"noise must be >= 0, got {self.noise}")
        check_seed(self.seed)
        from harness.tasks.datasets import check_memory

        # NumPy draws float64, MXNet keeps float32: 12 bytes per value at the peak
        check_memory(self.num_examples * (self.num_inputs + 1) * 12,
                     f"--num-examples {self.num_examples} --num-inputs {self.num_inputs}")

    @property
    def true_w(self) -> np.ndarray:
        """The seed's ``[2, -3.4]``, repeated to ``num_inputs`` entries."""
        return np.resize(np.array(SEED_W), self.num_inputs)

    @property
    def true_b(self) -> float:
        return SEED_B

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("w", "b")

    @property
    def param_shapes(self):
        return ((self.num_inputs, 1), (1,))

    def as_dict(self) -> dict:
        return asdict(self)

    def data(self, ctx) -> Split:
        """Drawn with NumPy so every context sees the same values; no test split (the truth is known)."""
        from mxnet import nd

        rng = np.random.RandomState(self.seed)
        features = rng.normal(scale=1, size=(self.num_examples, self.num_inputs))
        labels = features @ self.true_w + self.true_b
        labels += rng.normal(scale=self.noise, size=labels.shape)
        return Split(nd.array(features, ctx=ctx), nd.array(labels, ctx=ctx))

    def initial_params(self, ctx) -> list:
        """The seed's initial ``w ~ N(0, 0.01²)`` of shape ``(num_inputs, 1)`` and ``b = 0``."""
        from mxnet import nd

        rng = np.random.RandomState(self.seed + 1)
        w = rng.normal(scale=0.01, size=(self.num_inputs, 1))
        return [nd.array(w, ctx=ctx), nd.zeros(shape=(1,), ctx=ctx)]

    def truth(self) -> dict:
        return {"w": self.true_w.tolist(), "b": self.true_b}

    def param_error(self, arrays) -> float:
        w, b = self.canonical(arrays)
        return float(np.max(np.abs(np.append(w.reshape(-1), b) - np.append(self.true_w, self.true_b))))

    def param_summary(self, arrays) -> dict:
        w, b = self.canonical(arrays)
        return {"w": w.reshape(-1).tolist(), "b": float(b.reshape(-1)[0])}

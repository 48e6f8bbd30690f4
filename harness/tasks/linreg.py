"""``linreg``: the seed's synthetic linear regression ``o = X·w* + b* + noise`` (d2l 3.2/3.3), the default task.

Its facts live here: the task, its workloads (``seed``, ``large``) and its reference loops outside MXNet.
MXNet is imported where the arrays are made: the PyTorch reference worker imports this module for
:func:`torch_scores` and must stay free of MXNet.
"""
from __future__ import annotations

import functools
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
    # d2l chapter 7's train_ch7 (batch 10) on real regression data: scikit-learn's diabetes, the airfoil's stand-in
    TaskWorkload("ch7", dataset="diabetes", rounds=5, warmup=1,
                 description="chapter 7: scikit-learn's diabetes (442 × 10), batch 10, 2 epochs' lr 0.05"),
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
    """``o = X·w* + b* + noise`` (the seed's task); the seed's sizes by default.

    ``dataset``: ``synthetic`` (the seed's), or chapter 7's real regression data (``airfoil`` from its
    file in ``data_dir``; ``diabetes``, bundled with scikit-learn), whose size fixes N and D."""

    num_examples: int = 1000
    num_inputs: int = 2
    noise: float = 0.01
    seed: int = 0
    dataset: str = "synthetic"
    data_dir: str | None = None

    name = NAME
    kind = "regression"
    description = ("linear regression o = X·w + b on synthetic data (the seed, d2l 3.2/3.3) "
                   "or --dataset airfoil/diabetes")
    tolerance = 1e-5

    @property
    def defaults(self) -> Defaults:
        # the seed's; on real data train_ch7's: batch 10, 2 epochs, 7.3's lr 0.05
        return Defaults(epochs=3, batch_size=10, lr=0.03) if self.real is None else Defaults(2, 10, 0.05)

    @property
    def target(self) -> Target:
        """The seed's loss 1e-4; on real data within 5 % of the least-squares optimum (the noise floor)."""
        return Target("loss", 1e-4) if self.real is None else Target("loss", round(1.05 * _optimum(self.real), 4))

    @property
    def real(self):
        """The real data set (:class:`harness.tasks.datasets.RegressionData`), or ``None`` for synthetic data."""
        if self.dataset == "synthetic":
            return None
        return _regression(self.dataset, self.data_dir)
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
        from harness.tasks.datasets import REGRESSION_DATASETS, check_memory

        if self.dataset not in REGRESSION_DATASETS:
            raise HarnessError(f"unknown --dataset {self.dataset!r} for task linreg; "
                               f"valid: {', '.join(REGRESSION_DATASETS)}")
        if self.dataset != "synthetic":
            if (self.num_examples, self.num_inputs) != (1000, 2):
                raise HarnessError("--num-examples and --num-inputs apply to synthetic data; "
                                   f"{self.dataset} has a fixed size")
            data = self.real  # load (and fail on a missing file) before any work
            object.__setattr__(self, "num_examples", len(data.labels))
            object.__setattr__(self, "num_inputs", data.features.shape[1])
        elif self.data_dir is not None:
            raise HarnessError("--data-dir applies to --dataset airfoil only")

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
        out = asdict(self)
        if self.dataset == "synthetic":  # the seed's JSON stays what it always was
            del out["dataset"], out["data_dir"]
        return out

    def data(self, ctx) -> Split:
        """Drawn with NumPy so every context sees the same values; no test split (the truth is known)."""
        from mxnet import nd

        if self.real is not None:
            return Split(nd.array(self.real.features, ctx=ctx), nd.array(self.real.labels, ctx=ctx))

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

    def truth(self) -> dict | None:
        return {"w": self.true_w.tolist(), "b": self.true_b} if self.real is None else None

    def param_error(self, arrays) -> float | None:
        if self.real is not None:
            return None
        w, b = self.canonical(arrays)
        return float(np.max(np.abs(np.append(w.reshape(-1), b) - np.append(self.true_w, self.true_b))))

    def param_summary(self, arrays) -> dict:
        w, b = self.canonical(arrays)
        return {"w": w.reshape(-1).tolist(), "b": float(b.reshape(-1)[0])}


@functools.lru_cache(maxsize=4)
def _regression(dataset: str, data_dir: str | None):
    from harness.tasks import datasets

    return datasets.load_regression(dataset, data_dir)


def _optimum(data) -> float:
    """The smallest mean squared loss ``(ŷ - y)² / 2`` a linear model reaches on ``data`` (least squares)."""
    X = np.column_stack([data.features, np.ones(len(data.labels))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(X, data.labels, rcond=None)
    return float(np.mean((X @ coef - data.labels) ** 2) / 2)

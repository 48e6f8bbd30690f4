"""The seed's synthetic regression task, owned by the host so every combination
trains on the same data from the same initial parameters."""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import mxnet as mx
import numpy as np
from mxnet import nd

from .errors import HarnessError

SEED_W = (2.0, -3.4)
SEED_B = 4.2


@dataclass(frozen=True)
class Task:
    """``o = X·w* + b* + noise``; the seed's sizes by default."""

    num_examples: int = 1000
    num_inputs: int = 2
    noise: float = 0.01
    seed: int = 0

    def __post_init__(self):
        if self.num_examples <= 0:
            raise HarnessError(f"--num-examples must be a positive integer, got {self.num_examples}")
        if self.num_inputs <= 0:
            raise HarnessError(f"--num-inputs must be a positive integer, got {self.num_inputs}")
        if not self.noise >= 0:
            raise HarnessError(f"noise must be >= 0, got {self.noise}")

    @property
    def true_w(self) -> np.ndarray:
        """The seed's ``[2, -3.4]``, repeated to ``num_inputs`` entries."""
        return np.resize(np.array(SEED_W), self.num_inputs)

    @property
    def true_b(self) -> float:
        return SEED_B

    def as_dict(self) -> dict:
        return asdict(self)

    def data(self, ctx: mx.Context) -> tuple[nd.NDArray, nd.NDArray]:
        """``(features, labels)`` on ``ctx``; drawn with NumPy so every context sees the same values."""
        rng = np.random.RandomState(self.seed)
        features = rng.normal(scale=1, size=(self.num_examples, self.num_inputs))
        labels = features @ self.true_w + self.true_b
        labels += rng.normal(scale=self.noise, size=labels.shape)
        return nd.array(features, ctx=ctx), nd.array(labels, ctx=ctx)

    def initial_params(self, ctx: mx.Context) -> tuple[nd.NDArray, nd.NDArray]:
        """The seed's initial ``w ~ N(0, 0.01²)`` of shape ``(num_inputs, 1)`` and ``b = 0``; fresh arrays each call."""
        rng = np.random.RandomState(self.seed + 1)
        w = rng.normal(scale=0.01, size=(self.num_inputs, 1))
        return nd.array(w, ctx=ctx), nd.zeros(shape=(1,), ctx=ctx)


def seed_everything(seed: int) -> None:
    """Seed every RNG a plugin may draw from: Python's (seed ``data_iter``), NumPy's (Gluon ``DataLoader``), MXNet's."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)

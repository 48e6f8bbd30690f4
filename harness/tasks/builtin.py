"""The built-in tasks, registered through the same hook a third-party task uses.

* ``linreg``: the seed's synthetic linear regression (d2l 3.2/3.3);
* ``softmax``: softmax regression on images (d2l 3.6/3.7);
* ``mlp``: the multilayer perceptron 784 → 256 ReLU → 10 (d2l 3.9/3.10).

The image tasks train on :mod:`harness.tasks.datasets`: the bundled handwritten
digits by default, Fashion-MNIST from files, or synthetic images at the
book's scale for timing.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import mxnet as mx
import numpy as np
from mxnet import nd

from harness.core.errors import HarnessError
from harness.core.hookspecs import hookimpl
from harness.core.task import Defaults, Split, Target, Task, accuracy, check_seed

SEED_W = (2.0, -3.4)
SEED_B = 4.2


@dataclass(frozen=True)
class LinReg(Task):
    """``o = X·w* + b* + noise`` (the seed's task); the seed's sizes by default."""

    num_examples: int = 1000
    num_inputs: int = 2
    noise: float = 0.01
    seed: int = 0

    name = "linreg"
    kind = "regression"
    description = "linear regression o = X·w + b on synthetic data (the seed, d2l 3.2/3.3)"
    defaults = Defaults(epochs=3, batch_size=10, lr=0.03)
    target = Target("loss", 1e-4)
    tolerance = 1e-5

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

    def data(self, ctx: mx.Context) -> Split:
        """Drawn with NumPy so every context sees the same values; no test split (the truth is known)."""
        rng = np.random.RandomState(self.seed)
        features = rng.normal(scale=1, size=(self.num_examples, self.num_inputs))
        labels = features @ self.true_w + self.true_b
        labels += rng.normal(scale=self.noise, size=labels.shape)
        return Split(nd.array(features, ctx=ctx), nd.array(labels, ctx=ctx))

    def initial_params(self, ctx: mx.Context) -> list[nd.NDArray]:
        """The seed's initial ``w ~ N(0, 0.01²)`` of shape ``(num_inputs, 1)`` and ``b = 0``."""
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


#: Per data set: (softmax defaults, mlp defaults, test-accuracy target). The book's for Fashion-MNIST
#: (batch 256, 5 epochs, lr 0.1 / 0.5); chosen on digits so both models pass 0.9 in the default epochs.
_IMAGE_DEFAULTS = {
    "digits": (Defaults(10, 32, 0.5), Defaults(10, 32, 0.5), 0.9),
    "fashion-mnist": (Defaults(5, 256, 0.1), Defaults(5, 256, 0.5), 0.8),
    # the book's lr 0.5 overshoots on the synthetic images (the MLP stays at chance): 0.2 learns in 2-3 epochs
    "synthetic": (Defaults(5, 256, 0.1), Defaults(5, 256, 0.2), 0.8),
}


@functools.lru_cache(maxsize=4)
def _images(dataset: str, data_dir: str | None, num_examples: int | None, seed: int):
    from harness.tasks import datasets

    return datasets.load(dataset, data_dir=data_dir, num_examples=num_examples, seed=seed)


@dataclass(frozen=True)
class _ImageTask(Task):
    """Ten-class image classification; the models see ``X`` of shape ``(b, 1, H, W)`` and return scores ``(b, 10)``."""

    dataset: str = "digits"
    data_dir: str | None = None
    num_examples_: int | None = None  # synthetic only: training rows (the book's 60,000 by default)
    seed: int = 0

    kind = "classification"
    tolerance = 1e-4
    # the MLP at lr 0.5: Gluon's log-softmax and the book's softmax-then-log drift apart by 5e-3
    # (relative 0.2 % of the loss) over 10 epochs on digits; after 2 they agree to 1e-6
    verify_epochs = 2
    _model_index = 0  # which column of _IMAGE_DEFAULTS

    def __post_init__(self):
        from harness.tasks import datasets

        if self.dataset not in datasets.DATASETS:
            raise HarnessError(f"unknown --dataset {self.dataset!r} for task {self.name}; valid: {', '.join(datasets.DATASETS)}")
        if self.num_examples_ is not None and self.dataset != "synthetic":
            raise HarnessError(f"--num-examples applies to --dataset synthetic only; {self.dataset} has a fixed size")
        check_seed(self.seed)
        self.images  # load (and fail on missing files) before any work

    @property
    def images(self):
        return _images(self.dataset, self.data_dir, self.num_examples_, self.seed)

    @property
    def defaults(self) -> Defaults:
        return _IMAGE_DEFAULTS[self.dataset][self._model_index]

    @property
    def target(self) -> Target:
        return Target("test_acc", _IMAGE_DEFAULTS[self.dataset][2], higher=True)

    @property
    def num_examples(self) -> int:
        return len(self.images.train_labels)

    @property
    def num_inputs(self) -> int:
        return self.images.num_inputs

    @property
    def num_outputs(self) -> int:
        return self.images.classes

    def as_dict(self) -> dict:
        return {"name": self.name, "dataset": self.dataset, "num_examples": self.num_examples,
                "num_test": len(self.images.test_labels), "image_shape": list(self.images.train_images.shape[1:]),
                "seed": self.seed}

    def data(self, ctx: mx.Context) -> Split:
        im = self.images
        return Split(nd.array(im.train_images, ctx=ctx), nd.array(im.train_labels, ctx=ctx),
                     nd.array(im.test_images, ctx=ctx), nd.array(im.test_labels, ctx=ctx))

    def _normal(self, ctx, *shapes):
        """The book's ``nd.random.normal(scale=0.01, shape)``, drawn with NumPy from the seed."""
        rng = np.random.RandomState(self.seed + 1)
        return [nd.array(rng.normal(scale=0.01, size=shape), ctx=ctx) for shape in shapes]

    def metrics(self, net, loss, split: Split) -> dict:
        out = super().metrics(net, loss, split)
        out["train_acc"] = accuracy(net, split.features, split.labels)
        out["test_acc"] = accuracy(net, split.test_features, split.test_labels)
        return out

    def epoch_line(self, epoch: int, metrics: dict, seconds: float) -> str:
        # the book's train_ch3 line, and the epoch's time
        return "epoch %d, loss %.4f, train acc %.3f, test acc %.3f (%.3fs)" % (
            epoch, metrics["loss"], metrics["train_acc"], metrics["test_acc"], seconds)


@dataclass(frozen=True)
class Softmax(_ImageTask):
    name = "softmax"
    description = "softmax regression on images (d2l 3.6/3.7): W (inputs, 10), b (10)"

    @property
    def param_names(self):
        return ("W", "b")

    @property
    def param_shapes(self):
        return ((self.num_inputs, self.num_outputs), (self.num_outputs,))

    def initial_params(self, ctx):
        W, = self._normal(ctx, (self.num_inputs, self.num_outputs))
        return [W, nd.zeros(self.num_outputs, ctx=ctx)]


@dataclass(frozen=True)
class MLP(_ImageTask):
    name = "mlp"
    description = "multilayer perceptron inputs → 256 ReLU → 10 (d2l 3.9/3.10)"
    num_hiddens = 256
    _model_index = 1

    @property
    def param_names(self):
        return ("W1", "b1", "W2", "b2")

    @property
    def param_shapes(self):
        return ((self.num_inputs, self.num_hiddens), (self.num_hiddens,),
                (self.num_hiddens, self.num_outputs), (self.num_outputs,))

    def initial_params(self, ctx):
        W1, W2 = self._normal(ctx, (self.num_inputs, self.num_hiddens), (self.num_hiddens, self.num_outputs))
        return [W1, nd.zeros(self.num_hiddens, ctx=ctx), W2, nd.zeros(self.num_outputs, ctx=ctx)]


def _image_task(cls):
    """The factory users reach through ``--task``: ``num_examples`` is the option's name."""
    def make(dataset: str = "digits", data_dir: str | None = None, num_examples: int | None = None, seed: int = 0):
        return cls(dataset=dataset, data_dir=data_dir, num_examples_=num_examples, seed=seed)

    make.__doc__ = cls.description
    return make


@hookimpl
def register_tasks(register):
    register("linreg", LinReg)
    register("softmax", _image_task(Softmax))
    register("mlp", _image_task(MLP))

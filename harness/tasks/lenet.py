"""The ``lenet`` task: LeNet with batch normalization (d2l 5.5 and 5.10) on 1×28×28 images.

The net (5.10): ``Conv2D(6, 5)``, BN, sigmoid, ``MaxPool2D(2, 2)``, ``Conv2D(16, 5)``, BN, sigmoid, ``MaxPool2D(2, 2)``,
``Dense(120)``, BN, sigmoid, ``Dense(84)``, BN, sigmoid, ``Dense(10)``; each batch norm after its conv or dense layer
and before the activation.  The task owns the data and the starting point: the weights drawn as ``init.Xavier()``
draws them, biases and ``beta`` 0, ``gamma`` 1, and the moving statistics at mean 0, variance 1 (MXNet's
``nn.BatchNorm``; the book's scratch ``BatchNorm`` starts its variance at 0, which its model factory replaces, as
every factory replaces its initializer's draw with the host's).

Parameters are named and shaped as Gluon holds them (a dense weight is ``(out, in)``); the moving statistics are
not parameters (no gradient, no optimizer touches them) but the model's state: :meth:`LeNet.state` reads them, and
``harness verify`` compares them with the reference's after training.

Data: ``digits`` (default) is scikit-learn's bundled 8×8 digits scaled into a 20×20 box centred in 28×28, as MNIST
lays its digits out (:func:`harness.tasks.datasets.to_mnist_frame`: the same strokes at low detail); Fashion-MNIST
from its files; synthetic 1×28×28 images at the book's scale for timing.  The workloads are the image tasks'
(digits, book, fashion-mnist); the reference loop is PyTorch's (:func:`torch_scores`).  No NumPy loop: conv layers
and batch norm in NumPy are im2col and hand-written backward passes, slower than MXNet, so not the speed of light
that row stands for.  Like every task module, this one imports no MXNet at import (the PyTorch worker imports it).
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from harness.core.errors import HarnessError
from harness.core.task import Defaults, ReferenceLoops, Target, check_seed
from harness.tasks.images import ImageTask, load_images

NAME = "lenet"

#: Channels of the two conv layers and widths of the three dense layers (the book's).
CONV_CHANNELS = (6, 16)
DENSE_WIDTHS = (120, 84, 10)
KERNEL = 5
#: Where every model's moving statistics start (MXNet's nn.BatchNorm: running_mean 0, running_var 1).
MOVING_MEAN_START, MOVING_VAR_START = 0.0, 1.0
#: The batch norms' momentum and eps (the book's, and MXNet's defaults).
MOMENTUM, EPS = 0.9, 1e-5

#: Defaults per data set.  Fashion-MNIST and synthetic take the book's 5.10 (batch 256, 5 epochs, lr 1.0); on
#: digits' 1,437 rows batch 256 gives 6 steps an epoch, so batch 32, where lr 1.0 is noisy (test acc 0.96 after
#: 3 epochs, 0.92 after 5) and 0.3 passes 0.95 by epoch 2 in the scratch and the Gluon loaders' orders alike.
DEFAULTS = {"digits": Defaults(5, 32, 0.3), "fashion-mnist": Defaults(5, 256, 1.0), "synthetic": Defaults(5, 256, 1.0)}
#: Test-accuracy targets: a conv net does better on digits than the MLP's 0.9.
TARGET_ACC = {"digits": 0.95, "fashion-mnist": 0.8, "synthetic": 0.8}

#: Why the NumPy reference row is missing (bench shows it).
NO_NUMPY = ("no NumPy LeNet: conv and batch norm in NumPy are im2col and hand-written backward passes, slower than "
            "MXNet, so no speed of light")


def feature_size(height: int, width: int) -> int:
    """Inputs of the first dense layer: the map after two (5×5 conv, 2×2 pool) stages, times 16 channels."""
    for _ in CONV_CHANNELS:
        height, width = (height - KERNEL + 1) // 2, (width - KERNEL + 1) // 2
    return CONV_CHANNELS[-1] * height * width


def initial_state(task=None) -> list[np.ndarray]:
    """Where every model's moving statistics start, flat, in :attr:`LeNet.state_names` order (float32)."""
    widths = [*CONV_CHANNELS, *DENSE_WIDTHS[:-1]]
    return [np.full(c, start, dtype=np.float32) for c in widths for start in (MOVING_MEAN_START, MOVING_VAR_START)]


# --- the PyTorch reference loop -------------------------------------------------------------------------------------

#: Each parameter list's moving statistics, keyed by the id of its first tensor (tensors compare elementwise, so no
#: WeakKeyDictionary): the worker's real parameters and the copies its thread trials step on keep their own, and a
#: copy's go when it does.
_TORCH_STATE: dict = {}


def torch_state(params) -> list:
    """The moving statistics PyTorch's LeNet keeps for ``params`` (created at the start values on first use)."""
    import torch

    key = id(params[0])
    state = _TORCH_STATE.get(key)
    if state is None:
        state = _TORCH_STATE[key] = [torch.from_numpy(s) for s in initial_state()]
        weakref.finalize(params[0], _TORCH_STATE.pop, key, None)
    return state


def torch_scores(params, X):
    """d2l 5.10's LeNet in PyTorch eager: conv/dense, ``batch_norm``, sigmoid, max pool.

    Training mode when autograd records (the reference's steps), predict mode under ``no_grad`` (its evaluation),
    as MXNet's mode follows ``autograd.record``.  ``X`` comes flattened; the images are square.  PyTorch's
    ``batch_norm`` keeps the unbiased batch variance in its running variance where MXNet keeps the biased one (a
    factor n/(n-1): 1.00005 on the conv layers, 1.004 on the dense ones at batch 256), which only predict mode sees.
    """
    import torch
    import torch.nn.functional as F

    channels = params[0].shape[1]
    side = int(round((X.shape[1] // channels) ** 0.5))
    h, state, training = X.reshape(-1, channels, side, side), torch_state(params), torch.is_grad_enabled()
    k = 0
    for i in range(0, 4 * len(CONV_CHANNELS), 4):  # conv, batch norm, sigmoid, 2×2 max pool
        W, b, gamma, beta = params[i:i + 4]
        h = F.batch_norm(F.conv2d(h, W, b), state[k], state[k + 1], gamma, beta, training, 1 - MOMENTUM, EPS)
        h, k = F.max_pool2d(h.sigmoid(), 2, 2), k + 2
    h = h.flatten(1)
    for i in range(4 * len(CONV_CHANNELS), len(params) - 2, 4):  # dense, batch norm, sigmoid
        W, b, gamma, beta = params[i:i + 4]
        h = F.batch_norm(F.linear(h, W, b), state[k], state[k + 1], gamma, beta, training, 1 - MOMENTUM, EPS)
        h, k = h.sigmoid(), k + 2
    return F.linear(h, params[-2], params[-1])


@functools.lru_cache(maxsize=4)
def _images(dataset: str, data_dir: str | None, num_examples: int | None, seed: int):
    from harness.tasks import datasets

    data = load_images(dataset, data_dir, num_examples, seed)
    return datasets.digits_28(data) if dataset == "digits" else data


@dataclass(frozen=True)
class LeNet(ImageTask):
    """LeNet with batch norm (d2l 5.10); the models see ``X`` of shape ``(b, 1, 28, 28)`` and return ``(b, 10)``."""

    dataset: str = "digits"
    data_dir: str | None = None
    num_examples_: int | None = None  # synthetic: training rows (60,000 by default); others: the first rows
    seed: int = 0

    name = NAME
    description = "LeNet with batch normalization, conv 6-16, dense 120-84-10, sigmoid (d2l 5.5/5.10)"
    # Equal maths, different rounding: a batch norm over 32×24×24 values per channel computes its mean and variance
    # to ~1e-5 relative in float32, so the book's batch_norm and MXNet's BatchNorm operator give gradients that
    # differ by ~1e-4 relative.  Training amplifies that fast: at lr 1.0 the difference between two equal models
    # (or one model started 1e-7 apart) is 1e-4 after 2 steps and 1e-2 after 8.  So verify runs 8 steps (the first
    # 256 rows, batch 32) at lr 0.1, where the largest difference measured is 2e-5, and compares the epoch's loss,
    # every parameter and every moving mean and variance (:meth:`state`) with the reference's.
    tolerance = 1e-4
    verify_epochs = 1
    verify_lr = 0.1
    verify_num_examples = 256
    image_defaults = DEFAULTS
    reference_loops = ReferenceLoops(torch_scores=torch_scores, why_none={"numpy": NO_NUMPY})

    def __post_init__(self):
        from harness.tasks import datasets

        if self.dataset not in datasets.DATASETS:
            raise HarnessError(f"unknown --dataset {self.dataset!r} for task lenet; "
                               f"valid: {', '.join(datasets.DATASETS)}")
        check_seed(self.seed)
        shape = self.images.train_images.shape[1:]
        if len(shape) != 3 or feature_size(*shape[1:]) < CONV_CHANNELS[-1]:
            raise HarnessError(f"lenet needs (C, H, W) images of at least 16×16; {self.dataset} has {shape}")

    @classmethod
    def create(cls, dataset: str = "digits", data_dir: str | None = None, num_examples: int | None = None,
               seed: int = 0):
        """``--num-examples``: synthetic's training rows, or the first rows of a real data set (a short verify)."""
        return cls(dataset=dataset, data_dir=data_dir, num_examples_=num_examples, seed=seed)

    @property
    def images(self):
        return _images(self.dataset, self.data_dir, self.num_examples_, self.seed)

    @property
    def target(self) -> Target:
        return Target("test_acc", TARGET_ACC[self.dataset], higher=True)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.train_images.shape[1:])

    @property
    def param_names(self) -> tuple[str, ...]:
        names = []
        for i in range(len(CONV_CHANNELS)):
            names += [f"conv{i}_weight", f"conv{i}_bias", f"bn{i}_gamma", f"bn{i}_beta"]
        for i in range(len(DENSE_WIDTHS)):
            names += [f"dense{i}_weight", f"dense{i}_bias"]
            if i < len(DENSE_WIDTHS) - 1:
                k = len(CONV_CHANNELS) + i
                names += [f"bn{k}_gamma", f"bn{k}_beta"]
        return tuple(names)

    @property
    def param_shapes(self):
        channels, height, width = self.image_shape
        shapes = []
        for out in CONV_CHANNELS:
            shapes += [(out, channels, KERNEL, KERNEL), (out,), (out,), (out,)]
            channels = out
        inputs = feature_size(height, width)
        for i, out in enumerate(DENSE_WIDTHS):
            shapes += [(out, inputs), (out,)]
            if i < len(DENSE_WIDTHS) - 1:
                shapes += [(out,), (out,)]
            inputs = out
        return tuple(shapes)

    @property
    def state_names(self) -> tuple[str, ...]:
        """The moving statistics, in layer order: what :meth:`state` returns."""
        layers = len(CONV_CHANNELS) + len(DENSE_WIDTHS) - 1
        return tuple(f"bn{k}_{s}" for k in range(layers) for s in ("moving_mean", "moving_var"))

    def initial_params(self, ctx) -> list:
        """``init.Xavier()``'s draw (uniform, factor "avg", magnitude 3) for weights, drawn with NumPy from the seed;
        biases and ``beta`` 0, ``gamma`` 1."""
        from mxnet import nd

        rng = np.random.RandomState(self.seed + 1)
        out = []
        for name, shape in zip(self.param_names, self.param_shapes):
            if name.endswith("_weight"):
                receptive = int(np.prod(shape[2:]))
                fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
                scale = np.sqrt(3.0 / ((fan_in + fan_out) / 2.0))
                value = rng.uniform(-scale, scale, size=shape)
            else:
                value = np.full(shape, 1.0 if name.endswith("_gamma") else 0.0)
            out.append(nd.array(value, ctx=ctx))
        return out

    def state(self, model) -> list[np.ndarray]:
        """The moving mean and variance of every batch norm, in layer order, as flat NumPy arrays."""
        return [a.asnumpy().ravel() for a in moving_stats(model)]


def moving_stats(model) -> list:
    """Each batch norm's ``[moving mean, moving var]``, in layer order, from a Gluon block built of them.

    Two spellings: Gluon's ``nn.BatchNorm`` (``running_mean``/``running_var`` Parameters) and the book's scratch
    ``BatchNorm`` (``moving_mean``/``moving_var`` NDArray attributes).  A model that is no Gluon block has none.
    """
    import mxnet as mx
    from mxnet import nd

    block = getattr(model, "block", model)
    found = []

    def walk(b):
        running = getattr(b, "running_mean", None), getattr(b, "running_var", None)
        moving = getattr(b, "moving_mean", None), getattr(b, "moving_var", None)
        if all(isinstance(p, mx.gluon.Parameter) for p in running):
            found.extend(p.data() for p in running)
        elif all(isinstance(a, nd.NDArray) for a in moving):
            found.extend(moving)
        for child in b._children.values():  # MXNet 1.x: child blocks in the order they were added
            walk(child)

    if isinstance(block, mx.gluon.Block):
        walk(block)
    return found

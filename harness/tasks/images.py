"""What the image-classification tasks (``softmax``, ``mlp``) share: their data sets, defaults per data set,
workloads and the cross-entropy's gradient for their NumPy reference loops.

The images come from :mod:`harness.tasks.datasets` (the bundled digits by default, Fashion-MNIST from files,
or synthetic images at the book's scale for timing), imported on first use: the PyTorch reference worker
imports the task modules for their loops and must stay free of MXNet.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from harness.core.errors import HarnessError
from harness.core.task import Defaults, Split, Target, Task, TaskWorkload, check_seed

#: The bundled digits, the book's scale on synthetic images, Fashion-MNIST from files.
WORKLOADS = (
    TaskWorkload("digits", dataset="digits", rounds=10, warmup=1),
    TaskWorkload("book", dataset="synthetic", rounds=3, warmup=1, description="synthetic 60,000 × 1×28×28, batch 256"),
    TaskWorkload("fashion-mnist", dataset="fashion-mnist", rounds=3, warmup=1),
)

#: The test-accuracy target per data set; each task module keeps its defaults per data set beside it.
TARGET_ACC = {"digits": 0.9, "fashion-mnist": 0.8, "synthetic": 0.8}


@functools.lru_cache(maxsize=4)
def load_images(dataset: str, data_dir: str | None, num_examples: int | None, seed: int):
    from harness.tasks import datasets

    return datasets.load(dataset, data_dir=data_dir, num_examples=num_examples, seed=seed)


def score_grad(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``softmax(scores) − onehot(y)``: the cross-entropy's gradient with respect to the scores."""
    g = np.exp(scores - scores.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    g[np.arange(len(y)), y] -= 1
    return g


@dataclass(frozen=True)
class ImageTask(Task):
    """Ten-class image classification; the models see ``X`` of shape ``(b, 1, H, W)`` and return scores ``(b, 10)``.

    A subclass sets ``name``, ``description``, ``image_defaults`` (:class:`Defaults` per data set) and its parameters.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    num_examples_: int | None = None  # synthetic only: training rows (the book's 60,000 by default)
    seed: int = 0

    kind = "classification"
    tolerance = 1e-4
    # the MLP at lr 0.5: Gluon's log-softmax and the book's softmax-then-log drift apart by 5e-3
    # (relative 0.2 % of the loss) over 10 epochs on digits; after 2 they agree to 1e-6
    verify_epochs = 2
    workloads = WORKLOADS
    image_defaults = None  # set by each task: {data set: Defaults}

    def __post_init__(self):
        from harness.tasks import datasets

        if self.dataset not in datasets.DATASETS:
            raise HarnessError(f"unknown --dataset {self.dataset!r} for task {self.name}; "
                               f"valid: {', '.join(datasets.DATASETS)}")
        if self.num_examples_ is not None and self.dataset != "synthetic":
            raise HarnessError(f"--num-examples applies to --dataset synthetic only; {self.dataset} has a fixed size")
        check_seed(self.seed)
        self.images  # noqa: B018 (load, and fail on missing files, before any work)

    @property
    def images(self):
        return load_images(self.dataset, self.data_dir, self.num_examples_, self.seed)

    @property
    def defaults(self) -> Defaults:
        return self.image_defaults[self.dataset]

    @property
    def target(self) -> Target:
        return Target("test_acc", TARGET_ACC[self.dataset], higher=True)

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

    def data(self, ctx) -> Split:
        from mxnet import nd

        im = self.images
        return Split(nd.array(im.train_images, ctx=ctx), nd.array(im.train_labels, ctx=ctx),
                     nd.array(im.test_images, ctx=ctx), nd.array(im.test_labels, ctx=ctx))

    def normal(self, ctx, *shapes) -> list:
        """The book's ``nd.random.normal(scale=0.01, shape)``, drawn with NumPy from the seed."""
        from mxnet import nd

        rng = np.random.RandomState(self.seed + 1)
        return [nd.array(rng.normal(scale=0.01, size=shape), ctx=ctx) for shape in shapes]

    def zeros(self, ctx, size: int):
        from mxnet import nd

        return nd.zeros(size, ctx=ctx)

    @classmethod
    def create(cls, dataset: str = "digits", data_dir: str | None = None, num_examples: int | None = None,
               seed: int = 0):
        """The factory users reach through ``--task``: ``num_examples`` is the option's name."""
        return cls(dataset=dataset, data_dir=data_dir, num_examples_=num_examples, seed=seed)

    def epoch_line(self, epoch: int, metrics: dict, seconds: float) -> str:
        # the book's train_ch3 line, and the epoch's time
        return (f"epoch {epoch}, loss {metrics['loss']:.4f}, train acc {metrics['train_acc']:.3f}, "
                f"test acc {metrics['test_acc']:.3f} ({seconds:.3f}s)")

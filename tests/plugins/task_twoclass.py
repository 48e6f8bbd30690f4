"""A third-party task: two Gaussian clusters in the plane, told apart by a linear classifier.

It registers the task ``twoclass`` with the ``register_tasks`` hook, and a model and a loss
for it alone (``tasks=["twoclass"]``), all named ``twoclass``; data loaders and optimizers
come from other plugins (any registered for every task, the built-in scratch ones included).
"""
from dataclasses import asdict, dataclass

import mxnet as mx
import numpy as np
from mxnet import nd

from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.task import Defaults, Split, Target, Task, accuracy, check_seed

CENTER = 1.5  # the clusters sit at (±1.5, ±1.5), unit variance: about 98 % is reachable
NUM_TEST = 100


@dataclass(frozen=True)
class TwoClass(Task):
    num_examples: int = 200
    seed: int = 0

    name = "twoclass"
    kind = "classification"
    description = "two Gaussian clusters in the plane, a linear classifier (tests' third-party task)"
    defaults = Defaults(epochs=5, batch_size=10, lr=0.1)
    target = Target("test_acc", 0.9, higher=True)
    tolerance = 1e-5

    def __post_init__(self):
        if not (isinstance(self.num_examples, int) and self.num_examples > 0):
            raise HarnessError(f"--num-examples must be a positive integer, got {self.num_examples}")
        check_seed(self.seed)

    @property
    def param_names(self):
        return ("W", "b")

    @property
    def param_shapes(self):
        return ((2, 2), (2,))

    def as_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}

    def _draw(self, rng, n):
        labels = rng.randint(0, 2, size=n)
        features = rng.normal(size=(n, 2)) + np.where(labels[:, None] == 1, CENTER, -CENTER)
        return features, labels

    def data(self, ctx: mx.Context) -> Split:
        rng = np.random.RandomState(self.seed)
        X, y = self._draw(rng, self.num_examples)
        X_test, y_test = self._draw(rng, NUM_TEST)
        return Split(nd.array(X, ctx=ctx), nd.array(y, ctx=ctx), nd.array(X_test, ctx=ctx), nd.array(y_test, ctx=ctx))

    def initial_params(self, ctx: mx.Context):
        rng = np.random.RandomState(self.seed + 1)
        return [nd.array(rng.normal(scale=0.01, size=(2, 2)), ctx=ctx), nd.zeros((2,), ctx=ctx)]

    def metrics(self, net, loss, split: Split) -> dict:
        out = super().metrics(net, loss, split)
        out["train_acc"] = accuracy(net, split.features, split.labels)
        out["test_acc"] = accuracy(net, split.test_features, split.test_labels)
        return out

    def epoch_line(self, epoch: int, metrics: dict, seconds: float) -> str:
        return (f"epoch {epoch}, loss {metrics['loss']:.4f}, train acc {metrics['train_acc']:.3f}, "
                f"test acc {metrics['test_acc']:.3f}")


def linear(W, b):
    for p in (W, b):
        p.attach_grad()
    return (lambda X, W, b: nd.dot(X, W) + b), [W, b]


def cross_entropy(y_hat, y):
    # scores (b, 2) and class indices (b,): -log softmax(y_hat)[y]
    return -nd.pick(nd.log_softmax(y_hat), y)


@hookimpl
def register_tasks(register):
    register("twoclass", TwoClass)


@hookimpl
def register_models(register):
    register("twoclass", linear, tasks=["twoclass"])


@hookimpl
def register_losses(register):
    register("twoclass", lambda: cross_entropy, tasks=["twoclass"])

"""``softmax``: softmax regression on images (d2l 3.6/3.7), ``scores = X·W + b``: the task and its reference loops."""
from __future__ import annotations

from dataclasses import dataclass

from harness.core.task import Defaults, ReferenceLoops
from harness.tasks.images import ImageTask, score_grad

NAME = "softmax"

#: The book's for Fashion-MNIST (batch 256, 5 epochs, lr 0.1); chosen on digits to pass 0.9 in the default epochs.
DEFAULTS = {"digits": Defaults(10, 32, 0.5), "fashion-mnist": Defaults(5, 256, 0.1), "synthetic": Defaults(5, 256, 0.1)}


def numpy_scores(params, X):
    W, b = params
    return X @ W + b


def numpy_step(params, X, y, scale):
    """``∂l/∂s = softmax(s) − onehot(y)``, then back through ``X·W + b``."""
    W, b = params
    g = score_grad(X @ W + b, y)
    W -= scale * (X.T @ g)
    b -= scale * g.sum(axis=0)


def torch_scores(params, X):
    import torch

    W, b = params
    return torch.addmm(b, X, W)


@dataclass(frozen=True)
class Softmax(ImageTask):
    name = NAME
    description = "softmax regression on images (d2l 3.6/3.7): W (inputs, 10), b (10)"
    image_defaults = DEFAULTS
    reference_loops = ReferenceLoops(numpy_scores, numpy_step, torch_scores)

    @property
    def param_names(self):
        return ("W", "b")

    @property
    def param_shapes(self):
        return ((self.num_inputs, self.num_outputs), (self.num_outputs,))

    def initial_params(self, ctx):
        W, = self.normal(ctx, (self.num_inputs, self.num_outputs))
        return [W, self.zeros(ctx, self.num_outputs)]


"""Implementations that go wrong in the ways a benchmark must survive."""
import math

from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import sgd


def broken_model(w, b):
    raise RuntimeError("broken model: refuses to build")


def exploding_optimizer(net, lr):
    params = net.params
    return lambda batch_size: sgd(params, math.inf, batch_size)  # the loss becomes NaN at once


@hookimpl
def register_models(register):
    register("broken", broken_model)


@hookimpl
def register_optimizers(register):
    register("explode", exploding_optimizer)

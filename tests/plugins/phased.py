"""A controlled plugin: every phase of a step takes at least a known time.

Components are the seed's scratch maths plus a ``time.sleep`` in each phase,
so a breakdown or sweep must attribute at least these times.
"""
import time

from harness.hookspecs import hookimpl
from mxnet_harness_plugins import scratch

DATA_S = 0.002
FORWARD_S = 0.001
UPDATE_S = 0.004


def data_iter(batch_size, features, labels, shuffle=True):
    for X, y in scratch.data_iter(batch_size, features, labels, shuffle):
        time.sleep(DATA_S)
        yield X, y


def model(w, b):
    def linreg(X, w, b):
        time.sleep(FORWARD_S)
        return scratch.linreg(X, w, b)

    _, params = scratch.model(w, b)
    return linreg, params


def optimizer(net, lr):
    sgd = scratch.optimizer(net, lr)

    def step(batch_size):
        time.sleep(UPDATE_S)
        sgd(batch_size)

    return step


@hookimpl
def register_data(register):
    register("phased", data_iter)


@hookimpl
def register_models(register):
    register("phased", model)


@hookimpl
def register_optimizers(register):
    register("phased", optimizer)

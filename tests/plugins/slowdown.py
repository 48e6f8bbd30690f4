"""A test-only plugin whose epoch does a known fraction more work: ``HARNESS_SLOWDOWN=0.10`` makes every
epoch run 10 % more training steps of the same kind (default 0: none), with the same result.

It provides every role, so ``-p tests/plugins/slowdown.py`` adds one row, ``slowdown`` × 4, to the default
bench matrix; with the variable unset it is the seed's all-scratch code.  With fraction ``f`` the data
iterator yields ``f × batches`` extra batches, spread evenly over the epoch (the same kind of
batch: ``features.take`` of random indices), and the optimizer applies those with a learning rate of 0: a
full step's work — fetch, forward, loss, backward, update — that leaves the parameters where they were.
So the slowdown is extra work (it feels machine load the way the real steps do, unlike a sleep or a
spin), the maths is unchanged, and the true ratio of epoch times is ``1 + f`` (up to the epoch's fixed
costs, which are tiny beside its steps).
"""
import os
import random

from mxnet import nd

from harness.hookspecs import hookimpl
from mxnet_harness_plugins import scratch

_extra = [False]  # is the batch just handed out an extra one?
_rng = random.Random(0)  # its own stream: the shuffling of the real batches stays what it was


def permille() -> int:
    return round(1000 * float(os.environ.get("HARNESS_SLOWDOWN", "0") or 0))


def data_iter(batch_size, features, labels, shuffle=True):
    f, num_examples = permille(), len(features)
    for i, batch in enumerate(scratch.data_iter(batch_size, features, labels, shuffle)):
        _extra[0] = False
        yield batch
        for _ in range((i + 1) * f // 1000 - i * f // 1000):  # floor(batches × f) extras per epoch, evenly spread
            j = nd.array(_rng.sample(range(num_examples), min(batch_size, num_examples)), ctx=features.context)
            _extra[0] = True
            yield features.take(j), labels.take(j)
    _extra[0] = False


def optimizer(net, lr):
    params = net.params

    def step(batch_size):
        scratch.sgd(params, 0.0 if _extra[0] else lr, batch_size)

    return step


@hookimpl
def register_data(register):
    register("slowdown", data_iter)


@hookimpl
def register_models(register):
    register("slowdown", scratch.model)


@hookimpl
def register_losses(register):
    register("slowdown", lambda: scratch.squared_loss)


@hookimpl
def register_optimizers(register):
    register("slowdown", optimizer)

"""A test-only plugin whose training step is slower by a known fraction: ``HARNESS_SLOWDOWN=0.10`` makes
every step take 1.10 times as long (default 0: no slowdown).

It provides every role, so ``-p tests/plugins/slowdown.py`` adds one row, ``slowdown`` × 4, to the default
bench matrix.  The maths is the seed's scratch code; each step (from the start of fetching its batch to the
end of its update) is drained with ``mx.nd.waitall()`` and timed, then a busy wait adds ``fraction`` of that
time.  A side with the variable unset runs exactly the same code with a zero wait, so an A/B run of
``--b-env HARNESS_SLOWDOWN=0.1`` against nothing has a true ratio of 1.10 on this row and 1.00 on every other.
"""
import os
import time

import mxnet as mx

from harness.hookspecs import hookimpl
from plugins import scratch

_step_start = [0.0]


def fraction() -> float:
    return float(os.environ.get("HARNESS_SLOWDOWN", "0") or 0)


def data_iter(batch_size, features, labels, shuffle=True):
    batches = scratch.data_iter(batch_size, features, labels, shuffle)
    while True:
        _step_start[0] = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            return
        yield batch


def optimizer(net, lr):
    sgd, extra = scratch.optimizer(net, lr), fraction()

    def step(batch_size):
        sgd(batch_size)
        mx.nd.waitall()
        now = time.perf_counter()
        until = now + extra * (now - _step_start[0])
        while time.perf_counter() < until:  # spinning, not sleeping: sleep overshoots by tens of µs
            pass

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

"""Optimizers that break one worker of a distributed job, for the supervision tests.

The first worker to create the file named by ``HARNESS_TEST_FAULT_FLAG`` is the one that breaks
(at its 5th step), so exactly one rank fails and the others are left waiting for it.
"""
import os
import time

from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import sgd


def _chosen() -> bool:
    try:
        os.close(os.open(os.environ["HARNESS_TEST_FAULT_FLAG"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _breaking(net, lr, action):
    params, steps, chosen = net.params, [0], [None]

    def step(batch_size):
        steps[0] += 1
        if steps[0] == 5:
            if chosen[0] is None:
                chosen[0] = _chosen()
            if chosen[0]:
                action()
        sgd(params, lr, batch_size)

    return step


def raising_optimizer(net, lr):
    def boom():
        raise RuntimeError("raise_once: this worker fails on purpose")

    return _breaking(net, lr, boom)


def stalling_optimizer(net, lr):
    return _breaking(net, lr, lambda: time.sleep(3600))


@hookimpl
def register_optimizers(register):
    register("raise_once", raising_optimizer)
    register("stall_once", stalling_optimizer)

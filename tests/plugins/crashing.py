"""Optimizers that end their process the hard way, for the runner's isolation: ``abort`` kills the
worker with SIGABRT at its first step (as a crash inside MXNet would), ``hang`` never returns."""
import os
import time

from harness.hookspecs import hookimpl


def aborting_optimizer(net, lr):
    def step(batch_size):
        os.abort()

    return step


def hanging_optimizer(net, lr):
    def step(batch_size):
        flag = os.environ.get("HARNESS_HANG_FLAG")
        if flag:  # lets a test wait until the hang has begun, not for a guessed time
            open(flag, "a").close()
        time.sleep(3600)

    return step


@hookimpl
def register_optimizers(register):
    register("abort", aborting_optimizer)
    register("hang", hanging_optimizer)

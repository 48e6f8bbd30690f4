"""Registers optimizer 'sgd2'; so does dup_sgd_a: neither may win silently."""
from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import optimizer


@hookimpl
def register_optimizers(register):
    register("sgd2", optimizer)

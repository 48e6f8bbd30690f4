"""Registers a loss under a name the built-in scratch plugin already uses."""
from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import squared_loss


@hookimpl
def register_losses(register):
    register("scratch", lambda: squared_loss)

"""A plugin that provides a loss and nothing else."""
from harness.hookspecs import hookimpl


def half_squared(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


@hookimpl
def register_losses(register):
    register("half_squared", lambda: half_squared)

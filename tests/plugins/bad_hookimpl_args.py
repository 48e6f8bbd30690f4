"""A hookimpl asking for an argument the hookspec does not pass."""
from harness.hookspecs import hookimpl


@hookimpl
def register_losses(register, context):
    register("never", lambda: None)

"""A plugin whose registration hook itself raises."""
from harness.hookspecs import hookimpl


@hookimpl
def register_optimizers(register):
    raise RuntimeError("optimizer table not found")

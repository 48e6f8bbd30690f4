"""Implements a hook the host does not define (a typo of a real one would look the same)."""
from harness.hookspecs import hookimpl


@hookimpl
def register_schedulers(register):
    register("cosine", lambda: None)

"""A model registered for a task no plugin provides: the kit names it (the loader's strict check)."""
from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import mlp_model


@hookimpl
def register_models(register):
    register("elsewhere", mlp_model, tasks=["no_such_task"])

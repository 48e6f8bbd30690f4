"""A task that breaks the task contract: its initial parameters are one shared array, not fresh ones."""
from dataclasses import dataclass

from harness.hookspecs import hookimpl
from harness.tasks.builtin import LinReg
from mxnet_harness_plugins.scratch import model, squared_loss

_CACHE = {}


@dataclass(frozen=True)
class Stale(LinReg):
    name = "stale"

    def initial_params(self, ctx):
        if ctx not in _CACHE:
            _CACHE[ctx] = super().initial_params(ctx)
        return _CACHE[ctx]  # the same arrays every run: a model's updates leak into the next run


@hookimpl
def register_tasks(register):
    register("stale", Stale)


@hookimpl
def register_models(register):
    register("stale_model", model, tasks=["stale"])


@hookimpl
def register_losses(register):
    register("stale_loss", lambda: squared_loss, tasks=["stale"])

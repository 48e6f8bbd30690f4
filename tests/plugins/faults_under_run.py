"""Components that fail under ``harness run`` in every way issue 16 lists: an optimizer that raises mid-epoch,
factories that raise or return None, an optimizer that writes NaN into the parameters, and a model registered
for a task no plugin provides."""
from harness.hookspecs import hookimpl


def _raising_optimizer(net, lr, **kwargs):
    def step(batch_size):
        raise RuntimeError("boom in step")

    return step


def _nan_optimizer(net, lr, **kwargs):
    def step(batch_size):
        for p in net.params:
            p[:] = float("nan")

    return step


def _raising_factory(net, lr, **kwargs):
    raise ValueError("bad factory")


@hookimpl
def register_optimizers(register):
    register("raises_mid_epoch", _raising_optimizer)
    register("writes_nan", _nan_optimizer)
    register("factory_raises", _raising_factory)
    register("returns_none", lambda net, lr, **kwargs: None)


@hookimpl
def register_models(register):
    register("model_returns_none", lambda *params: None)
    register("for_no_task", lambda *params: None, tasks=["no-such-task"])

"""The exchange of a data-parallel step through MXNet's kvstore, around any optimizer.

:func:`attach` changes a :class:`harness.core.train.Session` in two places the plugins never see: its
data iterator reads only this rank's shard, and its optimizer step is preceded by the exchange.

Placements (where the optimizer runs), recorded with every result:

``harness``
    Every parameter's gradient is pushed and pulled through the kvstore; servers **sum** them
    (``dist_sync``), so each worker then holds the global batch's gradient sum and calls the plugin's
    ``step(b × num_workers)`` — the maths of one process on the global batch, for any optimizer.
    With ``dist_async`` a server cannot sum a round (it has no rounds), so each worker updates with
    its own gradient (``step(b × num_workers)``: 1/N of a global step) and pushes the change of its
    parameters; the servers add the changes (MXNet's ``test`` optimizer: ``w += Δ``) and the worker
    pulls the result.  That is asynchronous SGD, its own maths.
``kvstore``
    The optimizer factory takes ``kvstore=`` and ``update_on_kvstore=False`` (``gluon.Trainer``):
    the Trainer sums gradients through the kvstore itself and updates on every worker.
``servers``
    The same with ``update_on_kvstore=True``: the optimizer runs on the servers, workers pull weights.
"""
from __future__ import annotations

import inspect
import time

import mxnet as mx
from mxnet import nd

from harness.core.errors import HarnessError
from harness.distributed.sharding import shard_indices

PLACEMENTS = {
    "harness": "gradients summed through the kvstore by the harness, optimizer on every worker",
    "kvstore": "optimizer given the kvstore, update_on_kvstore=False: it sums gradients and updates on every worker",
    "servers": "optimizer given the kvstore, update_on_kvstore=True: it runs on the servers",
}

KVSTORES = ("dist_sync", "dist_async", "dist_device_sync")


def check_placement(placement: str, kvstore: str) -> None:
    """One-line errors for a placement or kvstore MXNet cannot run."""
    if kvstore not in KVSTORES:
        raise HarnessError(f"unknown --kvstore {kvstore!r}; valid: {', '.join(KVSTORES)}")
    if placement not in PLACEMENTS:
        raise HarnessError(f"unknown --placement {placement!r}; valid: {', '.join(PLACEMENTS)}")
    if placement == "kvstore" and "async" in kvstore:
        raise HarnessError("--placement kvstore needs a sync kvstore: MXNet runs an async optimizer on the servers "
                           "only (use --placement servers or harness)")


def takes_kvstore(factory) -> bool:
    """Whether an optimizer factory accepts ``kvstore=`` and ``update_on_kvstore=``."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "kvstore" in params and "update_on_kvstore" in params


class Exchange:
    """Wraps the session's step: the exchange, then the plugin's step; times the exchange."""

    def __init__(self, kv, placement: str, step, params, progress=None):
        self.kv, self.placement, self._step, self.params = kv, placement, step, params
        self.num_workers = kv.num_workers
        self.sync = "async" not in kv.type
        self.progress = progress
        self.seconds = 0.0
        self.steps = 0
        self.shard_examples = 0
        self._previous = None
        if placement == "harness":
            if not self.sync:  # servers add the workers' parameter changes
                kv.set_optimizer(mx.optimizer.create("test", rescale_grad=1.0))
            for i, p in enumerate(params):
                kv.init(i, p)  # rank 0's values; every rank starts from the task's draw anyway
            if not self.sync:
                kv.pull(list(range(len(params))), out=params)
                self._previous = [p.copy() for p in params]
                self._delta = [nd.zeros_like(p) for p in params]

    def reset(self) -> None:
        self.seconds, self.steps = 0.0, 0

    def describe(self) -> str:
        if self.placement == "harness":
            return "workers (harness pushpull, servers sum)" if self.sync else "workers + servers add Δw (async)"
        return "workers (optimizer's kvstore)" if self.placement == "kvstore" else "servers (update_on_kvstore)"

    def __call__(self, batch_size: int) -> None:
        global_batch = batch_size * self.num_workers
        if self.placement != "harness":  # the optimizer owns the exchange: charge its whole step
            self._wait_grads()
            start = time.perf_counter()
            self._step(global_batch)
            self._wait_params()
            self.seconds += time.perf_counter() - start
        elif self.sync:
            self._wait_grads()
            start = time.perf_counter()
            grads = [p.grad for p in self.params]
            # pushpull into the gradient itself: MXNet aliases its send and receive buffers on CPU anyway
            self.kv.pushpull(list(range(len(grads))), grads, out=grads)
            for g in grads:
                g.wait_to_read()
            self.seconds += time.perf_counter() - start
            self._step(global_batch)
        else:
            self._step(global_batch)
            for d, p, old in zip(self._delta, self.params, self._previous):
                d[:] = p - old
            self._wait_params()
            start = time.perf_counter()
            keys = list(range(len(self.params)))
            self.kv.push(keys, self._delta)
            self.kv.pull(keys, out=self.params)
            self._wait_params()
            self.seconds += time.perf_counter() - start
            for old, p in zip(self._previous, self.params):
                old[:] = p
        self.steps += 1
        if self.progress is not None:
            self.progress(self.steps)

    def _wait_grads(self) -> None:
        for p in self.params:
            p.grad.wait_to_read()

    def _wait_params(self) -> None:
        for p in self.params:
            p.wait_to_read()


def optimizer_options(kv, placement: str) -> dict:
    """What the optimizer factory gets besides ``(net, lr)``: the kvstore, for placements that hand it over."""
    if placement == "harness":
        return {}
    _ordered_broadcast(kv)
    return {"kvstore": kv, "update_on_kvstore": placement == "servers"}


def _ordered_broadcast(kv) -> None:
    """Make ``kv.broadcast`` return only once its pull has landed.

    ``gluon.Trainer`` starts each key with ``broadcast(key, param, out=param)`` (init, then pull) and then
    ``pushpull``s the gradient into another array.  MXNet 1.9.1 orders the two only through their arrays,
    which differ, so the engine may send the pushpull first; once every rank's push has arrived the round
    ends, and a late pull returns the gradient sum as the initial weight (seen with
    ``update_on_kvstore=False``: ranks diverge, intermittently).  Waiting for the pull keeps each rank's
    push after its pull, and a round cannot end before every rank has pushed.
    """
    original = kv.broadcast

    def broadcast(key, value, out, priority=0):
        original(key, value, out, priority)
        for array in out if isinstance(out, (list, tuple)) else [out]:
            array.wait_to_read()

    kv.broadcast = broadcast


def attach(session, kv, placement: str, progress=None) -> Exchange:
    """Make ``session`` one data-parallel worker of ``kv``: shard its data, wrap its step.

    For placements ``kvstore`` and ``servers`` the session must have been built with
    :func:`optimizer_options`; ``progress(steps)`` is called after every step.
    """
    check_placement(placement, kv.type)
    if session.step is None:
        raise HarnessError(f"{session.combo.label}: a fused step cannot run distributed (the update is inside "
                           "the step, where no exchange fits); drop --fused")
    rank, num_workers = kv.rank, kv.num_workers
    settings = session.settings
    rows = shard_indices(len(session.features), settings.batch_size, rank, num_workers)
    index = nd.array(rows, ctx=session.features.context, dtype="int64")
    shard_x, shard_y = session.features.take(index), session.labels.take(index)
    data_iter = session.data_iter

    def shard_iter(batch_size, features, labels, shuffle=True):
        return data_iter(batch_size, shard_x, shard_y, shuffle)

    session.data_iter = shard_iter
    step = session.step  # for kvstore and servers, built with optimizer_options(kv, placement)
    exchange = Exchange(kv, placement, step, session.net.params, progress)
    exchange.shard_examples = len(rows)
    session.step = exchange
    return exchange


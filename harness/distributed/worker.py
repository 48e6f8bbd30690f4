"""One worker of a data-parallel job on MXNet's parameter server.

``python -m harness.distributed.worker SPEC.json`` (``-`` reads the spec from stdin) in a process whose
``DMLC_*`` environment names the scheduler: the launcher in :mod:`harness.distributed.launch` starts it
so, and so can ssh, ``mpirun`` or ``srun`` on other machines (see docs/distributed.md).

The worker builds the ordinary :class:`harness.core.train.Session` and changes two things around it,
invisible to the plugins: the data iterator sees only this rank's shard
(:func:`harness.distributed.sharding.shard_indices`), and the optimizer step is preceded by the exchange
through the kvstore (:mod:`harness.distributed.exchange`).  It reports on stdout, one JSON object per line
after :data:`PREFIX`: ``joined`` (rank known), ``progress`` (at most once a second while
training), ``epoch`` and ``result``; anything else on stdout is a plugin's own printing.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import traceback

PREFIX = "HARNESS-DIST "

#: Seconds between two ``progress`` lines while training.
PROGRESS_EVERY = 1.0


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed launcher leaves no node behind."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the launcher's process groups still end us
        return
    if os.getppid() == 1:  # the parent died before the request
        os._exit(1)


def emit(event: str, **fields) -> None:
    """One line for the launcher; flushed at once, so it sees progress as it happens."""
    sys.stdout.write(PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def read_spec(source: str) -> dict:
    text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    return json.loads(text)


def build(spec: dict):
    """The task, settings, registry and combination a spec names, each rebuilt from its dict."""
    from harness.core.loader import load
    from harness.core.roles import Combination
    from harness.core.train import Settings
    from harness.measure.workloads import Workload

    registry = load(extra=spec.get("plugins", []), blocked=spec.get("blocked", []), strict=spec.get("strict") or None)
    if "workload" in spec:  # bench: the workload carries task and settings
        workload = Workload(**spec["workload"])
        task = workload.build_task(registry)
        settings = workload.settings(task)
    else:
        options = dict(spec["task"])  # {"name": ..., option: value, ...}; no name: the default task (the seed's)
        task = registry.make_task(options.pop("name", None), **options)
        settings = Settings(**spec["settings"])
    return task, settings, registry, Combination(**spec["combination"])


def run(spec: dict) -> None:
    """Join the kvstore, train ``settings.epochs`` epochs on this rank's shard, report each."""
    import mxnet as mx

    from harness.core import context
    from harness.core.errors import Diverged
    from harness.core.task import seed_everything
    from harness.core.timing import synced_clock
    from harness.core.train import Session
    from harness.distributed.exchange import attach, check_placement, optimizer_options

    kv = mx.kv.create(spec["kvstore"])
    rank, num_workers = kv.rank, kv.num_workers  # from the scheduler, not the launch order
    emit("joined", rank=rank, num_workers=num_workers, pid=os.getpid())
    task, settings, registry, combo = build(spec)
    placement = spec.get("placement", "harness")
    check_placement(placement, spec["kvstore"])
    session = Session(registry, combo, task, settings, context.resolve(spec.get("ctx", "cpu")),
                      optimizer_options=optimizer_options(kv, placement))
    seed_everything(task.seed + rank)  # every rank shuffles its shard its own way
    last = [time.monotonic()]

    def progress(step: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            emit("progress", rank=rank, step=step)

    exchange = attach(session, kv, placement, progress)
    for epoch in range(1, settings.epochs + 1):
        kv._barrier()  # every rank starts the clock together: a slow evaluation elsewhere is not our epoch
        exchange.reset()
        start = synced_clock()
        session.run_epoch()
        seconds = synced_clock() - start
        metrics = session.metrics()
        emit("epoch", rank=rank, epoch=epoch, seconds=seconds, exchange_seconds=exchange.seconds,
             steps=exchange.steps, **metrics)
        if not math.isfinite(metrics["loss"]):  # as a local run does: a broken run is never reported as fine
            raise Diverged(epoch, None)
    arrays = session.arrays()
    emit("result", rank=rank, num_workers=num_workers, placement=exchange.placement, update=exchange.describe(),
         shard_examples=exchange.shard_examples, params=task.param_summary(arrays),
         param_error=task.param_error(arrays))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.distributed.worker SPEC.json|-   (with DMLC_* set, see docs/distributed.md)",
              file=sys.stderr)
        return 2
    die_with_parent()
    spec = read_spec(argv[0])
    emit("started", pid=os.getpid())
    try:
        run(spec)
    except BaseException as exc:  # noqa: B902  (Ctrl-C too: no rank may linger)
        from harness.core.errors import Diverged

        if isinstance(exc, Diverged):
            emit("error", error=f"{exc} (loss not finite); try a smaller --lr")
        else:
            traceback.print_exc()
            emit("error", error=f"{type(exc).__name__}: {exc}".replace("\n", " "))
        sys.stderr.flush()
        # now, not via the interpreter's exit: the kvstore's destructor waits at a barrier for every rank
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the harness's per-step overhead goes: each piece of the harness's step that the seed's loop does not
have, timed side by side in one process against the seed's whole step.

    python benchmarks/overhead_parts.py --repeats 30

The pieces are what ``harness bench --overhead`` counts (its ``per step, counted`` line): placing X and y on
the run's context, the batch length for the optimizer, the adapters between roles, the loader's context
and the breakdown's lap checks.  Each is timed with ``timeit`` on a real batch, the pieces in a fresh random
order every repeat; the seed's step is one seed epoch (``harness.measure.overhead.seed_epoch``, engine drained
inside the clock) divided by its steps.  Measurements, not tests: nothing here asserts a number.
"""
from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mxnet as mx  # noqa: E402

from harness.core.context import mover  # noqa: E402
from harness.core.timing import synced_clock  # noqa: E402
from harness.core.train import Settings  # noqa: E402
from harness.measure.overhead import SeedLoop, data_iter  # noqa: E402
from harness.roles import Model  # noqa: E402
from harness.tasks.builtin import LinReg  # noqa: E402


def noop(*args):
    return None


def pieces(loop: SeedLoop, ctx: mx.Context) -> dict[str, tuple[str, dict]]:
    """Name -> (statement, its globals): one step's worth of each piece."""
    X, y = next(data_iter(loop.settings.batch_size, loop.features, loop.labels))
    model = Model((noop, [loop.w, loop.b]))
    params = model.params
    env = dict(X=X, y=y, ctx=ctx, move=mover(ctx), model=model, noop=noop, w=loop.w, b=loop.b, features=loop.features,
               current_context=mx.context.current_context, lam=lambda n: noop(params, 0.03, n),
               partial=functools.partial(noop, params, 0.03), lap=None)
    return {
        "placement, before: X, y .as_in_context(ctx)": ("X.as_in_context(ctx); y.as_in_context(ctx)", env),
        "placement, now: context.mover (X, y)": ("move(X); move(y)", env),
        "batch length: X.shape[0]": ("X.shape[0]", env),
        "model adapter: Model.__call__ (a no-op net)": ("model(X)", env),
        "  the same net called directly": ("noop(X, w, b)", env),
        "optimizer adapter, before: lambda": ("lam(10)", env),
        "optimizer adapter, now: functools.partial": ("partial(10)", env),
        "loader, before: features.context a batch": ("features.context", env),
        "  the seed's nd.array: current_context()": ("current_context()", env),
        "breakdown lap checks (4 x `if lap`)": ("if lap: pass\nif lap: pass\nif lap: pass\nif lap: pass", env),
    }


def seed_step(loop: SeedLoop, steps: int) -> float:
    start = synced_clock()
    loop.run_epoch()
    return (synced_clock() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--number", type=int, default=20000, help="statements per timeit call")
    args = parser.parse_args(argv)
    ctx = mx.cpu()
    task, settings = LinReg(), Settings()
    loop = SeedLoop(task, settings, ctx)
    steps = -(-task.num_examples // settings.batch_size)
    loop.run_epoch()  # warm-up
    table = pieces(loop, ctx)
    times: dict[str, list[float]] = {name: [] for name in [*table, "seed step"]}
    for _ in range(args.repeats):
        order = list(times)
        random.shuffle(order)
        for name in order:
            if name == "seed step":
                times[name].append(seed_step(loop, steps))
            else:
                stmt, env = table[name]
                times[name].append(timeit.timeit(stmt, globals=env, number=args.number) / args.number)
    step = statistics.median(times["seed step"])
    print(f"seed step: median {step * 1e6:.1f} µs over {args.repeats} epochs of {steps} steps; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'piece':48s} {'median µs':>10s} {'min µs':>8s} {'% of seed step':>15s}")
    for name in table:
        med, low = statistics.median(times[name]), min(times[name])
        print(f"{name:48s} {med * 1e6:10.3f} {low * 1e6:8.3f} {100 * med / step:14.3f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

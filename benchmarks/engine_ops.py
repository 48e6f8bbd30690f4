"""Engine operators and MXNet C API calls per training step of chosen combinations: counts, not times, so they
mean the same on a busy machine as on a quiet one.

    python benchmarks/engine_ops.py --task mlp --combo fast/fast/fast/fast --combo fast/fast/fast/fast+fused \\
        --combo fast/gluon/gluon/gluon --combo scratch/scratch/scratch/scratch

One epoch of each combination on the task's synthetic book-scale images (``--num-examples`` of them), counted
with MXNet's profiler (aggregate statistics) by the harness's own counter (``harness bench --overhead`` uses it);
an operator is one engine push, so a cached graph counts once per operator inside it.  A measurement, not a test.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mxnet as mx  # noqa: E402

from harness.api import load_plugins  # noqa: E402
from harness.core.roles import Combination  # noqa: E402
from harness.core.train import Session, Settings  # noqa: E402
from harness.measure import workloads  # noqa: E402
from harness.measure.overhead import count_epoch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="mlp")
    p.add_argument("--combo", action="append", metavar="DATA/MODEL/LOSS/OPTIMIZER[+fused]",
                   help="repeatable (default: fast/fast/fast/fast, its +fused, fast/gluon/gluon/gluon)")
    p.add_argument("--num-examples", type=int, default=2560)
    p.add_argument("--top", type=int, default=8, help="operators listed per combination (default %(default)s)")
    args = p.parse_args()
    combos = args.combo or ["fast/fast/fast/fast", "fast/fast/fast/fast+fused", "fast/gluon/gluon/gluon"]
    registry = load_plugins()
    load = workloads.workload("book", args.task, num_examples=args.num_examples)
    task = load.build_task(registry)
    settings = load.settings(task)
    steps = -(-args.num_examples // settings.batch_size)
    for text in combos:
        names, fused = text.removesuffix("+fused").split("/"), text.endswith("+fused")
        combo = Combination(*names, fused=fused)
        session = Session(registry, combo, task, Settings.for_task(task, batch_size=settings.batch_size,
                                                                    lr=settings.lr), mx.cpu())
        session.run_epoch()  # warm-up: graphs built, memory planned
        mx.nd.waitall()
        counts = count_epoch(session, task.seed)
        ops = sum(counts.operators.values())
        print(f"{text}: {ops / steps:.1f} engine operators and "
              f"{sum(counts.api_calls.values()) / steps:.1f} C API calls "
              f"per step ({steps} steps of batch {settings.batch_size})")
        for name, n in counts.operators.most_common(args.top):
            print(f"    {n / steps:6.2f} {name}")


if __name__ == "__main__":
    main()

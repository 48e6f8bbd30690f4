"""An independent PyTorch eager training loop at the book's scale, to check the harness's PyTorch row against.

    python benchmarks/torch_loop.py --net mlp --epochs 3            # every thread count 1..cores, best marked
    python benchmarks/torch_loop.py --net lenet --threads 2

Nothing from the harness: its own synthetic data (60,000 random 1×28×28 images, 10 classes), the book's nets
(3.10 MLP 784-256-10; 5.10 LeNet with batch norm), plain SGD on the batch mean, batch 256, the short last
batch kept.  An epoch is one shuffle (a gather into a new tensor) and the steps; one warm-up epoch per thread
count is not timed.  Prints ms per epoch (min and median) per thread count and the load average; one JSON line
with ``--json``.  A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
from torch import nn


def net_for(name: str) -> nn.Module:
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    # d2l 5.10: LeNet with batch norm after every conv/dense layer but the last, before the sigmoid
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))


def epoch_seconds(net, X, y, batch_size, lr, epochs, seed=0):
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    times = []
    for epoch in range(epochs + 1):  # the first is the warm-up
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(X), generator=gen)
        Xs, ys = X[order], y[order]
        for i in range(0, len(X), batch_size):
            loss = loss_fn(net(Xs[i:i + batch_size]), ys[i:i + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        loss.item()  # eager CPU work is done when the call returns; this only reads the last loss
        if epoch:
            times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def summarize(times) -> dict:
    """ms per epoch: wall min and median, and the least CPU time (all threads): on a busy machine
    one thread's CPU time moves far less than the wall clock (spinning OpenMP threads inflate it)."""
    walls = [wall for wall, _ in times]
    return {"min_ms": min(walls) * 1e3, "median_ms": statistics.median(walls) * 1e3,
            "cpu_ms": min(cpu for _, cpu in times) * 1e3}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=("mlp", "lenet"), default="mlp")
    p.add_argument("--threads", type=int, nargs="*", help="intra-op thread counts (default: 1..usable CPUs)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per thread count (default %(default)s)")
    p.add_argument("--num-examples", type=int, default=60000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--json", action="store_true", help="one JSON line at the end")
    args = p.parse_args()
    lr = 0.5 if args.net == "mlp" else 1.0  # the book's
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.random((args.num_examples, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, args.num_examples))
    counts = args.threads or list(range(1, len(os.sched_getaffinity(0)) + 1))
    results = {}
    load_before = os.getloadavg()[0]
    for n in counts:
        torch.set_num_threads(n)
        torch.manual_seed(0)
        times = epoch_seconds(net_for(args.net), X, y, args.batch_size, lr, args.epochs)
        results[n] = summarize(times)
    best = min(results, key=lambda n: results[n]["min_ms"])
    load = [load_before, os.getloadavg()[0]]
    for n, r in results.items():
        mark = "  <- best" if n == best else ""
        print(f"torch {torch.__version__} {args.net}: {n} thread(s): {r['min_ms']:.0f} ms/epoch min, "
              f"{r['median_ms']:.0f} median of {args.epochs}; CPU {r['cpu_ms']:.0f} ms/epoch (min){mark}")
    print(f"load average {load[0]:.2f} -> {load[1]:.2f}")
    if args.json:
        print(json.dumps({"framework": "torch", "version": torch.__version__, "net": args.net, "results": results,
                          "best_threads": best, "load_average": load}))


if __name__ == "__main__":
    main()

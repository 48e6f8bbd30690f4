"""GFLOP/s of the book-scale MLP's large GEMMs in MXNet's kernels and in PyTorch, per wall second and per CPU second.

    python benchmarks/gemm_rate.py --threads 1        # each framework in a fresh process with OMP_NUM_THREADS=1
    python benchmarks/gemm_rate.py --threads 2

The products of one training step of 784-256-10 at batch 256 that cost: the forward ``X·W1ᵀ`` (256×784 by
784×256) and the weight gradient ``gᵀ·X`` (256×256 by 256×784), 103 MFLOP each.  MXNet computes them with
oneDNN's inner product (``FullyConnected``, forward and backward) or with its BLAS (OpenBLAS in the pip wheel:
``dot``, ``linalg.gemm2``); PyTorch with its own (``F.linear``, ``torch.mm``).  GFLOP per CPU second (all threads)
is the kernel's efficiency and moves little with machine load at one thread; per wall second is what a run sees.
A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

FLOP = 2 * 256 * 784 * 256


def rate(fn, sync, seconds):
    fn()
    sync()
    n, wall, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        for _ in range(10):
            fn()
        sync()
        n += 10
        elapsed = time.perf_counter() - wall
        if elapsed >= seconds:
            return {"gflops_wall": n * FLOP / elapsed / 1e9, "gflops_cpu": n * FLOP / (time.process_time() - cpu) / 1e9}


def mxnet_rates(seconds):
    import mxnet as mx

    X, W, G = (mx.nd.random.uniform(shape=s) for s in ((256, 784), (256, 784), (256, 256)))
    data = mx.nd.random.uniform(shape=(256, 784))
    data.attach_grad()
    Wg = W.copy()
    Wg.attach_grad()
    sync = mx.nd.waitall

    def fc_backward():
        with mx.autograd.record():
            out = mx.nd.FullyConnected(X, Wg, no_bias=True, num_hidden=256)
        out.backward(G)  # oneDNN's backward_weights (the data needs no gradient)

    cases = {
        "FullyConnected forward (oneDNN)": lambda: mx.nd.FullyConnected(X, W, no_bias=True, num_hidden=256),
        "dot X·Wᵀ (BLAS)": lambda: mx.nd.dot(X, W, transpose_b=True),
        "dot gᵀ·X (BLAS)": lambda: mx.nd.dot(G, X, transpose_a=True),
        "linalg.gemm2 X·Wᵀ (BLAS)": lambda: mx.nd.linalg.gemm2(X, W, transpose_b=True),
    }
    out = {name: rate(fn, sync, seconds) for name, fn in cases.items()}
    out["FullyConnected forward+backward (oneDNN), per GEMM"] = {
        k: v * 2 for k, v in rate(fc_backward, sync, seconds).items()}
    return out


def torch_rates(seconds):
    import torch

    X, W, G = (torch.rand(s) for s in ((256, 784), (256, 784), (256, 256)))
    cases = {"F.linear X·Wᵀ": lambda: torch.nn.functional.linear(X, W), "mm gᵀ·X": lambda: torch.mm(G.t(), X)}
    return {name: rate(fn, lambda: None, seconds) for name, fn in cases.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1", help="OMP_NUM_THREADS for both frameworks (default %(default)s)")
    p.add_argument("--seconds", type=float, default=1.0, help="per case (default %(default)s)")
    p.add_argument("--only", choices=("mxnet", "torch"), help=argparse.SUPPRESS)  # the child process
    args = p.parse_args()
    if args.only:
        found = (mxnet_rates if args.only == "mxnet" else torch_rates)(args.seconds)
        print(json.dumps(found))
        return
    load = os.getloadavg()[0]
    for framework in ("mxnet", "torch"):
        env = {**os.environ, "OMP_NUM_THREADS": args.threads}
        done = subprocess.run([sys.executable, __file__, "--only", framework, "--seconds", str(args.seconds)],
                              capture_output=True, text=True, env=env, check=True)
        for name, r in json.loads(done.stdout.strip().splitlines()[-1]).items():
            print(f"{framework:6} {name:52} {r['gflops_wall']:6.1f} GFLOP/s wall {r['gflops_cpu']:6.1f} per CPU s")
    print(f"OMP_NUM_THREADS={args.threads}; load average {load:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

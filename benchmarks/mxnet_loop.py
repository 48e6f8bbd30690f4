"""An independent MXNet training loop at the book's scale, to check the harness's MXNet rows against.

    python benchmarks/mxnet_loop.py --net mlp --way gluon module --threads 2
    python benchmarks/mxnet_loop.py --net lenet --way module --threads 1 --engine naive

Nothing from the harness: its own synthetic data (60,000 random 1×28×28 images, 10 classes), the book's nets
(3.10 MLP 784-256-10; 5.10 LeNet with batch norm), SGD on the batch sum divided by the batch size, batch 256, the
short last batch kept.  Ways to train:

- ``gluon``: the book's concise code (``nn`` blocks, ``SoftmaxCrossEntropyLoss``, ``Trainer('sgd')``, autograd),
  hybridized with ``static_alloc``/``static_shape`` (``--no-hybridize``: as the book wrote it);
- ``module``: MXNet's symbolic executor (what the Module API runs): the net ending in ``SoftmaxOutput`` bound
  once per batch shape, ``forward(is_train=True)``/``backward()`` with no gradient for the data, then every
  parameter in one ``multi_sgd_update``;
- ``manual`` (MLP only): no autograd, the gradient written out by hand in imperative ``nd`` calls (the score
  gradient ``softmax - onehot`` scaled by ``lr / batch`` once, ``dot`` for the weight gradients, one subtraction
  per parameter): the arithmetic of the harness's fused step (``--fused``), none of its code.

``--first-channels 8`` (LeNet) computes the first layer on 8 channels: the cost of fast's LeNet, whose 6 channels
are padded to oneDNN's AVX2 block of 8 (an 8-channel net here, not padded: the same kernels, other maths).

``--threads N`` sets ``OMP_NUM_THREADS`` and ``--engine naive`` ``MXNET_ENGINE_TYPE=NaiveEngine`` before MXNet
is imported (MXNet reads both once, then).  An epoch is one shuffle (a gather) and the steps, with
``mx.nd.waitall()`` inside the clock; one warm-up epoch is not timed.  A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def gluon_net(name, mx, first=6):
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    if name == "mlp":
        net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    else:  # d2l 5.10, concise
        net.add(nn.Conv2D(first, kernel_size=5), nn.BatchNorm(), nn.Activation("sigmoid"), nn.MaxPool2D(2, 2),
                nn.Conv2D(16, kernel_size=5), nn.BatchNorm(), nn.Activation("sigmoid"), nn.MaxPool2D(2, 2),
                nn.Dense(120), nn.BatchNorm(), nn.Activation("sigmoid"),
                nn.Dense(84), nn.BatchNorm(), nn.Activation("sigmoid"), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    return net


def symbol_net(name, mx, first=6):
    s = mx.sym
    h = s.var("data")
    if name == "mlp":
        h = s.relu(s.FullyConnected(h, num_hidden=256, name="fc1"))
        h = s.FullyConnected(h, num_hidden=10, name="fc2")
    else:
        for i, (channels, kind) in enumerate([(first, "conv"), (16, "conv"), (120, "fc"), (84, "fc")], 1):
            if kind == "conv":
                h = s.Convolution(h, kernel=(5, 5), num_filter=channels, name=f"conv{i}")
            else:
                h = s.FullyConnected(h, num_hidden=channels, name=f"fc{i}")
            h = s.sigmoid(s.BatchNorm(h, fix_gamma=False, name=f"bn{i}"))
            if kind == "conv":
                h = s.Pooling(h, kernel=(2, 2), stride=(2, 2), pool_type="max")
        h = s.FullyConnected(h, num_hidden=10, name="fc5")
    return s.SoftmaxOutput(h, s.var("label"), name="softmax")


def train_gluon(args, mx, X, y):
    from mxnet import autograd, gluon

    net = gluon_net(args.net, mx, args.first_channels)
    if not args.no_hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": args.lr})

    def step(Xb, yb):
        with autograd.record():
            l = loss(net(Xb), yb)
        l.backward()
        trainer.step(args.batch_size)

    return step


def train_module(args, mx, X, y):
    sym = symbol_net(args.net, mx, args.first_channels)
    executors, params, grads = {}, {}, {}

    def bind(n):
        shapes = {"data": (n, *X.shape[1:]), "label": (n,)}
        arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
        names = sym.list_arguments()
        if not params:  # the first shape allocates the parameters; later shapes share them
            init = mx.init.Xavier()
            for name, shape in zip(names, arg_shapes):
                if name not in shapes:
                    params[name] = mx.nd.zeros(shape)
                    init(mx.init.InitDesc(name), params[name])
                    grads[name] = mx.nd.zeros(shape)
            for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
                params[name] = mx.nd.ones(shape) if name.endswith("var") else mx.nd.zeros(shape)
        args_ = {name: params.get(name, mx.nd.zeros(shape)) for name, shape in zip(names, arg_shapes)}
        grad_req = {name: "write" if name in grads else "null" for name in names}  # no gradient for the data
        aux = {name: params[name] for name in sym.list_auxiliary_states()}
        return sym.bind(mx.cpu(), args_, args_grad={k: grads[k] for k in grads}, grad_req=grad_req, aux_states=aux)

    executors[len(X) if len(X) < args.batch_size else args.batch_size] = bind(min(len(X), args.batch_size))
    weights = [name for name in sym.list_arguments() if name in grads]
    flat = [a for name in weights for a in (params[name], grads[name])]
    lrs, wds = (args.lr,) * len(weights), (0.0,) * len(weights)

    def step(Xb, yb):
        n = Xb.shape[0]
        ex = executors.get(n) or executors.setdefault(n, bind(n))
        ex.arg_dict["data"][:] = Xb  # a copy: an executor owns its input arrays
        ex.arg_dict["label"][:] = yb
        ex.forward(is_train=True)
        ex.backward()
        mx.nd.multi_sgd_update(*flat, lrs=lrs, wds=wds, rescale_grad=1.0 / args.batch_size,
                               num_weights=len(weights), out=[params[k] for k in weights])

    return step


def train_manual(args, mx, X, y):
    if args.net != "mlp":
        raise SystemExit("mxnet_loop.py: --way manual is written for --net mlp only")
    nd = mx.nd
    rng = np.random.default_rng(2)
    W1 = nd.array(rng.normal(0, 0.01, (256, 784)), dtype="float32")
    W2 = nd.array(rng.normal(0, 0.01, (10, 256)), dtype="float32")
    b1, b2 = nd.zeros(256), nd.zeros(10)

    def step(Xb, yb):
        Xf = Xb.reshape((Xb.shape[0], -1))
        H = nd.relu(nd.FullyConnected(Xf, W1, b1, num_hidden=256))
        G = (nd.softmax(nd.FullyConnected(H, W2, b2, num_hidden=10)) - nd.one_hot(yb, 10)) * (
            args.lr / args.batch_size)
        GH = nd.dot(G, W2) * (H > 0)
        for w, g in ((W2, nd.dot(G, H, transpose_a=True)), (b2, G.sum(axis=0)),
                     (W1, nd.dot(GH, Xf, transpose_a=True)), (b1, GH.sum(axis=0))):
            nd.elemwise_sub(w, g, out=w)

    return step


def summarize(times) -> dict:
    """ms per epoch: wall min and median, and the least CPU time (all threads): on a busy machine
    one thread's CPU time moves far less than the wall clock (spinning OpenMP threads inflate it)."""
    walls = [wall for wall, _ in times]
    return {"min_ms": min(walls) * 1e3, "median_ms": statistics.median(walls) * 1e3,
            "cpu_ms": min(cpu for _, cpu in times) * 1e3}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=("mlp", "lenet"), default="mlp")
    p.add_argument("--way", nargs="+", choices=("gluon", "module", "manual"), default=["gluon", "module"])
    p.add_argument("--threads", help="OMP_NUM_THREADS for MXNet (default: as the environment has it)")
    p.add_argument("--engine", choices=("threaded", "naive"), default="threaded")
    p.add_argument("--no-hybridize", action="store_true")
    p.add_argument("--first-channels", type=int, default=6, help="LeNet's first conv (default 6, the book's)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per way (default %(default)s)")
    p.add_argument("--num-examples", type=int, default=60000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--json", action="store_true", help="one JSON line at the end")
    args = p.parse_args()
    args.lr = 0.5 if args.net == "mlp" else 1.0  # the book's
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = args.threads
    if args.engine == "naive":
        os.environ["MXNET_ENGINE_TYPE"] = "NaiveEngine"
    import mxnet as mx  # after the variables: MXNet reads them on import

    rng = np.random.default_rng(0)
    X = mx.nd.array(rng.random((args.num_examples, 1, 28, 28), dtype=np.float32))
    y = mx.nd.array(rng.integers(0, 10, args.num_examples), dtype="float32")
    results = {}
    load_before = os.getloadavg()[0]
    for way in args.way:
        mx.random.seed(0)
        step = {"gluon": train_gluon, "module": train_module, "manual": train_manual}[way](args, mx, X, y)
        times, order_rng = [], np.random.default_rng(1)
        for epoch in range(args.epochs + 1):  # the first is the warm-up
            start, cpu = time.perf_counter(), time.process_time()
            order = mx.nd.array(order_rng.permutation(args.num_examples), dtype="int64")
            Xs, ys = mx.nd.take(X, order), mx.nd.take(y, order)
            for i in range(0, args.num_examples, args.batch_size):
                j = min(i + args.batch_size, args.num_examples)
                step(Xs[i:j], ys[i:j])
            mx.nd.waitall()
            if epoch:
                times.append((time.perf_counter() - start, time.process_time() - cpu))
        results[way] = summarize(times)
    load = [load_before, os.getloadavg()[0]]
    setting = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, engine {args.engine}"
    if args.net == "lenet":
        setting += f", first conv {args.first_channels} channels"
    for way, r in results.items():
        print(f"mxnet {mx.__version__} {args.net} {way}: {r['min_ms']:.0f} ms/epoch min, {r['median_ms']:.0f} median "
              f"of {args.epochs}; CPU {r['cpu_ms']:.0f} ms/epoch (min) ({setting})")
    print(f"load average {load[0]:.2f} -> {load[1]:.2f}")
    if args.json:
        print(json.dumps({"framework": "mxnet", "version": mx.__version__, "net": args.net, "setting": setting,
                          "results": results, "load_average": load}))


if __name__ == "__main__":
    main()

"""The book's models with the fewest MXNet engine calls per step: the seed's
linear regression, and softmax regression and the MLP (d2l 3.6/3.9) and LeNet with
batch norm (d2l 5.10) further down.

Same roles, names and mathematics as ``plugins/scratch.py``, and each role
mixes with scratch and gluon.  Per step of the host loop this costs one cached
graph for the model, one for the loss, the host's autograd ``backward`` and
one fused update; a shuffled epoch is one gather into a buffer reused across
epochs, then views.  What each trick buys is measured in ``docs/performance.md``.

Opt-in (``harness run --fused``), the whole step of model, loss and
optimizer runs as one cached graph with the gradient written out by hand:
one engine call per step, no autograd.
"""
import sys
import weakref

import mxnet as mx
import numpy as np
from mxnet import init, nd
from mxnet.gluon import nn

from harness.hookspecs import hookimpl

# Cached graphs keep their memory plan between calls (static_alloc) and skip
# shape inference while the shape repeats (static_shape).
STATIC = [("static_alloc", True), ("static_shape", True)]

#: Weights one ``multi_sgd_update`` call can take (MultiSGDKernelParam::N in MXNet 1.9).
MULTI_SGD_MAX = 60

#: Shuffled features up to this many bytes are gathered once per epoch into a
#: buffer kept for the next epochs; larger ones batch by batch (no second N×D copy).
EPOCH_BUFFER_MAX_BYTES = 1 << 30

# The batches last handed out with shuffle=False, keyed by the arrays' identity:
# later epochs over the same arrays reuse the views instead of slicing again.
_ordered = {"key": None, "batches": None}


# 读取数据集: shuffle once per epoch, hand out contiguous views
def data_iter(batch_size, features, labels, shuffle=True):
    if not shuffle:
        key = (features, labels, batch_size)
        cached = _ordered["key"]
        if cached is None or any(a is not b for a, b in zip(cached, key)):
            _ordered["key"], _ordered["batches"] = key, list(_batches(batch_size, features, labels))
        return iter(_ordered["batches"])
    # NumPy's RNG, seeded by the host as scratch's ``random`` is; int64 indices are
    # exact for any N (the seed's float32 ``nd.array(indices)`` stops at 2^24 rows)
    indices = nd.array(np.random.permutation(len(features)), ctx=features.context, dtype="int64")
    if features.size * np.dtype(features.dtype).itemsize <= EPOCH_BUFFER_MAX_BYTES:
        # one gather per epoch, then views: one engine call per epoch instead of one per batch
        return _EpochBuffer.get(features, labels).fill(batch_size, features, labels, indices)
    return _gathered(batch_size, features, labels, indices)


class _EpochBuffer:
    """The shuffled epoch, gathered into arrays that later epochs overwrite.

    A fresh N×D array per epoch costs more in page faults than the gather
    itself (1e5×100: ~27 ms vs ~6 ms).  Overwriting is safe for the engine (it
    orders the next ``take`` after pending reads of the views), so the only
    danger is a caller still holding an earlier epoch's batches: the buffer is
    reused only when its iterator is done or gone and no batch it handed out is
    referenced outside this class; otherwise the epoch gets a new one.
    """

    _last = None  # one kept buffer: a new shape (another data set) replaces it

    def __init__(self, features, labels):
        self.features = nd.empty(features.shape, features.context, features.dtype)
        self.labels = nd.empty(labels.shape, labels.context, labels.dtype)
        self.handed = []  # the (X, y) batches of the current epoch
        self.epoch = None  # a weak reference to the current epoch's generator

    @classmethod
    def get(cls, features, labels):
        buf = cls._last
        if buf is None or not buf._fits(features, labels) or buf._in_use():
            buf = cls._last = cls(features, labels)
        return buf

    def _fits(self, features, labels):
        return all(a.shape == b.shape and a.dtype == b.dtype and a.context == b.context
                   for a, b in ((self.features, features), (self.labels, labels)))

    def _in_use(self):
        epoch = self.epoch() if self.epoch is not None else None
        if epoch is not None and epoch.gi_frame is not None:  # started or not, not finished
            return True
        return _any_held(self.handed)

    def fill(self, batch_size, features, labels, indices):
        nd.take(features, indices, out=self.features)
        nd.take(labels, indices, out=self.labels)
        self.handed = []
        epoch = self._views(batch_size)
        self.epoch = weakref.ref(epoch)
        return epoch

    def _views(self, batch_size):
        for batch in _batches(batch_size, self.features, self.labels):
            self.handed.append(batch)
            yield batch


def _refs(batches):
    return [(sys.getrefcount(b), sys.getrefcount(b[0]), sys.getrefcount(b[1])) for b in batches]


# the counts of a batch only its list holds, measured through the same code
# rather than assumed: getrefcount's results differ between Python versions
_UNHELD = _refs([(object(), object())])[0]


def _any_held(batches):
    return any(n > free for counts in _refs(batches) for n, free in zip(counts, _UNHELD))


def _batches(batch_size, features, labels):
    # contiguous rows are views: no copy, no engine call; ``_slice`` skips the
    # generic indexing behind ``features[i:j]`` (about half its cost)
    for i, j in _ranges(batch_size, len(features)):
        yield features._slice(i, j), labels._slice(i, j)


def _gathered(batch_size, features, labels, indices):
    # beyond EPOCH_BUFFER_MAX_BYTES: one take per batch, no second copy of the data
    for i, j in _ranges(batch_size, len(features)):
        rows = indices._slice(i, j)
        yield features.take(rows), labels.take(rows)


def _ranges(batch_size, num_examples):
    for i in range(0, num_examples, batch_size):
        yield i, min(i + batch_size, num_examples)


class Graph:
    """A symbol run as ``nd.CachedOp``, one op per shape of the first input.

    A raw CachedOp call costs about half a hybridized Gluon block's (no Python
    parameter bookkeeping).  One op per shape keeps the short last batch and the
    whole-set evaluation from making the training shape re-plan its memory.
    """

    def __init__(self, symbol, inputs, dense: bool = False):
        if symbol.list_inputs() != inputs:  # a CachedOp takes its inputs in this order
            raise ValueError(f"graph inputs {symbol.list_inputs()}, expected {inputs}")
        self.symbol = symbol
        self.dense = dense  # a FullyConnected stack (softmax, mlp): what the fused step dispatches on
        self.ops = {}

    def __call__(self, *args):
        shape = args[0].shape
        op = self.ops.get(shape)
        if op is None:
            op = self.ops[shape] = nd.CachedOp(self.symbol, STATIC)
        return op(*args)


def _linreg_symbol():
    X, w, b = mx.sym.var("X"), mx.sym.var("w"), mx.sym.var("b")
    return mx.sym.broadcast_add(mx.sym.dot(X, w), b)  # the operators of scratch linreg


def _squared_loss_symbol():
    y_hat, y = mx.sym.var("y_hat"), mx.sym.var("y")
    return mx.sym.square(y_hat - mx.sym.reshape(y, shape=(-1, 1))) / 2


# 模型定义: scratch's linreg(X, w, b) as one cached graph, on the host's w and b
def model(w, b):
    # 开辟存储梯度的内存
    w.attach_grad()
    b.attach_grad()
    # a (net, params) pair, so any optimizer sees the raw [w, b]; a Gluon Trainer
    # gets Parameters through the host's Model.collect_params, which this net follows
    return Graph(_linreg_symbol(), ["X", "w", "b"]), [w, b]


# 定义损失函数: (y_hat - y)² / 2 as one cached graph, one autograd node
def loss():
    return Graph(_squared_loss_symbol(), ["y_hat", "y"])


# 定义优化算法: all parameters in one fused multi_sgd_update call, no kvstore
def optimizer(net, lr):
    params = list(net.params)  # raw arrays for any model; a Gluon model's share p.grad()
    # one call per group of weights: the operator takes at most MULTI_SGD_MAX
    calls = []
    for i in range(0, len(params), MULTI_SGD_MAX):
        group = params[i:i + MULTI_SGD_MAX]
        # the gradient buffers, looked up once (each ``.grad`` is a C call);
        # backward writes into them in place
        weights_and_grads = [a for p in group for a in (p, p.grad)]
        calls.append((weights_and_grads, group, (float(lr),) * len(group), (0.0,) * len(group)))

    def sgd(batch_size):
        # w ← w − lr·(grad/batch_size): the seed's sgd, rescale_grad as Trainer sets it
        for weights_and_grads, group, lrs, wds in calls:
            nd.multi_sgd_update(*weights_and_grads, lrs=lrs, wds=wds, rescale_grad=1.0 / batch_size,
                                num_weights=len(group), out=group)

    return sgd


#: Batches of at least this many features take FullyConnected for the forward in
#: the fused step; smaller ones scratch's dot + b (FC's fixed cost is ~8 µs more).
FC_MIN_ELEMENTS = 1 << 15


def _sgd_step_symbol(lr, batch_size, fully_connected=False):
    """Forward, gradient and update of linreg + squared_loss + sgd for one batch size."""
    X, y, w, b = (mx.sym.var(n) for n in ("X", "y", "w", "b"))
    if fully_connected:
        # oneDNN's inner product: ~28 µs on 1000×100 where dot takes ~50; not bitwise
        # scratch's dot (|Δ| vs all-scratch 2.4e-7 on large, within verify's 1e-5)
        y_hat = mx.sym.FullyConnected(X, mx.sym.reshape(w, shape=(1, -1)), b, num_hidden=1)
    else:
        y_hat = mx.sym.broadcast_add(mx.sym.dot(X, w), b)  # scratch's linreg, bit for bit
    # d/dŷ of (ŷ − y)²/2 is ŷ − y, what autograd gives the seed's loss
    err = y_hat - mx.sym.reshape(y, shape=(-1, 1))
    grad_w = mx.sym.dot(X, err, transpose_a=True)  # the kernel autograd uses for dot
    grad_b = mx.sym.sum(err, axis=0)
    # param − lr·grad/batch_size in the seed sgd's operator order, so the numbers match it exactly
    return mx.sym.Group([w - lr * grad_w / batch_size, b - lr * grad_b / batch_size])


# 一步训练: linreg, squared_loss and sgd fused into one cached graph per batch size
def fused_step(net, lr):
    w, b = net.params
    if w.ndim != 2 or w.shape[1] != 1 or b.shape != (1,):
        raise ValueError(f"the fused step needs params [w (D, 1), b (1,)], got shapes {w.shape}, {b.shape}")
    params = [w, b]
    ops = {}  # batch size -> CachedOp; the size is a constant of the graph

    def step(X, y, batch_size=None):
        n = X.shape[0]
        divisor = batch_size or n  # the host's divisor rule: the book's fixed size on a short last batch
        op = ops.get((n, divisor))
        if op is None:
            symbol = _sgd_step_symbol(float(lr), float(divisor), X.size >= FC_MIN_ELEMENTS)
            if symbol.list_inputs() != ["w", "X", "b", "y"]:  # a CachedOp takes its inputs in this order
                raise ValueError(f"fused step inputs {symbol.list_inputs()}")
            op = ops[n, divisor] = nd.CachedOp(symbol, STATIC)
        op(w, X, b, y, out=params)  # in place: w and b keep their identity for evaluation

    return step


# ---- the image tasks (d2l 3.6 softmax regression, 3.9 MLP) ------------------------------------------------------
#
# The same layers as scratch's softmax_net/mlp_net as oneDNN's FullyConnected (inner product), which flattens
# (b, 1, H, W) itself and holds its weight as (out, in): the host's (in, out) draw is taken transposed, as
# Gluon's Dense does (Task.canonical turns it back).  One cached graph for the net, one for the loss.


def _dense_symbol(widths):
    """``X`` through FullyConnected layers of ``widths`` with ReLU between them: the scores."""
    h = mx.sym.var("X")
    for i, width in enumerate(widths, 1):
        if i > 1:
            h = mx.sym.relu(h)  # 3.9.3 relu
        h = mx.sym.FullyConnected(h, mx.sym.var(f"W{i}"), mx.sym.var(f"b{i}"), num_hidden=width, flatten=True)
    return h


def _dense_inputs(layers):
    return ["X"] + [n for i in range(1, layers + 1) for n in (f"W{i}", f"b{i}")]


def _dense_model(*params):
    """``[W1, b1, W2, b2, ...]`` of shapes ``(in, out), (out,)``: the net and its params, weights held ``(out, in)``."""
    if len(params) % 2 or any(W.ndim != 2 or b.shape != (W.shape[1],) for W, b in zip(params[::2], params[1::2])):
        raise ValueError(f"expected pairs W (in, out), b (out,); got shapes {[p.shape for p in params]}")
    held = []
    for W, b in zip(params[::2], params[1::2]):
        held += [W.T.copy(), b]  # the same values; a fresh (out, in) array for FullyConnected
    for p in held:
        p.attach_grad()  # 开辟存储梯度的内存
    widths = [W.shape[1] for W in params[::2]]
    return Graph(_dense_symbol(widths), _dense_inputs(len(widths)), dense=True), held


# 3.6.4 定义模型: softmax regression's X·W + b as one cached graph
def softmax_model(W, b):
    return _dense_model(W, b)


# 3.9.4 定义模型: relu(X·W1 + b1)·W2 + b2 as one cached graph
def mlp_model(W1, b1, W2, b2):
    return _dense_model(W1, b1, W2, b2)


def _cross_entropy_symbol():
    y_hat, y = mx.sym.var("y_hat"), mx.sym.var("y")
    # 3.6.3 softmax and 3.6.5 cross_entropy op for op, as scratch computes them: log_softmax (what Gluon's loss
    # uses) rounds differently, and lr 0.5 on the MLP grows that 1e-7 to 5e-3 in 10 epochs (verify's 1e-4)
    X_exp = mx.sym.exp(y_hat)
    partition = mx.sym.sum(X_exp, axis=1, keepdims=True)
    return -mx.sym.log(mx.sym.pick(mx.sym.broadcast_div(X_exp, partition), y, axis=1))


# 3.6.5 定义损失函数: softmax and cross-entropy of the scores as one cached graph
def softmax_cross_entropy():
    return Graph(_cross_entropy_symbol(), ["y_hat", "y"])


def _dense_step_symbol(widths, lr, batch_size):
    """Forward, the analytic gradient and the SGD update of a FullyConnected stack + softmax cross-entropy.

    ``∂l/∂s = softmax(s) − onehot(y)`` for the scores ``s``; back through each layer ``h_out = h_in·Wᵀ + b``:
    ``∂W = gᵀ·h_in``, ``∂b = Σ g``, ``∂h_in = g·W ⊙ [h_in > 0]`` (the ReLU).  The updated parameters are the
    outputs, in the order ``W1, b1, W2, b2, ...``.
    """
    X, y = mx.sym.var("X"), mx.sym.var("y")
    layers = [(mx.sym.var(f"W{i}"), mx.sym.var(f"b{i}")) for i in range(1, len(widths) + 1)]
    inputs, h = [], mx.sym.flatten(X)
    for i, ((W, b), width) in enumerate(zip(layers, widths)):
        if i:
            h = mx.sym.relu(h)
        inputs.append(h)
        h = mx.sym.FullyConnected(h, W, b, num_hidden=width, flatten=False)
    # lr/batch_size applied once, to the (batch, classes) gradient of the scores: every gradient below is linear
    # in it (the ReLU mask does not depend on it), so each parameter then takes one subtraction, not three passes
    g = (mx.sym.softmax(h, axis=1) - mx.sym.one_hot(y, depth=widths[-1])) * (lr / batch_size)
    updates = []
    for i in reversed(range(len(layers))):
        W, b = layers[i]
        grad_W = mx.sym.dot(g, inputs[i], transpose_a=True)
        grad_b = mx.sym.sum(g, axis=0)
        if i:  # the gradient for the layer below, through its ReLU (its output is inputs[i])
            g = mx.sym.dot(g, W) * (inputs[i] > 0)
        updates[:0] = [W - grad_W, b - grad_b]
    return mx.sym.Group(updates)


# 一步训练 (3.6/3.9): net, softmax cross-entropy and sgd as one cached graph per batch size
def dense_fused_step(net, lr):
    params = list(net.params)
    if len(params) % 2 or any(W.ndim != 2 or b.shape != (W.shape[0],) for W, b in zip(params[::2], params[1::2])):
        raise ValueError(f"the fused step needs fast's layers [W (out, in), b (out,), ...], got shapes "
                         f"{[p.shape for p in params]}")
    widths = [W.shape[0] for W in params[::2]]
    ops = {}  # batch size -> CachedOp; the size is a constant of the graph

    def step(X, y, batch_size=None):
        n = X.shape[0]
        divisor = batch_size or n  # the host's divisor rule: the book's fixed size on a short last batch
        op = ops.get((n, divisor))
        if op is None:
            symbol = _dense_step_symbol(widths, float(lr), float(divisor))
            # a CachedOp takes its inputs in the symbol's order: where X and y fall among the params
            order = [["X", "y", *_dense_inputs(len(widths))[1:]].index(name) for name in symbol.list_inputs()]
            op = ops[n, divisor] = (nd.CachedOp(symbol, STATIC), order)
        cached, order = op
        given = [X, y, *params]
        cached(*(given[i] for i in order), out=params)  # in place: the params keep their identity

    return step


# ---- the lenet task (d2l 5.10, LeNet with batch normalization) -------------------------------------------------
#
# Gluon's layers hybridized into one cached graph (static_alloc, static_shape): a forward is one engine call, and the
# BatchNorm operator updates its running mean/var inside it.  Training mode comes from autograd.record, as for
# Gluon's own BatchNorm.  fast's loss and optimizer follow (3.6.5's cross-entropy graph, one multi_sgd_update).
#
# The first layer's 6 channels are computed as 8, the last 2 held at zero.  oneDNN 2.4.4's AVX2 kernels block
# channels by 8: a conv output with 6 stays in plain NCHW, where its batch norm, its max pooling (the generic
# ``simple_nchw`` kernel) and the second conv's gemm run slower than the whole layer does in the blocked layout.
# The parameters, their gradients and the moving statistics are the 6-channel ones (docs/performance.md).

#: Channels oneDNN's AVX2 kernels block by (``aBcd8b``).
CHANNEL_BLOCK = 8


def _whole_blocks(channels):
    return -(-channels // CHANNEL_BLOCK) * CHANNEL_BLOCK


def _constant(F, like, shape, value):
    """A constant beside ``like``: in a graph the cached op places it; imperatively it needs the context."""
    if F is nd:
        return nd.full(shape, value, ctx=like.context)
    return F.full(shape=shape, val=value)


class PaddedConv2D(nn.HybridBlock):
    """``Conv2D(channels, kernel_size)`` with its output channels, and optionally the input's, padded with zero
    filters to whole blocks.  Its weight and bias are the unpadded ones, so their gradients are too."""

    def __init__(self, channels, kernel_size, in_channels, pad_in=False, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.in_channels, self.kernel = channels, in_channels, kernel_size
        self.in_pad = _whole_blocks(in_channels) - in_channels if pad_in else 0
        self.out_pad = _whole_blocks(channels) - channels
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(channels, in_channels, kernel_size, kernel_size))
            self.bias = self.params.get("bias", shape=(channels,), init="zeros")

    def hybrid_forward(self, F, x, weight, bias):
        k = self.kernel
        if self.in_pad:  # the previous layer's zero channels meet zero weights
            weight = F.concat(weight, _constant(F, x, (self.channels, self.in_pad, k, k), 0), dim=1)
        if self.out_pad:
            inputs = self.in_channels + self.in_pad
            weight = F.concat(weight, _constant(F, x, (self.out_pad, inputs, k, k), 0), dim=0)
            bias = F.concat(bias, _constant(F, x, (self.out_pad,), 0), dim=0)
        return F.Convolution(x, weight, bias, kernel=(k, k), num_filter=self.channels + self.out_pad)


class PaddedBatchNorm(nn.HybridBlock):
    """``nn.BatchNorm(in_channels=channels)`` over a padded conv output: the zero channels normalise to
    ``beta = 0``.  ``moving_mean``/``moving_var`` are the real channels' statistics (views)."""

    def __init__(self, channels, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.pad = channels, _whole_blocks(channels) - channels
        self.momentum, self.epsilon = momentum, epsilon
        padded = (channels + self.pad,)
        with self.name_scope():
            self.gamma = self.params.get("gamma", shape=(channels,), init="ones")
            self.beta = self.params.get("beta", shape=(channels,), init="zeros")
            self.padded_mean = self.params.get("padded_mean", grad_req="null", shape=padded, init="zeros",
                                               differentiable=False)
            self.padded_var = self.params.get("padded_var", grad_req="null", shape=padded, init="ones",
                                              differentiable=False)

    @property
    def moving_mean(self):
        return self.padded_mean.data()[:self.channels]

    @property
    def moving_var(self):
        return self.padded_var.data()[:self.channels]

    def hybrid_forward(self, F, x, gamma, beta, padded_mean, padded_var):
        if self.pad:
            gamma = F.concat(gamma, _constant(F, x, (self.pad,), 1), dim=0)
            beta = F.concat(beta, _constant(F, x, (self.pad,), 0), dim=0)
        return F.BatchNorm(x, gamma, beta, padded_mean, padded_var, eps=self.epsilon, momentum=self.momentum,
                           fix_gamma=False, use_global_stats=False, name="fwd")


# 5.10.3 简洁实现, hybridized
def lenet_model(*params):
    net = nn.HybridSequential()
    net.add(PaddedConv2D(6, 5, in_channels=params[0].shape[1]), PaddedBatchNorm(6),
            nn.Activation('sigmoid'), nn.MaxPool2D(pool_size=2, strides=2),
            PaddedConv2D(16, 5, in_channels=6, pad_in=True), nn.BatchNorm(in_channels=16),
            nn.Activation('sigmoid'), nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, in_units=params[8].shape[1]), nn.BatchNorm(in_channels=120), nn.Activation('sigmoid'),
            nn.Dense(84, in_units=120), nn.BatchNorm(in_channels=84), nn.Activation('sigmoid'),
            nn.Dense(10, in_units=84))
    net.initialize(ctx=params[0].context, init=init.Xavier())
    trainable = [p for p in net.collect_params().values() if p.grad_req != 'null']  # not the running mean/var
    for p, value in zip(trainable, params):
        p.set_data(value.reshape(p.shape))  # start from the host's draw
    net.hybridize(static_alloc=True, static_shape=True)
    return net


@hookimpl
def register_data(register):
    register("fast", data_iter)


@hookimpl
def register_models(register):
    register("fast", model)
    register("fast", softmax_model, tasks=["softmax"])
    register("fast", mlp_model, tasks=["mlp"])
    register("fast", lenet_model, tasks=["lenet"])


@hookimpl
def register_losses(register):
    register("fast", loss)
    register("fast", softmax_cross_entropy, tasks=["softmax", "mlp", "lenet"])


@hookimpl
def register_optimizers(register):
    register("fast", optimizer)


@hookimpl
def register_fused_steps(register):
    # the same maths behind both triples: fast's roles are scratch's, op for op
    # fast's triple on every task: one registration (a name registers once per plugin), the step by the net
    register("fast", "fast", "fast", fast_fused_step, tasks=["linreg", "softmax", "mlp"])
    register("scratch", "scratch", "scratch", fused_step)


def fast_fused_step(net, lr):
    """fast's own step for the model fast built: the dense stack's (softmax, mlp) or linreg's."""
    if isinstance(net.net, Graph) and net.net.dense:
        return dense_fused_step(net, lr)
    return fused_step(net, lr)

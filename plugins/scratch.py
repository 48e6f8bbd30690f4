"""The book's models from scratch: NDArray + autograd.

Block for block the seed note's 从零实现 sections (linear regression, d2l 3.2)
and the chapter's 3.6 (softmax regression) and 3.9 (multilayer perceptron)
from-scratch sections, with their names.  The data (3.6.1/3.9.1 获取和读取数据)
and the initial parameters are the host's task; the training loop is the
host's ``train_ch3``.
"""
import functools
import random

from mxnet import autograd, init, nd
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn

from harness.hookspecs import hookimpl

from . import scratch_optim  # 第7章 优化算法: the chapter's algorithms from scratch


# 读取数据集 - 从零实现
def data_iter(batch_size, features, labels, shuffle=True):
    num_examples = len(features)
    indices = list(range(num_examples))
    if shuffle:
        random.shuffle(indices)  # 样本的读取顺序是随机的
    ctx = features.context  # asked once: each ask is a call into MXNet
    for i in range(0, num_examples, batch_size):
        j = nd.array(indices[i: min(i + batch_size, num_examples)], ctx=ctx)
        # take函数根据索引返回对应元素
        yield features.take(j), labels.take(j)


# 模型定义 - 从零实现: the host draws w ~ N(0, 0.01²) and b = 0, as the seed does
def model(w, b):
    # 开辟存储梯度的内存
    w.attach_grad()
    b.attach_grad()
    return linreg, [w, b]


def linreg(X, w, b):
    return nd.dot(X, w) + b


# 定义损失函数 - 从零实现
def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


# 定义优化算法 - 从零实现
def sgd(params, lr, batch_size):
    for param in params:
        param[:] = param - lr * param.grad / batch_size


def optimizer(net, lr):
    # step(batch_size) is sgd(net.params, lr, batch_size): the seed's [w, b]; a partial adds no Python frame
    return functools.partial(sgd, net.params, lr)


# ---- 3.6 softmax回归的从零开始实现 ----------------------------------------------

# 3.6.2 初始化模型参数: the host draws W ~ N(0, 0.01²) of shape (num_inputs, 10) and b = 0
def softmax_model(W, b):
    W.attach_grad()
    b.attach_grad()
    return softmax_net, [W, b]


# 3.6.3 实现softmax运算
def softmax(X):
    X_exp = X.exp()
    partition = X_exp.sum(axis=1, keepdims=True)
    return X_exp / partition  # 这里应用了广播机制


# 3.6.4 定义模型: the book's net ends in softmax(...); the harness's models return the
# scores, so any loss can follow, and the softmax moves into the loss below
def softmax_net(X, W, b):
    num_inputs = W.shape[0]
    return nd.dot(X.reshape((-1, num_inputs)), W) + b


# 3.6.5 定义损失函数
def cross_entropy(y_hat, y):
    return -nd.pick(y_hat, y).log()


def softmax_cross_entropy(y_hat, y):
    return cross_entropy(softmax(y_hat), y)


# ---- 3.9 多层感知机的从零开始实现 ------------------------------------------------

# 3.9.2 定义模型参数: the host draws W1, W2 ~ N(0, 0.01²), b1 = b2 = 0 (num_hiddens = 256)
def mlp_model(W1, b1, W2, b2):
    params = [W1, b1, W2, b2]
    for param in params:
        param.attach_grad()
    return mlp_net, params


# 3.9.3 定义激活函数
def relu(X):
    return nd.maximum(X, 0)


# 3.9.4 定义模型
def mlp_net(X, W1, b1, W2, b2):
    X = X.reshape((-1, W1.shape[0]))
    H = relu(nd.dot(X, W1) + b1)
    return nd.dot(H, W2) + b2


# 3.9.5 定义损失函数: the book's scratch MLP takes Gluon's loss here ("为了得到更好的数值稳定性")
def mlp_loss():
    return gloss.SoftmaxCrossEntropyLoss()


@hookimpl
def register_data(register):
    register("scratch", data_iter)  # 3.6.1/3.9.1 read with the seed's data_iter: any task


@hookimpl
def register_models(register):
    register("scratch", model)  # linreg
    register("scratch", softmax_model, tasks=["softmax"])
    register("scratch", mlp_model, tasks=["mlp"])
    register("scratch", lenet_model, tasks=["lenet"])


@hookimpl
def register_losses(register):
    register("scratch", lambda: squared_loss)  # linreg
    register("scratch", lambda: softmax_cross_entropy, tasks=["softmax", "lenet"])
    register("scratch", mlp_loss, tasks=["mlp"])  # 3.9.5: Gluon's loss


@hookimpl
def register_optimizers(register):
    register("scratch", optimizer)  # 3.6.7/3.9.6: the same sgd for every task
    # 7.4-7.8 (plugins/scratch_optim.py): init_xxx_states() and xxx(params, states, hyperparams)
    for name in ("momentum", "adagrad", "rmsprop", "adadelta", "adam"):
        register("scratch", scratch_optim.optimizer(name), algorithms=[name])


# ---- 5.10 批量归一化 (LeNet with batch normalization, the `lenet` task) --------------------------------------------
#
# The book's 5.10 from-scratch section: its batch_norm and BatchNorm, in its 5.5 LeNet.  The conv, pool and dense
# layers are Gluon's, as in the book; what is from scratch is the batch normalization.

# 5.10.1.1 从零开始实现
def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    # 通过autograd来判断当前模式是训练模式还是预测模式
    if not autograd.is_training():
        # 如果是在预测模式下，直接使用传入的移动平均所得的均值和方差
        X_hat = (X - moving_mean) / nd.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            # 使用全连接层的情况，计算特征维上的均值和方差
            mean = X.mean(axis=0)
            var = ((X - mean) ** 2).mean(axis=0)
        else:
            # 使用二维卷积层的情况，计算通道维上（axis=1）的均值和方差。这里我们需要保持
            # X的形状以便后面可以做广播运算
            mean = X.mean(axis=(0, 2, 3), keepdims=True)
            var = ((X - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        # 训练模式下用当前的均值和方差做标准化
        X_hat = (X - mean) / nd.sqrt(var + eps)
        # 更新移动平均的均值和方差
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta  # 拉伸和偏移
    return Y, moving_mean, moving_var


class BatchNorm(nn.Block):
    def __init__(self, num_features, num_dims, **kwargs):
        super(BatchNorm, self).__init__(**kwargs)  # noqa: UP008 (the book's line)
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        # 参与求梯度和迭代的拉伸和偏移参数，分别初始化成1和0
        self.gamma = self.params.get('gamma', shape=shape, init=init.One())
        self.beta = self.params.get('beta', shape=shape, init=init.Zero())
        # 不参与求梯度和迭代的变量，全在内存上初始化成0
        self.moving_mean = nd.zeros(shape)
        self.moving_var = nd.zeros(shape)

    def forward(self, X):
        # 如果X不在内存上，将moving_mean和moving_var复制到X所在显存上
        if self.moving_mean.context != X.context:
            self.moving_mean = self.moving_mean.copyto(X.context)
            self.moving_var = self.moving_var.copyto(X.context)
        # 保存更新过的moving_mean和moving_var
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma.data(), self.beta.data(), self.moving_mean,
            self.moving_var, eps=1e-5, momentum=0.9)
        return Y


# 5.10.2 使用批量归一化层的LeNet; in_channels/in_units given so the host's draw can be set before the first batch
def lenet_model(*params):
    ctx = params[0].context
    net = nn.Sequential()
    net.add(nn.Conv2D(6, kernel_size=5, in_channels=params[0].shape[1]),
            BatchNorm(6, num_dims=4),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5, in_channels=6),
            BatchNorm(16, num_dims=4),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, in_units=params[8].shape[1]),
            BatchNorm(120, num_dims=2),
            nn.Activation('sigmoid'),
            nn.Dense(84, in_units=120),
            BatchNorm(84, num_dims=2),
            nn.Activation('sigmoid'),
            nn.Dense(10, in_units=84))
    net.initialize(ctx=ctx, init=init.Xavier())
    # then start from the host's draw (gamma and beta held as (1, C, 1, 1) or (1, C)), and the moving
    # variance from the host's 1 like Gluon's nn.BatchNorm (the book's zeros would make the untrained net's
    # predictions divide by sqrt(eps))
    for p, value in zip(net.collect_params().values(), params):
        p.set_data(value.reshape(p.shape))
    for block in net._children.values():
        if isinstance(block, BatchNorm):
            block.moving_mean = nd.zeros(block.moving_mean.shape, ctx=ctx)
            block.moving_var = nd.ones(block.moving_var.shape, ctx=ctx)
    return net

"""The book's models from scratch: NDArray + autograd.

Block for block the seed note's 从零实现 sections (linear regression, d2l 3.2)
and the chapter's 3.6 (softmax regression) and 3.9 (multilayer perceptron)
from-scratch sections, with their names.  The data (3.6.1/3.9.1 获取和读取数据)
and the initial parameters are the host's task; the training loop is the
host's ``train_ch3``.
"""
import functools
import random

from mxnet import nd

from harness.hookspecs import hookimpl


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


# 3.9.5 定义损失函数: the book takes Gluon's SoftmaxCrossEntropyLoss here (that is `--loss gluon`);
# the scratch loss stays 3.6's softmax + cross_entropy, the same maths


@hookimpl
def register_data(register):
    register("scratch", data_iter)  # 3.6.1/3.9.1 read with the seed's data_iter: any task


@hookimpl
def register_models(register):
    register("scratch", model)  # linreg
    register("scratch", softmax_model, tasks=["softmax"])
    register("scratch", mlp_model, tasks=["mlp"])


@hookimpl
def register_losses(register):
    register("scratch", lambda: squared_loss)  # linreg
    register("scratch", lambda: softmax_cross_entropy, tasks=["softmax", "mlp"])


@hookimpl
def register_optimizers(register):
    register("scratch", optimizer)  # 3.6.7/3.9.6: the same sgd for every task

"""The seed's linear regression from scratch: NDArray + autograd.

Block for block the seed note's 从零实现 sections, with its names.
"""
import random

from mxnet import nd

from harness.hookspecs import hookimpl


# 读取数据集 - 从零实现
def data_iter(batch_size, features, labels, shuffle=True):
    num_examples = len(features)
    indices = list(range(num_examples))
    if shuffle:
        random.shuffle(indices)  # 样本的读取顺序是随机的
    for i in range(0, num_examples, batch_size):
        j = nd.array(indices[i: min(i + batch_size, num_examples)], ctx=features.context)
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
    params = net.params  # the seed's [w, b]
    return lambda batch_size: sgd(params, lr, batch_size)


@hookimpl
def register_data(register):
    register("scratch", data_iter)


@hookimpl
def register_models(register):
    register("scratch", model)


@hookimpl
def register_losses(register):
    register("scratch", lambda: squared_loss)


@hookimpl
def register_optimizers(register):
    register("scratch", optimizer)

"""One component per contract violation the conformance kit must explain."""
from mxnet import nd

from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import data_iter, linreg, sgd, squared_loss


def column_labels(batch_size, features, labels, shuffle=True):
    for X, y in data_iter(batch_size, features, labels, shuffle):
        yield X, y.reshape((-1, 1))  # y must be (b,)


def detached_model(w, b):
    params = [w.copy(), b.copy()]
    for p in params:
        p.attach_grad()
    return (lambda X, w_, b_: linreg(X, w, b)), params  # computes with arrays that get no gradient


def biasless_model(w, b):
    w.attach_grad()
    b.attach_grad()
    return (lambda X, w, b: nd.dot(X, w)), [w, b]  # b never reaches the output: no gradient


def gradless_model(w, b):
    return linreg, [w, b]  # forgot attach_grad


def broadcast_loss():
    return lambda y_hat, y: (y_hat - y) ** 2 / 2  # (b, 1) - (b,) broadcasts to (b, b)


def frozen_optimizer(net, lr):
    return lambda batch_size: None


def ascent_optimizer(net, lr):
    return lambda batch_size: sgd(net.params, -lr, batch_size)


def timid_optimizer(net, lr):
    return lambda batch_size: sgd(net.params, lr / 100, batch_size)  # right direction, far too slow


@hookimpl
def register_data(register):
    register("column_labels", column_labels)


@hookimpl
def register_models(register):
    register("detached", detached_model)
    register("biasless", biasless_model)
    register("gradless", gradless_model)


@hookimpl
def register_losses(register):
    register("broadcast", broadcast_loss)
    register("squared", lambda: squared_loss)


@hookimpl
def register_optimizers(register):
    register("frozen", frozen_optimizer)
    register("ascent", ascent_optimizer)
    register("timid", timid_optimizer)

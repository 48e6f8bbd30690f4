"""Components of the image tasks, one per contract violation the kit must explain (and a good model and loss)."""
from mxnet import init, nd
from mxnet.gluon import nn

from harness.hookspecs import hookimpl
from mxnet_harness_plugins.scratch import cross_entropy, data_iter, softmax, softmax_net
from mxnet_harness_plugins.scratch import mlp_model as scratch_mlp_model


def flat_images(batch_size, features, labels, shuffle=True):
    for X, y in data_iter(batch_size, features, labels, shuffle):
        yield X.reshape((X.shape[0], -1)), y  # images must keep their (1, H, W) shape


def fresh_mlp(W1, b1, W2, b2):
    net = nn.Sequential()
    net.add(nn.Dense(W1.shape[1], activation="relu", in_units=W1.shape[0]), nn.Dense(W2.shape[1], in_units=W2.shape[0]))
    net.initialize(init.Normal(sigma=0.01), ctx=W1.context)  # its own draw: ignores the host's initial params
    return net


def probability_softmax(W, b):
    W.attach_grad()
    b.attach_grad()
    return (lambda X, W, b: softmax(softmax_net(X, W, b))), [W, b]  # the book's net: probabilities, not scores


def one_score(W, b):
    W.attach_grad()
    b.attach_grad()
    return (lambda X, W, b: softmax_net(X, W, b)[:, 0:1]), [W, b]  # one column instead of one score per class


def no_softmax():
    return cross_entropy  # -log(y_hat[y]) of the scores: forgot the softmax


def batch_mean():
    return lambda y_hat, y: -nd.pick(nd.log_softmax(y_hat), y).mean()  # one number: backward must sum terms


def good_xent():
    return lambda y_hat, y: -nd.pick(nd.log_softmax(y_hat), y)


@hookimpl
def register_data(register):
    register("flat_images", flat_images)  # any task: fine on linreg, wrong on images


@hookimpl
def register_models(register):
    register("fresh_mlp", fresh_mlp, tasks=["mlp"])
    register("probabilities", probability_softmax, tasks=["softmax"])
    register("one_score", one_score, tasks=["softmax"])
    register("good_mlp", scratch_mlp_model, tasks=["mlp"])


@hookimpl
def register_losses(register):
    register("no_softmax", no_softmax, tasks=["softmax", "mlp"])
    register("batch_mean", batch_mean, tasks=["softmax"])
    register("good_xent", good_xent, tasks=["softmax"])

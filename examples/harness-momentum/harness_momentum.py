"""Two optimizers for mxnet-harness, and no other role.

``momentum``: SGD with heavy-ball momentum, from scratch on ``model.params``
in the style of the seed's ``sgd``.
``adam``: Gluon's ``Trainer('adam')`` on ``model.collect_params()``.
"""
import mxnet as mx
from mxnet import nd
from mxnet.gluon import Trainer

from harness.hookspecs import hookimpl

MOMENTUM = 0.9

# Adam moves each weight by about its learning rate per step whatever the
# gradient's size, so the SGD learning rate (0.03) would need ~150 steps to
# reach b = 4.2 and then jitter by ~0.05.  Start 10x higher, cut 10x every 100 steps.
ADAM_LR_SCALE = 10
ADAM_DECAY_EVERY = 100
ADAM_DECAY = 0.1


def sgd_momentum(params, velocities, lr, batch_size, momentum=MOMENTUM):
    for param, v in zip(params, velocities):
        v[:] = momentum * v + param.grad / batch_size
        param[:] = param - lr * v


def momentum(net, lr):
    params = net.params  # raw arrays with .grad, whichever plugin built the model
    velocities = [nd.zeros_like(p) for p in params]
    return lambda batch_size: sgd_momentum(params, velocities, lr, batch_size)


def adam(net, lr):
    base = lr * ADAM_LR_SCALE
    schedule = mx.lr_scheduler.FactorScheduler(step=ADAM_DECAY_EVERY, factor=ADAM_DECAY, base_lr=base)
    trainer = Trainer(net.collect_params(), "adam", {"learning_rate": base, "lr_scheduler": schedule})
    return trainer.step


@hookimpl
def register_optimizers(register):
    register("momentum", momentum)
    register("adam", adam)

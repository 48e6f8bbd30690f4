"""Two optimizers for mxnet-harness, and no other role.

``momentum``: an implementation of the harness's ``momentum`` algorithm (d2l 7.4):
SGD with heavy-ball momentum, from scratch on ``model.params`` in the style of the
seed's ``sgd`` (the velocity holds gradients, not steps: the same maths as the book's).
``adam``: an implementation of the ``adam`` algorithm (d2l 7.8): Gluon's
``Trainer('adam')`` on ``model.collect_params()``, with a learning-rate schedule of its own.

Each declares its algorithm (``algorithms=[...]``), so it receives that algorithm's
hyper-parameters (``momentum``; ``beta1``, ``beta2``, ``eps``) and runs it when the user
names no ``--algorithm``.
"""
import mxnet as mx
from mxnet import nd
from mxnet.gluon import Trainer

from harness.hookspecs import hookimpl

# Adam moves each weight by about its learning rate per step whatever the
# gradient's size, so the book's Adam lr (0.01) would need ~400 steps to
# reach b = 4.2 and then jitter.  Start 30x higher (0.3), cut 10x every 100 steps.
ADAM_LR_SCALE = 30
ADAM_DECAY_EVERY = 100
ADAM_DECAY = 0.1


def sgd_momentum(params, velocities, lr, batch_size, momentum):
    for param, v in zip(params, velocities):
        v[:] = momentum * v + param.grad / batch_size
        param[:] = param - lr * v


def momentum(net, lr, momentum):
    params = net.params  # raw arrays with .grad, whichever plugin built the model
    velocities = [nd.zeros_like(p) for p in params]
    return lambda batch_size: sgd_momentum(params, velocities, lr, batch_size, momentum)


def adam(net, lr, beta1, beta2, eps):
    base = lr * ADAM_LR_SCALE
    schedule = mx.lr_scheduler.FactorScheduler(step=ADAM_DECAY_EVERY, factor=ADAM_DECAY, base_lr=base)
    trainer = Trainer(net.collect_params(), "adam", {"learning_rate": base, "lr_scheduler": schedule,
                                                     "beta1": beta1, "beta2": beta2, "epsilon": eps})
    return trainer.step


@hookimpl
def register_optimizers(register):
    register("momentum", momentum, algorithms=["momentum"])
    register("adam", adam, algorithms=["adam"])

"""第7章 优化算法, concise: each section's ``d2l.train_gluon_ch7(trainer_name, trainer_hyperparams)``
is a Gluon ``Trainer`` with that optimizer; here with the hyper-parameters the scratch versions use.

The book's concise calls leave ε at MXNet's defaults (AdaGrad 1e-7, RMSProp and Adam 1e-8) while its
scratch code uses 1e-6: the harness passes the algorithm's ε to both, so the two can be compared.
``plugins/gluon.py`` registers them as the ``gluon`` optimizer.
"""
from mxnet import gluon


def trainer(net, trainer_name, trainer_hyperparams, **kvstore):
    # train_gluon_ch7: trainer = gluon.Trainer(net.collect_params(), trainer_name, trainer_hyperparams)
    # (kvstore=, update_on_kvstore=: when the harness runs the Trainer on the parameter server)
    return gluon.Trainer(net.collect_params(), trainer_name, trainer_hyperparams, **kvstore).step


# 7.4.4 简洁实现: d2l.train_gluon_ch7('sgd', {'learning_rate': 0.004, 'momentum': 0.9})
def momentum(net, lr, momentum, **kvstore):
    return trainer(net, 'sgd', {'learning_rate': lr, 'momentum': momentum}, **kvstore)


# 7.5.4 简洁实现: d2l.train_gluon_ch7('adagrad', {'learning_rate': 0.1})
def adagrad(net, lr, eps, **kvstore):
    return trainer(net, 'adagrad', {'learning_rate': lr, 'eps': eps}, **kvstore)


# 7.6.3 简洁实现: d2l.train_gluon_ch7('rmsprop', {'learning_rate': 0.01, 'gamma1': 0.9})
def rmsprop(net, lr, gamma, eps, **kvstore):
    return trainer(net, 'rmsprop', {'learning_rate': lr, 'gamma1': gamma, 'epsilon': eps}, **kvstore)


# 7.7.3 简洁实现: d2l.train_gluon_ch7('adadelta', {'rho': 0.9}); AdaDelta has no learning rate
def adadelta(net, lr, rho, eps, **kvstore):
    return trainer(net, 'adadelta', {'rho': rho, 'epsilon': eps}, **kvstore)


# 7.8.3 简洁实现: d2l.train_gluon_ch7('adam', {'learning_rate': 0.01})
def adam(net, lr, beta1, beta2, eps, **kvstore):
    return trainer(net, 'adam', {'learning_rate': lr, 'beta1': beta1, 'beta2': beta2, 'epsilon': eps}, **kvstore)


ALGORITHMS = {'momentum': momentum, 'adagrad': adagrad, 'rmsprop': rmsprop, 'adadelta': adadelta, 'adam': adam}

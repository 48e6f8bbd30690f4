"""第7章 优化算法, from scratch: the book's chapter 7 code, block for block, with its names.

Each section gives ``init_xxx_states()`` and ``xxx(params, states, hyperparams)``, trained by
``d2l.train_ch7``; :func:`train_ch7_step` is the part of that loop the harness's training loop
does not already do.  The book's states are sized for linear regression
(``nd.zeros((features.shape[1], 1))``, ``nd.zeros(1)``); here they take the model's parameters, so
every algorithm trains every task.  ``plugins/scratch.py`` registers them as the ``scratch``
optimizer.
"""
from mxnet import nd


def zeros_like_params(params):
    # the book: v_w = nd.zeros((features.shape[1], 1)), v_b = nd.zeros(1): one state per parameter
    return [nd.zeros(p.shape, ctx=p.context) for p in params]


# ---- 7.3 小批量随机梯度下降 ---------------------------------------------------------

def init_sgd_states(params):
    return []


def sgd(params, states, hyperparams):
    for p in params:
        p[:] -= hyperparams['lr'] * p.grad


# ---- 7.4 动量法 ----------------------------------------------------------------------

# 7.4.2 从零开始实现
def init_momentum_states(params):
    return zeros_like_params(params)


def sgd_momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        v[:] = hyperparams['momentum'] * v + hyperparams['lr'] * p.grad
        p[:] -= v


# ---- 7.5 AdaGrad算法 ----------------------------------------------------------------

# 7.5.3 从零开始实现
def init_adagrad_states(params):
    return zeros_like_params(params)


def adagrad(params, states, hyperparams):
    eps = hyperparams['eps']  # the book: eps = 1e-6
    for p, s in zip(params, states):
        s[:] += p.grad.square()
        p[:] -= hyperparams['lr'] * p.grad / (s + eps).sqrt()


# ---- 7.6 RMSProp算法 ----------------------------------------------------------------

# 7.6.2 从零开始实现
def init_rmsprop_states(params):
    return zeros_like_params(params)


def rmsprop(params, states, hyperparams):
    gamma, eps = hyperparams['gamma'], hyperparams['eps']  # the book: eps = 1e-6
    for p, s in zip(params, states):
        s[:] = gamma * s + (1 - gamma) * p.grad.square()
        p[:] -= hyperparams['lr'] * p.grad / (s + eps).sqrt()


# ---- 7.7 AdaDelta算法 ---------------------------------------------------------------

# 7.7.2 从零开始实现
def init_adadelta_states(params):
    return list(zip(zeros_like_params(params), zeros_like_params(params)))  # (s, delta) per parameter


def adadelta(params, states, hyperparams):
    rho, eps = hyperparams['rho'], hyperparams['eps']  # the book: eps = 1e-5
    for p, (s, delta) in zip(params, states):
        s[:] = rho * s + (1 - rho) * p.grad.square()
        g = ((delta + eps).sqrt() / (s + eps).sqrt()) * p.grad
        p[:] -= g
        delta[:] = rho * delta + (1 - rho) * g * g


# ---- 7.8 Adam算法 -------------------------------------------------------------------

# 7.8.2 从零开始实现
def init_adam_states(params):
    return list(zip(zeros_like_params(params), zeros_like_params(params)))  # (v, s) per parameter


def adam(params, states, hyperparams):
    # the book: beta1, beta2, eps = 0.9, 0.999, 1e-6
    beta1, beta2, eps = hyperparams['beta1'], hyperparams['beta2'], hyperparams['eps']
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad
        s[:] = beta2 * s + (1 - beta2) * p.grad.square()
        v_bias_corr = v / (1 - beta1 ** hyperparams['t'])
        s_bias_corr = s / (1 - beta2 ** hyperparams['t'])
        p[:] -= hyperparams['lr'] * v_bias_corr / (s_bias_corr.sqrt() + eps)
    hyperparams['t'] += 1


# ---- 7.3.2 train_ch7 ----------------------------------------------------------------

#: algorithm name -> (init_xxx_states, xxx), as train_ch7(trainer_fn, states, hyperparams) takes them
ALGORITHMS = {
    'sgd': (init_sgd_states, sgd),
    'momentum': (init_momentum_states, sgd_momentum),
    'adagrad': (init_adagrad_states, adagrad),
    'rmsprop': (init_rmsprop_states, rmsprop),
    'adadelta': (init_adadelta_states, adadelta),
    'adam': (init_adam_states, adam),
}


def train_ch7_step(trainer_fn, params, states, hyperparams, batch_size):
    # train_ch7 backpropagates loss(...).mean(): the book's trainer_fn sees the batch's mean gradient
    for p in params:
        p.grad[:] /= batch_size
    trainer_fn(params, states, hyperparams)


def optimizer(name):
    """The factory ``make_optimizer(model, lr, **hyperparams)`` for the algorithm ``name``."""
    init_states, trainer_fn = ALGORITHMS[name]

    def make(net, lr, **hyperparams):
        params = net.params
        states = init_states(params)
        hyperparams = {'lr': lr, **hyperparams}
        if name == 'adam':
            hyperparams['t'] = 1  # the book: {'lr': 0.01, 't': 1}
        return lambda batch_size: train_ch7_step(trainer_fn, params, states, hyperparams, batch_size)

    make.__name__ = make.__qualname__ = trainer_fn.__name__
    make.__doc__ = f"d2l chapter 7 {trainer_fn.__name__} from scratch, on the model's raw parameters."
    return make

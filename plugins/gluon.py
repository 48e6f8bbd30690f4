"""The book's models with Gluon.

Block for block the seed note's Gluon实现 sections (linear regression, d2l 3.3)
and the chapter's concise sections 3.7 (softmax regression) and 3.10
(multilayer perceptron), with their names.  The host's task owns the data
(3.7.1 获取和读取数据) and the initial parameters; its loop is ``train_ch3``.
"""
from mxnet import init
from mxnet.gluon import Trainer, nn
from mxnet.gluon import data as gdata
from mxnet.gluon import loss as gloss

from harness.hookspecs import hookimpl

from . import gluon_optim  # 第7章 优化算法: the chapter's concise Trainers


# 读取数据集 - Gluon实现
def data_iter(batch_size, features, labels, shuffle=True):
    # 将训练数据的特征和标签组合
    dataset = gdata.ArrayDataset(features, labels)
    # 随机读取小批量
    return gdata.DataLoader(dataset, batch_size, shuffle=shuffle)


# 模型定义 - Gluon实现
def model(w, b):
    net = nn.Sequential()
    net.add(nn.Dense(1, in_units=w.shape[0]))  # in_units: no deferred init
    # 初始化模型参数
    net.initialize(init.Normal(sigma=0.01), ctx=w.context)
    # then start from the host's draw, so every model starts from the same values
    net[0].weight.set_data(w.T)
    net[0].bias.set_data(b)
    return net


# 定义损失函数 - Gluon实现
def loss():
    return gloss.L2Loss()  # 平方损失又称L2范数损失


# 定义优化算法 - Gluon实现
def trainer(net, lr, kvstore='device', update_on_kvstore=None):
    # kvstore: a dist kvstore when the harness runs this Trainer on the parameter server
    trainer = Trainer(net.collect_params(), 'sgd', {'learning_rate': lr},
                      kvstore=kvstore, update_on_kvstore=update_on_kvstore)
    return trainer.step  # step(batch_size): 对批量样本梯度求平均


def _start_from(net, params):
    """Copy the host's draw into the net: a Dense weight is (out, in), the book's W is (in, out)."""
    for p, value in zip(net.collect_params().values(), params):
        p.set_data(value.T if value.ndim == 2 else value)
    return net


# ---- 3.7 softmax回归的简洁实现 --------------------------------------------------

# 3.7.2 定义和初始化模型
def softmax_model(W, b):
    net = nn.Sequential()
    net.add(nn.Dense(10, in_units=W.shape[0]))  # Dense flattens (b, 1, H, W) by itself
    net.initialize(init.Normal(sigma=0.01), ctx=W.context)
    return _start_from(net, [W, b])


# 3.7.3 softmax和交叉熵损失函数
def softmax_loss():
    return gloss.SoftmaxCrossEntropyLoss()


# 3.7.4 定义优化算法: the same Trainer('sgd') as above


# ---- 3.10 多层感知机的简洁实现 ---------------------------------------------------

# 3.10.1 定义模型
def mlp_model(W1, b1, W2, b2):
    net = nn.Sequential()
    net.add(nn.Dense(256, activation='relu', in_units=W1.shape[0]),
            nn.Dense(10, in_units=W2.shape[0]))
    net.initialize(init.Normal(sigma=0.01), ctx=W1.context)
    return _start_from(net, [W1, b1, W2, b2])


@hookimpl
def register_data(register):
    register("gluon", data_iter)  # ArrayDataset + DataLoader: any task


@hookimpl
def register_models(register):
    register("gluon", model)  # linreg
    register("gluon", softmax_model, tasks=["softmax"])
    register("gluon", mlp_model, tasks=["mlp"])
    register("gluon", lenet_model, tasks=["lenet"])


@hookimpl
def register_losses(register):
    register("gluon", loss)  # linreg
    register("gluon", softmax_loss, tasks=["softmax", "mlp", "lenet"])  # 3.10.2 读取数据并训练模型: the same loss


@hookimpl
def register_optimizers(register):
    register("gluon", trainer)
    # 7.4-7.8 (plugins/gluon_optim.py): Trainer(net.collect_params(), trainer_name, trainer_hyperparams)
    for name, make_trainer in gluon_optim.ALGORITHMS.items():
        register("gluon", make_trainer, algorithms=[name])


# ---- 5.10.3 简洁实现 (LeNet with Gluon's BatchNorm, the `lenet` task) ----------------------------------------------

# nn.BatchNorm after each conv/dense layer, before the activation; in_channels/in_units given so the host's
# draw can be set before the first batch.  Its running mean/var (0 and 1) are where every lenet model starts.
def lenet_model(*params):
    net = nn.Sequential()
    net.add(nn.Conv2D(6, kernel_size=5, in_channels=params[0].shape[1]),
            nn.BatchNorm(in_channels=6),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Conv2D(16, kernel_size=5, in_channels=6),
            nn.BatchNorm(in_channels=16),
            nn.Activation('sigmoid'),
            nn.MaxPool2D(pool_size=2, strides=2),
            nn.Dense(120, in_units=params[8].shape[1]),
            nn.BatchNorm(in_channels=120),
            nn.Activation('sigmoid'),
            nn.Dense(84, in_units=120),
            nn.BatchNorm(in_channels=84),
            nn.Activation('sigmoid'),
            nn.Dense(10, in_units=84))
    net.initialize(ctx=params[0].context, init=init.Xavier())
    trainable = [p for p in net.collect_params().values() if p.grad_req != 'null']  # not the running mean/var
    for p, value in zip(trainable, params):
        p.set_data(value.reshape(p.shape))
    return net

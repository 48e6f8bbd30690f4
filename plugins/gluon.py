"""The seed's linear regression with Gluon.

Block for block the seed note's Gluon实现 sections, with its names.
"""
from mxnet import init
from mxnet.gluon import Trainer
from mxnet.gluon import data as gdata
from mxnet.gluon import loss as gloss
from mxnet.gluon import nn

from harness.hookspecs import hookimpl


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


@hookimpl
def register_data(register):
    register("gluon", data_iter)


@hookimpl
def register_models(register):
    register("gluon", model)


@hookimpl
def register_losses(register):
    register("gluon", loss)


@hookimpl
def register_optimizers(register):
    register("gluon", trainer)

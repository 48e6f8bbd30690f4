"""The built-in tasks, registered through the same hook a third-party task uses; each lives in a module of its own
with its workloads and reference loops (:mod:`~harness.tasks.linreg`, :mod:`~harness.tasks.softmax`,
:mod:`~harness.tasks.mlp`, :mod:`~harness.tasks.lenet`)."""
from __future__ import annotations

from harness.core.hookspecs import hookimpl
from harness.tasks import DEFAULT_TASK, lenet, linreg, mlp, softmax
from harness.tasks.lenet import LeNet
from harness.tasks.linreg import LinReg
from harness.tasks.mlp import MLP
from harness.tasks.softmax import Softmax

__all__ = ["DEFAULT_TASK", "TASKS", "LeNet", "LinReg", "MLP", "Softmax", "register_tasks"]

#: The built-in tasks' classes, in the order ``harness tasks`` and the help texts list them.
TASKS = (LinReg, Softmax, MLP, LeNet)


@hookimpl
def register_tasks(register):
    register(linreg.NAME, LinReg)
    register(softmax.NAME, Softmax.create)  # options: dataset, data_dir, num_examples, seed
    register(mlp.NAME, MLP.create)
    register(lenet.NAME, LeNet.create)  # d2l 5.10: LeNet with batch norm

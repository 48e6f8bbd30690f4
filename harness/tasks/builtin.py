"""The built-in tasks, registered through the same hook a third-party task uses; each lives in a module of its own
with its workloads and reference loops (:mod:`~harness.tasks.linreg`, :mod:`~harness.tasks.softmax`,
:mod:`~harness.tasks.mlp`)."""
from __future__ import annotations

from harness.core.hookspecs import hookimpl
from harness.tasks import DEFAULT_TASK, linreg, mlp, softmax
from harness.tasks.linreg import LinReg
from harness.tasks.mlp import MLP
from harness.tasks.softmax import Softmax

__all__ = ["DEFAULT_TASK", "TASKS", "LinReg", "MLP", "Softmax", "register_tasks"]

#: The built-in tasks' classes, in the order ``harness tasks`` and the help texts list them.
TASKS = (LinReg, Softmax, MLP)


@hookimpl
def register_tasks(register):
    register(linreg.NAME, LinReg)
    register(softmax.NAME, Softmax.create)  # options: dataset, data_dir, num_examples, seed
    register(mlp.NAME, MLP.create)

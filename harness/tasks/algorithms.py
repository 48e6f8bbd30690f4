"""The built-in optimization algorithms: d2l chapter 7 (优化算法), with the hyper-parameters its sections use,
registered through the same hook a plugin's algorithm uses.

The sections train linear regression on the airfoil data at batch 10; their learning rates are each
algorithm's default here, and a task's own lr (or ``--lr``) is SGD's.  Each tolerance says how far
an implementation may drift from the scratch one in ``harness verify``, and why.
"""
from __future__ import annotations

from harness.core.algorithm import Algorithm
from harness.core.hookspecs import hookimpl

#: Different operator kernels for the same expression (MXNet's fused ``*_update`` against the book's
#: NDArray arithmetic) round differently; over a few epochs that stays below 1e-5.
ROUNDING = "the same formula; fused update kernels round differently from the book's NDArray arithmetic"

ALGORITHMS = (
    Algorithm("sgd", "7.3", "小批量随机梯度下降", {}, None, 0.0, "exactly the same maths"),
    Algorithm("momentum", "7.4", "动量法", {"momentum": 0.5}, 0.02, 1e-5, ROUNDING),
    Algorithm("adagrad", "7.5", "AdaGrad算法", {"eps": 1e-6}, 0.1, 1e-5, ROUNDING),
    Algorithm("rmsprop", "7.6", "RMSProp算法", {"gamma": 0.9, "eps": 1e-6}, 0.01, 1e-5, ROUNDING),
    Algorithm("adadelta", "7.7", "AdaDelta算法", {"rho": 0.9, "eps": 1e-5}, None, 1e-5, ROUNDING),
    Algorithm("adam", "7.8", "Adam算法", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6}, 0.01, 3e-2,
              "compared on the epoch losses (relative): the book divides by sqrt(s_hat) + eps, MXNet folds the "
              "bias correction into lr, i.e. its eps is eps * sqrt(1 - beta2^t), ~32x smaller at first; a weight "
              "whose gradient is near eps then moves by up to lr per step in one and not the other, so the MLP's "
              "parameters take different paths (30 % apart after 10 epochs on digits) to the same loss (0.9 % apart "
              "after verify's 2)",
              compare="loss"),
)


@hookimpl
def register_algorithms(register):
    for algorithm in ALGORITHMS:
        register(algorithm.name, algorithm)

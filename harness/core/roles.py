"""The four roles, the combination of one implementation per role, and the
adapter that lets any model meet any optimizer.

Contracts (see :mod:`harness.hookspecs` for the factory signatures):

* a batch is ``(X, y)`` with ``X`` of shape ``(b, *features.shape[1:])``, ``y`` of shape ``(b,)``;
* a model is wrapped in :class:`Model`, which offers both views an optimizer may
  want: raw arrays with gradients (``params``, the seed's ``[w, b]``, in the task's
  order) and Gluon Parameters (``collect_params()``, what ``gluon.Trainer`` takes);
* a loss returns one term per example; ``backward`` sums them;
* an optimizer step gets the number of examples the gradients were summed over.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mxnet import gluon

ROLES = ("data", "model", "loss", "optimizer")

#: The hook that registers each role, by role.
ROLE_HOOKS = {
    "data": "register_data",
    "model": "register_models",
    "loss": "register_losses",
    "optimizer": "register_optimizers",
}

#: The algorithm every optimizer implemented before chapter 7 (mini-batch SGD, d2l 3.2/7.3).
DEFAULT_ALGORITHM = "sgd"

#: The roles a fused step replaces, in the order ``register`` takes their names.
FUSED_ROLES = ("model", "loss", "optimizer")


@dataclass(frozen=True, order=True)
class Combination:
    """One implementation name per role; ``fused`` runs model, loss and optimizer as the
    fused step a plugin registered for them (``register_fused_steps``); ``algorithm`` is the
    optimization algorithm the optimizer implementation runs (``register_algorithms``)."""

    data: str = "scratch"
    model: str = "scratch"
    loss: str = "scratch"
    optimizer: str = "scratch"
    fused: bool = False
    algorithm: str = DEFAULT_ALGORITHM

    @classmethod
    def for_task(cls, task, fused: bool = False, **given: str | None) -> Combination:
        """The roles given, else the task's default components (``Task.components``), else the seed's scratch."""
        declared = getattr(task, "components", None) or {}
        return cls(**{role: given.get(role) or declared.get(role) or getattr(cls, role) for role in ROLES}, fused=fused)

    def as_dict(self) -> dict:
        # "fused" and "algorithm" only when not the default: the seed's JSON stays what it always was
        roles = {role: getattr(self, role) for role in ROLES}
        if self.algorithm != DEFAULT_ALGORITHM:
            roles["algorithm"] = self.algorithm
        return {**roles, "fused": True} if self.fused else roles

    @property
    def label(self) -> str:
        """``data/model/loss/optimizer``, ``:algorithm`` after the optimizer unless it is plain SGD, ``+fused``."""
        algorithm = "" if self.algorithm == DEFAULT_ALGORITHM else f":{self.algorithm}"
        return "/".join(getattr(self, role) for role in ROLES) + algorithm + ("+fused" if self.fused else "")

    @property
    def fused_key(self) -> tuple[str, str, str]:
        """The (model, loss, optimizer) a fused step replaces."""
        return self.model, self.loss, self.optimizer


def role_columns(combo) -> dict:
    """``{role: name}`` for the four roles of a combination, in role order."""
    return {role: getattr(combo, role) for role in ROLES}


class Model:
    """A model as every other role sees it, whichever plugin built it."""

    def __init__(self, built):
        if isinstance(built, gluon.Block):
            self.block = built
            self.net = None
            # trainable Parameters only: batch norm's running mean/var (grad_req "null") are state, not weights
            self._gluon_params = [p for p in built.collect_params().values() if p.grad_req != "null"]
            # p.data().grad is p.grad(): scratch optimizers can update these in place
            self.params = [p.data() for p in self._gluon_params]
        else:
            net, params = built
            self.block = None
            self.net = net
            self._gluon_params = None
            self.params = list(params)
        for p in self.params:
            if p.grad is None:
                raise TypeError("model parameter has no gradient buffer; call attach_grad()")

    def __call__(self, X):
        if self.block is not None:
            return self.block(X)
        return self.net(X, *self.params)

    def collect_params(self) -> list:
        """Gluon Parameters for these weights, for optimizers such as ``gluon.Trainer``.

        A Parameter cannot adopt an existing array, so for a raw-array model the
        Parameters take over the buffers and the model computes on ``p.data()``
        from then on.  Attaching a new gradient later would detach the Trainer.
        """
        if self._gluon_params is None:
            owned = []
            for i, arr in enumerate(self.params):
                p = gluon.Parameter(f"harness_param{i}", shape=arr.shape, dtype=arr.dtype)
                p.initialize(ctx=arr.context)
                p.set_data(arr)
                owned.append(p)
            self._gluon_params = owned
            self.params = [p.data() for p in owned]
        return self._gluon_params

    def arrays(self) -> list[np.ndarray]:
        """The parameters as NumPy, in the model's order and layout (see :meth:`harness.task.Task.canonical`)."""
        return [p.asnumpy() for p in self.params]

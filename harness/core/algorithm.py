"""The algorithm contract: an optimization algorithm is to an optimizer implementation what a task is
to a model.

An :class:`Algorithm` names the mathematics (mini-batch SGD, momentum, Adam, ...) and owns its
hyper-parameters' defaults; an optimizer implementation (``scratch``, ``gluon``, a plugin's) declares
the algorithms it implements with ``register(name, factory, algorithms=[...])`` and its factory is called
``make_optimizer(model, lr, **algorithm.hyperparams)``.  "Scratch Adam" is ``--optimizer scratch
--algorithm adam``.  The built-in algorithms are d2l chapter 7's (:mod:`harness.tasks.algorithms`); a
plugin adds one with the ``register_algorithms`` hook.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Algorithm:
    """One optimization algorithm.

    ``hyperparams``: keyword arguments every implementation's factory receives besides ``lr`` (the book's
    names: ``momentum``, ``gamma``, ``rho``, ``beta1``, ``beta2``, ``eps``).  ``lr``: the learning rate the
    book's section uses, taken when the user gives no ``--lr`` (``None``: the task's, as for SGD; AdaDelta
    has none and ignores it).  ``tolerance`` and ``why``: the largest difference ``harness verify``
    accepts between implementations of this algorithm (the task's tolerance when larger) and the reason.
    ``compare``: what that difference is measured on: ``"absolute"``, the largest ``|Δ|`` in any epoch's
    loss or final parameter (as for SGD); ``"loss"``, the largest relative difference of an epoch's loss,
    for an algorithm whose implementations legitimately take different paths to the same quality.
    """

    name: str
    section: str = ""
    title: str = ""
    hyperparams: dict = field(default_factory=dict)
    lr: float | None = None
    tolerance: float = 0.0
    why: str = ""
    compare: str = "absolute"

    def describe(self) -> str:
        values = ", ".join(f"{k} {v:g}" for k, v in self.hyperparams.items())
        lr = "the task's lr" if self.lr is None else f"lr {self.lr:g}"
        return f"{lr}" + (f", {values}" if values else "")

    def as_dict(self) -> dict:
        return {"name": self.name, "section": self.section, "title": self.title, "hyperparams": dict(self.hyperparams),
                "lr": self.lr, "tolerance": self.tolerance, "why": self.why, "compare": self.compare}

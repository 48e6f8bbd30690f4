"""The hooks a plugin implements: one registration hook per role, one for
fused training steps, one for tasks and one for optimization algorithms.

Each hook receives a ``register(name, factory)`` callable and calls it once per
implementation the plugin offers for that role.  A component declares the
tasks it is written for with ``register(name, factory, tasks=[...])``; the same
name may be registered once per task by the same plugin.  Without ``tasks``, a
model or loss is for ``linreg`` (the seed: every plugin written before tasks
existed) and a data loader or optimizer, which only sees batches and
parameters, for every task (``tasks=["*"]``).  A plugin may implement any
subset of the hooks.  The host calls every hook once at start-up, one plugin at
a time so each registration is attributed to its plugin, keys the factories by
name, and makes a name registered by two plugins unselectable (an error with
``--strict-plugins``); it never calls a hook inside the training loop.  A hook
that raises gets its plugin skipped with a warning.  The factory contracts live
in :mod:`harness.roles`; ``docs/writing-plugins.md`` explains them with examples,
and :mod:`harness.testing` checks a plugin against them.
"""
from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "harness"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(name, factory, tasks=None)``; ``name`` is what users pass on the command line.
Register = Callable[..., None]

#: ``register(model, loss, optimizer, make_step)``: the component names the step replaces.
RegisterFused = Callable[[str, str, str, Callable], None]


@hookspec
def register_data(register: Register) -> None:
    """Register data loaders.

    Call ``register(name, data_iter)`` for each loader, where
    ``data_iter(batch_size, features, labels, shuffle) -> Iterable[(X, y)]``
    is called once per epoch and yields every example exactly once, as
    batches ``X`` of shape ``(b, *features.shape[1:])`` (``(b, num_inputs)`` for
    ``linreg``, ``(b, 1, H, W)`` for the image tasks) and ``y`` of shape ``(b,)``
    with ``b <= batch_size``.  With ``shuffle=False`` the batches follow the
    row order of ``features``.  Batches may live on any context; the host moves
    them to the run's context.  Shuffle with Python's ``random``, NumPy's or
    MXNet's generator: the host seeds all three before each run.
    """


@hookspec
def register_models(register: Register) -> None:
    """Register models.

    Call ``register(name, model, tasks=[...])`` for each model, where
    ``model(*params)`` receives the task's initial parameters on the run's
    context, in the task's order (``linreg``: ``model(w, b)``, ``w`` of shape
    ``(num_inputs, 1)``, ``b`` of shape ``(1,)``; ``softmax``: ``model(W, b)``;
    ``mlp``: ``model(W1, b1, W2, b2)``; see ``harness tasks``), must start from
    exactly those values, and returns either a ``gluon.Block`` or a pair
    ``(net, params)`` in the book's style: ``net(X, *params)`` computes
    ``y_hat`` (``(b, 1)`` for ``linreg``, scores ``(b, 10)`` before the softmax
    for the image tasks) and ``params`` are the arrays, gradients attached, in
    the task's order (a 2-D weight may be held transposed, as Gluon's ``Dense``
    does).
    The host wraps the result in :class:`harness.roles.Model`, which every
    optimizer sees, so a raw-array model works with ``gluon.Trainer`` and a
    Gluon block with an optimizer that updates raw arrays.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register losses.

    Call ``register(name, make_loss, tasks=[...])`` for each loss, where
    ``make_loss()`` returns ``loss(y_hat, y)`` with one term per example (shape
    ``(b,)`` or ``(b, 1)``), to be summed by ``backward``: for ``linreg``
    ``y_hat`` has shape ``(b, 1)``, ``y`` shape ``(b,)`` and the term is
    ``(y_hat - y)**2 / 2``; for the image tasks ``y_hat`` holds scores
    ``(b, 10)``, ``y`` class indices ``(b,)``, and the term is the cross-entropy
    of the softmax of the scores.
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers.

    Call ``register(name, make_optimizer)`` for each optimizer, where
    ``make_optimizer(model, lr)`` receives a :class:`harness.roles.Model`
    (use ``model.params`` for raw arrays with ``.grad``, or
    ``model.collect_params()`` for Gluon Parameters) and the learning rate,
    and returns ``step(batch_size)``, which updates the parameters in place
    from gradients summed over the batch, divided by ``batch_size``.  The host calls
    ``step`` once per batch after ``backward``, with the divisor its ``--divisor``
    rule gives (``book``: the fixed batch size, also for a short last batch, as
    ``sgd(params, lr, batch_size)`` and ``trainer.step(batch_size)`` do; ``exact``:
    the batch's real length); any state (momenta) lives in the closure.

    ``register(name, make_optimizer, algorithms=[...])`` declares the optimization
    algorithms (``register_algorithms``: ``sgd``, ``momentum``, ``adam``, ...) the
    factory implements; the same name may be registered once per algorithm.  The
    factory is then called ``make_optimizer(model, lr, **hyperparams)`` with the
    algorithm's hyper-parameters (the book's names: ``momentum``, ``eps``, ...).
    Without ``algorithms`` an optimizer implements ``sgd`` (plain mini-batch SGD,
    which takes no hyper-parameters besides ``lr``).
    """


@hookspec
def register_algorithms(register: Register) -> None:
    """Register optimization algorithms: the mathematics an optimizer implementation runs.

    Call ``register(name, Algorithm)`` with an
    ``Algorithm(name, section, title, hyperparams, lr, tolerance, why, compare)``
    (:class:`harness.core.algorithm.Algorithm`): its hyper-parameters' defaults (passed to every
    implementation's factory as keywords), the learning rate to use when the user gives none
    (``None``: the task's), and the tolerance ``harness verify`` allows between two implementations
    of it, with the reason and what it is measured on.  An algorithm
    is to an optimizer what a task is to a model: implementations declare the algorithms they
    implement (``register_optimizers``: ``algorithms=[...]``).  The built-in ones are d2l
    chapter 7's: ``sgd``, ``momentum``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adam``.
    """


@hookspec
def register_fused_steps(register: RegisterFused) -> None:
    """Register fused training steps: opt-in replacements for a model, loss and optimizer.

    Call ``register(model, loss, optimizer, make_step)`` with the names of the
    three components the step replaces, where ``make_step(net, lr)`` receives
    the :class:`harness.roles.Model` built by that model's factory and the
    learning rate, and returns ``step(X, y)``: one whole training step on a
    batch of ``b = X.shape[0]`` examples (forward, gradient, in-place update of
    ``net.params``), with exactly the mathematics of recording the loss,
    ``backward`` and ``step(b)`` of that triple.  The host builds the step once
    per run, only for a combination run with ``--fused`` (``Combination.fused``),
    calls it once per batch with ``X`` and ``y`` on the run's context, still
    uses the loss for evaluation, and reports such runs as a separate
    ``+fused`` combination; ``harness verify`` checks them against the seed.
    Under the book's divisor rule (``--divisor book``, the default) the host
    calls ``step(X, y, batch_size)`` for a short last batch, to divide by the
    fixed batch size instead of ``b``; a step without that parameter is
    refused on data the batch size does not divide.
    ``register(..., tasks=[...])`` names the tasks it is for (default ``linreg``).
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks: what is learned, from which data, and how well.

    Call ``register(name, make_task)`` for each task, where ``make_task(**options)``
    takes keyword options the user may give (any of ``seed``, ``num_examples``,
    ``num_inputs``, ``dataset``, ``data_dir``; declare only those the task
    understands) and returns a :class:`harness.task.Task`: its data (training and
    test splits), initial parameters (names, shapes, drawn from ``seed``),
    default hyper-parameters, metrics and time-to-quality target.  Bad options
    raise :class:`harness.errors.HarnessError` with a one-line message.  Register
    models and losses for the task with ``tasks=[name]``; every data loader and
    optimizer that declares no tasks works with it unchanged.
    """

"""The conformance library: check a plugin's components against the contracts of each task.

Every component a plugin registers is checked on each task it supports: a
model or loss on every task it names, a data loader or optimizer registered for
any task on :data:`ANY_TASK_CHECKS` (linear regression and softmax regression on
the bundled digits).  Per task it gets

* a **contract** check on a few rows (batch shapes, starting parameters,
  gradients reaching every parameter, loss values and gradient, an optimizer
  step that lowers a batch's loss), read from the task object, and
* a **convergence** check: trained at the task's defaults with built-in
  implementations of the other roles, it must reach the task's target (and, where
  the task knows the true parameters, land near them).

Every fused step is trained fused and unfused without shuffling: both must give the
same numbers to the task's tolerance.  Every task a plugin registers gets a
contract check of its own.  :mod:`harness.testing` is the thin pytest plugin and
re-exports this module's public names; import those from there.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Callable

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from harness.core.errors import Diverged, HarnessError
from harness.core.loader import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, Registry, import_plugin, load
from harness.core.roles import ROLES, Combination, Model
from harness.core.task import BINARY, CLASSES, OUTPUTS, REGRESSION, Target, Task, TaskWorkload
from harness.core.train import Session, Settings, train
from harness.tasks import DEFAULT_TASK, softmax

__all__ = [
    "ANY_TASK_CHECKS",
    "ConformanceError",
    "Thresholds",
    "Case",
    "Report",
    "conformance_cases",
    "check_plugin",
    "assert_conformant",
    "builtin_plugin_names",
]

#: The tasks a component registered for every task (``tasks=["*"]``, the default of data
#: loaders and optimizers) is checked on: the seed's regression and one image task.
ANY_TASK_CHECKS = (DEFAULT_TASK, softmax.NAME)
#: What ``roles=`` accepts: the component roles, and "task" for the tasks a plugin registers.
KIT_ROLES = (*ROLES, "task")

# Small and odd-sized so a short last batch and a wrong axis both show.
_SMALL_ROWS = 23
_SMALL_BATCH = 5


class ConformanceError(AssertionError):
    """A component breaks a contract of a task or does not converge on it; the message says how."""


@dataclass(frozen=True)
class Thresholds:
    """What "converged" means after training at a task's defaults.

    ``loss`` and ``accuracy`` replace the value of the task's own target when its metric
    is the loss resp. an accuracy (``None``: the task's target, e.g. linreg's loss < 1e-4,
    digits' test accuracy >= 0.9).  ``weight`` and ``bias`` bound ``|learned - true|`` for
    tasks that know their true parameters (2-D parameters are weights, 1-D ones biases)."""

    weight: float = 0.02
    bias: float = 0.02
    loss: float | None = None
    accuracy: float | None = None

    def target(self, task: Task) -> Target:
        """The task's target with the value these thresholds override."""
        target = task.target
        if target.metric == "loss" and self.loss is not None:
            return replace(target, value=self.loss)
        if target.metric.endswith("acc") and self.accuracy is not None:
            return replace(target, value=self.accuracy)
        return target


def builtin_plugin_names() -> list[str]:
    """The host's own implementations (scratch, gluon, fast): the partners every component is checked with."""
    return sorted(name for name, _ in DEFAULT_PLUGINS)


def _plugin_object(plugin):
    """A module or object as given; a string is a built-in's or an installed entry point's name, or a ``-p`` spec."""
    if not isinstance(plugin, str):
        return plugin
    builtins = dict(DEFAULT_PLUGINS)
    if plugin in builtins:
        return importlib.import_module(builtins[plugin])
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin:
            return ep.load()
    return import_plugin(plugin)


def _load_with_builtins(plugin) -> tuple[Registry, str]:
    obj = _plugin_object(plugin)
    module = getattr(obj, "__name__", None)
    # a built-in under test is not its own partner
    builtins = dict(DEFAULT_PLUGINS)
    partners = [n for n in builtin_plugin_names() if builtins[n] != module]
    # strict: a duplicate name or a bad hookimpl must fail the author's test, not warn
    registry = load(extra=[obj], autoload=True, only=partners, strict=True, trace=False)
    name = getattr(obj, "__name__", None) or repr(obj)
    return registry, name


@dataclass
class Case:
    """One check of one component on one task; ``check()`` raises :class:`ConformanceError` on failure."""

    kind: str  # "loads", "contract", "converges" or "fused"
    role: str = ""  # a role, or "task" for a task's own contract
    name: str = ""
    combination: Combination | None = None
    run: Callable[[], None] = field(default=lambda: None, repr=False)
    task: str = DEFAULT_TASK

    def __str__(self) -> str:
        # ids as before tasks existed on the seed's task; other tasks prefix their name (as bench ids do)
        prefix = "" if self.task == DEFAULT_TASK or self.role == "task" else f"{self.task}:"
        if self.kind == "loads":
            return "loads"
        if self.kind == "contract":
            return f"{prefix}{self.role}:{self.name}:contract"
        if self.kind == "fused":
            return f"{prefix}fused:{self.name}:matches-unfused"
        partners = "/".join(getattr(self.combination, r) for r in ROLES) if self.combination else "none"
        return f"{prefix}{self.role}:{self.name}:converges[{partners}]"

    def check(self) -> None:
        try:
            self.run()
        except ConformanceError:
            raise
        except Exception as exc:  # a component crashing inside a check is a failure, not a kit error
            raise ConformanceError(f"{self}: {_short(exc)}") from exc


def _fail(what: str, problem: str) -> None:
    raise ConformanceError(f"{what}: {problem}")


def _arrays(x) -> np.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def _short(exc: Exception) -> str:
    """An exception in one line: MXNet's errors carry a C++ stack trace after their first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.strip().startswith("Stack")]
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text[:200]}"


def _call(what: str, call: str, fn, *args):
    """``fn(*args)``; an exception becomes one :class:`ConformanceError` line naming ``call``."""
    try:
        return fn(*args)
    except ConformanceError:
        raise
    except Exception as exc:
        _fail(what, f"{call} raised {_short(exc)}")


# ---- the tasks a check runs on ---------------------------------------------------


class _Tasks:
    """Task objects by name, built once (the user's own instances first), and their small data."""

    def __init__(self, registry: Registry, given: Mapping[str, Task], settings, ctx: mx.Context):
        self.registry, self.given, self.ctx = registry, dict(given), ctx
        self._settings = settings
        self._built: dict[str, Task] = {}
        self._small: dict[str, tuple] = {}

    def get(self, name: str) -> Task:
        if name not in self._built:
            if name in self.given:
                self._built[name] = self.given[name]
            elif name not in self.registry.tasks:
                known = ", ".join(self.registry.task_names()) or "none"
                raise ConformanceError(f"task {name!r} is not registered by any loaded plugin; tasks: {known}")
            else:
                self._built[name] = self.registry.make_task(name)
        return self._built[name]

    def settings(self, task: Task) -> Settings:
        """The user's settings for ``task`` (one for all, or by task name), else the task's defaults."""
        chosen = self._settings
        if isinstance(chosen, Mapping):
            chosen = chosen.get(task.name)
        return chosen if chosen is not None else Settings.for_task(task)

    def small(self, task: Task) -> tuple[nd.NDArray, nd.NDArray]:
        """The first few training rows: enough for a short last batch."""
        if task.name not in self._small:
            split = task.data(self.ctx)
            self._small[task.name] = (split.features[:_SMALL_ROWS], split.labels[:_SMALL_ROWS])
        return self._small[task.name]


def _classes(task: Task, labels: nd.NDArray | None = None) -> int:
    """How many scores a classification model returns."""
    k = getattr(task, "num_outputs", None)
    if k:
        return int(k)
    labels = labels if labels is not None else task.data(mx.cpu()).labels
    return int(labels.max().asscalar()) + 1


def _output_width(task: Task, labels=None) -> int:
    return _classes(task, labels) if task.output == CLASSES else 1


def _logistic(y_hat, y):
    """``-log sigmoid(y_hat)`` for ``y = 1``, ``-log(1 - sigmoid(y_hat))`` for ``y = 0``, without overflow."""
    y = y.reshape(y_hat.shape)
    return nd.relu(y_hat) - y_hat * y + nd.log(1 + nd.exp(-nd.abs(y_hat)))


def _reference_loss(task: Task) -> Callable:
    """The per-example loss of the task's output contract, written here so the optimizer check needs no loss plugin."""
    if task.output == CLASSES:
        return lambda y_hat, y: -nd.pick(nd.log_softmax(y_hat), y)
    if task.output == BINARY:
        return _logistic
    return lambda y_hat, y: (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def _is_affine_regression(task: Task) -> bool:
    """Linear regression: a ``(D, 1)`` weight and a ``(1,)`` bias, ``y_hat = X·w + b``."""
    shapes = tuple(tuple(s) for s in task.param_shapes)
    return (task.output == REGRESSION and len(shapes) == 2 and len(shapes[0]) == 2 and shapes[0][1] == 1
            and shapes[1] == (1,))


# ---- contracts, one per role -------------------------------------------------------


def _check_data(what: str, data_iter, task: Task, tasks: _Tasks) -> None:
    features, labels = tasks.small(task)
    n, row_shape = features.shape[0], tuple(features.shape[1:])
    want_x_shape = "(b, " + ", ".join(map(str, row_shape)) + ")"

    def epoch(shuffle: bool):
        xs, ys = [], []
        try:
            batches = data_iter(_SMALL_BATCH, features, labels, shuffle)
            for i, (X, y) in enumerate(batches):
                X, y = _arrays(X), _arrays(y)
                b = X.shape[0] if X.ndim else 0
                if tuple(X.shape[1:]) != row_shape or not 1 <= b <= _SMALL_BATCH:
                    _fail(what, f"batch {i} has X of shape {X.shape}; "
                                f"expected {want_x_shape} with 1 <= b <= {_SMALL_BATCH}")
                if y.shape != (b,):
                    _fail(what, f"batch {i} has y of shape {y.shape}; expected ({b},), one label per row of X")
                xs.append(X)
                ys.append(y)
        except ConformanceError:
            raise
        except Exception as exc:
            _fail(what, f"data_iter({_SMALL_BATCH}, features, labels, shuffle={shuffle}) "
                        f"raised {type(exc).__name__}: {exc}")
        if not xs:
            _fail(what, "yielded no batches")
        return np.concatenate(xs), np.concatenate(ys)

    want_x, want_y = features.asnumpy(), labels.asnumpy()

    def pairs(X, y) -> np.ndarray:
        """Rows with their labels, sorted: equal for two epochs that hold the same examples."""
        rows = np.concatenate([X.reshape(len(X), -1), y.reshape(-1, 1)], axis=1)
        return rows[np.lexsort(rows.T[::-1])]

    X, y = epoch(shuffle=False)
    if X.shape[0] != n:
        _fail(what, f"one epoch yielded {X.shape[0]} examples; expected each of the {n} exactly once")
    if not (np.array_equal(X, want_x) and np.array_equal(y, want_y)):
        _fail(what, "with shuffle=False the batches must follow the row order of features, "
                    "labels paired with their rows")
    for _ in range(2):  # called once per epoch: a second call must give a full epoch again
        X, y = epoch(shuffle=True)
        if X.shape[0] != n:
            _fail(what, f"a shuffled epoch yielded {X.shape[0]} examples; expected each of the {n} exactly once")
        if not np.array_equal(pairs(X, y), pairs(want_x, want_y)):
            _fail(what, "a shuffled epoch must yield every (row, label) pair exactly once, labels kept with their rows")


def _build_model(what: str, factory, task: Task, ctx) -> Model:
    try:
        return Model(factory(*task.initial_params(ctx)))
    except TypeError as exc:
        if "gradient buffer" in str(exc):
            _fail(what, f"{exc} (params need gradient buffers)")
        _fail(what, f"model({', '.join(task.param_names)}) raised TypeError: {exc}")
    except Exception as exc:
        _fail(what, f"model({', '.join(task.param_names)}) raised {type(exc).__name__}: {exc}")


def _check_model(what: str, factory, task: Task, tasks: _Tasks) -> None:
    ctx = tasks.ctx
    names, shapes = list(task.param_names), [tuple(s) for s in task.param_shapes]
    given = task.canonical([p.asnumpy() for p in task.initial_params(ctx)])
    model = _build_model(what, factory, task, ctx)
    in_order = f"{', '.join(names)} in that order"
    if len(model.params) != len(shapes):
        _fail(what, f"has {len(model.params)} parameters; expected {len(shapes)}: {in_order}")
    sizes, want_sizes = [p.size for p in model.params], [int(np.prod(s)) for s in shapes]
    if sizes != want_sizes:
        _fail(what, f"parameter sizes {sizes}; expected {want_sizes} ({in_order})")
    for name, got, want in zip(names, task.canonical(model.arrays()), given):
        if not np.allclose(got, want, rtol=0, atol=1e-7):
            _fail(what, f"does not start from the initial parameters the host passed in ({name} differs); "
                        f"copy the given {', '.join(names)} into its parameters")
    features, labels = tasks.small(task)
    X = features[:_SMALL_BATCH]
    b, width = X.shape[0], _output_width(task, labels)
    with autograd.record():
        y_hat = _call(what, f"net(X) with X of shape {X.shape}", model, X)
    if y_hat.shape != (b, width):
        kind = {CLASSES: " scores, one per class (before the softmax)",
                BINARY: ", one logit per row (before the sigmoid): the task's output contract is binary",
                }.get(task.output, "")
        _fail(what, f"net(X) with X of shape {X.shape} returned shape {y_hat.shape}; expected ({b}, {width}){kind}")
    out = y_hat.asnumpy()
    if _is_affine_regression(task):
        w, bias = task.canonical(model.arrays())
        if not np.allclose(out, X.asnumpy().reshape(b, -1) @ w + bias.reshape(1, 1), rtol=1e-4, atol=1e-5):
            _fail(what, "net(X) is not X·w + b with its own parameters")
    if task.output == CLASSES and width > 1 and np.all(out >= 0) and np.allclose(out.sum(axis=1), 1, atol=1e-4):
        _fail(what, "net(X) returns probabilities (each row sums to 1); return the scores before the softmax: "
                    "the loss applies it")
    weights = nd.array(np.random.RandomState(5).normal(size=(b, width)), ctx=ctx)
    with autograd.record():
        l = model(X) * weights  # any scalar of the outputs: every parameter must get a gradient
    try:
        l.backward()
    except mx.base.MXNetError:
        _fail(what, "net(X) is not connected to the autograd graph of its params; compute with the arrays in params")
    for i, p in enumerate(model.params):
        g = p.grad.asnumpy()
        if not np.all(np.isfinite(g)) or not np.any(g != 0):
            _fail(
                what,
                f"parameter {i} (shape {p.shape}) received no gradient after backward; "
                "the net must compute with the very arrays in params (attach_grad on those, not on copies)",
            )


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _loss_inputs(task: Task, tasks: _Tasks):
    """Random ``y_hat`` and valid labels ``y`` for the task's kind, and the expected terms and gradient."""
    rng, b = np.random.RandomState(3), _SMALL_BATCH
    if task.output == BINARY:
        _, labels = tasks.small(task)
        z, y = rng.normal(scale=2.0, size=(b, 1)), rng.randint(2, size=b)
        col = y.reshape(b, 1)
        want = (np.maximum(z, 0) - z * col + np.log1p(np.exp(-np.abs(z)))).ravel()
        return z, y.astype(labels.dtype), want, 1 / (1 + np.exp(-z)) - col, labels.dtype
    if task.output == CLASSES:
        _, labels = tasks.small(task)
        k = _classes(task, labels)
        scores = rng.normal(scale=2.0, size=(b, k))  # scores: negative ones too, as a model gives them
        y = rng.randint(k, size=b)
        log_p = _log_softmax(scores)
        onehot = np.eye(k)[y]
        return scores, y.astype(labels.dtype), -log_p[np.arange(b), y], np.exp(log_p) - onehot, labels.dtype
    y_hat, y = rng.normal(size=(b, 1)), rng.normal(size=(b,))
    return y_hat, y, ((y_hat - y.reshape(b, 1)) ** 2 / 2).ravel(), y_hat - y.reshape(b, 1), "float32"


def _check_loss(what: str, make_loss, task: Task, tasks: _Tasks) -> None:
    ctx = tasks.ctx
    try:
        loss = make_loss()
    except Exception as exc:
        _fail(what, f"make_loss() raised {type(exc).__name__}: {exc}")
    scores, labels, want, want_grad, label_dtype = _loss_inputs(task, tasks)
    b = _SMALL_BATCH
    y_hat = nd.array(scores, ctx=ctx)
    y = nd.array(labels, ctx=ctx, dtype=label_dtype)
    y_hat.attach_grad()
    with autograd.record():
        l = _call(what, f"loss(y_hat {y_hat.shape}, y {y.shape})", loss, y_hat, y)
    if l.shape not in ((b,), (b, 1)):
        hint = ""
        if l.shape == (b, b):
            hint = "; did you forget y.reshape(y_hat.shape)?"
        elif l.size == 1:
            hint = "; do not sum or average: backward sums the terms"
        _fail(what, f"loss(y_hat {y_hat.shape}, y {y.shape}) returned shape {l.shape}; "
                    f"expected ({b},) or ({b}, 1){hint}")
    got = l.asnumpy().reshape(b)
    if task.output == BINARY:
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            _fail(what, "values are not the logistic loss of one logit per example, -log sigmoid(y_hat) for y = 1 "
                        "and -log(1 - sigmoid(y_hat)) for y = 0 (gloss.SigmoidBinaryCrossEntropyLoss())")
        grad_text = "sigmoid(y_hat) - y"
    elif task.output == CLASSES:
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            picked = scores[np.arange(b), labels.astype(int)]
            with np.errstate(invalid="ignore", divide="ignore"):
                naive = -np.log(picked)
            if np.isnan(got).any() or np.allclose(got, naive, rtol=1e-4, atol=1e-5, equal_nan=True):
                _fail(what, "values are -log(y_hat[y]) of the scores themselves, not the cross-entropy of their "
                            "softmax; the model returns scores, so apply the softmax in the loss (e.g. nd.log_softmax)")
            _fail(what, "values are not the cross-entropy -log softmax(y_hat)[y] per example")
        grad_text = "softmax(y_hat) - onehot(y)"
    elif task.output == REGRESSION:
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            _fail(what, "values are not (y_hat - y)**2 / 2 per example")
        grad_text = "y_hat - y"
    else:  # a kind the kit has no formula for: shape, finite values and a gradient
        grad_text = None
    if not np.all(np.isfinite(got)):
        _fail(what, "returned values that are not finite")
    l.backward()
    grad = y_hat.grad.asnumpy()
    if grad_text is None:
        if not np.any(grad != 0):
            _fail(what, "backward gives no gradient to y_hat; is the result cut from the autograd graph?")
    elif not np.allclose(grad, want_grad, rtol=1e-4, atol=1e-5):
        _fail(what, f"backward does not give d/dy_hat = {grad_text}; is the result cut from the autograd graph?")


def _models_for(registry: Registry, task: str) -> list[str]:
    return registry.builtin_names("model", task) or registry.names("model", task)


def _check_optimizer(what: str, make_optimizer, task: Task, tasks: _Tasks) -> None:
    ctx, registry = tasks.ctx, tasks.registry
    lr = tasks.settings(task).lr
    models = _models_for(registry, task.name)
    if not models:
        _fail(what, f"no model supports task {task.name!r}, so the optimizer cannot be checked on it")
    loss = _reference_loss(task)
    features, labels = tasks.small(task)
    X, y = features[:_SMALL_BATCH], labels[:_SMALL_BATCH]
    for model_name in models:
        model = Model(registry.get("model", model_name, task.name).for_task(task.name)(*task.initial_params(ctx)))
        with_model = f"with the {model_name!r} model on {task.name}"
        try:
            step = make_optimizer(model, lr)
        except Exception as exc:
            _fail(what, f"make_optimizer(model, lr) raised {type(exc).__name__}: {exc} ({with_model})")
        if not callable(step):
            _fail(what, f"make_optimizer(model, lr) returned {type(step).__name__}; "
                        "expected a step(batch_size) callable")

        def batch_loss() -> float:
            return float(loss(model(X), y).mean().asscalar())  # noqa: B023 (called in this iteration only)

        before_params = task.canonical(model.arrays())
        before = batch_loss()
        with autograd.record():
            l = loss(model(X), y)
        l.backward()
        try:
            step(X.shape[0])
        except Exception as exc:
            _fail(what, f"step({X.shape[0]}) raised {type(exc).__name__}: {exc} ({with_model})")
        after_params = task.canonical(model.arrays())
        if all(np.array_equal(a, b) for a, b in zip(before_params, after_params)):
            # the seed's wording on the seed's task
            where = f"the {model_name!r} model" + ("" if task.name == DEFAULT_TASK else f" on {task.name}")
            _fail(
                what,
                f"step({X.shape[0]}) did not change the parameters of {where}; "
                "update model.params in place (or use model.collect_params() with a gluon.Trainer)",
            )
        after = batch_loss()
        if not after < before:
            _fail(what, f"one step on a batch did not lower that batch's loss ({before:.4g} -> {after:.4g}, lr {lr:g}, "
                        f"{with_model}); is the update's sign right?")


def _check_task(what: str, make_task, name: str, tasks: _Tasks) -> None:
    """A registered task builds with no options and keeps its own promises (shapes, fresh parameters, metrics)."""
    try:
        task = make_task()
    except Exception as exc:
        _fail(what, f"make_task() with no options raised {type(exc).__name__}: {exc}")
    if not isinstance(task, Task):
        _fail(what, f"make_task() returned {type(task).__name__}; expected a harness.task.Task")
    if task.name != name:
        _fail(what, f"make_task() built a task named {task.name!r}; expected {name!r}, the name it is registered under")
    if task.kind not in ("regression", "classification"):
        _fail(what, f"kind {task.kind!r}; expected 'regression' or 'classification'")
    fits = {"regression": (REGRESSION,), "classification": (BINARY, CLASSES)}[task.kind]
    if task.output not in fits:
        _fail(what, f"output {task.output!r} does not fit kind {task.kind!r}; expected one of "
                    f"{', '.join(map(repr, fits))} (output contracts: {', '.join(OUTPUTS)})")
    _check_declarations(what, task, tasks.registry)
    d = task.defaults
    if not (d.epochs >= 1 and 1 <= d.batch_size <= task.num_examples and d.lr > 0):
        _fail(what, f"defaults {d} must have epochs >= 1, 1 <= batch_size <= num_examples ({task.num_examples}) "
                    "and lr > 0")
    ctx = tasks.ctx
    split = task.data(ctx)
    n = task.num_examples
    if split.features.shape[0] != n or split.labels.shape != (n,):
        _fail(what, f"data() gave features {split.features.shape} and labels {split.labels.shape}; "
                    f"expected {n} rows (num_examples) and labels of shape ({n},)")
    again = task.data(ctx)
    if not (np.array_equal(split.features.asnumpy(), again.features.asnumpy())
            and np.array_equal(split.labels.asnumpy(), again.labels.asnumpy())):
        _fail(what, "data() gives different values on a second call; draw them from the task's seed")
    if task.kind == "classification":
        if split.test_features is None or split.test_labels is None:
            _fail(what, "a classification task needs a test split (test_features, test_labels) for its test accuracy")
        y = split.labels.asnumpy()
        if not (np.array_equal(y, np.round(y)) and y.min() >= 0):
            _fail(what, "labels must be class indices 0, 1, ...")
        if task.output == BINARY and not set(np.unique(y)) <= {0, 1}:
            _fail(what, f"a binary task's labels must be 0 or 1; got {sorted(set(np.unique(y).tolist()))[:5]}")
    if len(task.param_names) != len(task.param_shapes):
        _fail(what, f"param_names {task.param_names} and param_shapes {task.param_shapes} differ in length")
    first = task.initial_params(ctx)
    shapes = [tuple(p.shape) for p in first]
    if shapes != [tuple(s) for s in task.param_shapes]:
        _fail(what, f"initial_params() shapes {shapes}; expected param_shapes {list(task.param_shapes)}")
    values = [p.asnumpy() for p in first]
    for p in first:
        p[:] = p + 1  # a model may update its parameters in place: the next run must not see that
    for pname, want, got in zip(task.param_names, values, task.initial_params(ctx)):
        if not np.array_equal(want, got.asnumpy()):
            _fail(what, "initial_params() must return fresh arrays with the same values on every call "
                        f"({pname} changed)")
    models = _models_for(tasks.registry, name)
    losses = tasks.registry.builtin_names("loss", name) or tasks.registry.names("loss", name)
    if models and losses:
        model = Model(tasks.registry.get("model", models[0], name).for_task(name)(*task.initial_params(ctx)))
        loss = tasks.registry.get("loss", losses[0], name).for_task(name)()
        metrics = _call(what, f"metrics() with the {models[0]!r} model and the {losses[0]!r} loss",
                        task.metrics, model, loss, split)
        if task.target.metric not in metrics:
            _fail(what, f"target metric {task.target.metric!r} is not among its metrics {sorted(metrics)}")
        if "loss" not in metrics:
            _fail(what, f"metrics() must include 'loss'; got {sorted(metrics)}")


def _check_declarations(what: str, task: Task, registry: Registry) -> None:
    """What a task declares beyond its data: default components that exist and support it, workloads that are
    :class:`TaskWorkload` objects with distinct names."""
    components = dict(task.components or {})
    unknown = sorted(set(components) - set(ROLES))
    if unknown:
        _fail(what, f"components names unknown role {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    for role, cname in components.items():
        try:
            registry.get(role, cname, task.name)
        except HarnessError as exc:
            _fail(what, f"default {role} {cname!r}: {exc}")
    workloads = list(task.workloads)
    bad = [w for w in workloads if not isinstance(w, TaskWorkload)]
    if bad or not workloads:
        _fail(what, f"workloads must be a non-empty tuple of harness.task.TaskWorkload; got {bad[:1] or workloads!r}")
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        _fail(what, f"workload names must be distinct; got {', '.join(names)}")


def _contract(role: str, name: str, task_name: str, tasks: _Tasks) -> Callable[[], None]:
    what = f"{role} {name!r}" + ("" if task_name == DEFAULT_TASK else f" on {task_name}")
    registry = tasks.registry
    if role == "task":
        return lambda: _check_task(f"task {name!r}", registry.tasks[name].factory, name, tasks)
    check = {"data": _check_data, "model": _check_model, "loss": _check_loss, "optimizer": _check_optimizer}[role]

    def run() -> None:
        factory = registry.get(role, name, task_name).for_task(task_name)
        if role == "optimizer":  # the algorithm it runs by default, with that algorithm's hyper-parameters
            algorithm = registry.default_algorithm(name, task_name)
            factory = functools.partial(registry.optimizer_for(name, algorithm, task_name),
                                        **registry.algorithm(algorithm).hyperparams)
        check(what, factory, tasks.get(task_name), tasks)

    return run


# ---- training ------------------------------------------------------------------------


def _converged(task: Task, result, thresholds: Thresholds) -> str | None:
    """Why a finished run did not converge on ``task``, or ``None``."""
    target = thresholds.target(task)
    final = result.epochs[-1]
    problems = []
    got = final.get(target.metric)
    if not target.reached(final):
        shown = "missing" if got is None else f"{got:.3g}"
        needs = f"{'>=' if target.higher else '<'} {target.value:g}"
        problems.append(f"final {target.metric} {shown} (needs {needs})")
    truth = task.truth()
    if truth is not None:
        errors = []
        for name, learned in zip(task.param_names, result.arrays):
            true = np.asarray(truth[name], dtype=np.float64).reshape(np.shape(learned))
            err = float(np.max(np.abs(np.asarray(learned) - true)))
            limit = thresholds.weight if np.ndim(learned) >= 2 else thresholds.bias
            errors.append((name, err, limit))
        if any(not err < limit for _, err, limit in errors):
            problems += [f"max |{n} - {n}*| {err:.3g} (< {limit:g})" for n, err, limit in errors]
    if not problems:
        return None
    history = ", ".join(f"{e.get(target.metric, float('nan')):.3g}" for e in result.epochs)
    return "; ".join([", ".join(problems), f"epoch {target.metric} {history}"])


def _converges(role: str, name: str, combo: Combination, task_name: str, tasks: _Tasks,
               thresholds: Thresholds) -> Callable[[], None]:
    def run() -> None:
        what = f"{role} {name!r} with " + ", ".join(f"{r}={getattr(combo, r)}" for r in ROLES if r != role)
        if task_name != DEFAULT_TASK:
            what += f" on {task_name}"
        task = tasks.get(task_name)
        settings = tasks.settings(task)
        try:
            result = train(Session(tasks.registry, combo, task, settings, tasks.ctx))
        except Diverged as exc:
            _fail(what, f"loss stopped being finite at epoch {exc.epoch} "
                        f"(lr {settings.lr:g}, batch {settings.batch_size})")
        except Exception as exc:
            _fail(what, f"training raised {type(exc).__name__}: {exc}")
        problem = _converged(task, result, thresholds)
        if problem:
            _fail(what, f"did not converge in {settings.epochs} epochs "
                        f"(lr {settings.lr:g}, batch {settings.batch_size}): {problem}")

    return run


def _max_abs_diff(a, b) -> float:
    def flat(run):
        return np.concatenate([[e["loss"] for e in run.epochs], *(np.ravel(x) for x in run.arrays)])

    return float(np.max(np.abs(flat(a) - flat(b))))


def _fused_matches(key: tuple, task_name: str, tasks: _Tasks) -> Callable[[], None]:
    def run() -> None:
        what = f"fused step {'/'.join(key)!r}" + ("" if task_name == DEFAULT_TASK else f" on {task_name}")
        task, registry = tasks.get(task_name), tasks.registry
        datas = registry.builtin_names("data", task_name) or registry.names("data", task_name)
        data = Combination().data if Combination().data in datas else datas[0]
        plain = Combination(data, *key)
        settings = replace(tasks.settings(task), shuffle=False)
        # shuffling off: both runs see the same batches, so any difference is the step's maths
        runs = []
        for combo in (plain, replace(plain, fused=True)):
            try:
                runs.append(train(Session(registry, combo, task, settings, tasks.ctx)))
            except Diverged as exc:
                _fail(what, f"{combo.label}: loss stopped being finite at epoch {exc.epoch}")
            except Exception as exc:
                _fail(what, f"{combo.label}: training raised {type(exc).__name__}: {exc}")
        diff = _max_abs_diff(*runs)
        if not diff <= task.tolerance:
            _fail(
                what,
                f"differs from the unfused {plain.label} by {diff:.3g} in epoch losses or parameters (tolerance "
                f"{task.tolerance:g}); step(X, y) must compute exactly its model, loss and optimizer's maths",
            )

    return run


def _partners(registry: Registry, role: str, task: str, every: bool) -> list[dict[str, str]]:
    """Implementations of the other roles for ``task`` (the built-in ones; any loaded one for a
    role no built-in covers on that task): the full product, or (``every=False``) the fewest
    combinations in which each of them appears at least once."""
    others = {r: registry.builtin_names(r, task) or registry.names(r, task) for r in ROLES if r != role}
    if not all(others.values()):
        return []
    if every:
        return [dict(zip(others, c)) for c in itertools.product(*others.values())]
    width = max(len(v) for v in others.values())
    return [{r: names[i % len(names)] for r, names in others.items()} for i in range(width)]


def _task_list(task, tasks) -> dict[str, Task | None] | None:
    """``task=``/``tasks=`` as ``{name: Task or None}`` in the order given; ``None``: no selection."""
    chosen = []
    if task is not None:
        chosen.append(task)
    if tasks is not None:
        chosen += [tasks] if isinstance(tasks, (str, Task)) else list(tasks)
    if task is None and tasks is None:
        return None
    out: dict[str, Task | None] = {}
    for t in chosen:
        if isinstance(t, Task):
            out[t.name] = t
        elif isinstance(t, str) and t:
            out.setdefault(t, None)
        else:
            raise HarnessError(f"task must be a task name or a harness.task.Task, got {t!r}")
    if not out:
        raise HarnessError(f"tasks is empty; give task names, e.g. tasks={list(ANY_TASK_CHECKS)}")
    return out


def _tasks_of(supported: Iterable[str], selected: dict | None) -> list[str]:
    """The tasks to check a component on: those it names, any-task components on
    :data:`ANY_TASK_CHECKS`; with a selection, only the selected tasks it supports."""
    supported = list(supported)
    if "*" in supported:
        return list(selected) if selected is not None else list(ANY_TASK_CHECKS)
    return [t for t in supported if selected is None or t in selected]


def conformance_cases(
    plugin,
    roles: list[str] | None = None,
    *,
    task: str | Task | None = None,
    tasks: Iterable[str | Task] | None = None,
    names: Iterable[str] | None = None,
    settings: Settings | Mapping[str, Settings] | None = None,
    thresholds: Thresholds | None = None,
    partners: str = "all",
    ctx: mx.Context | None = None,
) -> list[Case]:
    """The checks for ``plugin`` (a module, an object with hookimpls, a module name, a ``.py``
    path or an installed entry-point name), one :class:`Case` each.

    ``roles`` narrows which of its components are checked.  ``task``/``tasks`` (task names
    or :class:`harness.task.Task` objects) narrow the tasks: each component is checked on
    those of them it supports; by default every task it names, and ``linreg`` and
    ``softmax`` for a component registered for any task.  A ``Task`` object is used as
    given (e.g. ``LinReg(num_examples=500)``); a name is built with its defaults.
    ``names`` narrows the components (and registered tasks, fused-step labels) by name.
    ``settings``: one :class:`Settings` for every task, or ``{task name: Settings}``; a
    task without one trains at its own defaults.  ``thresholds`` default to
    :class:`Thresholds`.  ``partners``: ``"all"`` trains with every combination of
    built-in implementations of the other roles; ``"each"`` only as many as it takes to
    use each of them once.
    """
    if partners not in ("all", "each"):
        raise HarnessError(f"partners must be 'all' or 'each', got {partners!r}")
    unknown = sorted(set(roles or ()) - set(KIT_ROLES))
    if unknown:
        raise HarnessError(f"unknown role {', '.join(unknown)}; valid: {', '.join(KIT_ROLES)}")
    selected = _task_list(task, tasks)
    if isinstance(names, str):
        names = [names]
    wanted = None if names is None else set(names)
    thresholds = thresholds or Thresholds()
    ctx = ctx or mx.cpu()
    try:
        registry, pname = _load_with_builtins(plugin)
    except Exception as exc:
        message = f"plugin {plugin!r} does not load: {exc}"

        def broken() -> None:
            raise ConformanceError(message)

        return [Case("loads", run=broken)]
    if selected is not None:
        missing = [t for t, obj in selected.items() if obj is None and t not in registry.tasks]
        if missing:
            raise HarnessError(f"unknown task {', '.join(map(repr, missing))}; "
                               f"available: {', '.join(registry.task_names())}")
    given = {name: obj for name, obj in (selected or {}).items() if obj is not None}
    plan = _Tasks(registry, given, settings, ctx)
    info = registry.plugins[pname]

    # (task, role, name) for every component of the plugin, on every task it is checked on
    provided = []
    for role in ROLES:
        if roles is not None and role not in roles:
            continue
        for name in info.provides.get(role, []):
            if wanted is not None and name not in wanted:
                continue
            comp = registry.components[role][name]
            provided += [(t, role, name) for t in _tasks_of(comp.factories, selected)]
    fused = []
    if roles is None:
        for step in registry.fused_steps():
            if step.plugin == pname and (wanted is None or step.label in wanted):
                fused += [(t, step.key) for t in _tasks_of(step.factories, selected)]
    own_tasks = [t for t in info.provides.get("task", [])
                 if (roles is None or "task" in roles) and (selected is None or t in selected)
                 and (wanted is None or t in wanted)]

    def loads() -> None:
        if not provided and not fused and not own_tasks:
            narrowed = f" for roles {', '.join(roles)}" if roles else ""
            if wanted is not None:
                narrowed += f" named {', '.join(sorted(wanted))}"
            if selected is not None:
                narrowed += f" on task {', '.join(selected)}"
            raise ConformanceError(f"plugin {pname!r} registers no components{narrowed}")

    cases = [Case("loads", run=loads)]
    for name in own_tasks:
        cases.append(Case("contract", "task", name, run=_contract("task", name, name, plan), task=name))
    for t, role, name in provided:
        cases.append(Case("contract", role, name, run=_contract(role, name, t, plan), task=t))
    for t, role, name in provided:
        found = _partners(registry, role, t, partners == "all")
        if not found:
            message = (f"{role} {name!r}: no implementation of every other role supports task {t!r}, "
                       "so it cannot be trained")

            def untrainable(message=message) -> None:
                raise ConformanceError(message)

            cases.append(Case("converges", role, name, None, untrainable, task=t))
        for fixed in found:
            combo = Combination(**{**fixed, role: name})
            cases.append(Case("converges", role, name, combo, _converges(role, name, combo, t, plan, thresholds),
                              task=t))
    for t, key in fused:
        cases.append(Case("fused", "", "/".join(key), run=_fused_matches(key, t, plan), task=t))
    return cases


@dataclass
class Report:
    """Outcome of :func:`check_plugin`: every case and the failures among them."""

    cases: list[Case]
    failures: list[tuple[Case, str]]
    skipped: list[tuple[Case, str]]

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines = [f"{len(self.cases)} checks, {len(self.failures)} failed, {len(self.skipped)} skipped"]
        lines += [f"FAILED {case}: {msg}" for case, msg in self.failures]
        lines += [f"skipped {case}: {msg}" for case, msg in self.skipped]
        return "\n".join(lines)


def check_plugin(plugin, roles: list[str] | None = None, **options) -> Report:
    """Run every case of :func:`conformance_cases`; a component whose contract check
    fails on a task is not trained on it.  Never raises for a failing plugin: read ``report.ok``."""
    cases = conformance_cases(plugin, roles, **options)
    failures, skipped, broken = [], [], set()
    for case in cases:
        if (case.task, case.role, case.name) in broken and case.kind == "converges":
            skipped.append((case, "its contract check failed"))
            continue
        try:
            case.check()
        except ConformanceError as exc:
            failures.append((case, str(exc)))
            if case.kind == "contract":
                broken.add((case.task, case.role, case.name))
    return Report(cases, failures, skipped)


def assert_conformant(plugin, roles: list[str] | None = None, **options) -> Report:
    """:func:`check_plugin`, raising one :class:`ConformanceError` that lists every failure."""
    report = check_plugin(plugin, roles, **options)
    if not report.ok:
        raise ConformanceError(str(report))
    return report

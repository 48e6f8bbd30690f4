"""The conformance kit: check a plugin against the role contracts.

A plugin author imports this in their own test suite.  Every component the
plugin registers gets

* a **contract** check on tiny inputs (batch shapes, starting parameters,
  gradients reaching the parameters, loss values, an optimizer that updates), and
* a **convergence** check: trained on the seed task at the seed settings with
  built-in implementations of the other roles, it must land near the true
  parameters.

Every fused step it registers (``register_fused_steps``) is trained fused and
unfused on the seed task without shuffling: both must give the same numbers.

Plain function::

    from harness.testing import assert_conformant
    import my_plugin

    def test_my_plugin():
        assert_conformant(my_plugin)

As a pytest plugin (``-p harness.testing`` or ``pytest_plugins = ["harness.testing"]``
in the root ``conftest.py``), one test per check::

    harness_plugin = my_plugin          # or @pytest.mark.harness_plugin(my_plugin)

    def test_conformance(harness_case):
        harness_case.check()

Loaded into pytest, it also gives benchmarks the ``harness_registry`` fixture,
built from pytest's own ``-p MODULE`` / ``-p no:NAME`` options.
"""
from __future__ import annotations

import importlib.metadata as md
import itertools
from dataclasses import dataclass, field, replace
from typing import Callable

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from .errors import Diverged, HarnessError
from .hookspecs import PROJECT
from .plugins import BUILTIN_DISTRIBUTION, ENTRY_POINT_GROUP, Registry, import_plugin, load
from .roles import ROLES, Combination, Model
from .tasks import LinReg as Task
from .train import Session, Settings, train
from .verify import TOLERANCE, max_abs_diff

__all__ = [
    "ConformanceError",
    "Thresholds",
    "Case",
    "conformance_cases",
    "check_plugin",
    "assert_conformant",
    "builtin_plugin_names",
]


class ConformanceError(AssertionError):
    """A component breaks a role contract or does not converge; the message says how."""


@dataclass(frozen=True)
class Thresholds:
    """What "converged" means after training at the seed settings."""

    weight: float = 0.02  # max |w - w*|
    bias: float = 0.02  # |b - b*|
    loss: float = 1e-4  # final mean training loss


def builtin_plugin_names() -> list[str]:
    """The host's own plugins, as installed: the partners every component is checked with."""
    eps = md.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(ep.name for ep in eps if ep.dist is not None and ep.dist.metadata["Name"] == BUILTIN_DISTRIBUTION)


def _plugin_object(plugin):
    """A module or object as given; a string is an installed entry-point name or a ``-p`` spec."""
    if not isinstance(plugin, str):
        return plugin
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin:
            return ep.load()
    return import_plugin(plugin)


def _load_with_builtins(plugin) -> tuple[Registry, str]:
    obj = _plugin_object(plugin)
    module = getattr(obj, "__name__", None)
    # a built-in under test is not its own partner
    eps = {ep.name: ep.value for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
    partners = [n for n in builtin_plugin_names() if eps[n] != module]
    # strict: a duplicate name or a bad hookimpl must fail the author's test, not warn
    registry = load(extra=[obj], autoload=True, only=partners, strict=True, trace=False)
    name = getattr(obj, "__name__", None) or repr(obj)
    return registry, name


@dataclass
class Case:
    """One check of one component; ``check()`` raises :class:`ConformanceError` on failure."""

    kind: str  # "loads", "contract", "converges" or "fused"
    role: str = ""
    name: str = ""
    combination: Combination | None = None
    run: Callable[[], None] = field(default=lambda: None, repr=False)

    def __str__(self) -> str:
        if self.kind == "loads":
            return "loads"
        if self.kind == "contract":
            return f"{self.role}:{self.name}:contract"
        if self.kind == "fused":
            return f"fused:{self.name}:matches-unfused"
        partners = "/".join(getattr(self.combination, r) for r in ROLES)
        return f"{self.role}:{self.name}:converges[{partners}]"

    def check(self) -> None:
        try:
            self.run()
        except ConformanceError:
            raise
        except Exception as exc:  # a component crashing inside a check is a failure, not a kit error
            raise ConformanceError(f"{self}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc


def _fail(what: str, problem: str) -> None:
    raise ConformanceError(f"{what}: {problem}")


def _arrays(x) -> np.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


# ---- contracts, one per role ------------------------------------------------

# Small and odd-sized so a short last batch and a wrong axis both show.
_SMALL = Task(num_examples=23, num_inputs=3, seed=11)
_SMALL_BATCH = 5


def _check_data(what: str, data_iter, ctx) -> None:
    split = _SMALL.data(ctx)
    features, labels = split.features, split.labels
    n, d = features.shape

    def epoch(shuffle: bool):
        xs, ys = [], []
        try:
            batches = data_iter(_SMALL_BATCH, features, labels, shuffle)
            for i, (X, y) in enumerate(batches):
                X, y = _arrays(X), _arrays(y)
                b = X.shape[0] if X.ndim else 0
                if X.ndim != 2 or X.shape[1] != d or not 1 <= b <= _SMALL_BATCH:
                    _fail(what, f"batch {i} has X of shape {X.shape}; expected (b, {d}) with 1 <= b <= {_SMALL_BATCH}")
                if y.shape != (b,):
                    _fail(what, f"batch {i} has y of shape {y.shape}; expected ({b},), one label per row of X")
                xs.append(X)
                ys.append(y)
        except ConformanceError:
            raise
        except Exception as exc:
            _fail(what, f"data_iter({_SMALL_BATCH}, features, labels, shuffle={shuffle}) raised {type(exc).__name__}: {exc}")
        if not xs:
            _fail(what, "yielded no batches")
        return np.concatenate(xs), np.concatenate(ys)

    want_x, want_y = features.asnumpy(), labels.asnumpy()
    X, y = epoch(shuffle=False)
    if X.shape[0] != n:
        _fail(what, f"one epoch yielded {X.shape[0]} examples; expected each of the {n} exactly once")
    if not (np.array_equal(X, want_x) and np.array_equal(y, want_y)):
        _fail(what, "with shuffle=False the batches must follow the row order of features, labels paired with their rows")
    for _ in range(2):  # called once per epoch: a second call must give a full epoch again
        X, y = epoch(shuffle=True)
        if X.shape[0] != n:
            _fail(what, f"a shuffled epoch yielded {X.shape[0]} examples; expected each of the {n} exactly once")
        order = np.lexsort(X.T[::-1])
        want_order = np.lexsort(want_x.T[::-1])
        if not (np.array_equal(X[order], want_x[want_order]) and np.array_equal(y[order], want_y[want_order])):
            _fail(what, "a shuffled epoch must yield every (row, label) pair exactly once, labels kept with their rows")


def _small_batch(ctx, b: int = _SMALL_BATCH):
    split = _SMALL.data(ctx)
    return split.features[:b], split.labels[:b]


def _weights(model: Model) -> tuple[np.ndarray, float]:
    w, b = _SMALL.canonical(model.arrays())
    return w.reshape(-1), float(b.reshape(-1)[0])


def _check_model(what: str, factory, ctx) -> None:
    w0, b0 = _SMALL.initial_params(ctx)
    try:
        model = Model(factory(w0.copy(), b0.copy()))
    except TypeError as exc:
        _fail(what, f"{exc} (params need gradient buffers)")
    except Exception as exc:
        _fail(what, f"model(w, b) raised {type(exc).__name__}: {exc}")
    if len(model.params) != 2:
        _fail(what, f"has {len(model.params)} parameters; expected 2, weight then bias")
    sizes = [p.size for p in model.params]
    if sizes != [_SMALL.num_inputs, 1]:
        _fail(what, f"parameter sizes {sizes}; expected [{_SMALL.num_inputs}, 1] (weight, then bias)")
    w, b = _weights(model)
    if not (np.allclose(w, w0.asnumpy().reshape(-1), atol=1e-7) and abs(b - float(b0.asscalar())) < 1e-7):
        _fail(what, "does not start from the w and b the host passed in; copy them into the parameters")
    X, y = _small_batch(ctx)
    with autograd.record():
        y_hat = model(X)
        l = (y_hat - y.reshape(y_hat.shape)) ** 2 / 2 if y_hat.shape == (X.shape[0], 1) else None
    if l is None:
        _fail(what, f"net(X) with X of shape {X.shape} returned shape {y_hat.shape}; expected ({X.shape[0]}, 1)")
    expected = X.asnumpy() @ w.reshape(-1, 1) + b
    if not np.allclose(y_hat.asnumpy(), expected, rtol=1e-4, atol=1e-5):
        _fail(what, "net(X) is not X·w + b with its own parameters")
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


def _check_loss(what: str, make_loss, ctx) -> None:
    try:
        loss = make_loss()
    except Exception as exc:
        _fail(what, f"make_loss() raised {type(exc).__name__}: {exc}")
    rng = np.random.RandomState(3)
    b = _SMALL_BATCH
    y_hat = nd.array(rng.normal(size=(b, 1)), ctx=ctx)
    y = nd.array(rng.normal(size=(b,)), ctx=ctx)
    y_hat.attach_grad()
    with autograd.record():
        l = loss(y_hat, y)
    if l.shape not in ((b,), (b, 1)):
        hint = "; did you forget y.reshape(y_hat.shape)?" if l.shape == (b, b) else ""
        _fail(what, f"loss(y_hat {y_hat.shape}, y {y.shape}) returned shape {l.shape}; expected ({b},) or ({b}, 1){hint}")
    want = (y_hat.asnumpy() - y.asnumpy().reshape(b, 1)) ** 2 / 2
    if not np.allclose(l.asnumpy().reshape(b, 1), want, rtol=1e-5, atol=1e-6):
        _fail(what, "values are not (y_hat - y)**2 / 2 per example")
    l.backward()
    if not np.allclose(y_hat.grad.asnumpy(), y_hat.asnumpy() - y.asnumpy().reshape(b, 1), rtol=1e-5, atol=1e-6):
        _fail(what, "backward does not give d/dy_hat = y_hat - y; is the result cut from the autograd graph?")


def _check_optimizer(what: str, make_optimizer, registry: Registry, ctx, lr: float) -> None:
    for model_name in registry.builtin_names("model"):
        w0, b0 = _SMALL.initial_params(ctx)
        model = Model(registry.get("model", model_name).factory(w0, b0))
        try:
            step = make_optimizer(model, lr)
        except Exception as exc:
            _fail(what, f"make_optimizer(model, lr) raised {type(exc).__name__}: {exc} (with the {model_name!r} model)")
        if not callable(step):
            _fail(what, f"make_optimizer(model, lr) returned {type(step).__name__}; expected a step(batch_size) callable")
        X, y = _small_batch(ctx)

        def batch_loss() -> float:
            return float(((model(X) - y.reshape((-1, 1))) ** 2 / 2).mean().asscalar())

        before_w, before_b = _weights(model)
        before = batch_loss()
        with autograd.record():
            l = (model(X) - y.reshape((-1, 1))) ** 2 / 2
        l.backward()
        try:
            step(X.shape[0])
        except Exception as exc:
            _fail(what, f"step({X.shape[0]}) raised {type(exc).__name__}: {exc} (with the {model_name!r} model)")
        after_w, after_b = _weights(model)
        if np.array_equal(before_w, after_w) and before_b == after_b:
            _fail(
                what,
                f"step({X.shape[0]}) did not change the parameters of the {model_name!r} model; "
                "update model.params in place (or use model.collect_params() with a gluon.Trainer)",
            )
        if not batch_loss() < before:
            _fail(what, f"one step on a batch did not lower that batch's loss (with the {model_name!r} model); is the update's sign right?")


def _contract(role: str, name: str, registry: Registry, ctx, settings: Settings) -> Callable[[], None]:
    what = f"{role} {name!r}"
    factory = registry.get(role, name).factory
    if role == "data":
        return lambda: _check_data(what, factory, ctx)
    if role == "model":
        return lambda: _check_model(what, factory, ctx)
    if role == "loss":
        return lambda: _check_loss(what, factory, ctx)
    return lambda: _check_optimizer(what, factory, registry, ctx, settings.lr)


def _converges(role, name, combo, registry, task, settings, thresholds, ctx) -> Callable[[], None]:
    def run() -> None:
        what = f"{role} {name!r} with " + ", ".join(f"{r}={getattr(combo, r)}" for r in ROLES if r != role)
        try:
            result = train(Session(registry, combo, task, settings, ctx))
        except Diverged as exc:
            _fail(what, f"loss stopped being finite at epoch {exc.epoch}")
        except Exception as exc:
            _fail(what, f"training raised {type(exc).__name__}: {exc}")
        dw = float(np.max(np.abs(np.array(result.params["w"]) - task.true_w)))
        db = abs(result.params["b"] - task.true_b)
        loss = result.final_loss
        if not (dw < thresholds.weight and db < thresholds.bias and loss < thresholds.loss):
            history = ", ".join(f"{e['loss']:.3g}" for e in result.epochs)
            _fail(
                what,
                f"did not converge in {settings.epochs} epochs (lr {settings.lr:g}, batch {settings.batch_size}): "
                f"final loss {loss:.3g} (needs < {thresholds.loss:g}), max |w - w*| {dw:.3g} (< {thresholds.weight:g}), "
                f"|b - b*| {db:.3g} (< {thresholds.bias:g}); epoch losses {history}",
            )

    return run


def _fused_matches(key: tuple, registry: Registry, task: Task, settings: Settings, ctx) -> Callable[[], None]:
    def run() -> None:
        what = f"fused step {'/'.join(key)!r}"
        data = Combination().data if Combination().data in registry.builtin_names("data") else registry.builtin_names("data")[0]
        plain = Combination(data, *key)
        # shuffling off: both runs see the same batches, so any difference is the step's maths
        runs = []
        for combo in (plain, replace(plain, fused=True)):
            try:
                runs.append(train(Session(registry, combo, task, replace(settings, shuffle=False), ctx)))
            except Diverged as exc:
                _fail(what, f"{combo.label}: loss stopped being finite at epoch {exc.epoch}")
            except Exception as exc:
                _fail(what, f"{combo.label}: training raised {type(exc).__name__}: {exc}")
        diff = max_abs_diff(*runs)
        if not diff <= TOLERANCE:
            _fail(
                what,
                f"differs from the unfused {plain.label} by {diff:.3g} in epoch losses or parameters (tolerance "
                f"{TOLERANCE:g}); step(X, y) must compute exactly its model, loss and optimizer's maths",
            )

    return run


def _partners(registry: Registry, role: str, every: bool) -> list[dict[str, str]]:
    """Built-in implementations of the other roles: the full product, or (``every=False``)
    the fewest combinations in which each of them appears at least once."""
    others = {r: registry.builtin_names(r) for r in ROLES if r != role}
    if every:
        return [dict(zip(others, c)) for c in itertools.product(*others.values())]
    width = max(len(v) for v in others.values())
    return [{r: names[i % len(names)] for r, names in others.items()} for i in range(width)]


def conformance_cases(
    plugin,
    roles: list[str] | None = None,
    *,
    task: Task | None = None,
    settings: Settings | None = None,
    thresholds: Thresholds | None = None,
    partners: str = "all",
    ctx: mx.Context | None = None,
) -> list[Case]:
    """The checks for ``plugin`` (a module, an object with hookimpls, a module name, a ``.py``
    path or an installed entry-point name), one :class:`Case` each.

    ``roles`` narrows which of its components are checked; ``task``, ``settings`` and
    ``thresholds`` default to the seed's task, the seed's settings and :class:`Thresholds`.
    ``partners``: ``"all"`` trains with every combination of built-in implementations of the
    other roles; ``"each"`` only as many as it takes to use each of them once.
    """
    if partners not in ("all", "each"):
        raise HarnessError(f"partners must be 'all' or 'each', got {partners!r}")
    unknown = sorted(set(roles or ()) - set(ROLES))
    if unknown:
        raise HarnessError(f"unknown role {', '.join(unknown)}; valid: {', '.join(ROLES)}")
    task, settings, thresholds = task or Task(), settings or Settings(), thresholds or Thresholds()
    ctx = ctx or mx.cpu()
    try:
        registry, pname = _load_with_builtins(plugin)
    except Exception as exc:
        message = f"plugin {plugin!r} does not load: {exc}"

        def broken() -> None:
            raise ConformanceError(message)

        return [Case("loads", run=broken)]
    info = registry.plugins[pname]
    provided = [(r, n) for r in ROLES for n in info.provides.get(r, []) if roles is None or r in roles]
    fused = [step.key for step in registry.fused_steps() if step.plugin == pname] if roles is None else []

    def loads() -> None:
        if not provided and not fused:
            wanted = f" for roles {', '.join(roles)}" if roles else ""
            raise ConformanceError(f"plugin {pname!r} registers no components{wanted}")

    cases = [Case("loads", run=loads)]
    for role, name in provided:
        cases.append(Case("contract", role, name, run=_contract(role, name, registry, ctx, settings)))
    for role, name in provided:
        for fixed in _partners(registry, role, partners == "all"):
            combo = Combination(**{**fixed, role: name})
            run = _converges(role, name, combo, registry, task, settings, thresholds, ctx)
            cases.append(Case("converges", role, name, combo, run))
    for key in fused:
        cases.append(Case("fused", "", "/".join(key), run=_fused_matches(key, registry, task, settings, ctx)))
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
    fails is not trained.  Never raises for a failing plugin: read ``report.ok``."""
    cases = conformance_cases(plugin, roles, **options)
    failures, skipped, broken = [], [], set()
    for case in cases:
        if (case.role, case.name) in broken and case.kind == "converges":
            skipped.append((case, "its contract check failed"))
            continue
        try:
            case.check()
        except ConformanceError as exc:
            failures.append((case, str(exc)))
            if case.kind == "contract":
                broken.add((case.role, case.name))
    return Report(cases, failures, skipped)


def assert_conformant(plugin, roles: list[str] | None = None, **options) -> Report:
    """:func:`check_plugin`, raising one :class:`ConformanceError` that lists every failure."""
    report = check_plugin(plugin, roles, **options)
    if not report.ok:
        raise ConformanceError(str(report))
    return report


# ---- pytest plugin ------------------------------------------------------------


def _has_harness_hooks(module) -> bool:
    return any(hasattr(getattr(module, n, None), f"{PROJECT}_impl") for n in dir(module))


def registry_from_pytest(config) -> Registry:
    """The registry as pytest's ``-p`` options ask: ``-p MODULE`` where MODULE implements
    harness hooks adds it, ``-p no:NAME`` blocks plugin NAME (``scratch``, ``gluon``, ...)."""
    import sys

    extra, blocked = [], []
    for spec in getattr(config.option, "plugins", None) or []:
        if spec.startswith("no:"):
            blocked.append(spec[3:])
        elif spec in sys.modules and _has_harness_hooks(sys.modules[spec]):
            extra.append(spec)
    return load(extra=extra, blocked=blocked)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "harness_plugin(plugin, **options): the plugin harness_case checks")


def pytest_generate_tests(metafunc) -> None:
    if "harness_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("harness_plugin")
    if marker is not None:
        plugin, options = marker.args[0], dict(marker.kwargs)
    else:
        plugin = getattr(metafunc.module, "harness_plugin", None)
        options = dict(getattr(metafunc.module, "harness_options", {}))
        if plugin is None:
            raise ConformanceError(
                f"{metafunc.function.__name__} asks for harness_case: set harness_plugin = <module> in "
                f"{metafunc.module.__name__} or mark it @pytest.mark.harness_plugin(<module>)"
            )
    cases = conformance_cases(plugin, **options)
    metafunc.parametrize("harness_case", cases, ids=[str(c) for c in cases])


try:
    import pytest as _pytest
except ImportError:  # the kit's functions work without pytest
    pass
else:

    @_pytest.fixture(scope="session")
    def harness_registry(request) -> Registry:
        """Every plugin as the harness command would load it, honouring pytest's ``-p``."""
        return registry_from_pytest(request.config)

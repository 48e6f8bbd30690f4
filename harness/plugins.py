"""The plugin manager and the registry of implementations it fills.

Built-in plugins load exactly like third-party ones: through the ``harness``
entry-point group.  Each plugin loads in its own ``try`` so that a broken one
is named in a warning and skipped; ``strict=True`` turns that into an error.
``HARNESS_TRACE_PLUGINS=1`` prints every hook call and registration to stderr.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import inspect
import itertools
import os
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import pluggy

from . import __version__, hookspecs
from .errors import HarnessError, PluginError
from .roles import FUSED_ROLES, ROLE_HOOKS, ROLES, Combination

ENTRY_POINT_GROUP = "harness"
BUILTIN_DISTRIBUTION = "mxnet-harness"
FUSED_HOOK = "register_fused_steps"
TASK_HOOK = "register_tasks"
#: Tasks a component is for when it does not say: models and losses compute the seed's maths,
#: data loaders and optimizers only see batches and parameters ("*": every task).
DEFAULT_TASKS = {"data": ("*",), "model": ("linreg",), "loss": ("linreg",), "optimizer": ("*",), "fused": ("linreg",)}
DEFAULT_TASK = "linreg"
HOOK_ROLES = {hook: role for role, hook in ROLE_HOOKS.items()}


class PluginWarning(UserWarning):
    """A plugin was skipped; the message says which and why."""


@dataclass
class PluginInfo:
    """Where a plugin came from and what it provides."""

    name: str
    source: str  # "built-in", "entry point" or "-p"
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "provides": self.provides,
        }


@dataclass
class Component:
    """One name of one role, from one plugin: a factory per task it supports (``"*"``: every task)."""

    role: str
    name: str
    factories: dict[str, Callable]
    plugin: str

    @property
    def tasks(self) -> list[str]:
        return sorted(self.factories)

    def supports(self, task: str) -> bool:
        return task in self.factories or "*" in self.factories

    def for_task(self, task: str = DEFAULT_TASK) -> Callable:
        return self.factories.get(task) or self.factories["*"]

    @property
    def factory(self) -> Callable:
        """The factory for the seed's task (or for every task)."""
        return self.for_task(DEFAULT_TASK)

    def describe_tasks(self) -> str:
        return "any task" if "*" in self.factories else ", ".join(self.tasks)


@dataclass
class FusedStep(Component):
    """A fused step; ``name`` is its "model/loss/optimizer" label, ``key`` the three names."""

    key: tuple[str, str, str] = ("", "", "")

    @property
    def label(self) -> str:
        return "/".join(self.key)


@dataclass
class TaskEntry:
    name: str
    factory: Callable  # make_task(**options) -> harness.task.Task
    plugin: str

    def options(self) -> list[str]:
        """The keyword options ``make_task`` accepts."""
        params = inspect.signature(self.factory).parameters.values()
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


@dataclass
class Skipped:
    name: str
    reason: str
    source: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "reason": self.reason}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class Registry:
    """Every loaded plugin and the implementations it registered, keyed by role and name."""

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo], skipped: list[Skipped]):
        self.pm = pm
        self.plugins = infos
        self.skipped = skipped
        self.components: dict[str, dict[str, Component]] = {role: {} for role in ROLES}
        #: fused steps by the (model, loss, optimizer) they replace
        self.fused: dict[tuple[str, str, str], FusedStep] = {}
        self.tasks: dict[str, TaskEntry] = {}
        #: (role, name) or ("fused", "model/loss/optimizer") registered by more than one plugin
        #: -> those plugins; never selectable
        self.conflicts: dict[tuple[str, str], list[str]] = {}

    def names(self, role: str, task: str | None = None) -> list[str]:
        """Selectable names for ``role``; with ``task``, those that support it."""
        return sorted(n for n, c in self.components[role].items() if task is None or c.supports(task))

    def builtin_names(self, role: str, task: str | None = None) -> list[str]:
        """Names for ``role`` registered by the host's own plugins (``scratch``, ``gluon``)."""
        return [n for n in self.names(role, task) if self.plugins[self.components[role][n].plugin].source == "built-in"]

    def task_names(self) -> list[str]:
        return sorted(self.tasks)

    def make_task(self, name: str = DEFAULT_TASK, **options):
        """The task ``name`` built with the options it takes; ``None`` options are left to its defaults.

        An option the task does not take is an error, unless it is ``None``."""
        entry = self.tasks.get(name)
        if entry is None:
            clash = self.conflicts.get(("task", name))
            if clash:
                owners = " and ".join(repr(p) for p in clash)
                raise HarnessError(f"ambiguous task {name!r}: registered by plugins {owners}; block one with -p no:NAME")
            raise HarnessError(f"unknown task {name!r}; available: {', '.join(self.task_names()) or 'none'}")
        given = {k: v for k, v in options.items() if v is not None}
        takes = entry.options()
        extra = sorted(set(given) - set(takes))
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            valid = ", ".join("--" + k.replace("_", "-") for k in takes) or "none"
            raise HarnessError(f"task {name!r} does not take {flags}; its options: {valid}")
        return entry.factory(**given)

    def check_supports(self, combo: Combination, task: str) -> None:
        """Every component of ``combo`` supports ``task``, else one error naming the tasks it supports."""
        for role in ROLES:
            self.get(role, getattr(combo, role), task)

    def get(self, role: str, name: str, task: str | None = None) -> Component:
        found = self.components[role].get(name)
        if found is not None:
            if task is not None and not found.supports(task):
                others = ", ".join(self.names(role, task)) or "none"
                raise HarnessError(
                    f"{role} {name!r} does not support task {task!r}; it supports: {found.describe_tasks()}; "
                    f"{role}s for {task}: {others}"
                )
            return found
        clash = self.conflicts.get((role, name))
        if clash:
            owners = " and ".join(repr(p) for p in clash)
            raise HarnessError(
                f"ambiguous {role} {name!r}: registered by plugins {owners}; block one with -p no:NAME"
            )
        available = ", ".join(self.names(role)) or "none"
        info = self.plugins.get(name)
        if info is not None:
            offers = ", ".join(r for r in ROLES if info.provides.get(r)) or "no roles"
            raise HarnessError(
                f"plugin {name!r} provides no {role} (it provides: {offers}); available {role}s: {available}"
            )
        raise HarnessError(f"unknown {role} {name!r}; available: {available}")

    def resolve(self, combo: Combination, task: str = DEFAULT_TASK) -> dict[str, Callable]:
        """The factory for each role of ``combo`` on ``task``; unknown names fail listing the valid ones,
        and so do a component that does not support the task and a fused combination without a fused step."""
        factories = {role: self.get(role, getattr(combo, role), task).for_task(task) for role in ROLES}
        if combo.fused:
            self.fused_step(combo, task)
        return factories

    def fused_step(self, combo: Combination, task: str = DEFAULT_TASK) -> Callable:
        """``make_step(net, lr)`` registered for ``combo``'s model, loss and optimizer."""
        found = self.fused.get(combo.fused_key)
        if found is not None:
            if not found.supports(task):
                raise HarnessError(f"fused step {found.label!r} does not support task {task!r}; it supports: {found.describe_tasks()}")
            return found.for_task(task)
        label = "/".join(combo.fused_key)
        clash = self.conflicts.get(("fused", label))
        if clash:
            owners = " and ".join(repr(p) for p in clash)
            raise HarnessError(f"ambiguous fused step {label!r}: registered by plugins {owners}; block one with -p no:NAME")
        named = ", ".join(f"{role} {name!r}" for role, name in zip(FUSED_ROLES, combo.fused_key))
        available = ", ".join(step.label for step in self.fused_steps()) or "none"
        raise HarnessError(f"no fused step for {named}; fused steps exist for: {available}")

    def fused_steps(self, task: str | None = None) -> list[FusedStep]:
        """Every selectable fused step, by (model, loss, optimizer); with ``task``, those for it."""
        return [self.fused[key] for key in sorted(self.fused) if task is None or self.fused[key].supports(task)]

    def own_combinations(self, task: str | None = None) -> list[Combination]:
        """For each name that every role registers (a plugin that provides them all), that name in every role."""
        names = [n for n in self.names(ROLES[0], task) if all(n in self.names(role, task) for role in ROLES)]
        return [Combination(*(n for _ in ROLES)) for n in names]

    def fused_variants(self, combos: Iterable[Combination], task: str | None = None) -> list[Combination]:
        """``combo`` with ``fused=True`` for each of ``combos`` that has a fused step (for ``task``), in order."""
        steps = {s.key for s in self.fused_steps(task)}
        return [replace(c, fused=True) for c in combos if not c.fused and c.fused_key in steps]

    def combinations(self, task: str | None = None, **fixed: Iterable[str] | None) -> list[Combination]:
        """Every combination of registered implementations (that support ``task``); ``fixed[role]`` narrows a role."""
        choices = []
        for role in ROLES:
            wanted = fixed.get(role)
            if wanted:
                names = list(dict.fromkeys(wanted))
                for n in names:
                    self.get(role, n, task)
            else:
                names = self.names(role, task)
            choices.append(names)
        return [Combination(*c) for c in itertools.product(*choices)]


def _register_components(registry: Registry, strict: bool, trace: bool) -> None:
    pm = registry.pm
    plugins = pm.get_plugins()
    for hookname in [TASK_HOOK, *ROLE_HOOKS.values(), FUSED_HOOK]:
        caller = getattr(pm.hook, hookname)
        for impl in reversed(caller.get_hookimpls()):
            pname = impl.plugin_name
            register = _registrar(registry, hookname, pname, strict, trace)
            # Call each plugin's hook alone so registrations can be attributed to it.
            others = [p for p in plugins if p is not impl.plugin]
            try:
                pm.subset_hook_caller(hookname, remove_plugins=others)(register=register)
            except PluginError as exc:
                if strict:
                    raise
                _skip(registry, pname, str(exc))
            except Exception as exc:  # a plugin's own bug: name it, keep going
                msg = f"plugin {pname!r} failed in {hookname}: {type(exc).__name__}: {exc}"
                if strict:
                    raise PluginError(msg) from exc
                _skip(registry, pname, msg)


def _registrar(registry: Registry, hookname: str, plugin: str, strict: bool, trace: bool) -> Callable:
    """The ``register`` callable ``plugin``'s implementation of ``hookname`` receives."""
    if hookname == TASK_HOOK:

        def register_task(name: str, make_task: Callable) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin!r} registered a task with an invalid name {name!r}")
            if not callable(make_task):
                raise PluginError(f"plugin {plugin!r} registered task {name!r} with a non-callable")
            _claim(registry, registry.tasks, "task", name, name, TaskEntry(name, make_task, plugin), strict, trace)

        return register_task
    if hookname == FUSED_HOOK:

        def register_fused(model: str, loss: str, optimizer: str, make_step: Callable, tasks=None) -> None:
            key = (model, loss, optimizer)
            if not all(isinstance(n, str) and n for n in key):
                raise PluginError(f"plugin {plugin!r} registered a fused step with invalid names {key!r}")
            label = "/".join(key)
            if not callable(make_step):
                raise PluginError(f"plugin {plugin!r} registered fused step {label!r} with a non-callable")
            factories = dict.fromkeys(_task_list(plugin, "fused", label, tasks), make_step)
            step = FusedStep("fused", label, factories, plugin, key=key)
            _claim(registry, registry.fused, "fused", key, label, step, strict, trace)

        return register_fused
    role = HOOK_ROLES[hookname]

    def register(name: str, factory: Callable, tasks=None) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {role} with an invalid name {name!r}")
        if not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {role} {name!r} with a non-callable")
        factories = dict.fromkeys(_task_list(plugin, role, name, tasks), factory)
        _claim(registry, registry.components[role], role, name, name, Component(role, name, factories, plugin), strict, trace)

    return register


def _task_list(plugin: str, role: str, name: str, tasks) -> tuple[str, ...]:
    if tasks is None:
        return DEFAULT_TASKS[role]
    if isinstance(tasks, str):
        tasks = (tasks,)
    tasks = tuple(tasks)
    if not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise PluginError(f"plugin {plugin!r} registered {role} {name!r} with invalid tasks {tasks!r}; "
                          "give task names, or ['*'] for every task")
    return tasks


def _claim(registry: Registry, table: dict, kind: str, key, label: str, entry, strict: bool, trace: bool) -> None:
    """File ``entry`` under ``key``; a key two plugins register becomes selectable by neither.

    The same plugin may register a name again for other tasks: the factories are merged."""
    if trace:
        _trace(f"  {entry.plugin} registered {kind} {label!r}" + (f" for {entry.describe_tasks()}" if isinstance(entry, Component) else ""))
    provided = registry.plugins[entry.plugin].provides.setdefault(kind, [])
    if label not in provided:
        provided.append(label)
    clash = registry.conflicts.get((kind, label))
    existing = table.get(key)
    if existing is not None and clash is None and existing.plugin == entry.plugin and isinstance(entry, Component):
        overlap = sorted(set(existing.factories) & set(entry.factories))
        if overlap:
            raise PluginError(f"plugin {entry.plugin!r} registered {kind} {label!r} twice for {', '.join(overlap)}")
        existing.factories.update(entry.factories)
        return
    existing = table.pop(key, None)
    if existing is None and clash is None:
        table[key] = entry
        return
    owners = clash or [existing.plugin]
    owners.append(entry.plugin)
    registry.conflicts[(kind, label)] = owners
    msg = f"duplicate {kind} {label!r} registered by plugins " + " and ".join(map(repr, owners))
    if strict:
        raise PluginError(msg)
    warnings.warn(msg + "; neither is selectable", PluginWarning, stacklevel=3)  # at the plugin's register call


def _skip(registry: Registry, name: str, reason: str) -> None:
    warnings.warn(f"skipped plugin {name!r}: {reason}", PluginWarning, stacklevel=3)
    source = registry.plugins[name].source if name in registry.plugins else ""
    registry.skipped.append(Skipped(name, reason, source))
    plugin = registry.pm.get_plugin(name)
    if plugin is not None:
        registry.pm.unregister(plugin)
    registry.plugins.pop(name, None)
    for table in [*registry.components.values(), registry.fused, registry.tasks]:
        for key in [k for k, entry in table.items() if entry.plugin == name]:
            del table[key]


def _hooks_of(pm: pluggy.PluginManager, plugin) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def _unmarked_hooks(plugin) -> list[str]:
    """Functions named like a hook but lacking ``@hookimpl``: pluggy would ignore them silently."""
    names = [n for n in dir(hookspecs) if n.startswith("register_")]
    return [n for n in names if callable(getattr(plugin, n, None)) and not hasattr(getattr(plugin, n), f"{hookspecs.PROJECT}_impl")]


def _trace(line: str) -> None:
    print(f"harness: trace: {line}", file=sys.stderr, flush=True)


def _add_tracing(pm: pluggy.PluginManager) -> None:
    def before(hook_name, hook_impls, kwargs):
        impls = ", ".join(impl.plugin_name for impl in hook_impls) or "none"
        _trace(f"{hook_name}({', '.join(kwargs)}) -> implementations: {impls}")

    def after(outcome, hook_name, hook_impls, kwargs):
        if outcome.exception is not None:
            _trace(f"{hook_name} raised {type(outcome.exception).__name__}: {outcome.exception}")
        else:
            _trace(f"{hook_name} returned {outcome.get_result()!r}")

    pm.add_hookcall_monitoring(before, after)


def import_plugin(spec: str):
    """The module for ``-p SPEC``: a path to a ``.py`` file, or a module name importable from
    the current directory (as ``python -m`` would find it) or the installed packages."""
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no such file {spec!r}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[path.stem] = module
        try:
            mod_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[path.stem]
            raise
        return module
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # and keep it, as python -m does: the plugin may import siblings later
    return importlib.import_module(spec)


def parse_specs(specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split ``-p`` values into modules to load and plugin names to block (``no:NAME``)."""
    extra, blocked = [], []
    for spec in specs:
        if spec.startswith("no:"):
            if not spec[3:]:
                raise HarnessError("-p no: needs a plugin name, e.g. -p no:gluon")
            blocked.append(spec[3:])
        elif spec:
            extra.append(spec)
        else:
            raise HarnessError("-p needs a module name, a .py file or no:NAME")
    return extra, blocked


def load(
    extra: Iterable = (),
    blocked: Iterable[str] = (),
    autoload: bool | None = None,
    only: Iterable[str] | None = None,
    strict: bool | None = None,
    trace: bool | None = None,
) -> Registry:
    """Load plugins and fill the registry.

    ``extra``: plugins to register besides the entry points (``-p``): module names,
    ``.py`` paths, or module objects.
    ``blocked``: plugin names not to load (``-p no:NAME``), built-ins included.
    ``autoload``: load entry points (default: unless ``HARNESS_DISABLE_PLUGIN_AUTOLOAD``).
    ``only``: load only these entry points (default: ``HARNESS_LOAD_PLUGINS`` if set).
    ``strict``: a broken plugin is an error (default: ``HARNESS_STRICT_PLUGINS``).
    ``trace``: print hook calls to stderr (default: ``HARNESS_TRACE_PLUGINS``).
    """
    if autoload is None:
        autoload = not _env_flag("HARNESS_DISABLE_PLUGIN_AUTOLOAD")
    if only is None and os.environ.get("HARNESS_LOAD_PLUGINS"):
        only = [n.strip() for n in os.environ["HARNESS_LOAD_PLUGINS"].split(",") if n.strip()]
    if strict is None:
        strict = _env_flag("HARNESS_STRICT_PLUGINS")
    if trace is None:
        trace = _env_flag("HARNESS_TRACE_PLUGINS")
    blocked = set(blocked)

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if trace:
        _add_tracing(pm)
    infos: dict[str, PluginInfo] = {}
    registry = Registry(pm, infos, [])

    def fail(info: PluginInfo, reason: str) -> None:
        if strict:
            raise PluginError(f"plugin {info.name!r}: {reason}")
        warnings.warn(f"skipped plugin {info.name!r}: {reason}", PluginWarning, stacklevel=3)
        registry.skipped.append(Skipped(info.name, reason, info.source))

    def add(loader: Callable, info: PluginInfo) -> None:
        name = info.name
        if name in blocked or pm.get_plugin(name) is not None or pm.is_blocked(name):
            return
        try:
            plugin = loader()
        except Exception as exc:
            fail(info, f"import of {info.module!r} failed: {_one_line(exc)}")
            return
        try:
            pm.register(plugin, name=name)
        except Exception as exc:  # bad hookimpl arguments, already registered under another name
            fail(info, _one_line(exc))
            return
        try:
            pm.check_pending()
        except Exception as exc:  # implements a hook that does not exist
            unknown = [c.name for c in pm.get_hookcallers(plugin) or [] if c.spec is None]
            pm.unregister(plugin)
            if unknown:
                known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
                fail(info, f"unknown hook {', '.join(unknown)}; hooks: {known}")
            else:
                fail(info, _one_line(exc))
            return
        info.hooks = _hooks_of(pm, plugin)
        if not info.hooks:
            pm.unregister(plugin)
            unmarked = _unmarked_hooks(plugin)
            hint = f" ({', '.join(unmarked)} lack @harness.hookspecs.hookimpl)" if unmarked else ""
            fail(info, f"implements no harness hooks{hint}")
            return
        infos[name] = info

    # the host's own tasks (the seed's data is the host's): always there, like pytest's built-in plugins
    from . import tasks as builtin_tasks

    add(lambda: builtin_tasks, PluginInfo("tasks", "built-in", builtin_tasks.__name__, BUILTIN_DISTRIBUTION, __version__))

    if autoload:
        eps = md.entry_points(group=ENTRY_POINT_GROUP)
        if only is not None:
            missing = sorted(set(only) - {ep.name for ep in eps})
            if missing:
                available = ", ".join(sorted({ep.name for ep in eps})) or "none"
                msg = f"HARNESS_LOAD_PLUGINS names {', '.join(missing)}, which no installed package provides; installed: {available}"
                if strict:
                    raise PluginError(msg)
                warnings.warn(msg, PluginWarning, stacklevel=2)
        seen = set()
        for ep in sorted(eps, key=lambda e: e.name):
            if only is not None and ep.name not in only:
                continue
            if ep.name in seen:
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            builtin = dist is not None and dist.metadata["Name"] == BUILTIN_DISTRIBUTION
            info = PluginInfo(
                ep.name,
                "built-in" if builtin else "entry point",
                ep.value,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
            add(ep.load, info)

    for item in extra:
        if isinstance(item, str):
            info = PluginInfo(item, "-p", item)
            add(lambda m=item: import_plugin(m), info)
        else:  # a module or object handed over in-process, e.g. by harness.testing
            name = getattr(item, "__name__", None) or repr(item)
            add(lambda o=item: o, PluginInfo(name, "-p", name))

    _register_components(registry, strict, trace)
    return registry


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"

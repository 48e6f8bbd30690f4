"""Plugin loading: discovery, the environment's policy, and tracing.

Built-in plugins load exactly like third-party ones: through the ``harness``
entry-point group; ``-p`` adds modules or ``.py`` files and ``-p no:NAME``
blocks one.  Each plugin loads in its own ``try`` so that a broken one is named
in a warning and skipped; ``strict=True`` (``HARNESS_STRICT_PLUGINS``) turns
that into an error.  ``HARNESS_DISABLE_PLUGIN_AUTOLOAD`` and
``HARNESS_LOAD_PLUGINS`` choose which entry points load;
``HARNESS_TRACE_PLUGINS=1`` prints every hook call and registration to stderr.
:func:`load` calls every plugin's registration hooks and returns the filled
:class:`harness.core.registry.Registry` (what was registered, and choosing from it).
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pluggy

from harness import __version__
from harness.core import hookspecs
from harness.core.errors import HarnessError, PluginError
from harness.core.registry import (
    ANY_TASK_ROLES,
    FUSED_HOOK,
    HOOKS,
    TASK_HOOK,
    Component,
    FusedStep,
    Policy,
    Registry,
    Skipped,
    TaskEntry,
    registrar,
)

__all__ = [
    "ANY_TASK_ROLES", "BUILTIN_DISTRIBUTION", "ENTRY_POINT_GROUP", "FUSED_HOOK", "TASK_HOOK",
    "Component", "FusedStep", "PluginInfo", "PluginWarning", "Registry", "Skipped", "TaskEntry",
    "import_plugin", "load", "parse_specs",
]

ENTRY_POINT_GROUP = "harness"
BUILTIN_DISTRIBUTION = "mxnet-harness"
#: The host's own tasks, loaded by module name (the plugin host imports nothing above it); the module
#: names the default task (``DEFAULT_TASK``).
BUILTIN_TASKS = "harness.tasks.builtin"
#: the host's own plugins, always loaded (name, module): the built-in tasks and d2l chapter 7's algorithms
HOST_PLUGINS = (("tasks", BUILTIN_TASKS), ("algorithms", "harness.tasks.algorithms"))
#: the built-in implementations, loaded by module name (llm's DEFAULT_PLUGINS) under the same autoload policy
#: as installed plugins; plugins/ installs as mxnet_harness_plugins, not as a generic top-level `plugins`
DEFAULT_PLUGINS = (("scratch", "mxnet_harness_plugins.scratch"), ("gluon", "mxnet_harness_plugins.gluon"),
                   ("fast", "mxnet_harness_plugins.fast"))


class PluginWarning(UserWarning):
    """A plugin was skipped, or a name it registered is selectable by nobody; the message says which and why."""


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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _register_components(registry: Registry, strict: bool, trace: bool) -> None:
    """Call every registration hook, one plugin at a time so each registration is attributed to its plugin."""
    pm = registry.pm
    plugins = pm.get_plugins()
    policy = Policy(strict=strict, duplicate=_warn_duplicate, trace=_trace if trace else None)
    for hookname in HOOKS:
        caller = getattr(pm.hook, hookname)
        for impl in caller.get_hookimpls():  # in load order: messages name plugins in the order they came
            pname = impl.plugin_name
            register = registrar(registry, hookname, pname, policy)
            others = [p for p in plugins if p is not impl.plugin]
            try:
                pm.subset_hook_caller(hookname, remove_plugins=others)(register=register)
            except PluginError as exc:
                if strict:
                    raise
                _skip(registry, pname, str(exc))
            except (Exception, SystemExit) as exc:  # a plugin's own bug (or exit): name it, keep going
                msg = f"plugin {pname!r} failed in {hookname}: {_one_line(exc)}"
                if strict:
                    raise PluginError(msg) from exc
                _skip(registry, pname, msg)


def _warn_duplicate(message: str) -> None:
    # this <- registry._claim <- the register callable <- the plugin's hook: point at its register call
    warnings.warn(message, PluginWarning, stacklevel=4)


def _skip(registry: Registry, name: str, reason: str) -> None:
    warnings.warn(f"skipped plugin {name!r}: {reason}", PluginWarning, stacklevel=3)
    source = registry.plugins[name].source if name in registry.plugins else ""
    registry.skipped.append(Skipped(name, reason, source))
    plugin = registry.pm.get_plugin(name)
    if plugin is not None:
        registry.pm.unregister(plugin)
    registry.plugins.pop(name, None)
    registry.forget(name)


def _hooks_of(pm: pluggy.PluginManager, plugin) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def _unmarked_hooks(plugin) -> list[str]:
    """Functions named like a hook but lacking ``@hookimpl``: pluggy would ignore them silently."""
    names = [n for n in dir(hookspecs) if n.startswith("register_")]
    marker = f"{hookspecs.PROJECT}_impl"
    return [n for n in names if callable(getattr(plugin, n, None)) and not hasattr(getattr(plugin, n), marker)]


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
    # the host's own tasks (the seed's data is the host's): always there, like pytest's built-in plugins
    builtin_tasks = importlib.import_module(BUILTIN_TASKS)
    registry = Registry(pm, infos, [], default_task=builtin_tasks.DEFAULT_TASK)

    def fail(info: PluginInfo, reason: str) -> None:
        if strict:
            raise PluginError(f"plugin {info.name!r}: {reason}")
        warnings.warn(f"skipped plugin {info.name!r}: {reason}", PluginWarning, stacklevel=3)
        registry.skipped.append(Skipped(info.name, reason, info.source))

    seen: set[str] = set()  # every plugin name met, loaded or blocked

    def add(loader: Callable, info: PluginInfo) -> None:
        name = info.name
        seen.add(name)
        if name in blocked or pm.get_plugin(name) is not None or pm.is_blocked(name):
            return
        seen.add(name)
        try:
            plugin = loader()
        except (Exception, SystemExit) as exc:  # SystemExit: a plugin that exits at import is a broken plugin
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

    for name, module in HOST_PLUGINS:
        add(lambda m=module: importlib.import_module(m),
            PluginInfo(name, "built-in", module, BUILTIN_DISTRIBUTION, __version__))

    if autoload:
        for name, module in DEFAULT_PLUGINS:
            seen.add(name)
            if only is None or name in only:
                add(lambda m=module: importlib.import_module(m),
                    PluginInfo(name, "built-in", module, BUILTIN_DISTRIBUTION, __version__))
        eps = md.entry_points(group=ENTRY_POINT_GROUP)
        if only is not None:
            missing = sorted(set(only) - {ep.name for ep in eps} - {name for name, _ in DEFAULT_PLUGINS})
            if missing:
                available = ", ".join(sorted({ep.name for ep in eps} | {n for n, _ in DEFAULT_PLUGINS}))
                msg = (f"HARNESS_LOAD_PLUGINS names {', '.join(missing)}, which no installed package provides; "
                       f"installed: {available}")
                if strict:
                    raise PluginError(msg)
                warnings.warn(msg, PluginWarning, stacklevel=2)
        listed = set()
        for ep in sorted(eps, key=lambda e: e.name):
            seen.add(ep.name)
            if only is not None and ep.name not in only:
                continue
            if ep.name in listed:
                continue
            listed.add(ep.name)
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

    unknown = sorted(blocked - seen)
    if unknown:
        msg = (f"-p no:{', -p no:'.join(unknown)} blocks nothing: no plugin is named {', '.join(map(repr, unknown))}; "
               f"plugins: {', '.join(sorted(seen)) or 'none'}")
        if strict:
            raise PluginError(msg)
        warnings.warn(msg, PluginWarning, stacklevel=2)
    _register_components(registry, strict, trace)
    _check_tasks(registry, strict)
    return registry


def _check_tasks(registry: Registry, strict: bool) -> None:
    """A component registered for a task no plugin provides is a warning (an error under ``strict``): a typo
    in ``tasks=`` would otherwise leave it unusable without a word."""
    known = set(registry.tasks) | {t for (kind, t) in registry.conflicts if kind == "task"}
    entries = [c for table in registry.components.values() for c in table.values()] + list(registry.fused.values())
    for entry in entries:
        missing = sorted(t for t in entry.factories if t != "*" and t not in known)
        if not missing:
            continue
        kind = "fused step" if entry.role == "fused" else entry.role
        msg = (f"plugin {entry.plugin!r} registered {kind} {getattr(entry, 'label', entry.name)!r} for task "
               f"{', '.join(map(repr, missing))}, which no plugin provides; tasks: {', '.join(sorted(known))}")
        if strict:
            raise PluginError(msg)
        warnings.warn(msg, PluginWarning, stacklevel=3)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"

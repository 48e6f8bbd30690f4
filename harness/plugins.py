"""The plugin manager and the registry of implementations it fills.

Built-in plugins load exactly like third-party ones: through the ``harness``
entry-point group.  Each plugin loads in its own ``try`` so that a broken one
is named in a warning and skipped; ``strict=True`` turns that into an error.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import itertools
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

import pluggy

from . import hookspecs
from .errors import HarnessError, PluginError
from .roles import ROLE_HOOKS, ROLES, Combination

ENTRY_POINT_GROUP = "harness"
BUILTIN_DISTRIBUTION = "mxnet-harness"


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
    role: str
    name: str
    factory: Callable
    plugin: str


@dataclass
class Skipped:
    name: str
    reason: str

    def as_dict(self) -> dict:
        return {"name": self.name, "reason": self.reason}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class Registry:
    """Every loaded plugin and the implementations it registered, keyed by role and name."""

    def __init__(self, pm: pluggy.PluginManager, infos: dict[str, PluginInfo], skipped: list[Skipped]):
        self.pm = pm
        self.plugins = infos
        self.skipped = skipped
        self.components: dict[str, dict[str, Component]] = {role: {} for role in ROLES}
        #: (role, name) registered by more than one plugin -> those plugins; never selectable
        self.conflicts: dict[tuple[str, str], list[str]] = {}

    def names(self, role: str) -> list[str]:
        return sorted(self.components[role])

    def get(self, role: str, name: str) -> Component:
        found = self.components[role].get(name)
        if found is not None:
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

    def resolve(self, combo: Combination) -> dict[str, Callable]:
        """The factory for each role of ``combo``; unknown names fail listing the valid ones."""
        return {role: self.get(role, getattr(combo, role)).factory for role in ROLES}

    def combinations(self, **fixed: Iterable[str] | None) -> list[Combination]:
        """Every combination of registered implementations; ``fixed[role]`` narrows a role."""
        choices = []
        for role in ROLES:
            wanted = fixed.get(role)
            if wanted:
                names = list(dict.fromkeys(wanted))
                for n in names:
                    self.get(role, n)
            else:
                names = self.names(role)
            choices.append(names)
        return [Combination(*c) for c in itertools.product(*choices)]


def _register_components(registry: Registry, strict: bool) -> None:
    pm = registry.pm
    plugins = pm.get_plugins()
    for role in ROLES:
        hookname = ROLE_HOOKS[role]
        caller = getattr(pm.hook, hookname)
        for impl in reversed(caller.get_hookimpls()):
            pname = impl.plugin_name

            def register(name: str, factory: Callable, _role=role, _plugin=pname) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {_plugin!r} registered a {_role} with an invalid name {name!r}")
                if not callable(factory):
                    raise PluginError(f"plugin {_plugin!r} registered {_role} {name!r} with a non-callable")
                registry.plugins[_plugin].provides.setdefault(_role, []).append(name)
                clash = registry.conflicts.get((_role, name))
                existing = registry.components[_role].pop(name, None)
                if existing is None and clash is None:
                    registry.components[_role][name] = Component(_role, name, factory, _plugin)
                    return
                owners = clash or [existing.plugin]
                owners.append(_plugin)
                registry.conflicts[(_role, name)] = owners
                msg = f"duplicate {_role} {name!r} registered by plugins " + " and ".join(map(repr, owners))
                if strict:
                    raise PluginError(msg)
                warnings.warn(msg + "; neither is selectable", PluginWarning, stacklevel=2)

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


def _skip(registry: Registry, name: str, reason: str) -> None:
    warnings.warn(f"skipped plugin {name!r}: {reason}", PluginWarning, stacklevel=3)
    registry.skipped.append(Skipped(name, reason))
    plugin = registry.pm.get_plugin(name)
    if plugin is not None:
        registry.pm.unregister(plugin)
    registry.plugins.pop(name, None)
    for comps in registry.components.values():
        for cname in [c for c, comp in comps.items() if comp.plugin == name]:
            del comps[cname]


def _hooks_of(pm: pluggy.PluginManager, plugin) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def load(
    extra: Iterable[str] = (),
    blocked: Iterable[str] = (),
    autoload: bool | None = None,
    only: Iterable[str] | None = None,
    strict: bool | None = None,
) -> Registry:
    """Load plugins and fill the registry.

    ``extra``: module names to register as plugins (``-p MODULE``).
    ``blocked``: plugin names not to load (``-p no:NAME``).
    ``autoload``: load entry points (default: unless ``HARNESS_DISABLE_PLUGIN_AUTOLOAD``).
    ``only``: load only these entry points (default: ``HARNESS_LOAD_PLUGINS`` if set).
    ``strict``: a broken plugin is an error (default: ``HARNESS_STRICT_PLUGINS``).
    """
    if autoload is None:
        autoload = not _env_flag("HARNESS_DISABLE_PLUGIN_AUTOLOAD")
    if only is None and os.environ.get("HARNESS_LOAD_PLUGINS"):
        only = [n.strip() for n in os.environ["HARNESS_LOAD_PLUGINS"].split(",") if n.strip()]
    if strict is None:
        strict = _env_flag("HARNESS_STRICT_PLUGINS")
    blocked = set(blocked)

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    registry = Registry(pm, infos, [])

    def fail(name: str, reason: str) -> None:
        if strict:
            raise PluginError(f"plugin {name!r}: {reason}")
        warnings.warn(f"skipped plugin {name!r}: {reason}", PluginWarning, stacklevel=3)
        registry.skipped.append(Skipped(name, reason))

    def add(name: str, module_name: str, loader: Callable, info: PluginInfo) -> None:
        if name in blocked or pm.get_plugin(name) is not None or pm.is_blocked(name):
            return
        try:
            plugin = loader()
        except Exception as exc:
            fail(name, f"import of {module_name!r} failed: {type(exc).__name__}: {exc}")
            return
        try:
            pm.register(plugin, name=name)
        except Exception as exc:  # bad hookimpl arguments and the like
            fail(name, _one_line(exc))
            return
        try:
            pm.check_pending()
        except Exception as exc:  # implements a hook that does not exist
            pm.unregister(plugin)
            fail(name, _one_line(exc))
            return
        info.hooks = _hooks_of(pm, plugin)
        infos[name] = info

    if autoload:
        eps = md.entry_points(group=ENTRY_POINT_GROUP)
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
            add(ep.name, ep.value, ep.load, info)

    for module_name in extra:
        info = PluginInfo(module_name, "-p", module_name)
        add(module_name, module_name, lambda m=module_name: _import_from_cwd(m), info)

    _register_components(registry, strict)
    return registry


def _import_from_cwd(module_name: str):
    """Import a ``-p`` module the way ``python -m`` would: the working directory first."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    return importlib.import_module(module_name)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"


"""The registry: what the loaded plugins registered, and choosing from it.

Plugins hand components to the host through the ``register`` callables this
module builds (:func:`registrar`): one per role hook, one for fused steps, one
for tasks.  The :class:`Registry` files each registration by role, name and the
tasks it supports, makes a name two plugins claim unselectable, and answers
every question the commands ask: which names exist (for a task), which factory
to call, which combinations to run.  Finding and importing plugins, the
environment's policy and tracing are :mod:`harness.core.loader`' job; it decides
what a duplicate costs (:class:`Policy`) and hands it in.
"""
from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from harness.core.errors import HarnessError, PluginError
from harness.core.roles import DEFAULT_ALGORITHM, FUSED_ROLES, ROLE_HOOKS, ROLES, Combination

FUSED_HOOK = "register_fused_steps"
TASK_HOOK = "register_tasks"
ALGORITHM_HOOK = "register_algorithms"
#: Every registration hook, in the order the host calls them (tasks and algorithms first: they exist before
#: the components that implement them).
HOOKS = (TASK_HOOK, ALGORITHM_HOOK, *ROLE_HOOKS.values(), FUSED_HOOK)
#: Roles whose components are for every task ("*") when they do not say: a data loader only sees batches, an
#: optimizer only parameters.  A model, loss or fused step that does not say computes the seed's maths: it is for
#: the registry's default task, which the host's tasks name (:data:`harness.tasks.DEFAULT_TASK`; core names no task).
ANY_TASK_ROLES = ("data", "optimizer")
HOOK_ROLES = {hook: role for role, hook in ROLE_HOOKS.items()}
#: each role's plural, for messages that list components
PLURALS = {"data": "data loaders", "model": "models", "loss": "losses", "optimizer": "optimizers"}


class PluginRecord(Protocol):
    """What the registry reads of a loaded plugin (:class:`harness.core.loader.PluginInfo`)."""

    source: str
    provides: dict[str, list[str]]


@dataclass
class Component:
    """One name of one role, from one plugin: a factory per task it supports (``"*"``: every task)."""

    role: str
    name: str
    factories: dict[str, Callable]
    plugin: str
    default_task: str = ""  # the registry's: what ``factory`` and ``for_task()`` mean
    #: optimizers: algorithm -> {task -> factory}; ``factories`` is then SGD's (or the first algorithm's)
    algorithms: dict[str, dict[str, Callable]] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.factories)

    def algorithm_names(self) -> list[str]:
        """The algorithms this optimizer implements, SGD first."""
        return sorted(self.algorithms, key=lambda a: (a != DEFAULT_ALGORITHM, a))

    def default_algorithms(self) -> list[str]:
        """What it runs when no ``--algorithm`` is given: SGD if it implements it, else every algorithm it does."""
        names = self.algorithm_names()
        return names[:1] if DEFAULT_ALGORITHM in self.algorithms else names

    def implements(self, algorithm: str, task: str | None = None) -> bool:
        found = self.algorithms.get(algorithm)
        return found is not None and (task is None or task in found or "*" in found)

    def for_algorithm(self, algorithm: str, task: str | None = None) -> Callable:
        found = self.algorithms[algorithm]
        return found.get(task) or found["*"]

    def supports(self, task: str) -> bool:
        return task in self.factories or "*" in self.factories

    def for_task(self, task: str | None = None) -> Callable:
        return self.factories.get(task or self.default_task) or self.factories["*"]

    @property
    def factory(self) -> Callable:
        """The factory for the seed's task (or for every task)."""
        return self.for_task()

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
class AlgorithmEntry:
    name: str
    algorithm: object  # harness.core.algorithm.Algorithm
    plugin: str


@dataclass
class Skipped:
    """A plugin that was not loaded, and why."""

    name: str
    reason: str
    source: str = ""

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "reason": self.reason}


@dataclass(frozen=True)
class Policy:
    """What the loader decides for registrations.

    ``strict``: a name two plugins register is an error rather than unselectable.
    ``duplicate(message)``: told of such a name when not strict (the loader warns).
    ``trace(line)``: told of every registration, when tracing.
    """

    strict: bool = False
    duplicate: Callable[[str], None] | None = None
    trace: Callable[[str], None] | None = None


#: The seed note's two implementations: ``harness bench``'s default matrix (``--all`` adds the rest).
SEED_PLUGINS = ("scratch", "gluon")


class Registry:
    """Every loaded plugin and the implementations it registered, keyed by role and name."""

    def __init__(self, pm, infos: Mapping[str, PluginRecord], skipped: list[Skipped], default_task: str = ""):
        #: the ``pluggy.PluginManager`` the plugins were loaded into (its hooks)
        self.pm = pm
        #: the task of every command that names none, and of a model or loss registered without ``tasks=``
        self.default_task = default_task
        self.plugins = infos
        self.skipped = skipped
        self.components: dict[str, dict[str, Component]] = {role: {} for role in ROLES}
        #: fused steps by the (model, loss, optimizer) they replace
        self.fused: dict[tuple[str, str, str], FusedStep] = {}
        self.tasks: dict[str, TaskEntry] = {}
        #: optimization algorithms by name (:class:`harness.core.algorithm.Algorithm`), with their plugin
        self.algorithms: dict[str, AlgorithmEntry] = {}
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

    def algorithm_names(self) -> list[str]:
        """Registered algorithms, SGD first, then in the order they were registered (the book's for the built-ins)."""
        return sorted(self.algorithms, key=lambda a: a != DEFAULT_ALGORITHM)

    def effective_algorithm(self, combo: Combination, task: str | None = None) -> str:
        """The algorithm ``combo`` runs: its own, or for the default (SGD) asked of an optimizer that does
        not implement it, :meth:`default_algorithm`."""
        task = task or self.default_task
        component = self.get("optimizer", combo.optimizer, task)
        if combo.algorithm == DEFAULT_ALGORITHM and not component.implements(DEFAULT_ALGORITHM, task):
            return self.default_algorithm(combo.optimizer, task)
        return combo.algorithm

    def default_algorithm(self, optimizer: str, task: str | None = None) -> str:
        """The algorithm optimizer ``optimizer`` runs when none is named: SGD, or the only one it implements."""
        task = task or self.default_task
        own = self.get("optimizer", optimizer, task).default_algorithms()
        return own[0] if len(own) == 1 else DEFAULT_ALGORITHM

    def algorithm(self, name: str = DEFAULT_ALGORITHM):
        """The :class:`harness.core.algorithm.Algorithm` called ``name``."""
        entry = self.algorithms.get(name)
        if entry is not None:
            return entry.algorithm
        if name == DEFAULT_ALGORITHM:  # a registry without the built-in plugin: plain SGD is still the seed's
            from harness.core.algorithm import Algorithm

            return Algorithm(DEFAULT_ALGORITHM)
        clash = self.conflicts.get(("algorithm", name))
        if clash:
            owners = " and ".join(repr(p) for p in clash)
            raise HarnessError(f"ambiguous algorithm {name!r}: registered by plugins {owners}; "
                               "block one with -p no:NAME")
        raise HarnessError(f"unknown algorithm {name!r}; available: {', '.join(self.algorithm_names()) or 'none'}")

    def implementations(self, algorithm: str, task: str | None = None) -> list[str]:
        """Optimizer names that implement ``algorithm`` (for ``task``)."""
        return [n for n in self.names("optimizer", task) if self.components["optimizer"][n].implements(algorithm, task)]

    def optimizer_for(self, name: str, algorithm: str, task: str | None = None) -> Callable:
        """``make_optimizer`` of optimizer ``name`` for ``algorithm`` on ``task``; errors list what exists.

        The default algorithm (SGD) asked of an optimizer that implements one other algorithm only
        gives that one: a plugin's ``momentum`` runs momentum when no ``--algorithm`` is given."""
        task = task or self.default_task
        self.algorithm(algorithm)
        component = self.get("optimizer", name, task)
        if algorithm == DEFAULT_ALGORITHM and not component.implements(algorithm, task):
            algorithm = self.default_algorithm(name, task)  # not asked for one: it runs its own
        if not component.implements(algorithm, task):
            others = ", ".join(self.implementations(algorithm, task)) or "none"
            raise HarnessError(f"optimizer {name!r} does not implement algorithm {algorithm!r}; it implements: "
                               f"{', '.join(component.algorithm_names())}; "
                               f"optimizers implementing {algorithm}: {others}")
        return component.for_algorithm(algorithm, task)

    def make_task(self, name: str | None = None, **options):
        """The task ``name`` (default: the default task) built with the options it takes; ``None`` options are
        left to its defaults.

        An option the task does not take is an error, unless it is ``None``."""
        name = name or self.default_task
        entry = self.tasks.get(name)
        if entry is None:
            self._check_ambiguous("task", name)
            raise HarnessError(f"unknown task {name!r}; available: {', '.join(self.task_names()) or 'none'}")
        given = {k: v for k, v in options.items() if v is not None}
        takes = entry.options()
        extra = sorted(set(given) - set(takes))
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            valid = ", ".join("--" + k.replace("_", "-") for k in takes) or "none"
            raise HarnessError(f"task {name!r} does not take {flags}; its options: {valid}")
        return entry.factory(**given)

    def _check_ambiguous(self, kind: str, name: str) -> None:
        """The error for a name two plugins registered (neither is selectable)."""
        clash = self.conflicts.get((kind, name))
        if clash:
            owners = " and ".join(repr(p) for p in clash)
            what = "fused step" if kind == "fused" else kind
            raise HarnessError(f"ambiguous {what} {name!r}: registered by plugins {owners}; block one with -p no:NAME")

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
                    f"{PLURALS[role]} for {task}: {others}"
                )
            return found
        self._check_ambiguous(role, name)
        available = ", ".join(self.names(role)) or "none"
        info = self.plugins.get(name)
        if info is not None:
            offers = ", ".join(r for r in ROLES if info.provides.get(r)) or "no roles"
            raise HarnessError(
                f"plugin {name!r} provides no {role} (it provides: {offers}); available {PLURALS[role]}: {available}"
            )
        raise HarnessError(f"unknown {role} {name!r}; available: {available}")

    def resolve(self, combo: Combination, task: str | None = None) -> dict[str, Callable]:
        """The factory for each role of ``combo`` on ``task``; unknown names fail listing the valid ones,
        and so do a component that does not support the task and a fused combination without a fused step."""
        task = task or self.default_task
        factories = {role: self.get(role, getattr(combo, role), task).for_task(task) for role in ROLES}
        factories["optimizer"] = self.optimizer_for(combo.optimizer, combo.algorithm, task)
        if combo.fused:
            self.fused_step(combo, task)
        return factories

    def fused_step(self, combo: Combination, task: str | None = None) -> Callable:
        """``make_step(net, lr)`` registered for ``combo``'s model, loss and optimizer."""
        task = task or self.default_task
        if combo.algorithm != DEFAULT_ALGORITHM:
            raise HarnessError(f"fused steps run plain SGD; {combo.label} asks for algorithm {combo.algorithm!r}")
        found = self.fused.get(combo.fused_key)
        if found is not None:
            if not found.supports(task):
                raise HarnessError(f"fused step {found.label!r} does not support task {task!r}; "
                                   f"it supports: {found.describe_tasks()}")
            return found.for_task(task)
        label = "/".join(combo.fused_key)
        self._check_ambiguous("fused", label)
        named = ", ".join(f"{role} {name!r}" for role, name in zip(FUSED_ROLES, combo.fused_key))
        available = ", ".join(step.label for step in self.fused_steps()) or "none"
        raise HarnessError(f"no fused step for {named}; fused steps exist for: {available}")

    def fused_steps(self, task: str | None = None) -> list[FusedStep]:
        """Every selectable fused step, by (model, loss, optimizer); with ``task``, those for it."""
        return [self.fused[key] for key in sorted(self.fused) if task is None or self.fused[key].supports(task)]

    def choose(self, task: str | None = None, fixed: dict | None = None, *, scope: str = "seed",
               fused: bool = False, algorithms: Iterable[str] | None = None) -> list[Combination]:
        """The one way every command picks combinations for ``task``.

        ``fixed[role]`` (names) narrows a role; the roles not fixed take, by ``scope``:
        ``"seed"`` the seed plugins' (scratch, gluon) and, when no role is fixed, each other plugin
        that provides every role on its own, with its fused variant (``harness bench``);
        ``"builtin"`` every built-in plugin's (``harness verify``); ``"own"`` nothing mixed: each
        plugin's whole combination (``harness sweep``), unless a role is fixed; ``"all"`` every
        registered one (``--all``, ``pytest benchmarks/``).  ``fused`` adds the fused variant of
        every chosen combination that has one.  ``algorithms`` pairs each chosen optimizer with each
        named algorithm it implements (see :meth:`with_algorithms`).
        """
        task = task or self.default_task
        fixed = {role: list(names) for role, names in (fixed or {}).items() if names}
        if scope == "own" and not fixed:
            combos = self.own_combinations(task)
        else:
            def default(role):
                if scope == "all":
                    return None
                if scope == "builtin":
                    return self.builtin_names(role, task)
                return [n for n in self.names(role, task) if self.components[role][n].plugin in SEED_PLUGINS] or None

            combos = self.combinations(task, **{role: fixed.get(role) or default(role) for role in ROLES})
            if scope == "seed" and not fixed:
                wholes = [c for c in self.own_combinations(task) if c not in combos]
                combos += wholes if fused else wholes + self.fused_variants(wholes, task)
        combos = self.with_algorithms(combos, algorithms, task, fixed.get("optimizer"))
        if fused:
            combos += self.fused_variants(combos, task)
        return combos

    def with_algorithms(self, combos: list[Combination], algorithms: Iterable[str] | None, task: str | None = None,
                        named: Iterable[str] | None = None) -> list[Combination]:
        """Each of ``combos`` once per algorithm its optimizer runs: the ``algorithms`` it implements (all of
        them, in the order given), or, when none are given, its defaults (SGD, or its own algorithms).  An
        optimizer the user ``named`` that implements none of the algorithms is an error; one chosen by
        default is left out."""
        algorithms = list(dict.fromkeys(algorithms or []))
        for a in algorithms:
            self.algorithm(a)
        named = set(named or [])
        for name in named:
            component = self.components["optimizer"].get(name)
            if component is not None and algorithms and not any(component.implements(a, task) for a in algorithms):
                self.optimizer_for(name, algorithms[0], task or self.default_task)  # raises, listing what it implements
        out = []
        for algorithm in (algorithms or [None]):
            for combo in combos:
                if combo.fused:  # fused steps are plain SGD
                    out += [combo] if algorithm in (None, DEFAULT_ALGORITHM) else []
                    continue
                component = self.components["optimizer"][combo.optimizer]
                chosen = [algorithm] if algorithm else component.default_algorithms()
                out += [replace(combo, algorithm=a) for a in chosen if component.implements(a, task)]
        return list(dict.fromkeys(out))

    def own_combinations(self, task: str | None = None) -> list[Combination]:
        """For each name that every role registers (a plugin that provides them all), that name in every role."""
        names = [n for n in self.names(ROLES[0], task) if all(n in self.names(role, task) for role in ROLES)]
        return [Combination(*(n for _ in ROLES)) for n in names]

    def fused_variants(self, combos: Iterable[Combination], task: str | None = None) -> list[Combination]:
        """``combo`` with ``fused=True`` for each of ``combos`` that has a fused step (for ``task``), in order."""
        steps = {s.key for s in self.fused_steps(task)}
        return [replace(c, fused=True) for c in combos
                if not c.fused and c.algorithm == DEFAULT_ALGORITHM and c.fused_key in steps]

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

    def forget(self, plugin: str) -> None:
        """Drop everything ``plugin`` registered (it was skipped part-way through its hooks)."""
        for table in [*self.components.values(), self.fused, self.tasks, self.algorithms]:
            for key in [k for k, entry in table.items() if entry.plugin == plugin]:
                del table[key]


def registrar(registry: Registry, hookname: str, plugin: str, policy: Policy) -> Callable:
    """The ``register`` callable ``plugin``'s implementation of ``hookname`` receives.

    Bad arguments raise :class:`PluginError` naming the plugin (the loader skips it)."""
    if hookname == TASK_HOOK:

        def register_task(name: str, make_task: Callable) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin!r} registered a task with an invalid name {name!r}")
            if not callable(make_task):
                raise PluginError(f"plugin {plugin!r} registered task {name!r} with a non-callable")
            _claim(registry, registry.tasks, "task", name, name, TaskEntry(name, make_task, plugin), policy)

        return register_task
    if hookname == ALGORITHM_HOOK:

        def register_algorithm(name: str, algorithm) -> None:
            from harness.core.algorithm import Algorithm

            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin!r} registered an algorithm with an invalid name {name!r}")
            if not isinstance(algorithm, Algorithm):
                raise PluginError(f"plugin {plugin!r} registered algorithm {name!r} with a "
                                  f"{type(algorithm).__name__}; give a harness.core.algorithm.Algorithm")
            entry = AlgorithmEntry(name, algorithm, plugin)
            _claim(registry, registry.algorithms, "algorithm", name, name, entry, policy)

        return register_algorithm
    if hookname == FUSED_HOOK:

        def register_fused(model: str, loss: str, optimizer: str, make_step: Callable, tasks=None) -> None:
            key = (model, loss, optimizer)
            if not all(isinstance(n, str) and n for n in key):
                raise PluginError(f"plugin {plugin!r} registered a fused step with invalid names {key!r}")
            label = "/".join(key)
            if not callable(make_step):
                raise PluginError(f"plugin {plugin!r} registered fused step {label!r} with a non-callable")
            factories = dict.fromkeys(_task_list(registry, plugin, "fused", label, tasks), make_step)
            step = FusedStep("fused", label, factories, plugin, registry.default_task, key=key)
            _claim(registry, registry.fused, "fused", key, label, step, policy)

        return register_fused
    role = HOOK_ROLES[hookname]

    def register(name: str, factory: Callable, tasks=None, algorithms=None) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {role} with an invalid name {name!r}")
        if not callable(factory):
            raise PluginError(f"plugin {plugin!r} registered {role} {name!r} with a non-callable")
        factories = dict.fromkeys(_task_list(registry, plugin, role, name, tasks), factory)
        component = Component(role, name, factories, plugin, registry.default_task)
        if role == "optimizer":
            component.algorithms = {a: dict(factories) for a in _algorithm_list(plugin, name, algorithms)}
        elif algorithms is not None:
            raise PluginError(f"plugin {plugin!r} registered {role} {name!r} with algorithms=; only optimizers take it")
        _claim(registry, registry.components[role], role, name, name, component, policy)

    return register


def _names(given, default: tuple[str, ...], what: str, hint: str) -> tuple[str, ...]:
    """A ``tasks=`` or ``algorithms=`` argument as a tuple of names: ``None`` is ``default``, one string is one
    name; anything but a non-empty list of non-empty strings is a PluginError ``{what} {names!r}; {hint}``."""
    if given is None:
        return default
    names = (given,) if isinstance(given, str) else tuple(given)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise PluginError(f"{what} {names!r}; {hint}")
    return names


def _algorithm_list(plugin: str, name: str, algorithms) -> tuple[str, ...]:
    return _names(algorithms, (DEFAULT_ALGORITHM,), f"plugin {plugin!r} registered optimizer {name!r} with invalid "
                  "algorithms", "give algorithm names (harness algorithms)")


def _task_list(registry: Registry, plugin: str, role: str, name: str, tasks) -> tuple[str, ...]:
    default = ("*",) if role in ANY_TASK_ROLES else (registry.default_task,)
    return _names(tasks, default, f"plugin {plugin!r} registered {role} {name!r} with invalid tasks",
                  "give task names, or ['*'] for every task")


def _claim(registry: Registry, table: dict, kind: str, key, label: str, entry, policy: Policy) -> None:
    """File ``entry`` under ``key``; a key two plugins register becomes selectable by neither.

    The same plugin may register a name again for other tasks: the factories are merged."""
    if policy.trace is not None:
        policy.trace(f"  {entry.plugin} registered {kind} {label!r}"
                     + (f" for {entry.describe_tasks()}" if isinstance(entry, Component) else ""))
    provided = registry.plugins[entry.plugin].provides.setdefault(kind, [])
    if label not in provided:
        provided.append(label)
    clash = registry.conflicts.get((kind, label))
    existing = table.get(key)
    if existing is not None and clash is None and existing.plugin == entry.plugin:
        if not isinstance(entry, Component):
            raise PluginError(f"plugin {entry.plugin!r} registered {kind} {label!r} twice")
        if entry.algorithms:  # an optimizer: once per (algorithm, task)
            for algorithm, factories in entry.algorithms.items():
                overlap = sorted(set(existing.algorithms.get(algorithm, {})) & set(factories))
                if overlap:
                    raise PluginError(f"plugin {entry.plugin!r} registered {kind} {label!r} twice for algorithm "
                                      f"{algorithm!r} and {', '.join('any task' if t == '*' else t for t in overlap)}")
                existing.algorithms.setdefault(algorithm, {}).update(factories)
            main = existing.algorithms.get(DEFAULT_ALGORITHM) or existing.algorithms[existing.algorithm_names()[0]]
            existing.factories = dict(main)
            return
        overlap = sorted(set(existing.factories) & set(entry.factories))
        if overlap:
            tasks = ", ".join("any task" if t == "*" else t for t in overlap)
            raise PluginError(f"plugin {entry.plugin!r} registered {kind} {label!r} twice for {tasks}")
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
    if policy.strict or policy.duplicate is None:
        raise PluginError(msg)
    policy.duplicate(msg + "; neither is selectable")

"""The conformance kit's pytest plugin, and its public API.

The checks live in :mod:`harness.check.conformance` (the library, as pytest-benchmark
keeps its logic apart from its fixture); this module re-exports its public names
and adds pytest glue.  Importing it is cheap (MXNet loads on first use), so
``addopts = -p harness.testing`` costs a test run nothing it does not use.

Plain function::

    from harness.testing import assert_conformant
    import my_plugin

    def test_my_plugin():
        assert_conformant(my_plugin)                  # every component, on each task it supports
        assert_conformant(my_plugin, task="mlp")      # only on one task (a name or a harness.task.Task)

As a pytest plugin (``-p harness.testing`` or ``pytest_plugins = ["harness.testing"]``
in the root ``conftest.py``), one test per check::

    harness_plugin = my_plugin          # or @pytest.mark.harness_plugin(my_plugin, tasks=["mlp"])
    harness_options = {"partners": "each"}   # optional: any option of conformance_cases

    def test_conformance(harness_case):
        harness_case.check()

Loaded into pytest, it also gives benchmarks the ``harness_registry`` fixture,
built from pytest's own ``-p MODULE`` / ``-p no:NAME`` options.
"""
from __future__ import annotations

import sys

from harness.core.hookspecs import PROJECT

#: Public names, served from :mod:`harness.check.conformance` on first use.
_LIBRARY = (
    "ANY_TASK_CHECKS",
    "ConformanceError",
    "Thresholds",
    "Case",
    "Report",
    "conformance_cases",
    "check_plugin",
    "assert_conformant",
    "builtin_plugin_names",
)

__all__ = [*_LIBRARY, "registry_from_pytest"]


def __getattr__(name: str):
    if name in _LIBRARY:
        from harness.check import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LIBRARY})


def _has_harness_hooks(module) -> bool:
    return any(hasattr(getattr(module, n, None), f"{PROJECT}_impl") for n in dir(module))


def registry_from_pytest(config):
    """The registry as pytest's ``-p`` options ask: ``-p MODULE`` where MODULE implements
    harness hooks adds it, ``-p no:NAME`` blocks plugin NAME (``scratch``, ``gluon``, ...)."""
    from harness.api import load_plugins

    specs = [spec for spec in getattr(config.option, "plugins", None) or []
             if spec.startswith("no:") or (spec in sys.modules and _has_harness_hooks(sys.modules[spec]))]
    return load_plugins(specs)


# ---- pytest hooks -------------------------------------------------------------------


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "harness_plugin(plugin, **options): the plugin harness_case checks; "
        "options as harness.testing.conformance_cases "
        "(roles, task, tasks, settings, thresholds, partners, ctx)",
    )


def pytest_generate_tests(metafunc) -> None:
    if "harness_case" not in metafunc.fixturenames:
        return
    from harness.check.conformance import ConformanceError, conformance_cases

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
    def harness_registry(request):
        """Every plugin as the harness command would load it, honouring pytest's ``-p``."""
        return registry_from_pytest(request.config)

"""Every command's options, described once: type, range, choices, which need which, which exclude which.

The CLI (:mod:`harness.cli`) parses strings to ints and floats (argparse ``type=``, from this table) and
checks every parsed command with :func:`check`; the Python API (:mod:`harness.api`) checks its keyword arguments
with the same :func:`check`.  Both end in :meth:`Opt.check`, so a value is valid or not, with the same one-line
message, whichever way it came in.  Rules between options
(:data:`REQUIRES`, :data:`EXCLUDES`) are checked by :func:`check` too.

A small table and argparse, not a schema library: the options are flat scalars and lists, argparse already
owns the command line, and the one dependency this would need (pydantic) is not one the project has.
This module also holds the checks every command shares on its files: :func:`check_outputs` (before any work)
and :func:`write_output` (atomic, one-line error).
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.core.errors import HarnessError


def flag(name: str) -> str:
    """``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Opt:
    """One option's value: ``kind`` int, float, str, bool or ``"names"`` (a name or a list of names);
    ``text`` says what is valid, ``ok`` tests a value of the right kind, ``choices`` lists the valid strings."""

    kind: Any
    text: str = ""
    ok: Callable[[Any], bool] | None = None
    choices: Callable[[], Iterable[str]] | None = None

    def valid(self) -> str:
        if self.text:
            return self.text
        return {int: "an integer", float: "a finite number", str: "a string", bool: "True or False",
                "names": "a name or a list of names"}[self.kind]

    def _kind_ok(self, value) -> bool:
        if self.kind is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.kind is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if self.kind == "names":
            names = [value] if isinstance(value, str) else value
            return isinstance(names, (list, tuple)) and all(isinstance(n, str) and n for n in names)
        return isinstance(value, self.kind)

    def check(self, name: str, value):
        """``value`` if it is valid for option ``name`` (``None``: not given), else a one-line
        :class:`HarnessError` saying what is valid."""
        if value is None:
            return None
        if self.choices is not None and isinstance(value, str):
            valid = list(self.choices())
            if value not in valid:
                raise HarnessError(f"unknown {flag(name)} {value!r}; valid: {', '.join(valid)}")
            return value
        if not self._kind_ok(value) or (self.ok is not None and not self.ok(value)):
            shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
            kind = "" if isinstance(value, (int, float, str)) else f" ({type(value).__name__})"
            raise HarnessError(f"{flag(name)} must be {self.valid()}, got {shown}{kind}")
        return value


def _tablefmts():
    from tabulate import tabulate_formats

    return sorted(tabulate_formats)


def _kvstores():
    from harness.distributed.exchange import KVSTORES

    return KVSTORES


def _placements():
    from harness.distributed.exchange import PLACEMENTS

    return PLACEMENTS


def _clocks():
    from harness.analysis.ab import CLOCKS

    return CLOCKS


def _divisors():
    from harness.core.train import DIVISORS

    return DIVISORS


def _threads_ok(value) -> bool:
    from harness.measure.threads import parse

    try:
        parse(value)
    except HarnessError:
        return False
    return True


POSITIVE = Opt(int, "a positive integer", lambda v: v >= 1)
COUNT = Opt(int, "an integer >= 0", lambda v: v >= 0)
SECONDS = Opt(float, "a positive finite number of seconds", lambda v: v > 0)
MAX_SEED = 2**32 - 1

#: Every option by its Python name; the same name means the same thing in every command.
OPTIONS: dict[str, Opt] = {
    # batch_size: its range (1..N) depends on the task, so Settings.check says it with N
    "epochs": POSITIVE, "batch_size": Opt(int), "num_examples": POSITIVE, "num_inputs": POSITIVE,
    "lr": Opt(float, "a positive finite number", lambda v: v > 0),
    "seed": Opt(int, f"an integer from 0 to {MAX_SEED}", lambda v: 0 <= v <= MAX_SEED),
    "rounds": POSITIVE, "warmup": COUNT,
    "target_loss": Opt(float, "a positive finite number", lambda v: v > 0),
    "target_acc": Opt(float, "in (0, 1]", lambda v: 0 < v <= 1),
    "task": Opt(str), "workload": Opt(str), "dataset": Opt(str), "data_dir": Opt(str), "ctx": Opt(str),
    "data": Opt("names"), "model": Opt("names"), "loss": Opt("names"), "optimizer": Opt("names"),
    "fused": Opt(bool), "all": Opt(bool), "against_seed": Opt(bool), "references": Opt(bool),
    "interleave": Opt(bool), "breakdown": Opt((bool, str), "True, False or a PNG path"), "progress": Opt(bool),
    "echo": Opt(bool),
    "processes": COUNT, "worker_timeout": SECONDS, "timeout": SECONDS, "deadline": SECONDS,
    "alpha": Opt(float, "between 0 and 1", lambda v: 0 < v < 1), "format": Opt(str, choices=_tablefmts),
    "workers": POSITIVE, "servers": POSITIVE, "repeat": POSITIVE,
    "port": Opt(int, "between 1 and 65535", lambda v: 0 < v < 65536),
    "kvstore": Opt(str, choices=_kvstores), "placement": Opt(str, choices=_placements), "host": Opt(str),
    "clock": Opt(str, choices=_clocks), "threshold": Opt(str), "fail_on_regression": Opt(str),
    "storage": Opt(str), "title": Opt(str), "output": Opt(str), "case": Opt(str), "hook": Opt(str),
    "algorithm": Opt("names"), "divisor": Opt(str, choices=_divisors),
    "threads": Opt((int, str), "a positive integer, auto or mxnet", _threads_ok),
}
#: Per command, where an option means something narrower than in :data:`OPTIONS`.
OVERRIDES: dict[str, dict[str, Opt]] = {
    "ab": {"processes": POSITIVE},
    "bench": {"workers": Opt(str, "comma-separated positive integers, e.g. 1,2,4")},
    # sweep's grids: "1000,4000" strings on the command line, lists in the API (checked by api._grid)
    "sweep": {"num_examples": Opt((str, list, tuple), "a grid"), "num_inputs": Opt((str, list, tuple), "a grid"),
              "batch_size": Opt((str, list, tuple), "a grid")},
}
_DIST = ("servers", "kvstore", "placement", "timeout", "deadline", "host", "port", "hosts", "write_spec", "repeat")
#: Per command: option -> the option it needs (given, i.e. not None/False/empty).
REQUIRES: dict[str, dict[str, str]] = {
    "run": {name: "workers" for name in _DIST},
    "bench": {**{name: "workers" for name in _DIST}, "worker_timeout": "processes"},
}
#: Per command: pairs of options that cannot be given together, with why.
EXCLUDES: dict[str, list[tuple[str, str, str]]] = {
    "bench": [("overhead", name, "--overhead times the seed's own loop in this process")
              for name in ("workers", "fused", "processes", "interleave", "breakdown", "all", "json", "csv", "plot",
                           "save", "autosave", "data", "model", "loss", "optimizer")]
    + [("interleave", "processes", "--interleave is the in-process round robin; --processes already runs rows "
        "slot by slot"), ("target_loss", "target_acc", "give one target"),
       ("workers", "processes", "--workers runs its own worker processes"),
       ("workers", "interleave", "--workers runs one job per worker count"),
       ("workers", "breakdown", "--workers times whole epochs"),
       ("workers", "fused", "a fused step cannot run distributed (the update is inside the step)")],
    "run": [("workers", "fused", "a fused step cannot run distributed (the update is inside the step, where no "
             "exchange fits); drop --fused")],
}


def spec(command: str, name: str) -> Opt:
    return OVERRIDES.get(command, {}).get(name) or OPTIONS[name]


def given(value) -> bool:
    return value is not None and value is not False and value != [] and value != ()


def check(command: str, values: dict) -> dict:
    """``values`` (keyword arguments or parsed options) checked for ``command``: each known option's type and
    range, then :data:`REQUIRES` and :data:`EXCLUDES`.  Returns ``values``."""
    for name, value in values.items():
        if name in OPTIONS:
            spec(command, name).check(name, value)
    for name, needed in REQUIRES.get(command, {}).items():
        if given(values.get(name)) and not given(values.get(needed)):
            raise HarnessError(f"{flag(name)} needs {flag(needed)}; without it nothing would use it")
    for one, other, why in EXCLUDES.get(command, []):
        if given(values.get(one)) and given(values.get(other)):
            raise HarnessError(f"{flag(one)} and {flag(other)} cannot be combined: {why}")
    return values


def add(parser, command: str, name: str, *flags: str, **kwargs):
    """``parser.add_argument`` for option ``name`` with its type from the table."""
    kind = spec(command, name).kind
    if kind in (int, float):
        kwargs.setdefault("type", kind)  # argparse's own "invalid int value"; the range is checked by check()
    return parser.add_argument(*(flags or (flag(name),)), dest=name, **kwargs)


def check_plugins(plugins) -> list:
    """``plugins=``: a list of modules, plugin objects, module names, paths or ``"no:NAME"``."""
    if isinstance(plugins, (str, bytes)):
        raise HarnessError(f"plugins must be a list (e.g. [{plugins!r}]), not a string; got {plugins!r}")
    try:
        items = list(plugins or ())
    except TypeError:
        raise HarnessError(f"plugins must be a list of modules, module names or 'no:NAME'; got {plugins!r}") from None
    for item in items:
        if item is None or isinstance(item, (int, float, bool, bytes)):
            raise HarnessError(f"plugins must hold modules, plugin objects, module names or 'no:NAME'; got {item!r}")
    return items


# --- files ------------------------------------------------------------------------------------------------

def check_writable(path, what: str = "") -> None:
    """Fail before a long run, not after it, when an output cannot be written."""
    if not path:
        return
    target = Path(path)
    label = f" ({what})" if what else ""
    if target.is_dir():
        raise HarnessError(f"cannot write {path}: it is a directory{label}")
    if target.exists() and not target.is_file():
        return  # /dev/null, a pipe: written in place
    try:  # the real test: a file can be created where the output will go
        for parent in [target.parent, *target.parent.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise NotADirectoryError(20, f"{parent} is not a directory")
                break
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
        if target.exists() and not os.access(target, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}{label}") from None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_outputs(outputs: dict[str, Any], inputs: Iterable = (), storage: str | None = None) -> None:
    """Before any work: every output writable, none the same file as another output, an input, or a saved
    run in ``storage``.  ``outputs`` maps an option's flag to its path (``None``: not asked for)."""
    asked = [(label, Path(path)) for label, path in outputs.items() if path]
    for i, (label, path) in enumerate(asked):
        device = path.exists() and not path.is_file() and not path.is_dir()  # /dev/null may take them all
        for other, earlier in asked[:i]:
            if _same(path, earlier) and not device:
                raise HarnessError(f"{other} and {label} name the same file {path}: one would overwrite the other")
        for source in inputs:
            if source and _same(path, Path(source)):
                raise HarnessError(f"{label} {path} is one of this command's inputs: it would be overwritten")
        if storage:
            root = Path(storage).resolve()
            if root in path.resolve().parents and path.suffix == ".json":
                raise HarnessError(f"{label} {path} is inside the run history {storage}: it could overwrite a "
                                   "saved run; write it elsewhere")
        check_writable(path, label)


def write_output(path, text: str | bytes, what: str = "") -> None:
    """Write ``text`` to ``path`` atomically; a failure is one line naming the file."""
    from harness.core.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}{f' ({what})' if what else ''}") from None

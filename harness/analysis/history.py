"""Saved runs over time: pytest-benchmark's storage layout, and each case's series across runs.

A run is the document ``harness bench --json`` writes (pytest-benchmark's format, raw rounds in
``stats.data``) saved as ``STORAGE/<machine-id>/NNNN_<commit>_<date>[_uncommitted-changes]_<env>[_NAME].json``:
the machine id is pytest-benchmark's own (``Linux-CPython-3.11-64bit``), the counter and the
``<commit>_<date>`` tag follow its ``--benchmark-autosave``, so ``pytest-benchmark list`` and
``pytest-benchmark compare`` read the folder.  ``<env>`` is a short hash of what the numbers depend on
besides the code (host, CPU, MXNet version and build features, ``OMP_NUM_THREADS``,
``MXNET_ENGINE_TYPE`` and every other ``MXNET_*`` variable): a series only joins runs with the same one,
so a changed thread count starts a new series instead of looking like a step.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.analysis.changepoints import ALPHA, THRESHOLD, Detection, detect
from harness.core.errors import HarnessError

DEFAULT_STORAGE = ".benchmarks"
RUN_GLOB = "[0-9][0-9][0-9][0-9]_*"


# --- keys -----------------------------------------------------------------------

def env_key(machine_info: dict) -> dict:
    """What a run's numbers depend on besides the code, from its ``machine_info``."""
    ours = machine_info.get("harness") or {}
    mxnet = ours.get("mxnet") or {}
    variables = ours.get("env") or {}
    return {
        "node": machine_info.get("node"),
        "cpu": ours.get("cpu_model") or (machine_info.get("cpu") or {}).get("brand_raw"),
        "cpus": (ours.get("cpu_count") or {}).get("usable"),
        "python": ours.get("python") or machine_info.get("python_version"),
        "mxnet": mxnet.get("version"),
        "features": mxnet.get("features"),
        "OMP_NUM_THREADS": variables.get("OMP_NUM_THREADS"),
        "MXNET_ENGINE_TYPE": variables.get("MXNET_ENGINE_TYPE"),
        **{k: v for k, v in sorted(variables.items()) if k.startswith("MXNET_") and v is not None},
    }


def env_id(machine_info: dict) -> str:
    """Eight hex digits naming :func:`env_key`."""
    text = json.dumps(env_key(machine_info), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def machine_id() -> str:
    from pytest_benchmark.utils import get_machine_id

    return get_machine_id()


def check_name(name: str) -> str:
    """pytest-benchmark's rule for ``--benchmark-save NAME``, as a one-line error."""
    import argparse

    from pytest_benchmark.utils import parse_save

    try:
        return parse_save(name)
    except argparse.ArgumentTypeError as exc:
        raise HarnessError(f"invalid --save name {name!r}: {exc}") from None


def tag(document: dict) -> str:
    """``<commit>_<YYYYMMDD_HHMMSS>[_uncommitted-changes]``: pytest-benchmark's autosave tag for this run."""
    commit = document.get("commit_info") or {}
    try:
        when = datetime.fromisoformat(document["datetime"]).strftime("%Y%m%d_%H%M%S")
    except (KeyError, TypeError, ValueError):
        from pytest_benchmark.utils import get_current_time

        when = get_current_time()
    parts = [str(commit.get("id") or "unversioned"), when]
    if commit.get("dirty"):
        parts.append("uncommitted-changes")
    return "_".join(parts)


# --- saving ---------------------------------------------------------------------

def save(document: dict, storage: str | os.PathLike = DEFAULT_STORAGE, name: str | None = None) -> Path:
    """Store ``document`` as the next numbered run of this machine; returns the file.

    Written to a temporary file and hard-linked into place, so a reader never sees half a file and two
    runs saving at once never take the same number.
    """
    if name is not None:
        check_name(name)
    doc = json.loads(json.dumps(document))  # a copy we may annotate
    mid, eid = machine_id(), env_id(doc.get("machine_info") or {})
    doc.setdefault("harness", {})["saved"] = {"name": name, "machine_id": mid, "env_id": eid}
    folder = Path(storage) / mid
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create {folder}: {exc.strerror or exc}") from None
    stem = "_".join([tag(doc), eid, *([name] if name else [])])
    from harness.core.files import to_json

    data = (to_json(doc) + "\n").encode()
    fd, tmp = tempfile.mkstemp(prefix=".run.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        for _ in range(1000):
            target = folder / f"{_next_number(folder):04d}_{stem}.json"
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                continue
        raise HarnessError(f"cannot find a free run number in {folder}")
    except OSError as exc:
        raise HarnessError(f"cannot save the run in {folder}: {exc.strerror or exc}") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _next_number(folder: Path) -> int:
    numbers = [int(p.name[:4]) for p in folder.glob(RUN_GLOB + ".json") if p.name[:4].isdigit()]
    return max(numbers, default=0) + 1


# --- loading --------------------------------------------------------------------

@dataclass
class Run:
    path: Path
    document: dict

    @property
    def number(self) -> str:
        return self.path.name[:4] if self.path.name[:4].isdigit() else ""

    @property
    def machine_id(self) -> str:
        return (self.document.get("harness") or {}).get("saved", {}).get("machine_id") or self.path.parent.name

    @property
    def name(self) -> str | None:
        return ((self.document.get("harness") or {}).get("saved") or {}).get("name")

    @property
    def commit(self) -> dict:
        return self.document.get("commit_info") or {}

    @property
    def short_commit(self) -> str:
        return str(self.commit.get("id") or "?")[:10] + ("+dirty" if self.commit.get("dirty") else "")

    @property
    def datetime(self) -> str:
        return str(self.document.get("datetime") or "")

    @property
    def env(self) -> dict:
        return env_key(self.document.get("machine_info") or {})

    @property
    def env_id(self) -> str:
        return env_id(self.document.get("machine_info") or {})

    @property
    def label(self) -> str:
        return " ".join(x for x in (self.number or self.path.stem, self.short_commit, self.name or "") if x)

    @property
    def benchmarks(self) -> list[dict]:
        return [b for b in self.document.get("benchmarks") or [] if isinstance(b, dict)]

    @property
    def not_run(self) -> list[dict]:
        return list((self.document.get("harness") or {}).get("not_run") or [])


def _load_each(store, path, logger) -> list:
    try:
        return list(store.load(path))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        logger.warning(f"skipped {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})")
        return []


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _damage(doc) -> str:
    """What makes a loaded document unusable as a run, or ``""``."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    benchmarks = doc.get("benchmarks")
    if not isinstance(benchmarks, list):
        return "no 'benchmarks' list"
    for b in benchmarks:
        if not isinstance(b, dict):
            continue
        stats = b.get("stats")
        if stats is None:
            continue
        if not isinstance(stats, dict):
            return f"{b.get('name')}: 'stats' is not an object"
        for key in ("median", "q1", "q3"):
            if stats.get(key) is not None and not _is_number(stats[key]):
                return f"{b.get('name')}: stats.{key} is not a number ({stats[key]!r})"
        data = stats.get("data")
        if data is not None and (not isinstance(data, list) or not all(_is_number(x) for x in data)):
            return f"{b.get('name')}: stats.data holds a value that is not a number"
    harness = doc.get("harness")
    if harness is not None and (not isinstance(harness, dict)
                                or not isinstance(harness.get("not_run") or [], list)
                                or not all(isinstance(e, dict) for e in harness.get("not_run") or [])):
        return "its 'harness' section is damaged"
    for key in ("machine_info", "commit_info"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            return f"'{key}' is not an object"
    return ""


class _Logger:
    """Collects what pytest-benchmark's storage reports."""

    def __init__(self):
        self.warnings: list[str] = []

    def info(self, text, **kw):
        pass

    def warning(self, text, **kw):
        self.warnings.append(str(text))


def load_runs(storage: str | os.PathLike = DEFAULT_STORAGE, selectors: tuple[str, ...] | list[str] = ()) -> list[Run]:
    """Runs in ``storage`` (every machine) or named by ``selectors`` — files, or pytest-benchmark globs such
    as ``0003`` or ``Linux-CPython-3.11-64bit/0003_*`` — oldest first."""
    from pytest_benchmark.storage.file import FileStorage

    root = Path(storage)
    explicit = [s for s in selectors if Path(s).is_file()]
    if root.exists() and not root.is_dir() and len(explicit) < len(selectors or [None]):
        raise HarnessError(f"--storage {storage} is a file, not a directory of saved runs")
    if not root.is_dir() and len(explicit) < len(selectors or [None]):
        raise HarnessError(
            f"no saved runs: {storage} does not exist; save runs with harness bench --save or --autosave"
        )
    logger = _Logger()
    store = FileStorage(root if root.is_dir() else tempfile.gettempdir(), logger=logger)
    files: list[Path] = []
    for selector in selectors or [RUN_GLOB]:
        try:
            found = store.query(selector)
        except ValueError as exc:
            raise HarnessError(str(exc)) from None
        if not found and selectors:
            raise HarnessError(f"no saved run matches {selector!r} in {storage}; see harness history for the runs")
        files += [f for f in found if f not in files and Path(f).is_file()]
    runs = []
    for f in files:
        for _, doc in _load_each(store, f, logger):
            problem = _damage(doc)
            if problem:
                logger.warning(f"skipped {f}: {problem}")
            else:
                runs.append(Run(Path(f).resolve(), doc))
    loaded = {r.path.resolve() for r in runs}
    for f in explicit:
        if Path(f).resolve() not in loaded:
            raise HarnessError(f"{f} is not a run (expected harness bench --json output or a saved run)")
    for text in logger.warnings:  # a damaged file in the storage: named, skipped
        warnings.warn(text, stacklevel=2)
    if not runs:
        raise HarnessError(f"no saved runs in {storage}; save runs with harness bench --save or --autosave")
    return sorted(runs, key=lambda r: (r.datetime, str(r.path)))


# --- series ---------------------------------------------------------------------

@dataclass
class Point:
    run: int  # index into the runs
    status: str  # ok, failed, skipped
    median: float | None = None
    data: list[float] | None = None
    q1: float | None = None  # pytest-benchmark's quartiles of the rounds
    q3: float | None = None
    error: str = ""
    extra_info: dict = field(default_factory=dict)


@dataclass
class Series:
    case: str  # the benchmark's param id (its name without test_epoch[...])
    name: str
    env_id: str
    points: list[Point] = field(default_factory=list)
    detection: Detection = field(default_factory=Detection)

    @property
    def ok(self) -> list[Point]:
        return [p for p in self.points if p.status == "ok"]

    @property
    def changes(self) -> list:
        """Confirmed steps, with ``index`` as a run index."""
        return [s for s in self.detection.steps if s.significant]


def _case_id(entry: dict) -> str:
    name = str(entry.get("name"))
    return str(entry.get("param") or (name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else name))


def _workload_key(entry: dict) -> str:
    workload = (entry.get("extra_info") or {}).get("workload")
    if isinstance(workload, dict):  # rounds and warm-up change the statistics, not what one round measures
        workload = {k: v for k, v in workload.items() if k not in ("rounds", "warmup")}
    return json.dumps(workload, sort_keys=True, default=str)


def build_series(runs: list[Run], threshold: float = THRESHOLD, alpha: float = ALPHA) -> list[Series]:
    """One series per (case, environment, workload), points in run order, steps detected on its ok points."""
    found: dict[tuple, Series] = {}
    for i, run in enumerate(runs):
        eid = run.env_id
        for b in run.benchmarks:
            stats = b.get("stats") or {}
            data = stats.get("data") or None
            median = stats.get("median")
            if median is None:
                continue
            key = (str(b.get("name")), eid, _workload_key(b))
            s = found.setdefault(key, Series(_case_id(b), str(b.get("name")), eid))
            s.points.append(Point(i, "ok", float(median), [float(x) for x in data] if data else None,
                                  stats.get("q1"), stats.get("q3"), extra_info=b.get("extra_info") or {}))
        for entry in run.not_run:
            name = str(entry.get("name"))
            matching = [s for (n, e, _), s in found.items() if n == name and e == eid]
            if not matching:
                s = found.setdefault((name, eid, "not-run"), Series(_case_id(entry), name, eid))
                matching = [s]
            for s in matching:
                s.points.append(Point(i, str(entry.get("status")), error=str(entry.get("error") or ""),
                                      extra_info=entry.get("extra_info") or {}))
    for s in found.values():
        ok = s.ok
        det = detect([p.median for p in ok], [p.data for p in ok], threshold=threshold, alpha=alpha)
        for step in det.steps:  # point positions -> run indices
            step.index = ok[step.index].run
        for seg in det.segments:
            seg.start, seg.stop = ok[seg.start].run, ok[seg.stop - 1].run + 1
        s.detection = det
    return sorted(found.values(), key=lambda s: (s.case, s.env_id))


def find_case(series: list[Series], wanted: str) -> list[Series]:
    """The series of case ``wanted``: its id, its benchmark name, or a substring of exactly one id."""
    exact = [s for s in series if wanted in (s.case, s.name)]
    if exact:
        return exact
    ids = sorted({s.case for s in series})
    partial = [c for c in ids if wanted in c]
    if len(partial) == 1:
        return [s for s in series if s.case == partial[0]]
    if partial:
        raise HarnessError(f"--case {wanted!r} matches {len(partial)} cases: {', '.join(partial)}")
    raise HarnessError(f"unknown --case {wanted!r}; available: {', '.join(ids) or 'none'}")

"""MXNet's OpenMP threads: the ``--threads`` setting, and how many threads MXNet really computes with.

MXNet 1.9.1 reads ``OMP_NUM_THREADS`` once, when ``libmxnet`` loads (``src/engine/openmp.cc``): unset, it runs
OpenMP on half the logical CPUs on x86 (it assumes two hyper-threads per core), set, on that many; an engine
worker thread fixes its team then.  So a setting must be in the environment before ``import mxnet``: the CLI
applies ``--threads`` first thing (:func:`apply_early`), worker processes inherit it.  This module does not
import MXNet at import time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from harness.core.errors import HarnessError

VAR = "OMP_NUM_THREADS"
AUTO = "auto"  # one thread per physical core of the CPUs this process may use
MXNET = "mxnet"  # MXNet's own default: OMP_NUM_THREADS removed (half the logical CPUs on x86)
#: The commands that take ``--threads``.
COMMANDS = ("bench", "ab")
HELP = (f"OpenMP threads for MXNet (and the reference rows), set before MXNet is imported: N, {AUTO} (one per "
        f"physical core), or {MXNET} (MXNet's own default, half the logical CPUs); default: {VAR} when set, "
        f"else {AUTO}")


def parse(value) -> int | str | None:
    """``None``, ``"auto"``, ``"mxnet"`` or a positive int; anything else is a one-line error."""
    if value is None or value in (AUTO, MXNET):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        n = int(value.strip()) if isinstance(value, str) and value.strip().isdigit() else 0
    if n < 1:
        raise HarnessError(f"--threads must be a positive integer, {AUTO} or {MXNET}; got {value!r}")
    return n


def argument(text: str) -> int | str:
    """argparse ``type=`` for ``--threads``."""
    try:
        return parse(text)
    except HarnessError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--threads ")) from None


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def physical_cores() -> int:
    """Distinct (package, core) pairs among the usable CPUs; the usable CPUs where Linux's topology is unreadable."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = set()
    try:
        for cpu in cpus:
            topology = f"/sys/devices/system/cpu/cpu{cpu}/topology"
            with open(f"{topology}/physical_package_id") as pkg, open(f"{topology}/core_id") as core:
                cores.add((pkg.read().strip(), core.read().strip()))
    except OSError:
        return usable_cpus()
    return len(cores) or usable_cpus()


def target(setting, environ=None) -> str | None:
    """The ``OMP_NUM_THREADS`` value a setting stands for (``None``: unset)."""
    environ = os.environ if environ is None else environ
    setting = parse(setting)
    if setting is None:
        return environ[VAR] if environ.get(VAR, "").strip() else str(physical_cores())
    if setting == AUTO:
        return str(physical_cores())
    if setting == MXNET:
        return None
    return str(setting)


def set_environ(setting, environ=None) -> None:
    environ = os.environ if environ is None else environ
    value = target(setting, environ)
    if value is None:
        environ.pop(VAR, None)
    else:
        environ[VAR] = value


def expected(omp_num_threads: str | None = None, logical: int | None = None) -> int:
    """The team MXNet's CPU worker threads use, by ``src/engine/openmp.cc``'s rule (no GPU, no
    ``MXNET_OMP_MAX_THREADS``): ``OMP_NUM_THREADS``'s first value when set, else half the logical CPUs on x86."""
    logical = logical or usable_cpus()
    if omp_num_threads and omp_num_threads.strip():
        try:
            return max(1, int(omp_num_threads.split(",")[0]))
        except ValueError:
            pass
    import platform

    halved = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    return max(1, logical >> 1) if halved else logical


def apply_early(argv: list[str]) -> None:
    """Put ``--threads`` (or its default) into the environment before anything imports MXNet.

    Only for the commands that take it; a value the real parser will reject is left for it to report.
    """
    global applied
    applied = None
    if "mxnet" in sys.modules:
        return  # too late to matter here: the command's own check reports it
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("-p", action="append")
    pre.add_argument("command", nargs="?")
    pre.add_argument("--threads")
    try:
        known, _ = pre.parse_known_args(argv)
    except SystemExit:
        return
    if known.command not in COMMANDS:
        return
    explicit = known.threads is not None or not os.environ.get(VAR, "").strip()  # else the user's variable stands
    try:
        set_environ(known.threads)
    except HarnessError:
        return
    applied = parse(known.threads) or AUTO if explicit else None


#: What :func:`apply_early` set in this process: a setting, or ``None`` (nothing, or the user's own variable).
applied = None


_measured: dict = {}


def _thread_runtimes() -> dict[str, int]:
    """Nanoseconds on a CPU so far, per thread of this process (Linux ``schedstat``)."""
    times = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                times[tid] = int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return times


def measure(min_seconds: float = 0.05) -> int | None:
    """How many threads of this process compute while MXNet runs a large FullyConnected (oneDNN's inner
    product, the MLP's GEMM): the threads whose CPU time grows by at least a quarter of the busiest one's.
    Counts what runs, whatever set it (variables, engine, runtime); ``None`` without per-thread
    ``/proc`` accounting.  Measured once per process."""
    if "count" in _measured:
        return _measured["count"]
    if not os.path.exists("/proc/self/task"):
        return None
    import mxnet as mx

    x, w = mx.nd.ones((512, 1024)), mx.nd.ones((512, 1024))

    def gemms(n):
        for _ in range(n):
            mx.nd.FullyConnected(x, w, no_bias=True, num_hidden=512)
        mx.nd.waitall()

    gemms(1)  # the engine's worker thread and its OpenMP team start here
    before, start, done = _thread_runtimes(), time.perf_counter(), 0
    while done < 8 or time.perf_counter() - start < min_seconds:
        gemms(4)
        done += 4
    after = _thread_runtimes()
    grown = [after[t] - before.get(t, 0) for t in after]
    busiest = max(grown, default=0)
    _measured["count"] = sum(g >= busiest / 4 for g in grown) if busiest > 0 else None
    return _measured["count"]


def describe(info: dict) -> str:
    """``MXNet OpenMP threads 1 of 2 cores (measured; OMP_NUM_THREADS unset)`` for an environment block."""
    count = info.get("mxnet_threads")
    how = "measured" if info.get("measured") else "MXNet's rule"
    setting = info.get("setting")
    said = f"--threads {setting}; " if setting is not None else ""
    var = info.get(VAR)
    return (f"MXNet OpenMP threads {count if count is not None else '?'} of {info.get('cores')} cores "
            f"({how}; {said}{VAR}={var if var is not None else 'unset'})")


def warning(info: dict) -> str:
    """A line for stderr when MXNet computes on fewer threads than there are cores; empty otherwise."""
    count, cores = info.get("mxnet_threads"), info.get("cores")
    if count is None or cores is None or count >= cores:
        return ""
    return (f"harness: warning: MXNet computes on {count} OpenMP thread{'s' if count != 1 else ''} of {cores} cores "
            f"({VAR}={info.get(VAR) or 'unset'}); --threads {AUTO} uses one per core")


def chosen(given):
    """The setting a command ran with: ``--threads`` as given, else what :func:`apply_early` applied."""
    return given if given is not None else applied

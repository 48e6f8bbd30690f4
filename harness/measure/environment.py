"""What a result depends on besides the code: MXNet build, engine and threading
variables, CPU, Python, git commit.  Recorded with every benchmark result."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import mxnet as mx

from harness.measure import threads as omp

#: Read by MXNet or its OpenMP runtime; recorded even when unset (as ``None``).
THREAD_VARS = ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE", "MXNET_CPU_WORKER_NTHREADS", "MKL_NUM_THREADS")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"logical": os.cpu_count(), "usable": usable}


def mxnet_info() -> dict:
    features = mx.runtime.Features()
    return {
        "version": mx.__version__,
        "features": sorted(name for name, f in features.items() if f.enabled),
        "num_gpus": _num_gpus(),
    }


def _num_gpus() -> int:
    from harness.core.context import num_gpus

    return num_gpus()


def variables() -> dict:
    """The threading variables and every other ``MXNET_*`` variable set."""
    found = {name: os.environ.get(name) for name in THREAD_VARS}
    found.update({k: v for k, v in sorted(os.environ.items()) if k.startswith("MXNET_")})
    return found


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


def commit_info(path: str | os.PathLike | None = None) -> dict:
    """pytest-benchmark's ``commit_info`` shape, for the checkout holding ``path`` (default: this package)."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    info = {"id": "unversioned", "time": None, "author_time": None, "dirty": False, "project": "mxnet-harness",
            "branch": None}
    try:
        info["id"] = _git("rev-parse", "HEAD", cwd=cwd)
        info["time"] = _git("show", "-s", "--pretty=format:%cI", cwd=cwd)
        info["author_time"] = _git("show", "-s", "--pretty=format:%aI", cwd=cwd)
        info["branch"] = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
        info["dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=cwd))
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return info


def threads_info(setting=None, workers: dict | None = None) -> dict:
    """The OpenMP threads MXNet computes with: measured in this process (:func:`harness.measure.threads.measure`),
    or, for worker processes started with ``workers`` (their variables), by MXNet's rule from those."""
    var = os.environ.get(omp.VAR) if workers is None else workers.get(omp.VAR)
    count = omp.measure() if workers is None else None
    return {"setting": setting, omp.VAR: var, "mxnet_threads": count if count is not None else omp.expected(var),
            "measured": count is not None, "cores": omp.physical_cores(), "logical": omp.usable_cpus()}


def harness_env(threads: dict | None = None) -> dict:
    """Our additions to pytest-benchmark's ``machine_info``."""
    return {
        "mxnet": mxnet_info(),
        "env": variables(),
        "threads": threads or threads_info(),
        "cpu_model": cpu_model(),
        "cpu_count": cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def machine_info(threads: dict | None = None) -> dict:
    """pytest-benchmark's ``machine_info`` plus :func:`harness_env` under ``"harness"``."""
    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

    info = pytest_benchmark_generate_machine_info()
    info["harness"] = harness_env(threads)
    return info


def summary(machine: dict, commit: dict) -> str:
    """One line for under a results table."""
    env = machine["harness"]
    variables_ = [f"{k}={v if v is not None else 'unset'}" for k, v in env["env"].items()
                  if k in ("OMP_NUM_THREADS", "MXNET_ENGINE_TYPE") or v is not None]
    state = " (dirty)" if commit.get("dirty") else ""
    return (
        f"MXNet {env['mxnet']['version']} [{' '.join(env['mxnet']['features'])}]; {', '.join(variables_)}; "
        f"{env['cpu_model']} ×{env['cpu_count']['usable']}; Python {env['python']}; "
        f"commit {str(commit.get('id'))[:12]}{state}"
    ) + (f"; {omp.describe(env['threads'])}" if env.get("threads") else "")


def threads_warning(machine: dict) -> str:
    """A stderr line when MXNet computed on fewer OpenMP threads than there are cores; empty otherwise."""
    return omp.warning(machine["harness"].get("threads") or {})

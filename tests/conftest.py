import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(Path(sys.executable).with_name("harness"))


def pytest_configure(config):
    # mxnet 1.9 uses APIs that newer numpy/scipy/distutils deprecate; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:mxnet.*")
    config.addinivalue_line("filterwarnings", "ignore:.*deprecated - use:DeprecationWarning:matplotlib.*")


def run_cli(*args, env=None, cwd=ROOT, timeout=300):
    """``harness ARGS`` in a subprocess, as a user types it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([HARNESS, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def builtin_registry():
    """Only the seed's two plugins, whatever else is installed."""
    from harness.core.loader import load

    return load(only=["scratch", "gluon"])

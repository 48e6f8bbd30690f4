"""Small helpers shared by the tests."""
import signal
import time

import numpy as np
import pytest


def interruptible() -> None:
    """``preexec_fn`` for a child a test will Ctrl-C: a shell without job control starts background jobs with
    SIGINT ignored, and a Python started that way never raises KeyboardInterrupt; a terminal user's does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def weights(model) -> tuple[np.ndarray, float]:
    """A linear-regression model's (w flattened, b) from anything with ``arrays()`` (Model, Session, references)."""
    w, b = model.arrays()[:2]
    return np.asarray(w, dtype=np.float64).reshape(-1), float(np.asarray(b).reshape(-1)[0])


def wait_for_bytes(path, proc, size: int, timeout: float, failure: str) -> None:
    """Until ``path`` holds ``size`` bytes (the slow test plugin logs one a step); if ``proc`` exits first or the
    time runs out, kill it and fail with ``failure`` and its exit code."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size >= size):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{failure} (exit {proc.poll()})")
        time.sleep(0.05)

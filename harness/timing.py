"""The clock every measurement uses: MXNet is asynchronous, so a reading is
only taken once the engine has finished all queued work."""
from __future__ import annotations

import time

import mxnet as mx


def synced_clock() -> float:
    """``time.perf_counter()`` after ``mx.nd.waitall()``; usable as pytest-benchmark's ``timer``."""
    mx.nd.waitall()
    return time.perf_counter()

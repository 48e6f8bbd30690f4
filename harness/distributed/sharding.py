"""Which examples each worker of a data-parallel job trains on."""
from __future__ import annotations

import numpy as np

from harness.core.errors import HarnessError


def steps_per_epoch(num_examples: int, batch_size: int, num_workers: int) -> int:
    """Steps every worker takes per epoch: whole global batches only, so no rank waits for another in the last one."""
    steps = num_examples // (batch_size * num_workers)
    if steps == 0:
        raise HarnessError(
            f"--batch-size {batch_size} × {num_workers} workers = {batch_size * num_workers} is more than "
            f"--num-examples {num_examples}: every worker needs at least one batch"
        )
    return steps


def shard_indices(num_examples: int, batch_size: int, rank: int, num_workers: int) -> np.ndarray:
    """Rows of rank ``rank``: slice ``rank`` of every global batch of ``batch_size × num_workers`` rows.

    Read in order with batch ``batch_size``, the shards of all ranks together give global batch ``k`` at
    step ``k``: N workers on batch b compute, summed, the gradient one process gets on batch N·b.
    The remainder (fewer than N·b rows) is dropped so every rank takes the same number of steps.
    """
    if not 0 <= rank < num_workers:
        raise HarnessError(f"rank {rank} is not in 0..{num_workers - 1}")
    steps = steps_per_epoch(num_examples, batch_size, num_workers)
    starts = np.arange(steps) * batch_size * num_workers + rank * batch_size
    return (starts[:, None] + np.arange(batch_size)[None, :]).reshape(-1)

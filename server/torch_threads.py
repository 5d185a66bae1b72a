"""torch's thread count for a block of work: ``with torch_threads(1): ...`` (restored on the way out, error or not).

Each job picks its own count (the capture's ``PipelineSettings.threads``, one thread for cleanup and foot locking,
which are faster so on a busy 2-core CPU) and must leave the worker process as it found it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(max(1, count))``; the previous count is restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)

"""torch_threads: the block runs with the given count and the previous one comes back, also after an error."""
from __future__ import annotations

import pytest
import torch

from server.torch_threads import torch_threads


def test_count_inside_and_restored_after_an_error() -> None:
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with torch_threads(other):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(0):                       # never below one thread
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before

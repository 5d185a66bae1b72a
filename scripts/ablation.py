"""The learned-prior ablation the benchmarks share: a prior whose noise estimate is always 0.

In a guided DDIM loop it leaves each step's clean estimate at ``z_t / sqrt(abar_t)``, so what remains is the
guidance, the schedule and the temporal step: the difference to the real prior is the network's own share.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.dual.stream import DualPrior  # noqa: E402


class NoPrior:
    """Stands in for a (per-frame or windowed) prior: same state (normalisation, config), eps = 0."""

    def __init__(self, prior) -> None:
        self.config, self.x_mean, self.x_std = prior.config, prior.x_mean, prior.x_std
        self.normalize, self.denormalize = prior.normalize, prior.denormalize

    def __call__(self, x_t: torch.Tensor, t, cond=None, cond_mask=None) -> torch.Tensor:
        return torch.zeros_like(x_t)


class ZeroDualPrior(DualPrior):
    """The dual motion model's clip prior with its noise estimate held at 0 (same state, settings and schedule);
    benchmarks swap it in for :class:`~server.dual.stream.DualPrior` where the code under test builds
    one (``mock.patch.object(module, "DualPrior", ZeroDualPrior)``)."""

    def __call__(self, x_t: torch.Tensor, t, cond=None, cond_mask=None) -> torch.Tensor:
        return torch.zeros_like(x_t)

"""The learned-prior ablation the benchmarks share: a prior whose noise estimate is always 0.

In a guided DDIM loop it leaves each step's clean estimate at ``z_t / sqrt(abar_t)``, so what remains is the
guidance, the schedule and the temporal step: the difference to the real prior is the network's own share.
"""
from __future__ import annotations

import torch


class NoPrior:
    """Stands in for a (per-frame or windowed) prior: same state (normalisation, config), eps = 0."""

    def __init__(self, prior) -> None:
        self.config, self.x_mean, self.x_std = prior.config, prior.x_mean, prior.x_std
        self.normalize, self.denormalize = prior.normalize, prior.denormalize

    def __call__(self, x_t: torch.Tensor, t, cond=None, cond_mask=None) -> torch.Tensor:
        return torch.zeros_like(x_t)

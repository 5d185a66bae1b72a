"""Exponential moving average of a model's weights (ScoreHMR keeps EMA weights with decay 0.995)."""
from __future__ import annotations

import copy
from typing import List

import torch
from torch import Tensor, nn


class Ema:
    """``shadow = decay * shadow + (1 - decay) * weights`` after every optimiser step; buffers are copied.

    ``self.model`` is a frozen copy in eval mode: evaluate and save it, never train it."""

    def __init__(self, model: nn.Module, decay: float = 0.995) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        shadow: List[Tensor] = list(self.model.parameters())
        torch._foreach_lerp_(shadow, [p.detach() for p in model.parameters()], 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)

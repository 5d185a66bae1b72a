"""Helpers of the diffusion tests."""
from __future__ import annotations

import torch


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> the angle between each pair, degrees (...)."""
    cos = (((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))

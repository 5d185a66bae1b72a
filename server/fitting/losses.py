"""Fitting losses as pure torch functions (ScoreHMR's guidance terms and the optimisation baseline's).

Conventions: ``pred`` (N, L, 2) projected pixels, ``keypoints`` (N, L, 3) detector pixels + confidence,
``image_size`` (N, 2) width, height. Per-sample losses return (N,) so callers can early-stop or weight per sample.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

GMOF_SIGMA = 100.0        # pixels (ScoreHMR's Geman-McClure scale, at their 1000-pixel reference)
REFERENCE_SIZE = 1000.0   # the keypoint loss is scaled by (REFERENCE_SIZE / image size)^2


def gmof(sq_residual: Tensor, sigma: float) -> Tensor:
    """Geman-McClure robust penalty of squared residuals: ``sigma^2 r^2 / (sigma^2 + r^2)`` elementwise."""
    s2 = sigma * sigma
    return s2 * sq_residual / (s2 + sq_residual)


def keypoint_loss(pred: Tensor, keypoints: Tensor, image_size: Tensor, sigma: float = GMOF_SIGMA,
                  mask: Optional[Tensor] = None) -> Tensor:
    """Robust confidence-weighted reprojection loss per sample -> (N,).

    Residuals are rescaled to a ``REFERENCE_SIZE``-pixel image first (so ``sigma`` means the same at any
    resolution), each landmark weighted by confidence^2, summed over landmarks (ScoreHMR's keypoint term).
    ``mask`` (L,) bool restricts the landmarks used."""
    scale = REFERENCE_SIZE / image_size.amax(-1)                       # (N,)
    r2 = (((pred - keypoints[..., :2]) * scale[:, None, None]) ** 2).sum(-1)   # (N, L)
    w = keypoints[..., 2].clamp(0.0, 1.0) ** 2
    if mask is not None:
        w = w * mask.to(w)
    return (w * gmof(r2, sigma)).sum(-1)


def reprojection_error(pred: Tensor, keypoints: Tensor, min_visibility: float = 0.5) -> Tensor:
    """Mean pixel distance over landmarks with confidence >= min_visibility, per sample -> (N,) (NaN: none)."""
    ok = keypoints[..., 2] >= min_visibility
    d = (pred - keypoints[..., :2]).norm(dim=-1)
    return torch.where(ok, d, torch.zeros_like(d)).sum(-1) / ok.sum(-1).to(d)


def temporal_loss(x: Tensor) -> Tensor:
    """Smoothness of a clip: x (N, D) consecutive frames -> (N,) with entry n = ||x_n - x_{n-1}||^2 (0 for n=0).
    ScoreHMR's video term on the one-step clean estimates of the 144-D pose."""
    d = ((x[1:] - x[:-1]) ** 2).sum(-1)
    return torch.cat([d.new_zeros(1), d])


def multiview_loss(body: Tensor) -> Tensor:
    """Cross-view agreement: body (V, N, D) the same frames seen in V views -> (V, N) with entry (v, n) =
    ||body[v, n] - mean_v body[:, n]||^2 (ScoreHMR's multi-view term, here over the 23 body joints' 6D)."""
    return ((body - body.mean(0, keepdim=True)) ** 2).sum(-1)

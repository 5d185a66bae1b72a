"""The implicit (backward-Euler) temporal step: exact smoothing of clips under a difference penalty.

``argmin_v ||v - values||^2 + strength * ||D v||^2`` per clip and channel, D the ``order``-th temporal difference,
solved in the eigenbasis of D^T D (:func:`difference_basis`). Clips longer than :data:`SMOOTH_WINDOW` frames are
solved in blocks of :data:`SMOOTH_BLOCK` frames, each with :data:`SMOOTH_MARGIN` frames of context on both sides:
the solution's dependence on a frame decays within a few frames at the weights used, so the blocks match the
whole-clip solution at a cost linear in the clip length. Used by ScoreHMR's video mode
(:mod:`server.refine.scorehmr`) and by the cleanup (:mod:`server.cleanup`).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

SMOOTH_BLOCK = 128     # long clips are smoothed in blocks of this many frames ...
SMOOTH_MARGIN = 32     # ... each solved with this many neighbouring frames on both sides, then dropped
SMOOTH_WINDOW = SMOOTH_BLOCK + 2 * SMOOTH_MARGIN


def difference_basis(frames: int, order: int) -> Tuple[Tensor, Tensor]:
    """Eigen-decomposition of D^T D for the ``order``-th difference operator D over ``frames`` frames ->
    (eigenvectors (F, F), eigenvalues (F,))."""
    d = torch.eye(frames, dtype=torch.float64)
    for _ in range(order):
        d = d[1:] - d[:-1]
    vals, vecs = torch.linalg.eigh(d.T @ d)
    return vecs.to(torch.float32), vals.clamp_min(0.0).to(torch.float32)


def implicit_step(run, values: Tensor, strength: Tensor) -> Tensor:
    """``argmin_v ||v - values||^2 + strength * ||D v||^2`` per clip and channel: values (M, C) (clips of
    ``run.frames`` rows; ``run.smooth`` the eigenbasis of one window, :func:`difference_basis`), strength (1, C)
    or scalar -> (M, C); blocks for long clips (module docstring)."""
    vecs, vals = run.smooth
    gain = 1.0 / (1.0 + vals[:, None] * strength)                             # (L, C)
    clips = values.reshape(-1, run.frames, values.shape[-1])                  # (K, F, C)
    length = vecs.shape[0]
    if length == run.frames:
        return (vecs @ (gain * (vecs.T @ clips))).reshape(values.shape)
    starts = list(range(0, run.frames, SMOOTH_BLOCK))
    lows = [min(max(0, b - SMOOTH_MARGIN), run.frames - length) for b in starts]
    windows = torch.stack([clips[:, lo:lo + length] for lo in lows], 1)      # (K, W, L, C)
    solved = vecs @ (gain * (vecs.T @ windows))
    out = torch.empty_like(clips)
    for w, (b, lo) in enumerate(zip(starts, lows)):
        stop = min(b + SMOOTH_BLOCK, run.frames)
        out[:, b:stop] = solved[:, w, b - lo:stop - lo]
    return out.reshape(values.shape)

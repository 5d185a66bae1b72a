"""The motion prior over clips of any length: overlapping windows, blended.

:class:`WindowedPrior` makes a :class:`~server.diffusion.motion.MotionDenoiser` look like the per-frame prior to
the code that samples, inverts and guides (``eps(z_t (N, 144), t, cond (N, C), cond_mask (N,)) -> (N, 144)``, with
``normalize``, ``denormalize`` and ``config``), for N rows that are clips laid end to end (``clips``: their
lengths). Each clip is covered by windows of W frames every ``hop`` frames (the last one ending at the clip's end);
a frame's noise estimate is the mean of its windows' estimates weighted by a triangle that is highest mid-window
(window edges see one-sided context). A clip shorter than W is padded by repeating its first and last frames, as
the training windows are at a clip's ends; the padded rows get no weight. The same windows and weights serve every
call (one plan per wrapper): the cost is about ``W / hop`` network evaluations per frame. The default hop is 3/4 of
a window (24 of 32 frames: 8 frames of overlap): in video refinement it measured the same accuracy as half-window
hops at 1.3 instead of 2 evaluations per frame (scripts/benchmark_refine.py, 4 held-out clips).
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .motion import MotionDenoiser


class ModelState:
    """What a clip prior shows of the network it wraps (``self.model``), so the code that samples, inverts and
    guides sees the per-frame prior's interface: ``config``, the z-score statistics, ``normalize`` and
    ``denormalize``."""

    model: Any

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def x_mean(self) -> Tensor:
        return self.model.x_mean

    @property
    def x_std(self) -> Tensor:
        return self.model.x_std

    def normalize(self, x: Tensor) -> Tensor:
        return self.model.normalize(x)

    def denormalize(self, z: Tensor) -> Tensor:
        return self.model.denormalize(z)


def window_starts(length: int, window: int, hop: int) -> List[int]:
    """Starts of the windows covering ``length`` frames: 0, hop, 2 hop, ... and ``length - window`` last (one
    window at 0 when the clip is shorter than ``window``)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, hop))
    return starts + [length - window]


def plan_windows(clips: Sequence[int], window: int, hop: int) -> Tuple[Tensor, Tensor]:
    """Clip lengths -> (rows (K, W) int64 indices into the stacked frames, weights (K, W) float32 blend weights).

    Rows past a short clip's end repeat its last frame (weight 0)."""
    if any(int(n) < 1 for n in clips):
        raise ValueError(f"clip lengths must be >= 1, got {list(clips)}")
    centre = 0.5 * (window - 1)
    tri = 1.0 - (torch.arange(window, dtype=torch.float32) - centre).abs() / (0.5 * window + 1.0)
    rows, weights, offset = [], [], 0
    for n in (int(c) for c in clips):
        for s in window_starts(n, window, hop):
            pos = s + torch.arange(window)
            rows.append(offset + pos.clamp(0, n - 1))
            weights.append(torch.where(pos < n, tri, torch.zeros_like(tri)))
        offset += n
    return torch.stack(rows), torch.stack(weights)


class WindowedPrior(ModelState):
    """A motion prior applied to clips laid end to end (module docstring). Holds no state beyond its plan."""

    def __init__(self, model: MotionDenoiser, clips: Sequence[int], hop: Optional[int] = None) -> None:
        self.model = model
        self.frames = int(sum(int(c) for c in clips))
        w = model.config.window
        self.rows, weights = plan_windows(clips, w, hop or max(1, (3 * w) // 4))
        self.weights = weights
        self.norm = torch.zeros(self.frames).index_add_(0, self.rows.reshape(-1), weights.reshape(-1))

    def __call__(self, x_t: Tensor, t: Union[Tensor, int], cond: Optional[Tensor] = None,
                 cond_mask: Optional[Tensor] = None) -> Tensor:
        """x_t (N, 144), t int or (N,), cond (N, C) or None, cond_mask (N,) or None -> blended eps (N, 144)."""
        if x_t.shape[0] != self.frames:
            raise ValueError(f"this plan covers {self.frames} frames, got {x_t.shape[0]}")
        tt = torch.as_tensor(t)
        t_w = tt if tt.dim() == 0 else tt[self.rows[:, 0]]
        c_w = None if cond is None else cond[self.rows]
        m_w = None if cond_mask is None or cond is None else cond_mask[self.rows]
        eps_w = self.model(x_t[self.rows], t_w, c_w, m_w)                           # (K, W, 144)
        out = torch.zeros_like(x_t).index_add_(0, self.rows.reshape(-1),
                                               (eps_w * self.weights[..., None].to(eps_w)).reshape(-1, x_t.shape[-1]))
        return out / self.norm[:, None].to(out).clamp_min(1e-12)

"""ScoreHMR-style motion cleanup: DDIM inversion + guided resampling with a joint-position data guidance.

First a short data + temporal fit without the prior (:func:`server.cleanup.dposer.optimise` with the prior off)
gives a start; then, per outer iteration, the clean estimate is DDIM-inverted to t* and walked back with guided DDIM
steps (eta 0). At each step the unconditional noise estimate is corrected by the gradient of the confidence-weighted
joint-position loss of the one-step clean estimate (eps held fixed, gradient rescaled per frame to ``grad_norm``, as
in :mod:`server.refine.scorehmr`'s video mode), the clean estimate gets the implicit jerk step of
:func:`server.refine.smoothing.implicit_step`, and the pelvis path is re-solved in closed form (weighted mean offset)
and smoothed by the same implicit step. ``strength`` scales t* and the temporal weight.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Tuple

import torch
from torch import Tensor

from ..diffusion.sampler import bind, ddim_invert, ddim_move, guide_eps
from ..diffusion.schedule import alpha_bar, cosine_alphas_cumprod, ddim_timesteps, predict_eps, predict_x0
from ..errors import Cancelled
from ..refine.smoothing import SMOOTH_WINDOW, difference_basis, implicit_step
from . import dposer
from ..body.rot6d import ROOT_SLICE, orthonormal_x
from .problem import Clip, Problem, joints_of

if TYPE_CHECKING:
    from .settings import CleanupSettings

JERK = 3


def _pelvis(problem: Problem, x: Tensor, pelvis: Tensor, clip: Optional[Clip], strength: float) -> Tensor:
    """Closed-form pelvis (N, 3) for the pose x (weighted mean offset to the targets), then the jerk step."""
    rel = joints_of(problem.rest, x, torch.zeros_like(pelvis))
    w = problem.weight[..., None]
    total = w.sum(1)
    fitted = (w * (problem.target - rel)).sum(1) / total.clamp_min(1e-6)
    out = torch.where(total > 1e-6, fitted, pelvis)
    return implicit_step(clip, out, torch.tensor(strength)) if clip is not None and strength > 0 else out


def _guidance(problem: Problem, denoiser, z_t: Tensor, t: int, eps: Tensor, alphas: Tensor, pelvis: Tensor,
              grad_norm: float) -> Tensor:
    """Per-frame rescaled gradient (N, 144) of the data loss of the one-step clean estimate w.r.t. z_t."""
    with torch.enable_grad():
        zg = z_t.detach().requires_grad_(True)
        joints = joints_of(problem.rest, denoiser.denormalize(predict_x0(zg, t, eps, alphas)), pelvis)
        data = (problem.weight * ((joints - problem.target) ** 2).sum(-1)).sum()
        (g,) = torch.autograd.grad(data, zg)
    return g * (grad_norm / g.norm(dim=-1, keepdim=True).clamp_min(1e-12))


@torch.no_grad()
def refine(denoiser, problem: Problem, s: "CleanupSettings", progress: Optional[Callable[[int, int], None]] = None,
           cancelled: Optional[Callable[[], bool]] = None) -> Tuple[Tensor, Tensor]:
    """-> (x (N, 144) 6D, pelvis (N, 3)) in the prior's domain. Raises Cancelled."""
    strength = max(0.0, float(s.strength))
    t_start = int(round(s.t_start * strength / s.stride)) * s.stride
    steps = ddim_timesteps(t_start, s.stride) if t_start > 0 else []
    total = s.fit_steps + s.iterations * len(steps)
    report = None if progress is None else (lambda done, _: progress(done, total))
    with torch.enable_grad():
        x, pelvis = dposer.optimise(denoiser, problem, s, s.t_range, s.fit_steps, 0.0, report, cancelled)
    if not steps:
        return orthonormal_x(x), pelvis
    alphas = cosine_alphas_cumprod(denoiser.config.num_timesteps)
    n = problem.frames
    clip = Clip(n, difference_basis(min(n, SMOOTH_WINDOW), JERK)) if n > JERK else None
    std2 = denoiser.x_std.reshape(1, -1) ** 2
    weight = s.temporal_weight * strength
    done = s.fit_steps
    root = denoiser.normalize(x)[:, ROOT_SLICE]         # kept when s.keep_root (the fit left it alone)
    for _ in range(s.iterations):
        z = ddim_invert(bind(denoiser), denoiser.normalize(x), t_start, s.stride, alphas)
        for t, t_next in zip(steps, steps[1:] + [-1]):
            if cancelled is not None and cancelled():
                raise Cancelled()
            eps = denoiser(z, t, None)
            a_t = alpha_bar(alphas, t, z)
            eps = guide_eps(eps, _guidance(problem, denoiser, z, t, eps, alphas, pelvis, s.grad_norm), t, alphas)
            z0 = predict_x0(z, t, eps, alphas)
            if clip is not None and weight > 0:
                h = (1.0 - a_t[0, 0]) / a_t[0, 0]
                z0 = implicit_step(clip, z0, 2.0 * h * weight * std2)
            if s.keep_root:
                z0[:, ROOT_SLICE] = root
            if (clip is not None and weight > 0) or s.keep_root:
                eps = predict_eps(z, t, z0, alphas)
            z = ddim_move(z0, eps, t_next, alphas)
            if not s.keep_root:
                pelvis = _pelvis(problem, denoiser.denormalize(z0), pelvis, clip, 0.0)
            done += 1
            if progress is not None:
                progress(done, total)
        x = orthonormal_x(denoiser.denormalize(z))
        if not s.keep_root:
            pelvis = _pelvis(problem, x, pelvis, clip, weight * 1e-4)
    return x, pelvis

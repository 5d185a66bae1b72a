"""DPoser-style motion cleanup: optimisation with the diffusion prior as a one-step-denoise regulariser.

Adam on the z-scored 6D pose ``z`` (N, 144) and the pelvis path (N, 3), minimising the mean per frame of

    sum_j c_nj ||J_nj - T_nj||^2 / (2 sigma_j^2)                         (joint positions, confidence-weighted)
    + s * sum_j nu log(1 + ||A_nj||^2 / (2 nu a^2)) + ||A_nj||^2 / (2 b^2)   (acceleration A = J_{n-1} - 2 J_n + J_{n+1})
    + s * w_prior * ||z_n - stopgrad(z0_hat(z_t))||^2                     (one-step denoise, no backprop)

with sigma_j the input's noise on joint j (:func:`.problem.estimate_noise`, measured on the clip), ``a`` the typical joint
acceleration per frame^2 at 30 fps (``accel_scale``, rescaled by (30 / fps)^2), ``nu`` the tail (``accel_tail``:
a Student-t-like penalty that lets real impacts through where a Gaussian one would smear them), ``b`` a wide
Gaussian bound (``accel_wide``) without which the heavy tail lets large jitter through as if it were impacts (the
per-frame regression on the Sports2D clip: pose jitter 113 -> 122 mm/frame^2 without it, 33 with it), ``s`` the user's
strength and z0_hat the unconditional denoiser's one-step clean estimate of the forward-diffused state at t falling
linearly over the steps from t_range[0] T to t_range[1] T (DPoser: motion denoising [0.2, 0.05], completion
[0.15, 0.05]). Accelerations that span two clips of a batch (``Problem.segments``) are left out.

Deviations from DPoser, measured with ``scripts/benchmark_cleanup.py`` (docs/benchmarks.md): one pass of cosine-decayed Adam
instead of three passes with re-weighting; the data weight comes from the measured noise instead of a fixed
schedule; the temporal term is a heavy-tailed penalty on joint accelerations instead of a vertex-velocity L2; the
prior's weight is small because, with our prior, a larger one made the figures worse.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import torch
from torch import Tensor

from ..body.rot6d import ROOT_SLICE
from ..diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample
from ..errors import Cancelled
from .problem import Problem, acceleration_mask, joints_of

if TYPE_CHECKING:
    from .settings import CleanupSettings


def acceleration(values: Tensor) -> Tensor:
    """(N, ...) consecutive frames -> (N - 2, ...) second differences."""
    return values[:-2] - 2.0 * values[1:-1] + values[2:]


def temporal_penalty(joints: Tensor, valid: Tensor, scale: float, tail: float, wide: float = 0.0) -> Tensor:
    """joints (N, 24, 3), valid (N - 2,) bool -> sum over frames and joints of the heavy-tailed acceleration
    penalty ``tail * log(1 + ||a||^2 / (2 tail scale^2))`` (``tail`` 0: the Gaussian ``||a||^2 / (2 scale^2)``)
    plus, with ``wide`` > 0, the Gaussian ``||a||^2 / (2 wide^2)``: the heavy tail alone stops resisting jitter
    far above ``scale`` (it reads it as impacts), the wide term keeps it in check."""
    if joints.shape[0] < 3:
        return joints.new_zeros(())
    sq = (acceleration(joints) ** 2).sum(-1)[valid]
    if tail <= 0:
        out = sq.sum() / (2.0 * scale ** 2)
    else:
        out = tail * torch.log1p(sq / (2.0 * tail * scale ** 2)).sum()
    return out + sq.sum() / (2.0 * wide ** 2) if wide > 0 else out


def joint_losses(problem: Problem, joints: Tensor, scale: float, tail: float,
                 wide: float = 0.0) -> Tuple[Tensor, Tensor]:
    """joints (N, 24, 3) -> (data, temporal) scalars, each a mean per frame (see the module docstring)."""
    n = problem.frames
    data = (problem.weight * ((joints - problem.target) ** 2).sum(-1) / (2.0 * problem.noise ** 2)).sum() / n
    rate = (30.0 / problem.fps) ** 2 if problem.fps > 0 else 1.0
    temporal = temporal_penalty(joints, acceleration_mask(problem.clips), scale * rate, tail, wide * rate) / n
    return data, temporal


def feet_penalty(problem: Problem, joints: Tensor, still: float, floor: float) -> Tensor:
    """joints (N, 24, 3) -> mean per frame of the foot terms: ``contact`` joints held at their ``anchor`` (one
    place per contact, ``||J - A||^2 / (2 still^2)``: an anchor, not a frame-to-frame term, so a long contact is held
    without the hold having to travel along the frames) and joints kept above the floor plane
    (``min(0, n . J + d)^2 / (2 floor^2)`` on the joints with any contact weight, unless they are more than
    the floor's other level below it: then they stand on another level, say after stepping off a box). 0 without
    them."""
    out = joints.new_zeros(())
    if problem.contact is not None and problem.anchor is not None:
        out = out + (problem.contact * ((joints - problem.anchor) ** 2).sum(-1)).sum() / (2.0 * still ** 2)
    if problem.floor is not None and problem.contact is not None:
        normal, offset, other_level = problem.floor
        feet = (problem.contact.sum(0) > 0)
        height = joints[:, feet] @ normal + offset
        below = height.clamp(max=0.0) * (height > -other_level)     # deeper: another level (off a box, a step)
        out = out + (below ** 2).sum() / (2.0 * floor ** 2)
    return out / problem.frames


def prior_timestep(step: int, total: int, t_range: Tuple[float, float], num_timesteps: int) -> int:
    """DPoser's truncated schedule: linear from t_range[0] T (step 0) to t_range[1] T (last step)."""
    frac = step / max(total - 1, 1)
    hi, lo = t_range
    return int(round((hi + (lo - hi) * frac) * num_timesteps))


@torch.no_grad()
def one_step_target(denoiser, z: Tensor, t: int, alphas: Tensor, generator: torch.Generator) -> Tensor:
    """z (N, 144) -> the unconditional one-step clean estimate of its forward diffusion to t (fresh noise)."""
    noise = torch.randn(z.shape, generator=generator, dtype=z.dtype)
    z_t = q_sample(z, t, noise, alphas)
    return predict_x0(z_t, t, denoiser(z_t, t, None), alphas)


def optimise(denoiser, problem: Problem, s: "CleanupSettings", t_range: Tuple[float, float], steps: int,
             prior_weight: float, progress: Optional[Callable[[int, int], None]] = None,
             cancelled: Optional[Callable[[], bool]] = None) -> Tuple[Tensor, Tensor]:
    """``steps`` of Adam from the problem's start -> (x (N, 144) 6D, pelvis (N, 3)) in the prior's domain.
    ``prior_weight`` 0 leaves the diffusion prior out (data + temporal only); ``s.keep_root`` keeps the start's root
    rotation and pelvis path. Raises Cancelled."""
    alphas = cosine_alphas_cumprod(denoiser.config.num_timesteps)
    generator = torch.Generator().manual_seed(s.seed)
    z = denoiser.normalize(problem.x_start).detach().requires_grad_(True)
    pelvis = problem.pelvis_start.detach().clone().requires_grad_(not s.keep_root)
    strength = max(0.0, float(s.strength))
    groups = [{"params": [z], "lr": s.lr}] + ([] if s.keep_root else [{"params": [pelvis], "lr": s.pelvis_lr}])
    opt = torch.optim.Adam(groups)
    target = None
    for step in range(steps):
        decay = s.final_lr_fraction + (1.0 - s.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group, base in zip(opt.param_groups, (s.lr, s.pelvis_lr)):
            group["lr"] = base * decay
        if cancelled is not None and cancelled():
            raise Cancelled()
        if strength > 0 and prior_weight > 0 and (target is None or step % s.prior_every == 0):
            t = prior_timestep(step, steps, t_range, denoiser.config.num_timesteps)
            target = one_step_target(denoiser, z.detach(), t, alphas, generator)
        opt.zero_grad(set_to_none=True)
        joints = joints_of(problem.rest, denoiser.denormalize(z), pelvis)
        data, temporal = joint_losses(problem, joints, s.accel_scale, s.accel_tail, s.accel_wide)
        loss = data + strength * temporal
        if problem.contact is not None:
            loss = loss + s.feet_weight * feet_penalty(problem, joints, s.still_scale, s.floor_scale)
        if target is not None:
            loss = loss + strength * prior_weight * ((z - target) ** 2).sum() / problem.frames
        loss.backward()
        if s.keep_root:
            z.grad[:, ROOT_SLICE] = 0.0          # Adam moves nothing whose gradient has always been zero
        opt.step()
        if progress is not None:
            progress(step + 1, steps)
    return denoiser.denormalize(z.detach()), pelvis.detach()

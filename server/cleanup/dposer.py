"""DPoser-style motion cleanup: optimisation with the diffusion prior as a one-step-denoise regulariser.

Adam on the z-scored 6D pose ``z`` (N, 144) and the pelvis path (N, 3), minimising per pass p

    data_p * sum_nj c_nj ||J_nj - T_nj||^2 / sigma^2                   (joint positions, confidence-weighted)
    + s * temporal_p * sum_nj ||J_{n-1,j} - 2 J_nj + J_{n+1,j}||^2 / sigma^2 * (fps / 30)^4   (acceleration)
    + s * prior_p * ||z_n - stopgrad(z0_hat(z_t))||^2                   (one-step denoise, no backprop)

with sigma = 1 cm, s the user's strength, and z0_hat the unconditional denoiser's one-step clean estimate of the
forward-diffused state at t falling linearly over all steps from t_range[0] T to t_range[1] T (DPoser: motion
denoising [0.2, 0.05], completion [0.15, 0.05]). As in DPoser: 3 passes, the data weight decaying and the prior /
temporal weights growing; the prior's target is renewed every ``prior_every`` steps (1 = DPoser) with fresh noise.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import torch
from torch import Tensor

from ..diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample
from ..errors import Cancelled
from .problem import Problem, joints_of

if TYPE_CHECKING:
    from .methods import CleanupSettings

SIGMA = 0.01            # metres: the unit of the joint terms


def acceleration(values: Tensor) -> Tensor:
    """(N, ...) consecutive frames -> (N - 2, ...) second differences."""
    return values[:-2] - 2.0 * values[1:-1] + values[2:]


def joint_losses(problem: Problem, joints: Tensor) -> Tuple[Tensor, Tensor]:
    """joints (N, 24, 3) -> (data, temporal) scalars, each a mean per frame in units of SIGMA^2."""
    n = problem.frames
    data = (problem.weight * ((joints - problem.target) ** 2).sum(-1)).sum() / (n * SIGMA ** 2)
    rate = (problem.fps / 30.0) ** 4 if problem.fps > 0 else 1.0
    temporal = (acceleration(joints) ** 2).sum() * rate / (n * SIGMA ** 2) if n > 2 else joints.new_zeros(())
    return data, temporal


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


def optimise(denoiser, problem: Problem, s: "CleanupSettings", t_range: Tuple[float, float],
             progress: Optional[Callable[[int, int], None]] = None,
             cancelled: Optional[Callable[[], bool]] = None) -> Tuple[Tensor, Tensor]:
    """-> (x (N, 144) 6D, pelvis (N, 3)) in the prior's domain. Raises Cancelled."""
    alphas = cosine_alphas_cumprod(denoiser.config.num_timesteps)
    generator = torch.Generator().manual_seed(s.seed)
    z = denoiser.normalize(problem.x_start).detach().requires_grad_(True)
    pelvis = problem.pelvis_start.detach().clone().requires_grad_(True)
    total = s.passes * s.steps_per_pass
    strength = max(0.0, float(s.strength))
    target = None
    step = 0
    for p in range(s.passes):
        w_data, w_temp, w_prior = s.data_weights[p], s.temporal_weights[p], s.prior_weights[p]
        opt = torch.optim.Adam([{"params": [z], "lr": s.lr}, {"params": [pelvis], "lr": s.pelvis_lr}])
        for k in range(s.steps_per_pass):
            decay = s.final_lr_fraction + (1.0 - s.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * k / s.steps_per_pass))
            for group, base in zip(opt.param_groups, (s.lr, s.pelvis_lr)):
                group["lr"] = base * decay
            if cancelled is not None and cancelled():
                raise Cancelled()
            if strength > 0 and w_prior > 0 and (target is None or step % s.prior_every == 0):
                t = prior_timestep(step, total, t_range, denoiser.config.num_timesteps)
                target = one_step_target(denoiser, z.detach(), t, alphas, generator)
            opt.zero_grad(set_to_none=True)
            data, temporal = joint_losses(problem, joints_of(problem.rest, denoiser.denormalize(z), pelvis))
            loss = w_data * data + strength * w_temp * temporal
            if target is not None:
                loss = loss + strength * w_prior * ((z - target) ** 2).sum() / problem.frames
            loss.backward()
            opt.step()
            step += 1
            if progress is not None:
                progress(step, total)
    return denoiser.denormalize(z.detach()), pelvis.detach()

"""DDIM sampling and inversion over the 144-D pose state: the step maths apart from the loops (as diffusers'
schedulers: the caller runs the model, a step takes its output).

One DDIM step from the model's noise estimate is :func:`ddim_step`; :func:`ddim_move` is its last part (from a
clean estimate and a noise estimate, after a loop has changed them: smoothing, a kept root, alignment), and
:func:`guide_eps` adds a guidance gradient to a noise estimate (ScoreHMR's guided step). Every guided loop
(:mod:`server.refine.scorehmr`, :mod:`server.cleanup.guided`) is written with these. ``EpsFn`` is any
``eps(x_t (N, D), t) -> (N, D)`` (a :class:`~server.diffusion.denoiser.Denoiser` with its condition bound, see
:func:`bind`); :func:`ddim_sample` walks the descending timesteps of
:func:`~server.diffusion.schedule.ddim_timesteps` to the clean estimate; :func:`ddim_invert` walks them backwards
from a clean pose to the start noise level (deterministic, eta = 0), as ScoreHMR does before its guided sampling.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from .schedule import Timestep, alpha_bar, ddim_coefficients, ddim_timesteps, predict_eps, predict_x0

EpsFn = Callable[[Tensor, int], Tensor]


def bind(model: torch.nn.Module, cond: Optional[Tensor] = None, cond_mask: Optional[Tensor] = None) -> EpsFn:
    """A denoiser with its condition fixed: ``eps(x_t, t)``; ``cond=None`` runs it unconditionally."""
    return lambda x_t, t: model(x_t, t, cond, cond_mask)


def ddim_step(eps: Tensor, x_t: Tensor, t: int, t_next: int, alphas_cumprod: Tensor, eta: float = 0.0,
              generator: Optional[torch.Generator] = None, clip: Optional[float] = None
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """One DDIM move from ``t`` to ``t_next`` (t_next = -1: the clean estimate) given the model's noise estimate.

    eps (N, D) at x_t (N, D) -> (x_next (N, D), x0_hat (N, D), eps (N, D)). ``clip`` bounds the clean estimate to
    [-clip, clip] (in the normalised state) and re-derives eps from it: at the highest noise levels the clean
    estimate divides the noise error by sqrt(alpha-bar) ~ 0.03, and unbounded it throws samples off the data.
    """
    x0_hat = predict_x0(x_t, t, eps, alphas_cumprod)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
        eps = predict_eps(x_t, t, x0_hat, alphas_cumprod)
    c_x0, c_eps, sigma = ddim_coefficients(alphas_cumprod, t, t_next, x_t, eta)
    x_next = c_x0 * x0_hat + c_eps * eps
    if eta > 0.0:
        x_next = x_next + sigma * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
    return x_next, x0_hat, eps


def ddim_move(x0_hat: Tensor, eps: Tensor, t_next: Timestep, alphas_cumprod: Tensor) -> Tensor:
    """The deterministic (eta = 0) DDIM move's last part: clean estimate x0_hat (N, D) and noise estimate eps
    (N, D) -> the state at ``t_next`` (N, D): ``sqrt(abar_next) x0_hat + sqrt(1 - abar_next) eps``."""
    a_next = alpha_bar(alphas_cumprod, t_next, x0_hat)
    return a_next.sqrt() * x0_hat + (1.0 - a_next).sqrt() * eps


def guide_eps(eps: Tensor, grad: Tensor, t: Timestep, alphas_cumprod: Tensor, scale: float = 1.0) -> Tensor:
    """Guidance as a noise correction (ScoreHMR, eq. 7): eps (N, D) + sqrt(1 - abar_t) * scale * grad (N, D), grad
    the gradient of the guidance loss w.r.t. the noisy state; the result is the guided noise estimate (N, D)."""
    a_t = alpha_bar(alphas_cumprod, t, eps)
    return eps + (1.0 - a_t).sqrt() * scale * grad


@torch.no_grad()
def ddim_sample(eps_fn: EpsFn, x_start: Tensor, t_start: int, stride: int, alphas_cumprod: Tensor,
                eta: float = 0.0, generator: Optional[torch.Generator] = None, clip: Optional[float] = None) -> Tensor:
    """Denoise ``x_start`` (N, D), which sits at the first of ``ddim_timesteps(t_start, stride)``, to (N, D)."""
    steps = ddim_timesteps(t_start, stride)
    x = x_start
    for t, t_next in zip(steps, steps[1:] + [-1]):
        x, _, _ = ddim_step(eps_fn(x, t), x, t, t_next, alphas_cumprod, eta, generator, clip)
    return x


@torch.no_grad()
def ddim_invert(eps_fn: EpsFn, x0: Tensor, t_start: int, stride: int, alphas_cumprod: Tensor) -> Tensor:
    """Deterministic DDIM inversion: clean (N, D) -> noisy (N, D) at the first of ``ddim_timesteps``.

    The clean pose is taken as the state at t = 0 (alpha-bar(0) ~ 1), then carried up the same timesteps that
    :func:`ddim_sample` walks down, so ``ddim_sample(ddim_invert(x0))`` ~ x0 for a good denoiser.
    """
    ascending = ddim_timesteps(t_start, stride)[::-1]         # 0, stride, ..., t_start - stride
    x = x0
    for t, t_next in zip(ascending, ascending[1:]):
        x, _, _ = ddim_step(eps_fn(x, t), x, t, t_next, alphas_cumprod)
    return x

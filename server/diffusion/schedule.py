"""The noise schedule as pure functions (no state, no modules).

Notation (DDPM / DDIM): ``alphas_cumprod`` (T,) is alpha-bar; timesteps are integers ``0 .. T-1`` and ``-1``
means "clean" (alpha-bar = 1). ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``.
The cosine schedule is Nichol & Dhariwal's (as in ScoreHMR, T = 1000, s = 0.008, betas clipped at 0.999).
Tensors: x (N, D); t (N,) int64 or a Python int; alphas_cumprod (T,) on the same device as x.
"""
from __future__ import annotations

import math
from typing import List, Tuple, Union

import torch
from torch import Tensor

NUM_TIMESTEPS = 1000
Timestep = Union[Tensor, int]


def cosine_alphas_cumprod(num_timesteps: int = NUM_TIMESTEPS, s: float = 0.008, max_beta: float = 0.999,
                          dtype: torch.dtype = torch.float32) -> Tensor:
    """-> (T,) alpha-bar of the cosine schedule, strictly decreasing from ~1 to ~0 (computed in float64)."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1.0 - betas, dim=0).to(dtype)


def alpha_bar(alphas_cumprod: Tensor, t: Timestep, like: Tensor) -> Tensor:
    """alpha-bar at ``t`` as (N, 1, ...) broadcastable against ``like`` (N, D...); t = -1 gives 1."""
    tt = torch.as_tensor(t, device=alphas_cumprod.device, dtype=torch.long)
    if tt.dim() == 0:
        tt = tt.expand(like.shape[0])
    a = torch.where(tt >= 0, alphas_cumprod[tt.clamp_min(0)], torch.ones((), dtype=alphas_cumprod.dtype,
                                                                         device=alphas_cumprod.device))
    return a.to(like).reshape(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: Tensor, t: Timestep, noise: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """Forward diffusion: x0 (N, D), t, noise (N, D) -> x_t (N, D)."""
    a = alpha_bar(alphas_cumprod, t, x0)
    return a.sqrt() * x0 + (1.0 - a).sqrt() * noise


def predict_x0(x_t: Tensor, t: Timestep, eps: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """One-step clean estimate from the predicted noise: (N, D) -> (N, D)."""
    a = alpha_bar(alphas_cumprod, t, x_t)
    return (x_t - (1.0 - a).sqrt() * eps) / a.sqrt()


def predict_eps(x_t: Tensor, t: Timestep, x0: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """The noise that takes x0 to x_t at t (inverse of :func:`predict_x0`): (N, D) -> (N, D)."""
    a = alpha_bar(alphas_cumprod, t, x_t)
    return (x_t - a.sqrt() * x0) / (1.0 - a).sqrt()


def ddim_coefficients(alphas_cumprod: Tensor, t: Timestep, t_next: Timestep, like: Tensor,
                      eta: float = 0.0) -> Tuple[Tensor, Tensor, Tensor]:
    """Coefficients of one DDIM move from t to t_next (either direction; eta must be 0 for inversion).

    ``x_next = c_x0 * x0_hat + c_eps * eps + sigma * z`` with z ~ N(0, I); each (N, 1) against ``like`` (N, D).
    sigma = eta * sqrt((1 - a_next) / (1 - a_t)) * sqrt(1 - a_t / a_next) (Song et al., eq. 16).
    """
    a_t = alpha_bar(alphas_cumprod, t, like)
    a_next = alpha_bar(alphas_cumprod, t_next, like)
    if eta > 0.0:
        ratio = (1.0 - a_t / a_next).clamp_min(0.0)
        sigma = eta * ((1.0 - a_next) / (1.0 - a_t)).sqrt() * ratio.sqrt()
    else:
        sigma = torch.zeros_like(a_t)
    c_eps = (1.0 - a_next - sigma ** 2).clamp_min(0.0).sqrt()
    return a_next.sqrt(), c_eps, sigma


def ddim_timesteps(t_start: int, stride: int) -> List[int]:
    """Descending DDIM timesteps ``[t_start - stride, ..., stride, 0]`` (each step goes to the next, 0 to -1).

    ScoreHMR's defaults (t* = 50, stride 2) give 25 steps 48, 46, ..., 0; DDIM inversion walks the same list
    backwards from -1 (the clean estimate)."""
    if t_start <= 0 or stride <= 0:
        raise ValueError(f"t_start and stride must be positive, got {t_start}, {stride}")
    return list(range(0, t_start, stride))[::-1]

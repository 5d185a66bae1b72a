"""ScoreHMR's denoiser ``eps(x_t, t, c)``: a residual MLP over the 144-D 6D pose.

Architecture (REFERENCE.md, ScoreHMR): Linear 144 -> 144 in; ``num_blocks`` residual blocks, each
``h = x * (1 + scale(t)) + shift(t)`` (timestep embedding), ``h = [h, c]`` (condition concatenated), then
LayerNorm -> Linear ``hidden`` -> GELU -> LayerNorm -> Linear 144 -> GELU, added to ``x``; Linear 144 -> 144 out.
Our difference: ``c`` is keypoint evidence (:mod:`.condition`), not image features, and rows whose ``cond_mask``
is False use a learned null condition instead (condition dropout in training; unconditional use at run time).
The module holds weights only; per-run state lives with the caller.
"""
from __future__ import annotations

import math
from os import PathLike
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional, Union, cast

import torch
from torch import Tensor, nn

from ..body.rot6d import POSE_6D_DIM
from .condition import condition_dim
from .schedule import NUM_TIMESTEPS

CHECKPOINT_FORMAT = "blender_scorehmr.prior"
CHECKPOINT_VERSION = 1
PRIOR_WEIGHTS_NAME = "prior.pt"


@dataclass(frozen=True)
class DenoiserConfig:
    """Shape of the denoiser; stored in its checkpoint as plain types."""

    pose_dim: int = POSE_6D_DIM
    use_world: bool = True          # condition includes BlazePose world landmarks (see condition.py)
    hidden: int = 1024              # published width of the block MLP
    num_blocks: int = 3
    time_dim: int = 256             # timestep embedding width
    num_timesteps: int = NUM_TIMESTEPS

    @property
    def cond_dim(self) -> int:
        return condition_dim(self.use_world)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DenoiserConfig":
        """Rejects unknown keys (:func:`server.weights.config_from_dict`)."""
        from ..weights import config_from_dict
        return config_from_dict(cls, data, "denoiser")


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(N,) timesteps (int or float) -> (N, dim) sinusoidal features (cos half, sin half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class ResidualBlock(nn.Module):
    """x (N, P), time embedding (N, T), condition (N, C) -> (N, P)."""

    def __init__(self, pose_dim: int, cond_dim: int, hidden: int, time_dim: int) -> None:
        super().__init__()
        self.scale_shift = nn.Sequential(nn.GELU(), nn.Linear(time_dim, 2 * pose_dim))
        self.mlp = nn.Sequential(
            nn.LayerNorm(pose_dim + cond_dim), nn.Linear(pose_dim + cond_dim, hidden), nn.GELU(),
            nn.LayerNorm(hidden), nn.Linear(hidden, pose_dim), nn.GELU())

    def forward(self, x: Tensor, temb: Tensor, cond: Tensor) -> Tensor:
        scale, shift = self.scale_shift(temb).chunk(2, dim=-1)
        h = x * (1.0 + scale) + shift
        return x + self.mlp(torch.cat([h, cond], -1))


class ZScored:
    """The diffusion state of a pose prior: 6D poses z-scored per dimension by training statistics held as the
    buffers ``x_mean`` and ``x_std`` (both priors, :class:`Denoiser` and the motion prior, mix this into their
    ``nn.Module``)."""

    # buffers, registered by register_normalization
    x_mean: Tensor
    x_std: Tensor

    def register_normalization(self, dim: int) -> None:
        module = cast(nn.Module, self)   # mixed into an nn.Module (see the class docstring)
        module.register_buffer("x_mean", torch.zeros(dim))
        module.register_buffer("x_std", torch.ones(dim))

    def set_normalization(self, x: Tensor, min_std: float = 1e-2) -> None:
        """Fit the z-score statistics to sample 6D poses x (M, 144); ``min_std`` guards constant dimensions."""
        self.x_mean.copy_(x.mean(0))
        self.x_std.copy_(x.std(0).clamp_min(min_std))

    def normalize(self, x: Tensor) -> Tensor:
        """6D poses (..., 144) -> diffusion state (..., 144)."""
        return (x - self.x_mean) / self.x_std

    def denormalize(self, z: Tensor) -> Tensor:
        """Diffusion state (..., 144) -> 6D poses (..., 144) (not yet Gram-Schmidt orthonormalised)."""
        return z * self.x_std + self.x_mean


class Denoiser(ZScored, nn.Module):
    """eps(z_t, t, c): z_t (N, 144), t (N,) in [0, T), cond (N, C) or None, cond_mask (N,) bool -> (N, 144).

    The diffusion runs on the z-scored 6D pose ``z = (x - x_mean) / x_std`` (statistics of the training poses,
    stored as buffers in the checkpoint): raw 6D values sit in a small region (most joints near the rest), where
    the cosine schedule would bury them in noise early and pure-noise sampling drifts off the data. Use
    :meth:`normalize` / :meth:`denormalize` at the boundary; DPoser z-scores its poses for the same reason.
    """

    def __init__(self, config: DenoiserConfig = DenoiserConfig()) -> None:
        super().__init__()
        self.config = config
        p, c = config.pose_dim, config.cond_dim
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, config.time_dim), nn.GELU(),
                                      nn.Linear(config.time_dim, config.time_dim))
        self.null_cond = nn.Parameter(torch.zeros(c))
        self.inp = nn.Linear(p, p)
        self.blocks = nn.ModuleList(ResidualBlock(p, c, config.hidden, config.time_dim)
                                    for _ in range(config.num_blocks))
        self.out = nn.Linear(p, p)
        self.register_normalization(p)

    def forward(self, x_t: Tensor, t: Union[Tensor, int], cond: Optional[Tensor] = None,
                cond_mask: Optional[Tensor] = None) -> Tensor:
        """Predicted noise (N, 144). ``cond=None`` means unconditional for every row; ``cond_mask`` (N,) bool
        selects per row (False -> the learned null condition)."""
        n = x_t.shape[0]
        tt = torch.as_tensor(t, device=x_t.device)
        tt = tt.expand(n) if tt.dim() == 0 else tt
        c = self._condition(cond, cond_mask, n, x_t)
        temb = self.time_mlp(timestep_embedding(tt, self.config.time_dim))
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, temb, c)
        return self.out(h)

    def _condition(self, cond: Optional[Tensor], cond_mask: Optional[Tensor], n: int, like: Tensor) -> Tensor:
        """(N, C) condition with masked-out rows replaced by the null condition."""
        null = self.null_cond.to(like)[None].expand(n, -1)
        if cond is None:
            return null
        if cond.shape != (n, self.config.cond_dim):
            raise ValueError(f"cond must be ({n}, {self.config.cond_dim}), got {tuple(cond.shape)}")
        if cond_mask is None:
            return cond.to(like)
        return torch.where(cond_mask.to(torch.bool).reshape(n, 1), cond.to(like), null)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def checkpoint_dict(model: Denoiser, figures: Optional[Mapping[str, Any]] = None,
                    training: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The prior's checkpoint (:func:`server.weights.checkpoint_of`, full precision)."""
    from ..weights import checkpoint_of
    return checkpoint_of(model, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, figures, training)


def load_prior(path: Optional[Union[str, PathLike]] = None, **resolve: Any) -> Denoiser:
    """The trained prior in eval mode, resolved by :func:`server.weights.resolve_weights` (explicit ``path``, the
    committed default, the Hugging Face cache, a pinned download). Raises WeightsError."""
    from ..weights import load_model
    return load_model(PRIOR_WEIGHTS_NAME, path, CHECKPOINT_FORMAT, "prior",
                      lambda config: Denoiser(DenoiserConfig.from_dict(config)), **resolve)

"""The motion prior: a diffusion model over windows of consecutive poses, conditioned on the keypoint window.

State: a window of W consecutive frames of the 144-D 6D pose (camera-frame root orientation + 23 body joints),
z-scored per dimension like the per-frame prior's (:class:`~server.diffusion.denoiser.Denoiser`), so the same
cosine schedule, DDIM sampler and inversion apply unchanged. The root's motion is in the state through the
window's camera-frame root orientations (their frame-to-frame change is the root's angular velocity); the root
translation is not (capture smooths the camera translation on its own, cleanup fits the pelvis path to the data).

Network ``eps(z_t, t, c)``: per frame ``Linear(z_t) + Linear(c) + position(w)``, then ``num_blocks`` residual
blocks over time, each ``GroupNorm -> x (1 + scale(t)) + shift(t) -> GELU -> dilated Conv1d(kernel 3) -> GELU ->
Conv1d(1)`` added to the input (dilations cycling 1, 2, 4, 8: the window's whole span in four blocks), then
``GroupNorm -> Linear -> 144``. Frames whose ``cond_mask`` is False use a learned null condition (condition
dropout in training, per window and per frame; a frame nobody was detected in or unconditional use at run time).
Clips of any length are covered by overlapping windows (:mod:`.windows`).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..body.rot6d import POSE_6D_DIM
from .condition import condition_dim
from .denoiser import ZScored, timestep_embedding
from .schedule import NUM_TIMESTEPS

MOTION_CHECKPOINT_FORMAT = "blender_scorehmr.motion_prior"
MOTION_CHECKPOINT_VERSION = 1
MOTION_WEIGHTS_NAME = "motion_prior.pt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionConfig:
    """Shape of the motion prior; stored in its checkpoint as plain types."""

    window: int = 32                # frames per window (about a second at 30 fps)
    pose_dim: int = POSE_6D_DIM
    use_world: bool = True          # the per-frame condition includes BlazePose world landmarks
    channels: int = 256
    num_blocks: int = 8
    dilations: Tuple[int, ...] = (1, 2, 4, 8)
    time_dim: int = 256
    num_timesteps: int = NUM_TIMESTEPS

    @property
    def cond_dim(self) -> int:
        return condition_dim(self.use_world)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["dilations"] = list(self.dilations)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MotionConfig":
        """Rejects unknown keys (:func:`server.weights.config_from_dict`)."""
        from ..weights import config_from_dict
        data = dict(data)
        if "dilations" in data:
            data["dilations"] = tuple(int(d) for d in data["dilations"])
        return config_from_dict(cls, data, "motion prior")


class TemporalBlock(nn.Module):
    """h (B, C, W), time embedding (B, T) -> (B, C, W): a time-modulated dilated convolution, residual."""

    def __init__(self, channels: int, time_dim: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.scale_shift = nn.Sequential(nn.GELU(), nn.Linear(time_dim, 2 * channels))
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation, padding_mode="replicate")
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        scale, shift = self.scale_shift(temb)[..., None].chunk(2, dim=1)
        y = self.norm(h) * (1.0 + scale) + shift
        return h + self.mix(nn.functional.gelu(self.conv(nn.functional.gelu(y))))


class MotionDenoiser(ZScored, nn.Module):
    """eps(z_t, t, c): z_t (B, W, 144), t (B,) or int, cond (B, W, C) or None, cond_mask (B, W) bool -> (B, W, 144).

    :meth:`normalize` / :meth:`denormalize` (:class:`~server.diffusion.denoiser.ZScored`) map 6D poses (..., 144)
    to the diffusion state and back."""

    def __init__(self, config: MotionConfig = MotionConfig()) -> None:
        super().__init__()
        self.config = config
        c, p = config.channels, config.pose_dim
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, config.time_dim), nn.GELU(),
                                      nn.Linear(config.time_dim, config.time_dim))
        self.null_cond = nn.Parameter(torch.zeros(config.cond_dim))
        self.inp = nn.Linear(p, c)
        self.cond_in = nn.Linear(config.cond_dim, c)
        self.position = nn.Parameter(torch.zeros(config.window, c))
        self.blocks = nn.ModuleList(TemporalBlock(c, config.time_dim, config.dilations[i % len(config.dilations)])
                                    for i in range(config.num_blocks))
        self.out_norm = nn.GroupNorm(8, c)
        self.out = nn.Linear(c, p)
        self.register_normalization(p)

    def forward(self, x_t: Tensor, t: Union[Tensor, int], cond: Optional[Tensor] = None,
                cond_mask: Optional[Tensor] = None) -> Tensor:
        """Predicted noise (B, W, 144); ``cond`` None: unconditional on every frame."""
        b, w, _ = x_t.shape
        if w != self.config.window:
            raise ValueError(f"windows must have {self.config.window} frames, got {w}")
        tt = torch.as_tensor(t, device=x_t.device)
        tt = tt.expand(b) if tt.dim() == 0 else tt
        temb = self.time_mlp(timestep_embedding(tt, self.config.time_dim))
        h = self.inp(x_t) + self.cond_in(self._condition(cond, cond_mask, b, w, x_t)) + self.position
        h = h.transpose(1, 2)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(self.out_norm(h).transpose(1, 2))

    def _condition(self, cond: Optional[Tensor], cond_mask: Optional[Tensor], b: int, w: int, like: Tensor) -> Tensor:
        null = self.null_cond.to(like).expand(b, w, -1)
        if cond is None:
            return null
        if cond.shape != (b, w, self.config.cond_dim):
            raise ValueError(f"cond must be ({b}, {w}, {self.config.cond_dim}), got {tuple(cond.shape)}")
        if cond_mask is None:
            return cond.to(like)
        return torch.where(cond_mask.to(torch.bool)[..., None], cond.to(like), null)


def motion_checkpoint(model: MotionDenoiser, figures: Optional[Mapping[str, Any]] = None,
                      training: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The motion prior's checkpoint (:func:`server.weights.checkpoint_of`, full precision)."""
    from ..weights import checkpoint_of
    return checkpoint_of(model, MOTION_CHECKPOINT_FORMAT, MOTION_CHECKPOINT_VERSION, figures, training)


def load_motion_prior(path: Optional[Union[str, PathLike]] = None, **resolve: Any) -> MotionDenoiser:
    """The trained motion prior in eval mode (resolved like the other checkpoints,
    :func:`server.weights.resolve_weights`). Raises WeightsError."""
    from ..weights import load_model
    return load_model(MOTION_WEIGHTS_NAME, path, MOTION_CHECKPOINT_FORMAT, "motion prior",
                      lambda config: MotionDenoiser(MotionConfig.from_dict(config)), **resolve)


def motion_prior_or_none(what: str) -> Optional[MotionDenoiser]:
    """The motion prior, or None with a logged warning when its weights are missing or unusable (``what``: the
    user of the fallback, for the log, e.g. "clips are refined with the per-frame prior")."""
    from ..errors import WeightsError
    try:
        return load_motion_prior()
    except WeightsError as exc:
        log.warning("motion prior unavailable (%s); %s", exc.message, what)
        return None

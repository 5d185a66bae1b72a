"""The temporal regressor: a window of detector evidence -> per-frame SMPL pose, shape and camera.

It reads what the per-frame regressor (:mod:`.network`) makes of every frame -- its hidden features (H), its pose
(144), camera (3) and betas (B) -- together with the frame's own input features (:meth:`Regressor.features`) and
the footage's frame rate, and looks along time with a stack of dilated temporal convolutions (VideoPose3D's
shape): each block is LayerNorm -> Conv1d(kernel 3, dilation d, no padding) -> GELU -> Conv1d(1x1), residual.
Dilations 1, 2, 4, 8, 16 see 31 frames on each side (about 1 s at 30 fps); the heads add a correction to the
per-frame regressor's pose, camera and betas (zero at initialisation, so an untrained temporal model is the
per-frame regressor).

The convolutions have no padding: T input frames give T - 2 * context output frames. :func:`.predict.regress_temporal`
repeats the first and last frame of a clip ``context`` times and runs the clip in blocks, so any clip length runs
in linear time and flat memory, and blocked output equals a whole-clip pass exactly. The per-frame regressor is
part of this model (its weights are stored in the checkpoint too), so the file stands alone.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..body.rot6d import POSE_6D_DIM
from .network import Regressor, RegressorConfig

CHECKPOINT_FORMAT = "blender_scorehmr.temporal_regressor"
CHECKPOINT_VERSION = 1
TEMPORAL_WEIGHTS_NAME = "temporal_regressor.pt"
REFERENCE_FPS = 30.0


@dataclass(frozen=True)
class TemporalConfig:
    """Shape of the temporal model; stored in its checkpoint as plain types (``frame``: the per-frame
    regressor's config as a dict)."""

    channels: int = 256
    dilations: Tuple[int, ...] = (1, 2, 4, 8, 16)
    frame: Optional[Dict[str, Any]] = None

    @property
    def context(self) -> int:
        """Frames each output frame sees on either side."""
        return sum(self.dilations)

    def frame_config(self) -> RegressorConfig:
        return RegressorConfig.from_dict(self.frame) if self.frame else RegressorConfig()

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["dilations"] = list(self.dilations)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TemporalConfig":
        """Rejects unknown keys (:func:`server.weights.config_from_dict`)."""
        from ..weights import config_from_dict
        config = config_from_dict(cls, data, "temporal regressor")
        return cls(config.channels, tuple(int(d) for d in config.dilations), config.frame)


def fps_feature(fps: Tensor) -> Tensor:
    """(...,) frames per second -> (...,) log(fps / 30): 0 for the training data's own rate."""
    return torch.log(fps.clamp_min(1.0) / REFERENCE_FPS)


class TemporalBlock(nn.Module):
    """h (B, C, T) -> (B, C, T - 2d): h (cropped) + Conv1x1(GELU(DilatedConv(LayerNorm(h))))."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        y = self.norm(h.transpose(1, 2)).transpose(1, 2)
        d = self.dilation
        return h[:, :, d:-d] + self.mix(nn.functional.gelu(self.conv(y)))


class TemporalRegressor(nn.Module):
    """Per-frame evidence of T frames -> corrected pose, camera and betas of the T - 2 * context middle frames."""

    def __init__(self, config: TemporalConfig, frame: Optional[Regressor] = None) -> None:
        super().__init__()
        self.frame = frame if frame is not None else Regressor(config.frame_config())
        fc = self.frame.config
        self.config = TemporalConfig(config.channels, config.dilations, fc.to_dict())
        c = config.channels
        per_frame = fc.hidden + POSE_6D_DIM + 3 + fc.num_betas + fc.input_dim + 1
        self.inp = nn.Linear(per_frame, c)
        self.blocks = nn.Sequential(*[TemporalBlock(c, d) for d in config.dilations])
        self.norm = nn.LayerNorm(c)
        self.pose_head = nn.Linear(c, POSE_6D_DIM)
        self.cam_head = nn.Linear(c, 3)
        self.betas_head = nn.Linear(c, fc.num_betas)
        for head in (self.pose_head, self.cam_head, self.betas_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    @property
    def context(self) -> int:
        return self.config.context

    def frame_outputs(self, features: Tensor) -> Dict[str, Tensor]:
        """features (M, F) -> the per-frame regressor's outputs (x, betas, cam, hidden), without gradients."""
        with torch.no_grad():
            return self.frame(features)

    def forward(self, features: Tensor, frame: Dict[str, Tensor], fps: Tensor) -> Dict[str, Tensor]:
        """features (B, T, F) frame inputs, ``frame`` = :meth:`frame_outputs` of them reshaped to (B, T, ...),
        fps (B,) -> dict x (B, T', 144), cam (B, T', 3), betas (B, T', nb) with T' = T - 2 * context."""
        b, t = features.shape[:2]
        rate = fps_feature(fps.to(features))[:, None, None].expand(b, t, 1)
        per = torch.cat([frame["hidden"], frame["x"], frame["cam"], frame["betas"], features, rate], -1)
        h = self.blocks(self.inp(per).transpose(1, 2)).transpose(1, 2)
        h = self.norm(h)
        k = self.context
        keep = slice(k, t - k)
        return {"x": frame["x"][:, keep] + self.pose_head(h), "cam": frame["cam"][:, keep] + self.cam_head(h),
                "betas": frame["betas"][:, keep] + self.betas_head(h)}


def num_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def checkpoint_dict(model: TemporalRegressor, figures: Optional[Mapping[str, Any]] = None,
                    training: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The temporal regressor's checkpoint (:func:`server.weights.checkpoint_of`, float weights as float16)."""
    from ..weights import checkpoint_of
    return checkpoint_of(model, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, figures, training, half=True)


def load_temporal_regressor(path: Optional[Union[str, PathLike]] = None, **resolve: Any) -> TemporalRegressor:
    """The trained temporal regressor in eval mode (resolved like the other checkpoints,
    :func:`server.weights.resolve_weights`). Raises WeightsError."""
    from ..weights import load_model
    return load_model(TEMPORAL_WEIGHTS_NAME, path, CHECKPOINT_FORMAT, "temporal regressor",
                      lambda config: TemporalRegressor(TemporalConfig.from_dict(config)), **resolve)


def receptive_field(config: TemporalConfig) -> int:
    """Input frames one output frame depends on."""
    return 2 * config.context + 1


def stride_for(fps: float) -> int:
    """Frames to step over at high frame rates, so the model sees footage at 24-75 fps (its training range)."""
    return max(1, int(math.ceil(fps / 75.0)))

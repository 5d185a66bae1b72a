"""The regressor network: detector evidence -> 6D pose (144), betas, box-relative camera (3).

Input: the prior's condition features (:func:`server.diffusion.condition.keypoints_to_condition`, 2D landmarks in
the person box + hip-centred world landmarks) plus three view features ``((box_u - c_u) / f, (box_v - c_v) / f,
half_size / f)``: where the person is in the frame changes how a camera-frame orientation looks (CLIFF's point),
and box-only features cannot know it; the fourth view feature says whether world landmarks were given (other
detectors have none: the regressor is trained with them dropped for some samples). A residual MLP (LayerNorm -> Linear -> GELU) gives the hidden features
(N, hidden); heads give the pose as an offset from the training mean in 6D, betas and ``(a, b, s)`` of
:func:`server.fitting.camera.box_camera_to_position` for the pelvis.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..body.rot6d import POSE_6D_DIM
from ..diffusion.condition import condition_dim, keypoints_to_condition, person_box

CHECKPOINT_FORMAT = "blender_scorehmr.regressor"
CHECKPOINT_VERSION = 1
REGRESSOR_WEIGHTS_NAME = "regressor.pt"
VIEW_FEATURES = 4   # box centre offset (2), box size (1) relative to the focal length; world landmarks present (1)


@dataclass(frozen=True)
class RegressorConfig:
    """Shape of the regressor; stored in its checkpoint as plain types."""

    hidden: int = 1024
    num_blocks: int = 3
    num_betas: int = 10
    use_world: bool = True

    @property
    def input_dim(self) -> int:
        return condition_dim(self.use_world) + VIEW_FEATURES

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RegressorConfig":
        """Rejects unknown keys (:func:`server.weights.config_from_dict`)."""
        from ..weights import config_from_dict
        return config_from_dict(cls, data, "regressor")


def view_features(keypoints: Tensor, focal: Tensor, centre: Tensor, has_world: Tensor) -> Tuple[Tensor, Tensor]:
    """keypoints (N, 33, 3), focal (N,), centre (N, 2), has_world (N,) -> (features (N, 4), person box (N, 3))."""
    box = person_box(keypoints.to(torch.float32))
    f = focal.to(box)[:, None]
    return torch.cat([(box[:, :2] - centre.to(box)) / f, box[:, 2:] / f, has_world.to(box)[:, None]], -1), box


class Block(nn.Module):
    """h (N, H) -> h + MLP(LayerNorm(h))."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.mlp(h)


class Regressor(nn.Module):
    """features (N, input_dim) -> dict(x (N, 144) 6D pose, camera-frame root; betas (N, B); cam (N, 3);
    hidden (N, H) features)."""

    # buffers, registered in __init__
    x_mean: Tensor
    cam_mean: Tensor

    def __init__(self, config: RegressorConfig = RegressorConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.inp = nn.Sequential(nn.Linear(config.input_dim, h), nn.GELU())
        self.blocks = nn.Sequential(*[Block(h) for _ in range(config.num_blocks)])
        self.norm = nn.LayerNorm(h)
        self.pose_head = nn.Linear(h, POSE_6D_DIM)
        self.betas_head = nn.Linear(h, config.num_betas)
        self.cam_head = nn.Linear(h, 3)
        for head in (self.pose_head, self.betas_head, self.cam_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.register_buffer("x_mean", torch.zeros(POSE_6D_DIM))
        self.register_buffer("cam_mean", torch.zeros(3))

    def forward(self, features: Tensor) -> Dict[str, Tensor]:
        hidden = self.norm(self.blocks(self.inp(features)))
        return {"x": self.x_mean + self.pose_head(hidden), "betas": self.betas_head(hidden),
                "cam": self.cam_mean + self.cam_head(hidden), "hidden": hidden}

    def features(self, keypoints: Tensor, world: Optional[Tensor], focal: Tensor, centre: Tensor,
                 has_world: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Detector evidence -> (network input (N, input_dim), person box (N, 3)).

        ``world`` None (a detector without metric landmarks) or rows with ``has_world`` False get zero world
        features and the flag 0."""
        n = keypoints.shape[0]
        if world is None:
            world, has_world = keypoints.new_zeros(n, keypoints.shape[1], 3), keypoints.new_zeros(n, dtype=torch.bool)
        elif has_world is None:
            has_world = torch.ones(n, dtype=torch.bool)
        world = torch.where(has_world.reshape(n, 1, 1), world[..., :3].to(keypoints), keypoints.new_zeros(()))
        view, box = view_features(keypoints, focal, centre, has_world)
        cond = keypoints_to_condition(keypoints, world, self.config.use_world)
        return torch.cat([cond, view], -1), box


def checkpoint_dict(model: Regressor, figures: Optional[Mapping[str, Any]] = None,
                    training: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The regressor's checkpoint (:func:`server.weights.checkpoint_of`, float weights as float16)."""
    from ..weights import checkpoint_of
    return checkpoint_of(model, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, figures, training, half=True)


def load_regressor(path: Optional[Union[str, PathLike]] = None, **resolve: Any) -> Regressor:
    """The trained regressor in eval mode (resolved like the prior, :func:`server.weights.resolve_weights`).
    Raises WeightsError."""
    from ..weights import load_model
    return load_model(REGRESSOR_WEIGHTS_NAME, path, CHECKPOINT_FORMAT, "regressor",
                      lambda config: Regressor(RegressorConfig.from_dict(config)), **resolve)

"""What every fit consumes and produces: the detector's observations of N frames and a body estimate.

Tensors are float32 on the CPU unless a caller moves them. One view of N frames:
``keypoints`` (N, 33, 3) BlazePose image landmarks (pixels, confidence 0..1); ``world`` (N, 33, 3) BlazePose metric
landmarks or None; ``focal`` (N,) pixels; ``centre`` (N, 2) principal point, pixels; ``image_size`` (N, 2) width,
height; optionally ``frames`` (N,) int64 the video frame numbers of the rows (a detection gap shows as a jump)
and ``fps`` the footage's frame rate (None: unknown, taken as 30 and contiguous). An estimate: ``x`` (N, 144) 6D pose (joint 0 = global orientation in the camera frame, OpenCV axes),
``betas`` (N, B), ``transl`` (N, 3) SMPL translation in the camera frame (result-file convention).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.rot6d import x_to_rotmats
from .camera import project


@dataclass(frozen=True)
class Observations:
    """Detector evidence of N frames of one view (shapes in the module docstring)."""

    keypoints: Tensor
    focal: Tensor
    centre: Tensor
    image_size: Tensor
    world: Optional[Tensor] = None
    frames: Optional[Tensor] = None
    fps: Optional[float] = None

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def select(self, index: Tensor) -> "Observations":
        """The frames ``index`` (a LongTensor or bool mask) of this view."""
        return replace(self, keypoints=self.keypoints[index], focal=self.focal[index], centre=self.centre[index],
                       image_size=self.image_size[index], world=None if self.world is None else self.world[index],
                       frames=None if self.frames is None else self.frames[index])

    def in_camera_axes(self) -> "Observations":
        """These observations with BlazePose's world landmarks turned from the detector's line of sight onto the
        camera's axes (:mod:`server.detection.line_of_sight`), as the fit and the regressors read them (the
        detector's own output needs it; synthetic views are made camera-aligned)."""
        if self.world is None:
            return self
        from ..detection.line_of_sight import world_in_camera_axes
        world = world_in_camera_axes(self.world.numpy(), self.keypoints.numpy(), self.focal.numpy(),
                                     self.centre.numpy())
        return replace(self, world=torch.from_numpy(world))

    @staticmethod
    def from_image(keypoints: Tensor, width: float, height: float, focal: Optional[float] = None,
                   world: Optional[Tensor] = None, frames: Optional[Tensor] = None,
                   fps: Optional[float] = None) -> "Observations":
        """Frames of one camera of ``width`` x ``height`` pixels; focal defaults to max(width, height) (the
        worker's stated assumption), principal point at the image centre; ``frames`` and ``fps`` as in the module
        docstring."""
        n = keypoints.shape[0]
        f = float(focal) if focal else float(max(width, height))
        return Observations(keypoints=keypoints.to(torch.float32), focal=torch.full((n,), f),
                            centre=torch.tensor([width / 2.0, height / 2.0]).expand(n, 2).clone(),
                            image_size=torch.tensor([float(width), float(height)]).expand(n, 2).clone(),
                            world=None if world is None else world[..., :3].to(torch.float32),
                            frames=None if frames is None else torch.as_tensor(frames, dtype=torch.int64),
                            fps=None if fps is None else float(fps))


@dataclass(frozen=True)
class Estimate:
    """A body estimate of N frames (shapes in the module docstring)."""

    x: Tensor
    betas: Tensor
    transl: Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def detach(self) -> "Estimate":
        return Estimate(self.x.detach(), self.betas.detach(), self.transl.detach())


def posed_body(skinning: LandmarkSkinning, x: Tensor, betas: Tensor, transl: Tensor) -> Tuple[Tensor, Tensor]:
    """6D pose (N, 144), betas (N, B), transl (N, 3) -> camera-frame joints (N, 24, 3), landmarks (N, 33, 3)."""
    return skinning(x_to_rotmats(x), betas, transl)


def reproject(skinning: LandmarkSkinning, estimate: Estimate, obs: Observations) -> Tensor:
    """The estimate's 33 landmarks in pixels (N, 33, 2)."""
    _, landmarks = posed_body(skinning, estimate.x, estimate.betas, estimate.transl)
    return project(landmarks, obs.focal, obs.centre)

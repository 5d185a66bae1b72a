"""The denoiser's condition: the detector's evidence as a fixed-size feature vector (one pure function).

The same :func:`keypoints_to_condition` runs in training (on synthetic views, :mod:`server.train.synthetic_views`)
and at run time (on BlazePose output, :mod:`server.detection.blazepose`), so the two can never drift apart.

Input conventions (BlazePose's): ``keypoints`` (N, 33, 3) image landmarks ``(u, v, visibility)`` in pixels,
BlazePose order; ``world`` (N, 33, 3 or 4) metric world landmarks in the camera's orientation (x right, y down,
z away from the camera), origin between the hips; a 4th column (visibility) is ignored.
Features (N, 99) or (N, 198): per landmark ``(x, y, visibility)`` with x, y normalised to a square box around the
visible landmarks (centre 0, box edge at +-1, clamped to +-3), then optionally the hip-centred world landmarks in
metres (clamped to +-2).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..body.layout import LANDMARK_INDEX, NUM_LANDMARKS

KEYPOINT_FEATURES = NUM_LANDMARKS * 3   # 99
WORLD_FEATURES = NUM_LANDMARKS * 3      # 99
BOX_MIN_VISIBILITY = 0.5                # landmarks at least this visible define the person box
BOX_PADDING = 1.2                       # box edge = padding * half the larger side of the landmarks' extent
_HIPS = (LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"])


def condition_dim(use_world: bool) -> int:
    """Length of the feature vector :func:`keypoints_to_condition` returns."""
    return KEYPOINT_FEATURES + (WORLD_FEATURES if use_world else 0)


def person_box(keypoints: Tensor, min_visibility: float = BOX_MIN_VISIBILITY) -> Tensor:
    """(N, 33, 3) pixel landmarks -> (N, 3) square boxes ``(centre_u, centre_v, half_size)`` in pixels.

    The box spans the landmarks with visibility >= min_visibility (all of them when fewer than two are), padded
    by :data:`BOX_PADDING`; the half size is at least one pixel."""
    uv, vis = keypoints[..., :2], keypoints[..., 2]
    use = vis >= min_visibility
    use = torch.where(use.sum(-1, keepdim=True) >= 2, use, torch.ones_like(use))
    big = torch.finfo(uv.dtype).max
    lo = torch.where(use[..., None], uv, torch.full_like(uv, big)).amin(1)
    hi = torch.where(use[..., None], uv, torch.full_like(uv, -big)).amax(1)
    centre = 0.5 * (lo + hi)
    half = (0.5 * BOX_PADDING * (hi - lo).amax(-1)).clamp_min(1.0)
    return torch.cat([centre, half[:, None]], -1)


def keypoints_to_condition(keypoints: Tensor, world: Optional[Tensor] = None, use_world: bool = False) -> Tensor:
    """Detector evidence -> condition features.

    keypoints (N, 33, 3) pixels + visibility; world (N, 33, 3|4) metres or None -> (N, condition_dim(use_world)).
    With ``use_world`` and no ``world`` given, raises ValueError (a model trained with them needs them)."""
    if keypoints.dim() != 3 or keypoints.shape[1:] != (NUM_LANDMARKS, 3):
        raise ValueError(f"keypoints must be (N, {NUM_LANDMARKS}, 3), got {tuple(keypoints.shape)}")
    kp = keypoints.to(torch.float32)
    box = person_box(kp)
    xy = ((kp[..., :2] - box[:, None, :2]) / box[:, None, 2:]).clamp(-3.0, 3.0)
    feats = [torch.cat([xy, kp[..., 2:3].clamp(0.0, 1.0)], -1).reshape(kp.shape[0], KEYPOINT_FEATURES)]
    if use_world:
        if world is None:
            raise ValueError("this condition uses world landmarks; pass world (N, 33, 3)")
        w = world[..., :3].to(kp)
        w = w - 0.5 * (w[:, _HIPS[0]] + w[:, _HIPS[1]])[:, None]
        feats.append(w.clamp(-2.0, 2.0).reshape(kp.shape[0], WORLD_FEATURES))
    return torch.cat(feats, -1)

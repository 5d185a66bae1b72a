"""Synthetic detector observations of mocap poses: what BlazePose would report for a body seen by a random camera.

Per sample: a random body shape; a camera on an orbit around the pelvis (any azimuth, elevation -10..35 deg, a
little roll), a focal length for a 35..80 deg field of view, a distance that makes the person fill 30-90% of the
image height (sometimes more: close-ups cut off at the border), panned so the person is off-centre. The 33 landmarks
are projected and corrupted like a detector's output: pixel noise proportional to the person's size with heavy
tails, dropped landmarks (visibility ~0, position far off), low-confidence ones, lower confidence on limbs behind
the body, landmarks outside the image, and rare whole-body left/right swaps. World landmarks (BlazePose's metric,
hip-centred, camera-oriented output) get a body-size error and extra depth noise.

Camera frame (OpenCV, as BlazePose's world landmarks and ScoreHMR): x right, y down, z away from the camera. The
diffusion target ``x0`` holds the global orientation IN THAT CAMERA FRAME (what the image determines).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple, cast

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from ..body.layout import BLAZEPOSE_NAMES, LANDMARK_INDEX
from ..body.rot6d import poses_to_x

Camera = Tuple[Tensor, Tensor, Tensor, Tensor]   # :func:`cameras`'s rotation, image size, focal, hips

LONG_SIDE = 1920.0
_HIPS = (LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"])
_SWAP = torch.tensor([BLAZEPOSE_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
                      for n in BLAZEPOSE_NAMES])
_LIMBS = torch.tensor([i for i, n in enumerate(BLAZEPOSE_NAMES)
                       if any(k in n for k in ("elbow", "wrist", "pinky", "index", "thumb", "knee", "ankle",
                                               "heel", "foot"))])


@dataclass(frozen=True)
class ViewConfig:
    """Ranges of the random cameras and the detector noise (angles in degrees, fractions of the person's size)."""

    elevation: Tuple[float, float] = (-10.0, 35.0)
    roll_std: float = 4.0
    fov: Tuple[float, float] = (35.0, 80.0)            # field of view across the long side
    fill: Tuple[float, float] = (0.3, 0.9)            # person height / image height
    closeup_prob: float = 0.1                          # fill 1.0 .. 1.6 instead (truncated bodies)
    portrait_prob: float = 0.3
    off_centre: float = 0.25                           # hips within +-25% of the image size from the centre
    beta_std: float = 1.0
    pixel_noise: Tuple[float, float] = (0.004, 0.02)   # per-sample std as a fraction of the person's height
    outlier_prob: float = 0.04
    outlier_std: float = 0.08
    drop_rate: Tuple[float, float] = (0.0, 0.15)        # per-sample probability that a landmark is dropped
    drop_std: float = 0.15
    low_conf_prob: float = 0.08
    occluded_limb_prob: float = 0.5                    # limbs behind the torso get lower confidence
    swap_prob: float = 0.02
    world_noise: float = 0.025                         # metres
    world_depth_noise: float = 0.06
    world_scale: Tuple[float, float] = (0.9, 1.1)


@dataclass(frozen=True)
class SyntheticViews:
    """x0 (N, 144) camera-frame 6D pose; keypoints (N, 33, 3) pixels + visibility; world (N, 33, 3) metres;
    image_size (N, 2) (width, height); focal (N,) pixels (principal point at the image centre); cam_rotation
    (N, 3, 3) world -> camera; betas (N, B); transl (N, 3) SMPL translation in the camera frame (the posed pelvis
    is at ``transl + rest pelvis``, as in the result file)."""

    x0: Tensor
    keypoints: Tensor
    world: Tensor
    image_size: Tensor
    focal: Tensor
    cam_rotation: Tensor
    betas: Tensor
    transl: Tensor


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def look_at_rotation(azimuth: Tensor, elevation: Tensor, roll: Tensor) -> Tensor:
    """Angles (N,) radians -> (N, 3, 3) world -> camera rotation of a camera orbiting the origin (y up, azimuth 0
    = in front, +z), looking at it, rolled about its axis. Azimuth = elevation = roll = 0 is diag(1, -1, -1)."""
    ce, se = torch.cos(elevation), torch.sin(elevation)
    back = torch.stack([torch.sin(azimuth) * ce, se, torch.cos(azimuth) * ce], -1)   # from the target to the camera
    fwd = -back
    up = torch.tensor([0.0, 1.0, 0.0]).expand_as(fwd)
    right = torch.nn.functional.normalize(torch.cross(fwd, up, dim=-1), dim=-1)
    down = torch.cross(fwd, right, dim=-1)
    rot = torch.stack([right, down, fwd], -2)
    return rotvec_to_rotmat_torch(torch.stack([0 * roll, 0 * roll, roll], -1)) @ rot


def cameras(n: int, cfg: ViewConfig, g: torch.Generator) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """-> rotation (N, 3, 3) world -> camera (with the pan that puts the person off-centre), image size (N, 2),
    focal (N,), the hips' centre in camera coordinates (N, 3)."""
    rad = math.pi / 180.0
    rot = look_at_rotation(_uniform(n, 0.0, 2 * math.pi, g), _uniform(n, *cfg.elevation, g) * rad,
                           torch.randn(n, generator=g) * cfg.roll_std * rad)
    portrait = torch.rand(n, generator=g) < cfg.portrait_prob
    short = LONG_SIDE * 9.0 / 16.0
    size = torch.stack([torch.where(portrait, short, LONG_SIDE), torch.where(portrait, LONG_SIDE, short)], -1)
    fov = _uniform(n, *cfg.fov, g) * rad
    focal = 0.5 * LONG_SIDE / torch.tan(0.5 * fov)
    fill = torch.where(torch.rand(n, generator=g) < cfg.closeup_prob, _uniform(n, 1.0, 1.6, g),
                       _uniform(n, *cfg.fill, g))
    distance = (focal * 1.7 / (fill * size[:, 1])).clamp(1.5, 40.0)
    shift = (torch.rand(n, 2, generator=g) * 2.0 - 1.0) * cfg.off_centre * size
    pan = torch.atan(shift / focal[:, None])                                  # (N, 2) about camera y, x
    zero = torch.zeros(n)
    turn = rotvec_to_rotmat_torch(torch.stack([zero, pan[:, 0], zero], -1)) @ \
        rotvec_to_rotmat_torch(torch.stack([-pan[:, 1], zero, zero], -1))    # hips land near centre + shift
    return turn @ rot, size, focal, turn[..., 2] * distance[:, None]


def _visibility(cam: Tensor, uv: Tensor, size: Tensor, cfg: ViewConfig, g: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Camera-frame landmarks (N, 33, 3), clean pixels (N, 33, 2) -> visibility (N, 33), extra pixel std as a
    fraction of the person's height (N, 33)."""
    n, l = uv.shape[:2]
    vis = _uniform(n * l, 0.85, 1.0, g).reshape(n, l)
    extra = torch.zeros(n, l)
    hip_depth = 0.5 * (cam[:, _HIPS[0], 2] + cam[:, _HIPS[1], 2])
    behind = torch.zeros(n, l, dtype=torch.bool)
    behind[:, _LIMBS] = cam[:, _LIMBS, 2] > hip_depth[:, None] + 0.1
    hidden = behind & (torch.rand(n, l, generator=g) < cfg.occluded_limb_prob)
    vis = torch.where(hidden, _uniform(n * l, 0.2, 0.8, g).reshape(n, l), vis)
    extra = torch.where(hidden, torch.full_like(extra, 0.02), extra)
    low = torch.rand(n, l, generator=g) < cfg.low_conf_prob
    vis = torch.where(low, _uniform(n * l, 0.3, 0.7, g).reshape(n, l), vis)
    extra = torch.where(low, torch.full_like(extra, 0.02), extra)
    outside = ((uv < 0) | (uv > size[:, None])).any(-1)
    drop = (torch.rand(n, l, generator=g) < _uniform(n, *cfg.drop_rate, g)[:, None]) | outside
    vis = torch.where(drop, _uniform(n * l, 0.0, 0.3, g).reshape(n, l) * torch.where(outside, 0.7, 1.0), vis)
    extra = torch.where(drop, torch.full_like(extra, cfg.drop_std), extra)
    return vis, extra


def synthesize_views(skinning: LandmarkSkinning, poses: Tensor, g: torch.Generator,
                     cfg: ViewConfig = ViewConfig()) -> SyntheticViews:
    """poses (N, 24, 3) axis-angle, root in SMPL's canonical world frame (y up) -> a random view of each."""
    n = poses.shape[0]
    betas = (torch.randn(n, skinning.num_betas, generator=g) * cfg.beta_std).clamp(-3.0, 3.0)
    return observe(skinning, poses, betas, cameras(n, cfg, g), cfg, g)


def synthesize_clip_views(skinning: LandmarkSkinning, poses: Tensor, g: torch.Generator,
                          cfg: ViewConfig = ViewConfig()) -> SyntheticViews:
    """poses (T, 24, 3) consecutive frames of one clip -> one view of the clip: ONE random camera (rotation, image
    size, focal, distance) and ONE body shape for all T frames, detector noise, dropouts and swaps drawn
    independently per frame (as a real detector's). The camera follows the hips (a tracking shot: the hips stay
    at the same image point; the mocap's root translation is not used)."""
    t = poses.shape[0]
    betas = (torch.randn(1, skinning.num_betas, generator=g) * cfg.beta_std).clamp(-3.0, 3.0)
    camera = cast(Camera, tuple(c.expand(t, *c.shape[1:]).clone() for c in cameras(1, cfg, g)))
    return observe(skinning, poses, betas.expand(t, -1).clone(), camera, cfg, g)


def synthesize_multiview_clip(skinning: LandmarkSkinning, poses: Tensor, views: int, g: torch.Generator,
                              cfg: ViewConfig = ViewConfig()) -> List[SyntheticViews]:
    """poses (T, 24, 3) of one clip -> ``views`` synchronised views of the SAME body (one shape) by different
    random cameras (each as :func:`synthesize_clip_views`'s), detector noise drawn per view and frame."""
    t = poses.shape[0]
    betas = (torch.randn(1, skinning.num_betas, generator=g) * cfg.beta_std).clamp(-3.0, 3.0).expand(t, -1).clone()
    out = []
    for _ in range(views):
        camera = cast(Camera, tuple(c.expand(t, *c.shape[1:]).clone() for c in cameras(1, cfg, g)))
        out.append(observe(skinning, poses, betas, camera, cfg, g))
    return out


def observe(skinning: LandmarkSkinning, poses: Tensor, betas: Tensor, camera: Tuple[Tensor, Tensor, Tensor, Tensor],
            cfg: ViewConfig, g: torch.Generator, posed: Optional[Tuple[Tensor, Tensor]] = None) -> SyntheticViews:
    """poses (N, 24, 3) axis-angle or (N, 24, 3, 3), betas (N, B), camera = :func:`cameras`'s (rotation, size, focal, hips) per sample ->
    the detector's view (per-sample noise, visibility and swaps drawn from ``g``). ``posed``: the body-frame
    ``skinning(poses, betas)`` when the caller already has it."""
    n = poses.shape[0]
    with torch.no_grad():
        joints, lms = skinning(poses, betas) if posed is None else posed       # (N, 24|33, 3) body frame
    rot, size, focal, hips_cam = camera
    hips = 0.5 * (lms[:, _HIPS[0]] + lms[:, _HIPS[1]])
    centred = lms - hips[:, None]
    look = torch.einsum("nab,nlb->nla", rot, centred)                         # camera-oriented, hip-centred
    pelvis = torch.einsum("nab,nb->na", rot, joints[:, 0] - hips) + hips_cam
    transl = pelvis - joints[:, 0]                # skinning puts the rest pelvis at joints[:, 0] before transl
    cam = look + hips_cam[:, None]
    z = cam[..., 2:3].clamp_min(0.1)
    uv = focal[:, None, None] * cam[..., :2] / z + 0.5 * size[:, None]
    height = (uv[..., 1].amax(1) - uv[..., 1].amin(1)).clamp_min(10.0)
    vis, extra = _visibility(cam, uv, size, cfg, g)
    sigma = _uniform(n, *cfg.pixel_noise, g)[:, None] + extra
    outlier = torch.rand(n, uv.shape[1], generator=g) < cfg.outlier_prob
    sigma = sigma + outlier * cfg.outlier_std
    noisy = uv + torch.randn(uv.shape, generator=g) * (sigma * height[:, None])[..., None]
    keypoints = torch.cat([noisy, vis[..., None]], -1)
    world = look * _uniform(n, *cfg.world_scale, g)[:, None, None] + torch.randn(look.shape, generator=g) * \
        torch.tensor([cfg.world_noise, cfg.world_noise, math.hypot(cfg.world_noise, cfg.world_depth_noise)])
    swap = torch.rand(n, generator=g) < cfg.swap_prob
    keypoints = torch.where(swap[:, None, None], keypoints[:, _SWAP], keypoints)
    world = torch.where(swap[:, None, None], world[:, _SWAP], world)
    mats = poses if poses.shape[-2:] == (3, 3) else rotvec_to_rotmat_torch(poses)
    rotmats = torch.cat([(rot @ mats[:, 0])[:, None], mats[:, 1:]], 1)
    return SyntheticViews(poses_to_x(rotmats), keypoints, world, size, focal, rot, betas, transl)

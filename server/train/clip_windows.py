"""Windows of consecutive mocap frames seen by one synthetic camera: the temporal regressor's training samples.

A window is ``length`` frames of one clip, read at a random playback speed (0.4-1.25 x, so footage at 24-75 fps
looks like something seen in training; rotations interpolated between neighbouring frames), mirrored half the
time, with the clip's first/last frame repeated where the window runs past its ends (what the streaming
inference does at a clip's ends). One random body shape and one camera per window: a static camera for 60% of
them (the body moves through the frame with its mocap translation), a tracking shot (the hips stay put) for the
rest. Detector errors: :mod:`.synthetic_views`'s per-frame noise with :data:`.clip_noise.CLIP_VIEW` (or, for 35%
of the windows, the heavier independent noise the per-frame regressor is trained with), then the temporal errors
of :func:`.clip_noise.corrupt_clip`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from ..body.rot6d import rot6d_to_rotmat, rotmat_to_rot6d
from .clip_noise import _SIDE_SWAP, CLIP_VIEW, ClipNoiseConfig, corrupt_clip_with_swaps
from .pose_data import dataset_api, source_balanced_weights
from .synthetic_views import SyntheticViews, ViewConfig, cameras, observe

STATIC_PROB = 0.6
SPEED_RANGE = (0.4, 1.25)
MIRROR_PROB = 0.5
HEAVY_FRAME_PROB = 0.35
TRAINING_FPS = 30.0


@dataclass(frozen=True)
class ClipSet:
    """Clips of one split: poses (N, 24, 3) axis-angle, transl (N, 3) metres, all clips concatenated;
    starts (C,) and lengths (C,) of each clip; frame_weights (N,) float64 sampling weights (source-balanced)."""

    poses: Tensor
    transl: Tensor
    starts: Tensor
    lengths: Tensor
    frame_weights: Tensor

    def __len__(self) -> int:
        return int(self.poses.shape[0])


def load_clip_sets(path: Union[str, Path]) -> Tuple[ClipSet, ClipSet]:
    """The pose dataset -> (train, val) clip sets (split by subject as stored)."""
    data = dataset_api()[0](path)
    split = np.asarray(data["split"]).astype(str)
    sets = []
    for name in ("train", "val"):
        keep = split == name
        clip = np.asarray(data["clip_id"])[keep]
        change = np.flatnonzero(np.diff(clip) != 0) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        lengths = np.diff(np.concatenate([starts, [len(clip)]])).astype(np.int64)
        sources = np.asarray(data["source_id"])[keep] if "source_id" in data else np.zeros(len(clip))
        sets.append(ClipSet(torch.from_numpy(np.asarray(data["poses"], np.float32)[keep]),
                            torch.from_numpy(np.asarray(data["transl"], np.float32)[keep]),
                            torch.from_numpy(starts), torch.from_numpy(lengths),
                            torch.from_numpy(source_balanced_weights(sources) if len(clip) else np.zeros(0))))
    return sets[0], sets[1]


def _clip_of(clips: ClipSet, frame: int) -> int:
    return int(torch.searchsorted(clips.starts, torch.tensor([frame]), right=True)[0]) - 1


def read_window(clips: ClipSet, frame: int, length: int, speed: float, mirror: bool) -> Tuple[Tensor, Tensor]:
    """The window of ``length`` output frames centred on dataset frame ``frame`` at ``speed`` source frames per
    output frame -> poses (length, 24, 3, 3) rotation matrices, transl (length, 3); clip ends repeated."""
    from ..data.poses import mirror_poses, mirror_transl
    c = _clip_of(clips, frame)
    s, n = int(clips.starts[c]), int(clips.lengths[c])
    pos = (frame - s) + (torch.arange(length, dtype=torch.float64) - 0.5 * (length - 1)) * speed
    pos = pos.clamp(0.0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(n - 1)
    frac = (pos - lo.double()).float()
    first = int(lo.min())
    lo, hi = lo - first, hi - first
    poses, transl = clips.poses[s + first:s + int(hi.max()) + first + 1], clips.transl[s + first:s + int(hi.max()) + first + 1]
    if mirror:
        poses = torch.from_numpy(mirror_poses(poses.numpy()).astype(np.float32))
        transl = torch.from_numpy(mirror_transl(transl.numpy()).astype(np.float32))
    r_lo, r_hi = rotvec_to_rotmat_torch(poses[lo]), rotvec_to_rotmat_torch(poses[hi])
    f = frac[:, None, None, None]
    six = rotmat_to_rot6d((1.0 - f) * r_lo + f * r_hi)
    rot = rot6d_to_rotmat(six)
    return rot, (1.0 - frac[:, None]) * transl[lo] + frac[:, None] * transl[hi]


def _window_camera(skinning: LandmarkSkinning, rot: Tensor, transl: Tensor, betas: Tensor, static: bool,
                   cfg: ViewConfig, g: torch.Generator) -> Tuple[Tuple[Tensor, Tensor, Tensor, Tensor],
                                                                 Tuple[Tensor, Tensor]]:
    """One camera for a window of T frames -> (camera tuple per frame for :func:`observe`, body-frame posed
    joints and landmarks (T, 24|33, 3))."""
    t = rot.shape[0]
    with torch.no_grad():
        joints, lms = skinning(rot, betas)
    cam_rot, size, focal, hips0 = cameras(1, cfg, g)
    hips_cam = hips0.expand(t, 3).clone()
    if static:
        hips = 0.5 * (lms[:, 23] + lms[:, 24]) + transl                              # world hips (T, 3)
        move = hips - hips.mean(0, keepdim=True)
        extent = float(move[:, [0, 2]].norm(dim=-1).max())
        distance = float(hips0.norm())
        hips_cam = hips0 * (distance + extent) / distance + torch.einsum("ab,tb->ta", cam_rot[0], move)
    camera = (cam_rot.expand(t, 3, 3).clone(), size.expand(t, 2).clone(), focal.expand(t).clone(), hips_cam)
    return camera, (joints, lms)


def synthesize_window(skinning: LandmarkSkinning, clips: ClipSet, frame: int, length: int, g: torch.Generator,
                      noise: ClipNoiseConfig = ClipNoiseConfig(), view: Optional[ViewConfig] = None
                      ) -> Tuple[SyntheticViews, float]:
    """One training window (module docstring) around dataset frame ``frame`` -> (its views, the speed).
    ``view`` None: :data:`.clip_noise.CLIP_VIEW`, or for :data:`HEAVY_FRAME_PROB` of the windows the per-frame
    regressor's heavier independent noise (:class:`.synthetic_views.ViewConfig` defaults, swaps included)."""
    views, speed, _ = synthesize_window_with_swaps(skinning, clips, frame, length, g, noise, view)
    return views, speed


def synthesize_window_with_swaps(skinning: LandmarkSkinning, clips: ClipSet, frame: int, length: int,
                                 g: torch.Generator, noise: ClipNoiseConfig = ClipNoiseConfig(),
                                 view: Optional[ViewConfig] = None) -> Tuple[SyntheticViews, float, Tensor]:
    """:func:`synthesize_window` (the same random draws) -> (views, speed, swapped (T, 2) bool: the frames whose
    detected arms / legs are left/right swapped, by the per-frame whole-body swaps and the clip's swap runs)."""
    if view is None:
        view = ViewConfig() if float(torch.rand(1, generator=g)) < HEAVY_FRAME_PROB else CLIP_VIEW
    log_lo, log_hi = (math.log(v) for v in SPEED_RANGE)
    speed = math.exp(log_lo + (log_hi - log_lo) * float(torch.rand(1, generator=g)))
    mirror = float(torch.rand(1, generator=g)) < MIRROR_PROB
    rot, transl = read_window(clips, frame, length, speed, mirror)
    betas = (torch.randn(1, skinning.num_betas, generator=g) * view.beta_std).clamp(-3.0, 3.0).expand(length, -1)
    static = float(torch.rand(1, generator=g)) < STATIC_PROB
    camera, posed = _window_camera(skinning, rot, transl, betas, static, view, g)
    v = observe(skinning, rot, betas.clone(), camera, view, g, posed)
    body = _whole_body_swapped(v.world, camera[0], posed[1])
    keypoints, world, runs = corrupt_clip_with_swaps(v.keypoints, v.world, g, noise)
    views = SyntheticViews(v.x0, keypoints, world, v.image_size, v.focal, v.cam_rotation, v.betas, v.transl)
    return views, speed, runs ^ body[:, None]


def _whole_body_swapped(world: Tensor, cam_rot: Tensor, landmarks: Tensor) -> Tensor:
    """Which frames :func:`.synthetic_views.observe` swapped left for right: world landmarks (T, 33, 3) as
    observed, camera rotations (T, 3, 3), body-frame landmarks (T, 33, 3) -> (T,) bool, True where the observed
    landmarks are nearer the mirrored-label skeleton than the true one (the swap moves them by 20-40 cm, the
    world noise is a few cm)."""
    hips = 0.5 * (landmarks[:, 23] + landmarks[:, 24])
    look = torch.einsum("tab,tlb->tla", cam_rot, landmarks - hips[:, None])
    straight = (world - look).norm(dim=-1).sum(-1)
    crossed = (world - look[:, _SIDE_SWAP]).norm(dim=-1).sum(-1)
    return crossed < straight


def sample_frames(clips: ClipSet, count: int, g: torch.Generator) -> Tensor:
    """(count,) dataset frames drawn by the source-balanced weights (window centres)."""
    return torch.multinomial(clips.frame_weights, count, replacement=True, generator=g)


def stack_windows(windows: list) -> Dict[str, Tensor]:
    """[(SyntheticViews of T frames, speed), ...] -> batched tensors with a leading window axis (B, T, ...)."""
    fields = ("x0", "keypoints", "world", "image_size", "focal", "betas", "transl")
    out = {f: torch.stack([getattr(v, f) for v, _ in windows]) for f in fields}
    out["fps"] = torch.tensor([TRAINING_FPS / s for _, s in windows], dtype=torch.float32)
    return out

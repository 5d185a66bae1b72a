"""Motion cleanup with the diffusion prior: denoise and complete an SMPL pose sequence.

Two methods over the same problem (:mod:`.problem`: joint positions to fit, their confidence, a start):
- "dposer" (:mod:`.dposer`): optimisation with the prior as a one-step-denoise regulariser (DPoser);
- "guided" (:mod:`.guided`): ScoreHMR-style DDIM inversion + guided resampling with a joint-position guidance.
Joints with confidence 0 (masked, NaN keys) have no data term: their rotations start from the interpolation of the
frames where they are observed (or the prior's mean pose) and are completed by the prior and the temporal term.
``strength`` scales the prior and temporal influence; 0 returns the input unchanged (:func:`cleanup`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from ..body.layout import NUM_JOINTS
from ..body.rot6d import rotmat_to_rot6d, x_to_rotmats, rotmat_to_rotvec_torch
from ..errors import JobError
from . import dposer, guided
from .problem import (CAMERA_FROM_WORLD, OBSERVED, Problem, analytic_start, interpolate_rotations, joints_of, observed_rotations,
                      rest_joints, smooth_path, to_prior_domain)
from .sequence import MotionSequence, make_sequence

log = logging.getLogger(__name__)

METHODS = ("dposer", "guided")
Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]


@dataclass(frozen=True)
class CleanupSettings:
    """Knobs of one cleanup (CPU defaults; figures in the module docstrings of :mod:`.dposer` / :mod:`.guided`).

    ``strength`` multiplies the prior and temporal weights (1 = default, 0 = no cleanup)."""

    method: str = "dposer"
    strength: float = 1.0
    seed: int = 0
    # dposer: passes x steps of Adam; per-pass weights (data decaying, temporal / prior growing)
    passes: int = 3
    steps_per_pass: int = 40
    lr: float = 0.05                        # Adam on the z-scored 6D pose, cosine decay within each pass ...
    pelvis_lr: float = 0.01                 # ... and on the pelvis path (metres)
    final_lr_fraction: float = 0.1
    start_smoothing: float = 10.0           # cleanup_joints: implicit acceleration step on the joints before the IK
    data_weights: Tuple[float, ...] = (1.0, 0.7, 0.5)
    temporal_weights: Tuple[float, ...] = (0.5, 1.0, 2.0)
    prior_weights: Tuple[float, ...] = (1.0, 2.0, 4.0)
    t_range: Tuple[float, float] = (0.2, 0.05)             # DPoser's motion denoising schedule (fractions of T)
    completion_t_range: Tuple[float, float] = (0.15, 0.05)  # ... and its completion schedule (some joint masked)
    prior_every: int = 1
    # guided: a data + temporal fit, then ScoreHMR-style inversion + guided resampling
    fit_steps: int = 60
    t_start: int = 50
    stride: int = 5
    iterations: int = 2
    grad_norm: float = 30.0                 # each frame's guidance gradient w.r.t. z_t rescaled to this norm
    temporal_weight: float = 1000.0         # implicit jerk step on the clean estimate (raw 6D)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not self.strength >= 0.0:
            raise ValueError(f"strength must be >= 0, got {self.strength}")
        if min(len(self.data_weights), len(self.temporal_weights), len(self.prior_weights)) < self.passes:
            raise ValueError("one data / temporal / prior weight per pass is needed")


def _run(denoiser, problem: Problem, settings: CleanupSettings, progress: Optional[Progress],
         cancelled: Optional[IsCancelled]) -> Tuple[Tensor, Tensor]:
    """Dispatch -> (x (N, 144), pelvis (N, 3)) in the prior's domain."""
    completing = bool((problem.weight < OBSERVED).any())
    if settings.method == "guided":
        return guided.refine(denoiser, problem, settings, progress, cancelled)
    t_range = settings.completion_t_range if completing else settings.t_range
    return dposer.optimise(denoiser, problem, settings, t_range, progress, cancelled)


def _check_joints(joints: np.ndarray, betas: np.ndarray) -> None:
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise JobError("bad_request", f"joints must be (N, 24, 3), got {joints.shape}.",
                       "Give SMPL joint positions in metres.")
    if joints.shape[0] < 2:
        raise JobError("bad_request", "Cleanup needs at least 2 frames.", "Pick a longer range.")
    if not np.isfinite(betas).all():
        raise JobError("bad_request", "betas contain NaN values.", "Give finite body shape coefficients.")


def cleanup_joints(denoiser, skinning: LandmarkSkinning, joints: np.ndarray, betas: np.ndarray, fps: float,
                   confidence: Optional[np.ndarray] = None, settings: CleanupSettings = CleanupSettings(),
                   progress: Optional[Progress] = None, cancelled: Optional[IsCancelled] = None) -> MotionSequence:
    """Recover poses from (noisy) joint positions (the DPoser motion-denoising protocol).

    joints (N, 24, 3) metres in SMPL's canonical world frame (y up); betas (B,); confidence (N, 24) or None
    (NaN joints get confidence 0). -> MotionSequence with root_frame "world", transl such that the pelvis is at
    ``transl + rest pelvis``. The start is swing-only inverse kinematics from the prior's mean pose."""
    joints = np.asarray(joints, dtype=np.float32)
    betas = np.asarray(betas, dtype=np.float32).reshape(-1)
    _check_joints(joints, betas)
    n = joints.shape[0]
    conf = np.ones((n, NUM_JOINTS), np.float32) if confidence is None else np.asarray(confidence, np.float32)
    conf = np.where(np.isfinite(joints).all(-1), np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
    if not (conf > 0).any(1).all():
        raise JobError("bad_request", "Some frames have no usable joint.", "Drop those frames or give them joints.")
    target = torch.from_numpy(np.nan_to_num(joints)) @ CAMERA_FROM_WORLD
    weight = torch.from_numpy(conf)
    rest = rest_joints(skinning, torch.from_numpy(betas))
    x = analytic_start(rest, smooth_path(target, settings.start_smoothing), weight, denoiser.x_mean.detach())
    pelvis = _pelvis_path(target[:, 0], weight[:, 0])
    problem = Problem(target, weight, rest, x, pelvis, float(fps))
    x, pelvis = _run(denoiser, problem, settings, progress, cancelled)
    return _to_sequence(x, pelvis, rest, betas, fps, conf, world=True)


def _pelvis_path(pelvis: Tensor, weight: Tensor) -> Tensor:
    """(N, 3) observed pelvis, (N,) confidence -> (N, 3) with untrusted frames interpolated."""
    ok = (weight >= OBSERVED).numpy()
    if ok.all() or not ok.any():
        return pelvis.clone()
    frames = np.arange(len(ok))
    p = pelvis.numpy()
    return torch.from_numpy(np.stack([np.interp(frames, frames[ok], p[ok, c]) for c in range(3)], -1))


def _to_sequence(x: Tensor, pelvis: Tensor, rest: Tensor, betas: np.ndarray, fps: float, conf: np.ndarray,
                 world: bool) -> MotionSequence:
    """Prior-domain result -> MotionSequence in the sequence's own frame."""
    rot, pelvis = to_prior_domain(x_to_rotmats(x), pelvis, world)
    poses = rotmat_to_rotvec_torch(rot).numpy().astype(np.float32)
    transl = (pelvis - rest[0]).numpy().astype(np.float32)
    return MotionSequence(poses, transl, betas, float(fps), conf, "world" if world else "camera")


@torch.no_grad()
def _sequence_problem(denoiser, skinning: LandmarkSkinning, seq: MotionSequence) -> Problem:
    """The input's own joint positions as the target; its rotations (unobserved ones interpolated) as the start."""
    world = seq.root_frame == "world"
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    rot = rotvec_to_rotmat_torch(torch.from_numpy(seq.poses))
    rot, pelvis = to_prior_domain(rot, torch.from_numpy(seq.transl) + rest[0], world)
    x = rotmat_to_rot6d(rot).reshape(len(seq), -1)
    target = joints_of(rest, x, pelvis)
    x_start = interpolate_rotations(x, observed_rotations(seq.confidence), denoiser.x_mean)
    weight = torch.from_numpy(seq.confidence)
    return Problem(target, weight, rest, x_start, _pelvis_path(pelvis, weight[:, 0]), seq.fps)


def cleanup(denoiser, skinning: LandmarkSkinning, seq: MotionSequence, settings: CleanupSettings = CleanupSettings(),
            progress: Optional[Progress] = None, cancelled: Optional[IsCancelled] = None) -> MotionSequence:
    """Clean up ``seq``: fit its own joint positions (confidence-weighted) under the prior and the temporal term;
    joints with low confidence are completed. ``strength`` 0 returns ``seq`` unchanged. Raises Cancelled."""
    seq = make_sequence(seq.poses, seq.transl, seq.betas, seq.fps, seq.confidence, seq.root_frame)
    if settings.strength == 0.0:
        return seq
    problem = _sequence_problem(denoiser, skinning, seq)
    x, pelvis = _run(denoiser, problem, settings, progress, cancelled)
    out = _to_sequence(x, pelvis, problem.rest, seq.betas, seq.fps, seq.confidence, seq.root_frame == "world")
    log.info("cleaned %d frames (%s, strength %.2f)", len(seq), settings.method, settings.strength)
    return out


def with_strength(settings: CleanupSettings, strength: float) -> CleanupSettings:
    """``settings`` with the user's strength (clamped at 0)."""
    return replace(settings, strength=max(0.0, float(strength)))

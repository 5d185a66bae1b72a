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
from dataclasses import replace
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from ..body.layout import NUM_JOINTS
from ..body.rot6d import orthonormal_x, rotmat_to_rot6d, rotmat_to_rotvec_torch, x_to_rotmats
from ..dual.dual_network import DualMotionModel
from ..dual.stream import DualPrior
from ..diffusion.motion import MotionDenoiser
from ..diffusion.windows import WindowedPrior
from ..errors import JobError
from . import dposer, guided
from .problem import (CAMERA_FROM_WORLD, OBSERVED, Problem, analytic_start, check_segments, estimate_noise,
                      interpolate_rotations, joints_of, observed_rotations, rest_joints, smooth_path, to_prior_domain)
from .sequence import MotionSequence, make_sequence
from .settings import CleanupSettings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]


def _prior(denoiser, motion: Optional[Union[MotionDenoiser, DualMotionModel]], problem: Problem):
    """The prior the methods use on ``problem``: the motion prior's windows over its clips, or the dual motion
    model's unconditional prior (no footage), when there is one."""
    if motion is None:
        return denoiser
    if isinstance(motion, DualMotionModel):
        return DualPrior.without_evidence(motion, problem.clips, problem.fps)
    return WindowedPrior(motion, problem.clips)


def _run(denoiser, problem: Problem, settings: CleanupSettings, progress: Optional[Progress],
         cancelled: Optional[IsCancelled], motion: Optional[MotionDenoiser] = None) -> Tuple[Tensor, Tensor]:
    """Dispatch -> (x (N, 144), pelvis (N, 3)) in the prior's domain. ``motion``: with ``keep_root``, the guided
    method resamples through the motion prior's windows from ``motion_t_start``; otherwise the per-frame prior is
    used (from t* = 600 the root rotation, left free, goes astray: 66-84 mm instead of 15-64 on the benchmark);
    the dposer method always keeps the per-frame prior (its one-step regulariser measured the same with the
    windows at weights 0.3-10, and worse above)."""
    completing = bool((problem.weight < OBSERVED).any())
    if settings.method == "guided":
        if motion is not None and settings.keep_root:
            settings = replace(settings, t_start=settings.motion_t_start, stride=settings.motion_stride)
        else:
            motion = None
        parts = [guided.refine(_prior(denoiser, motion, part), part, settings, progress, cancelled)
                 for part in _split(problem)]
        return torch.cat([x for x, _ in parts]), torch.cat([p for _, p in parts])
    t_range = settings.completion_t_range if completing else settings.t_range
    return dposer.optimise(denoiser, problem, settings, t_range, settings.steps, settings.prior_weight, progress,
                           cancelled)


def _split(problem: Problem) -> list:
    """One problem per clip of ``problem.segments`` (the guided method's temporal steps work on one clip)."""
    if len(problem.clips) == 1:
        return [problem]
    out, start = [], 0
    for n in problem.clips:
        cut = slice(start, start + n)
        start += n
        out.append(replace(problem, target=problem.target[cut], weight=problem.weight[cut],
                           x_start=problem.x_start[cut], pelvis_start=problem.pelvis_start[cut], segments=()))
    return out


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
                   progress: Optional[Progress] = None, cancelled: Optional[IsCancelled] = None,
                   segments: Sequence[int] = (), root: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                   motion: Optional[MotionDenoiser] = None) -> MotionSequence:
    """Recover poses from (noisy) joint positions (the DPoser motion-denoising protocol).

    joints (N, 24, 3) metres in SMPL's canonical world frame (y up); betas (B,); confidence (N, 24) or None
    (NaN joints get confidence 0); ``segments``: lengths of independent clips laid end to end (no temporal term
    across them; () = one clip); ``root``: the known root rotation (N, 3, 3) and pelvis path (N, 3), world frame,
    required with ``settings.keep_root`` (DPoser's protocol: only the body is recovered). -> MotionSequence with
    root_frame "world", transl such that the pelvis is at ``transl + rest pelvis``. The start is swing-only inverse kinematics on the joints low-passed for the measured
    noise (:func:`.problem.estimate_noise`), from the prior's mean pose."""
    joints = np.asarray(joints, dtype=np.float32)
    betas = np.asarray(betas, dtype=np.float32).reshape(-1)
    _check_joints(joints, betas)
    n = joints.shape[0]
    conf = np.ones((n, NUM_JOINTS), np.float32) if confidence is None else np.asarray(confidence, np.float32)
    conf = np.where(np.isfinite(joints).all(-1), np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
    if not (conf > 0).any(1).all():
        raise JobError("bad_request", "Some frames have no usable joint.", "Drop those frames or give them joints.")
    segments = check_segments(segments, n)
    target = torch.from_numpy(np.nan_to_num(joints)) @ CAMERA_FROM_WORLD
    weight = torch.from_numpy(conf)
    rest = rest_joints(skinning, torch.from_numpy(betas))
    noise = estimate_noise(target, weight, segments)
    per_channel = start_smoothing(noise, fps, settings)[:, None].expand(-1, 3).reshape(-1)
    smoothed = smooth_path(target, per_channel, segments)
    if settings.keep_root:
        if root is None:
            raise ValueError("keep_root needs the root rotation and pelvis path")
        root_rot = CAMERA_FROM_WORLD @ torch.as_tensor(np.asarray(root[0]), dtype=torch.float32)
        pelvis = torch.as_tensor(np.asarray(root[1]), dtype=torch.float32) @ CAMERA_FROM_WORLD
        smoothed = smoothed - smoothed[:, :1] + pelvis[:, None]
        x = analytic_start(rest, smoothed, weight, denoiser.x_mean.detach(), root_rot)
    else:
        x = analytic_start(rest, smoothed, weight, denoiser.x_mean.detach())
        pelvis = _pelvis_path(smoothed[:, 0], weight[:, 0])
    problem = Problem(target, weight, rest, x, pelvis, float(fps), noise, segments)
    log.info("cleanup of %d frames: measured joint noise %.1f mm (median over joints)", n,
             float(noise.median()) * 1000.0)
    x, pelvis = _run(denoiser, problem, settings, progress, cancelled, motion)
    return _to_sequence(x, pelvis, rest, betas, fps, conf, world=True)


def start_smoothing(noise: Tensor, fps: float, settings: CleanupSettings) -> Tensor:
    """The low-pass strength for the start, per joint (24,) or scalar like ``noise``: (noise / typical
    acceleration)^2, the Gaussian MAP weight, times the strength."""
    scale = settings.accel_scale * (30.0 / fps) ** 2 if fps > 0 else settings.accel_scale
    return (noise / scale) ** 2 * max(settings.strength, 0.0)


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
def _sequence_problem(denoiser, skinning: LandmarkSkinning, seq: MotionSequence,
                      settings: CleanupSettings) -> Problem:
    """The input's own joint positions as the target, weighted by their measured noise, and the start as with
    joints in: swing-only inverse kinematics on those joints low-passed for that noise. The inverse kinematics
    starts from the input's own rotations (unobserved ones interpolated) low-passed the same way (6D per
    coordinate, re-orthonormalised), so their twist and the end joints' rotations are kept. Those low-passed
    rotations alone were the start before: on keys solved from noisy joints (rotations noisier than their joints)
    they measured 69 and 169 mm off at 40 and 100 mm joint noise, worse than the keys themselves."""
    world = seq.root_frame == "world"
    n = len(seq)
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    rot = rotvec_to_rotmat_torch(torch.from_numpy(seq.poses))
    rot, pelvis = to_prior_domain(rot, torch.from_numpy(seq.transl) + rest[0], world)
    x = rotmat_to_rot6d(rot).reshape(n, -1)
    target = joints_of(rest, x, pelvis)
    x_own = interpolate_rotations(x, observed_rotations(seq.confidence), denoiser.x_mean)
    weight = torch.from_numpy(seq.confidence)
    noise = estimate_noise(target, weight, (n,))
    log.info("cleanup of %d frames: measured joint noise %.1f mm (median over joints)", n,
             float(noise.median()) * 1000.0)
    own = orthonormal_x(smooth_path(x_own.reshape(n, -1, 3), float(start_smoothing(noise.median(), seq.fps,
                                                                                   settings))).reshape(n, -1))
    per_channel = start_smoothing(noise, seq.fps, settings)[:, None].expand(-1, 3).reshape(-1)
    joints = smooth_path(target, per_channel)
    if settings.keep_root:
        joints = joints - joints[:, :1] + pelvis[:, None]
        x_start = analytic_start(rest, joints, weight, denoiser.x_mean.detach(), rot[:, 0], own)
    else:
        x_start = analytic_start(rest, joints, weight, denoiser.x_mean.detach(), None, own)
        pelvis = _pelvis_path(joints[:, 0], weight[:, 0])
    return Problem(target, weight, rest, x_start, pelvis, seq.fps, noise)


def cleanup(denoiser, skinning: LandmarkSkinning, seq: MotionSequence, settings: CleanupSettings = CleanupSettings(),
            progress: Optional[Progress] = None, cancelled: Optional[IsCancelled] = None,
            feet: Optional[tuple] = None, motion: Optional[MotionDenoiser] = None) -> MotionSequence:
    """Clean up ``seq``: fit its own joint positions (confidence-weighted) under the prior and the temporal term;
    joints with low confidence are completed. ``strength`` 0 returns ``seq`` unchanged. ``feet``: foot locking,
    (contact weights (N, 24), anchors (N, 24, 3), floor normal (3,), floor offset, release (N, 24), the depth below
    the floor from which a foot stands on another level) in the
    sequence's own frame (see :func:`.dposer.feet_penalty`); the data term keeps ``contact_data`` of its weight on
    contacting joints and on the released ones (the leg above them). Raises Cancelled."""
    seq = make_sequence(seq.poses, seq.transl, seq.betas, seq.fps, seq.confidence, seq.root_frame)
    if settings.strength == 0.0 and feet is None:
        return seq
    problem = _sequence_problem(denoiser, skinning, seq, settings)
    if feet is not None:
        contact, anchor, normal, release = (torch.as_tensor(np.asarray(feet[k]), dtype=torch.float32)
                                            for k in (0, 1, 2, 4))
        if seq.root_frame == "world":                                  # into the prior's (camera) domain
            anchor, normal = anchor @ CAMERA_FROM_WORLD, normal @ CAMERA_FROM_WORLD
        give = torch.maximum(contact, release)
        weight = problem.weight * (1.0 - (1.0 - settings.contact_data) * give)   # the lock wins on the legs
        problem = replace(problem, contact=contact, anchor=anchor, floor=(normal, float(feet[3]), float(feet[5])),
                          weight=weight)
    x, pelvis = _run(denoiser, problem, settings, progress, cancelled, motion)
    out = _to_sequence(x, pelvis, problem.rest, seq.betas, seq.fps, seq.confidence, seq.root_frame == "world")
    log.info("cleaned %d frames (%s, strength %.2f)", len(seq), settings.method, settings.strength)
    return out

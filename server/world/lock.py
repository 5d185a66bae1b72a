"""Foot locking: find the ground and the foot contacts of a pose sequence, then clean it up with the feet held
still during contacts and kept above the ground (:func:`server.cleanup.methods.cleanup` with its foot terms)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from ..body.fast import LandmarkSkinning
from ..body.rot6d import poses_to_x
from ..cleanup.methods import IsCancelled, Progress, cleanup, start_smoothing
from ..cleanup.settings import CleanupSettings
from ..cleanup.problem import estimate_noise, joints_of, rest_joints, smooth_path
from ..cleanup.sequence import MotionSequence
from ..errors import JobError
from .place import camera_contacts, camera_ground, seen_from_afar
from .feet import (OTHER_LEVEL, Ground, camera_height, contact_anchors, contact_weights, fit_ground, foot_contacts, foot_sliding,
                   ground_penetration, leg_release)

log = logging.getLogger(__name__)

WORLD_UP = np.array([0.0, 1.0, 0.0])          # SMPL's canonical world frame
LEVEL_CAMERA_UP = np.array([0.0, -1.0, 0.0])  # an OpenCV camera held level (the capture's assumption)


@dataclass(frozen=True)
class FootReport:
    """What foot locking found and did: the ground, the contacts (N, 4) of left/right heel and toe, the camera's
    height above the ground (metres; meaningful for camera-frame clips), sliding (cm/frame) and penetration (mean
    cm below the ground, fraction of foot points > 1 cm below) before and after."""

    ground: Ground
    contacts: np.ndarray
    camera_height: float
    sliding_before: float
    sliding_after: float
    penetration_before: tuple
    penetration_after: tuple


def sequence_joints(skinning: LandmarkSkinning, seq: MotionSequence) -> np.ndarray:
    """The sequence's joints (N, 24, 3) in its own frame (pelvis at ``transl + rest pelvis``)."""
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    with torch.no_grad():
        x = poses_to_x(torch.from_numpy(seq.poses))
        return joints_of(rest, x, torch.from_numpy(seq.transl) + rest[0]).numpy().astype(np.float64)


def low_passed(joints: np.ndarray, fps: float, settings: CleanupSettings) -> np.ndarray:
    """joints (N, 24, 3) low-passed for their measured noise (the cleanup's start smoothing), so jitter does not
    hide the feet's rest: contacts and the ground are found on these."""
    target = torch.from_numpy(joints.astype(np.float32))
    noise = estimate_noise(target, torch.ones(target.shape[:2]), (len(joints),))
    strength = start_smoothing(noise, fps, replace(settings, strength=1.0))[:, None].expand(-1, 3).reshape(-1)
    return smooth_path(target, strength).numpy().astype(np.float64)


def find_feet(smooth: np.ndarray, fps: float, root_frame: str) -> "tuple[Ground, np.ndarray]":
    """Low-passed joints (N, 24, 3) -> (ground, contacts (N, 4)). A world frame, or keyframes sent through a level
    camera's axes (the add-on's; the body near the origin): mocap thresholds and a level floor prior. A capture in
    its camera frame (:func:`.place.seen_from_afar`): a single view's thresholds and the body's up as the prior
    (:func:`.place.camera_ground`, :func:`.place.camera_contacts`). Raises JobError (bad_request) when no foot ever
    rests."""
    try:
        if root_frame != "world" and seen_from_afar(smooth):
            ground = camera_ground(smooth, fps, LEVEL_CAMERA_UP)
            contacts = camera_contacts(smooth, ground, fps)
        else:
            ground = fit_ground(smooth, fps, WORLD_UP if root_frame == "world" else LEVEL_CAMERA_UP)
            contacts = foot_contacts(smooth, ground, fps)
    except ValueError as exc:
        raise JobError("bad_request", "No ground contact was found: the feet never rest in this clip.",
                       "Foot locking needs frames where a foot stands still; turn it off for this clip.") from exc
    if not contacts.any():
        raise JobError("bad_request", "No ground contact was found: no foot is low and still on any frame.",
                       "Foot locking needs frames where a foot stands still; turn it off for this clip.")
    return ground, contacts


def lock_feet(denoiser, skinning: LandmarkSkinning, seq: MotionSequence, strength: float = 1.0,
              settings: CleanupSettings = CleanupSettings(), progress: Optional[Progress] = None,
              cancelled: Optional[IsCancelled] = None,
              found: "Optional[tuple[Ground, np.ndarray]]" = None,
              motion=None) -> "tuple[MotionSequence, FootReport]":
    """Fit the ground and contacts on ``seq`` (low-passed; or take ``found`` = (ground, contacts (N, 4))), clean it
    up with the foot terms at ``strength`` (0 = no locking; ``motion``: the motion prior, as in
    :func:`server.cleanup.methods.cleanup`).
    Raises JobError (bad_request) when the feet never rest on a ground (no contact to lock)."""
    joints = sequence_joints(skinning, seq)
    smooth = low_passed(joints, seq.fps, settings)
    ground, contacts = found if found is not None else find_feet(smooth, seq.fps, seq.root_frame)
    feet = (contact_weights(contacts, len(seq)), contact_anchors(smooth, contacts), ground.normal, ground.offset,
            leg_release(contacts, len(seq)), OTHER_LEVEL)
    out = cleanup(denoiser, skinning, seq, replace(settings, feet_weight=max(0.0, float(strength))), progress,
                  cancelled, feet=feet, motion=motion)
    after = sequence_joints(skinning, out)
    report = FootReport(ground, contacts, camera_height(ground), foot_sliding(joints, contacts, ground),
                        foot_sliding(after, contacts, ground), ground_penetration(joints, ground),
                        ground_penetration(after, ground))
    log.info("feet: %.0f%% of foot frames in contact, sliding %.2f -> %.2f cm/frame, camera %.2f m above the ground",
             100.0 * contacts.mean(), report.sliding_before, report.sliding_after, report.camera_height)
    return out, report

"""The capture's "place" stage: steady the root depth, find the ground and the foot contacts, optionally lock the
feet, and record it all in the result arrays (docs/cli.md, "Result file": ``ground``, ``foot_contacts``,
``camera_height``, ``world_rotation``).

The body stays in the camera frame (the result's convention); ``world_rotation`` (3, 3) and ``camera_height`` tell
the add-on how to stand it on a Z-up floor: world = ``R p + (0, 0, camera_height)`` puts the floor (under the
soles, :func:`sole_depth` below the plane ``ground`` through the resting foot joints) at z = 0.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..body.fast import LandmarkSkinning
from ..body.layout import NUM_LANDMARKS
from ..cleanup.settings import CleanupSettings
from ..cleanup.sequence import make_sequence
from ..errors import Cancelled
from .feet import FOOT_JOINTS, foot_sliding
from .lock import lock_feet, low_passed, sequence_joints
from .place import Placement, camera_to_world, place
from ..torch_threads import torch_threads

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
MIN_FRAMES = 10     # a shorter clip keeps the camera's level (too little motion to find a ground)


@dataclass(frozen=True)
class WorldReport:
    """What the stage did: the placement, sliding (cm/frame) before and after locking (NaN without contacts),
    and a user-facing ``note`` when the ground could not be found or the feet not locked ("" otherwise)."""

    placement: Optional[Placement]
    sliding_before: float = float("nan")
    sliding_after: float = float("nan")
    note: str = ""


def detector_landmarks(arrays: Dict[str, np.ndarray]) -> Optional[np.ndarray]:
    """The capture's BlazePose world landmarks (N, 33, 3; camera axes, metres) when the result has them for every
    frame (``world_landmarks``, rows of the poses), else None (imported or keyed motion, other detectors)."""
    world = arrays.get("world_landmarks")
    if world is None or np.shape(world)[:2] != (len(arrays["poses"]), NUM_LANDMARKS):
        return None
    points = np.asarray(world, dtype=np.float64)[..., :3]
    if not np.all(np.isfinite(points)) or np.any(np.abs(points).sum((1, 2)) == 0.0):
        return None
    return points


def place_capture(arrays: Dict[str, np.ndarray], body, lock: bool = False, strength: float = 1.0,
                  progress: Optional[Progress] = None, cancelled: Callable[[], bool] = lambda: False,
                  settings: CleanupSettings = CleanupSettings()) -> "tuple[Dict[str, Any], WorldReport]":
    """Result arrays (``poses``, ``transl``, ``betas``, ``fps``; camera frame) + the body model -> new arrays with
    the steadied translation (and the locked poses when ``lock``) plus the ground keys, and the report. A clip
    where no foot ever rests keeps its arrays and gets a note (the capture still succeeds). ``settings``: the
    locking cleanup's. Raises Cancelled."""
    frames = len(arrays["poses"])
    if frames < MIN_FRAMES:
        note = (f"The clip is too short ({frames} frames) to find the ground; the body keeps the camera's level and "
                "the feet are not locked.")
        log.warning(note)
        return arrays, WorldReport(None, note=note)
    seq = make_sequence(arrays["poses"], arrays["transl"], arrays["betas"], float(arrays["fps"]))
    skinning = LandmarkSkinning(body)
    joints = sequence_joints(skinning, seq)
    try:
        placement = place(joints, seq.fps, lambda j, fps: low_passed(j, fps, settings),
                          landmarks=detector_landmarks(arrays))
    except ValueError as exc:
        note = f"The ground was not found ({exc}); the body keeps the camera's level and the feet are not locked."
        log.warning(note)
        return arrays, WorldReport(None, note=note)
    if cancelled():
        raise Cancelled()
    out = dict(arrays)
    out["transl"] = (arrays["transl"] + placement.shift).astype(np.float32)
    note = ""
    if lock and not placement.contacts.any():
        note = "No ground contact was found: no foot is low and still on any frame, so the feet were not locked."
    elif lock:
        from ..diffusion.denoiser import load_prior
        from ..diffusion.motion import motion_prior_or_none
        moved = make_sequence(arrays["poses"], out["transl"], arrays["betas"], seq.fps)
        with torch_threads(1):          # like the cleanup job: faster than 2 threads on a busy 2-core CPU
            locked, _ = lock_feet(load_prior(), skinning, moved, strength, settings, progress, cancelled,
                                  found=(placement.ground, placement.contacts),
                                  motion=motion_prior_or_none("foot locking uses the per-frame prior"))
        out["poses"], out["transl"] = locked.poses.astype(np.float32), locked.transl.astype(np.float32)
    after = sequence_joints(skinning, make_sequence(out["poses"], out["transl"], arrays["betas"], seq.fps))
    report = WorldReport(placement, foot_sliding(joints, placement.contacts, placement.ground),
                         foot_sliding(after, placement.contacts, placement.ground), note)
    if note:
        log.warning(note)
    out.update(world_arrays(placement, sole_depth(arrays)))
    return out, report


def sole_depth(arrays: Dict[str, np.ndarray]) -> float:
    """How far the sole sits below the lowest foot joint of the rest body (metres; 0 without a mesh): the ground is
    fitted through the joints, the floor is under the soles."""
    if "mesh_vertices" not in arrays or "joints_rest" not in arrays:
        return 0.0
    lowest_joint = float(np.min(arrays["joints_rest"][list(FOOT_JOINTS), 1]))
    return max(0.0, lowest_joint - float(np.min(arrays["mesh_vertices"][:, 1])))


def world_arrays(placement: Placement, sole: float = 0.0) -> Dict[str, Any]:
    """The result keys of a placement: ground (4,) normal + offset (camera frame) of the plane through the resting
    foot joints; foot_contacts (N, 4) uint8 (left/right heel, left/right toe); camera_height (metres above the floor,
    which is ``sole`` below that plane); world_rotation (3, 3) camera -> Z-up world."""
    ground = placement.ground
    return {"ground": np.r_[ground.normal, ground.offset].astype(np.float32),
            "foot_contacts": placement.contacts.astype(np.uint8),
            "camera_height": np.float32(placement.camera_height + sole),
            "world_rotation": camera_to_world(ground.normal).astype(np.float32)}

"""DeepMimic motion clips (JSON ``{"Loop", "Frames"}``) on the humanoid3d character.

Character file (data/characters/humanoid3d.txt): joints with ``Parent``, ``Type`` (none = free root, spherical,
revolute, fixed) and ``Attach{X,Y,Z}`` (the joint's position in its parent's frame, metres; y up, the body faces
+x, right side toward +z). A frame is ``[dt, root position (3), root quaternion (4), then per joint in ID
order: spherical -> quaternion (4), revolute -> one angle in radians about the joint's z axis, fixed -> nothing]``;
quaternions are (w, x, y, z). The reader adds virtual end sites for bone directions the rig does not name:
``<side>_ankle_end`` (ball of the foot, from the foot box) and ``neck_end`` (top of the head).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from ..body.rotations import quat_wxyz_to_rotmat, rotmat_about_axis
from .bvh import global_transforms
from .skeleton_motion import Skeleton, SourceMotion

log = logging.getLogger(__name__)

_DOFS = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
# Virtual end sites: (name, parent joint, offset in the parent's frame, metres).
_END_SITES: Tuple[Tuple[str, str, Tuple[float, float, float]], ...] = (
    ("right_ankle_end", "right_ankle", (0.12, -0.04, 0.0)),
    ("left_ankle_end", "left_ankle", (0.12, -0.04, 0.0)),
    ("neck_end", "neck", (0.0, 0.25, 0.0)),
)


class DeepMimicError(ValueError):
    """A malformed character or motion file; the message says which and why."""


def parse_character(text: str, source: str = "<string>") -> Tuple[Skeleton, Tuple[str, ...]]:
    """Character JSON -> (skeleton with the virtual end sites appended, joint types of the real joints)."""
    try:
        joints: List[Dict[str, Any]] = json.loads(text)["Skeleton"]["Joints"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DeepMimicError(f"{source}: not a DeepMimic character file ({exc})") from exc
    joints = sorted(joints, key=lambda j: int(j["ID"]))
    names = [str(j["Name"]) for j in joints]
    parents = [int(j["Parent"]) for j in joints]
    offsets = [[float(j["AttachX"]), float(j["AttachY"]), float(j["AttachZ"])] for j in joints]
    types = tuple(str(j["Type"]) for j in joints)
    unknown = sorted(set(types) - set(_DOFS))
    if unknown or any(p >= i for i, p in enumerate(parents)):
        raise DeepMimicError(f"{source}: unsupported joint types {unknown} or parents not before children")
    if any(abs(float(j.get(f"AttachTheta{a}", 0.0))) > 1e-9 for j in joints for a in "XYZ"):
        raise DeepMimicError(f"{source}: rotated joint attachments (AttachTheta) are not supported")
    for name, parent, offset in _END_SITES:
        if parent in names:
            names.append(name)
            parents.append(names.index(parent))
            offsets.append(list(offset))
    return Skeleton(tuple(names), tuple(parents), np.asarray(offsets, dtype=np.float64)), types


def parse_motion(text: str, skeleton: Skeleton, types: Sequence[str],
                 source: str = "<string>") -> SourceMotion:
    """Motion JSON -> :class:`SourceMotion` (global rotations/positions, fps = 1 / first frame's dt)."""
    try:
        frames = np.asarray(json.loads(text)["Frames"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as exc:
        raise DeepMimicError(f"{source}: not a DeepMimic motion file ({exc})") from exc
    width = 1 + sum(_DOFS[t] for t in types)
    if frames.ndim != 2 or frames.shape[1] != width or frames.shape[0] == 0:
        raise DeepMimicError(f"{source}: frames of shape {frames.shape}, expected (T, {width})")
    dt = frames[:, 0]
    if np.any(dt[:-1] <= 0) or np.ptp(dt[:-1]) > 1e-6:
        log.warning("%s: uneven frame durations %.4f..%.4f s; using the first", source, dt.min(), dt.max())
    local_rot, local_trans = _locals(frames, skeleton, types)
    rot, pos = global_transforms(skeleton, local_rot, local_trans)
    return SourceMotion(skeleton, rot, pos, float(1.0 / dt[0]))


def _locals(frames: np.ndarray, skeleton: Skeleton, types: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """frames (T, W) -> local rotations (T, S, 3, 3) and translations (T, S, 3)."""
    count, t = len(skeleton.names), frames.shape[0]
    rot = np.broadcast_to(np.eye(3), (t, count, 3, 3)).copy()
    trans = np.broadcast_to(skeleton.offsets, (t, count, 3)).copy()
    col = 1
    for j, kind in enumerate(types):
        if kind == "none":
            trans[:, j] = frames[:, col:col + 3]
            rot[:, j] = quat_wxyz_to_rotmat(frames[:, col + 3:col + 7])
        elif kind == "spherical":
            rot[:, j] = quat_wxyz_to_rotmat(frames[:, col:col + 4])
        elif kind == "revolute":
            rot[:, j] = rotmat_about_axis(2, frames[:, col])
        col += _DOFS[kind]
    return rot, trans


def read_character(path: Union[str, Path]) -> Tuple[Skeleton, Tuple[str, ...]]:
    """Reads humanoid3d.txt (see :func:`parse_character`)."""
    p = Path(path)
    return parse_character(p.read_text(encoding="utf-8"), str(p))


def read_motion(path: Union[str, Path], skeleton: Skeleton, types: Sequence[str]) -> SourceMotion:
    """Reads one clip (see :func:`parse_motion`)."""
    p = Path(path)
    return parse_motion(p.read_text(encoding="utf-8"), skeleton, types, str(p))

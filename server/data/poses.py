"""SMPL pose sequences: resampling to a fixed frame rate and left/right mirroring (training augmentation)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..body.layout import SMPL_JOINT_NAMES
from ..body.rotations import quat_sign_continuous, quat_wxyz_slerp, quat_wxyz_to_rotvec, rotvec_to_quat_wxyz

TARGET_FPS = 30.0

# SMPL joint index of each joint's mirror image (left <-> right, centre joints map to themselves).
MIRROR_INDEX: Tuple[int, ...] = tuple(
    SMPL_JOINT_NAMES.index(n.replace("left_", "#").replace("right_", "left_").replace("#", "right_"))
    for n in SMPL_JOINT_NAMES)


def resample_times(num_frames: int, fps_in: float, fps_out: float = TARGET_FPS) -> np.ndarray:
    """(M,) source frame positions (fractional) of the output frames: every 1/fps_out s from the first frame up
    to the last source frame (the first frame is kept exactly; the last when the duration allows)."""
    if num_frames < 1:
        return np.zeros(0)
    duration = (num_frames - 1) / fps_in
    count = int(np.floor(duration * fps_out + 1e-6)) + 1
    return np.minimum(np.arange(count) * (fps_in / fps_out), num_frames - 1)


def resample_poses(poses: np.ndarray, transl: np.ndarray, fps_in: float,
                   fps_out: float = TARGET_FPS) -> Tuple[np.ndarray, np.ndarray]:
    """poses (T, J, 3) axis-angle, transl (T, 3) at fps_in -> (M, J, 3), (M, 3) at fps_out.
    Rotations are slerped as quaternions (sign-continuous in time), translations linearly."""
    pos = resample_times(poses.shape[0], fps_in, fps_out)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, poses.shape[0] - 1)
    frac = pos - lo
    quat = rotvec_to_quat_wxyz(poses, continuous_axis=0)
    q = quat_wxyz_slerp(quat[lo], quat[hi], np.broadcast_to(frac[:, None], (len(pos), poses.shape[1])))
    out_t = transl[lo] * (1.0 - frac)[:, None] + transl[hi] * frac[:, None]
    return quat_wxyz_to_rotvec(quat_sign_continuous(q, axis=0)), out_t


def mirror_poses(poses: np.ndarray) -> np.ndarray:
    """(N, 24, 3) axis-angle -> (N, 24, 3) the left/right mirror image: joints swapped and every rotation reflected
    in the body's sagittal plane (R -> M R M with M = diag(-1, 1, 1), i.e. rotvec (x, y, z) -> (x, -y, -z))."""
    p = np.asarray(poses)
    out = p[..., list(MIRROR_INDEX), :].copy()
    out[..., 1:] *= -1.0
    return out


def mirror_transl(transl: np.ndarray) -> np.ndarray:
    """(N, 3) root translation -> (N, 3) mirrored (x -> -x). Exact for bodies symmetric about x = 0."""
    out = np.array(transl, copy=True)
    out[..., 0] *= -1.0
    return out

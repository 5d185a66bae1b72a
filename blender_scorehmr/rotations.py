"""Rotation helpers in numpy (no bpy); each name says its representation in and out.

Conventions: rotation matrices act on column vectors; quaternions are Blender's WXYZ order.
"""
from __future__ import annotations

import numpy as np

# SMPL canonical (x left, y up, z front) -> Blender armature space: (x, -z, y).
SMPL_TO_ARMATURE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# OpenCV camera (x right, y down, z forward) -> Blender world: (x, z, -y).
CAMERA_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle vectors ``(..., 3)`` (radians) -> rotation matrices ``(..., 3, 3)`` (Rodrigues)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    safe = np.where(angle < 1e-12, 1.0, angle)
    axis = rotvec / safe
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    skew = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(rotvec.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), skew.shape)
    return eye + s * skew + (1.0 - c) * (skew @ skew)


def rotmat_to_quat_wxyz(rotmat: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` in WXYZ order, w >= 0."""
    m = np.asarray(rotmat, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Squared magnitudes of (w, x, y, z) times 4, then pick the best-conditioned row (Shepperd).
    cand = np.stack([
        1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22,
    ], axis=-1)
    rows = np.stack([
        np.stack([cand[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], axis=-1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], cand[..., 1], m[..., 1, 0] + m[..., 0, 1],
                  m[..., 0, 2] + m[..., 2, 0]], axis=-1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], cand[..., 2],
                  m[..., 2, 1] + m[..., 1, 2]], axis=-1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2],
                  cand[..., 3]], axis=-1),
    ], axis=-2)
    best = np.argmax(cand, axis=-1)
    quat = np.take_along_axis(rows, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    return np.where(quat[..., :1] < 0.0, -quat, quat)


def quat_sign_continuity(quat_wxyz: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so consecutive quaternions ``(T, ..., 4)`` have dot >= 0."""
    quat = np.array(quat_wxyz, dtype=np.float64, copy=True)
    for t in range(1, quat.shape[0]):
        flip = np.sum(quat[t] * quat[t - 1], axis=-1) < 0.0
        quat[t][flip] *= -1.0
    return quat

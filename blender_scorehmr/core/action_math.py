"""Pure numpy maths of motion cleanup in Blender (no bpy): bone rotation modes <-> matrices, pose bases <-> SMPL
poses in the capture convention, root bone location <-> SMPL translation. Matrices act on column vectors.

Rotation modes are Blender's: ``QUATERNION`` (W, X, Y, Z), ``AXIS_ANGLE`` (angle, X, Y, Z) and the six Euler orders
``XYZ`` .. ``ZYX``, whose values are always stored as (X, Y, Z) angles; order "XYZ" applies X first, so its matrix is
``Rz @ Ry @ Rx``.

SMPL <-> pose basis (the inverse of ``motion.pose_basis_quaternions``): with ``M_j`` the rest rotation of bone j
(``bone.matrix_local``) and ``B_j`` its pose basis, ``A_j = M_j B_j M_j^T`` is the rotation in armature space;
the SMPL local rotation is ``R_0 = D^T A_0 C`` for the root and ``R_j = C^T A_j C`` for the others (``C`` =
SMPL_TO_ARMATURE, ``D`` = CAMERA_TO_WORLD; the armature object is taken to be at the world origin).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..server.body.rotations import quat_wxyz_to_rotmat, rotmat_about_axis, rotmat_to_rotvec
from .blender_frames import (CAMERA_TO_WORLD, SMPL_TO_ARMATURE, quat_sign_continuous, rotmat_to_quat_wxyz,
                             rotvec_to_rotmat)

EULER_ORDERS: Tuple[str, ...] = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
ROTATION_MODES: Tuple[str, ...] = ("QUATERNION", "AXIS_ANGLE") + EULER_ORDERS
_CYCLIC = ((0, 1, 2), (1, 2, 0), (2, 0, 1))


def channel_count(mode: str) -> int:
    """Number of F-Curve channels of a rotation mode (4 for quaternion and axis-angle, 3 for Euler)."""
    return 3 if mode in EULER_ORDERS else 4


def rotation_property(mode: str) -> str:
    """The pose bone property keyed in ``mode``: rotation_quaternion, rotation_axis_angle or rotation_euler."""
    if mode == "QUATERNION":
        return "rotation_quaternion"
    if mode == "AXIS_ANGLE":
        return "rotation_axis_angle"
    if mode in EULER_ORDERS:
        return "rotation_euler"
    raise ValueError(f"unknown rotation mode {mode!r}")


def identity_values(mode: str) -> np.ndarray:
    """Channel values of no rotation in ``mode`` (axis-angle: angle 0 about Y, Blender's default)."""
    if mode == "QUATERNION":
        return np.array([1.0, 0.0, 0.0, 0.0])
    if mode == "AXIS_ANGLE":
        return np.array([0.0, 0.0, 1.0, 0.0])
    return np.zeros(3)


def euler_to_rotmat_blender(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) X, Y, Z angles in radians, Blender order such as "XYZ" (X applied first) -> (..., 3, 3)."""
    a = np.asarray(angles, dtype=np.float64)
    out = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for letter in order:  # each later axis multiplies from the left
        axis = "XYZ".index(letter)
        out = rotmat_about_axis(axis, a[..., axis]) @ out
    return out


def _euler_pair(m: np.ndarray, order: str) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 3, 3) -> the two (N, 3) X, Y, Z angle solutions of a Blender Euler order."""
    i, j, k = ("XYZ".index(order[2]), "XYZ".index(order[1]), "XYZ".index(order[0]))  # M = R_i R_j R_k
    eps = 1.0 if (i, j, k) in _CYCLIC else -1.0
    beta = np.arcsin(np.clip(eps * m[:, i, k], -1.0, 1.0))
    cos_b = np.cos(beta)
    locked = cos_b < 1e-7
    alpha = np.arctan2(-eps * m[:, j, k], m[:, k, k])
    gamma = np.arctan2(-eps * m[:, i, j], m[:, i, i])
    # gimbal lock: only alpha +- gamma is defined; put it all in alpha (M = R_i(alpha) R_j(beta))
    alpha = np.where(locked, np.arctan2(eps * m[:, k, j], m[:, j, j]), alpha)
    gamma = np.where(locked, 0.0, gamma)
    first = np.zeros((len(m), 3))
    first[:, i], first[:, j], first[:, k] = alpha, beta, gamma
    second = np.zeros((len(m), 3))
    second[:, i], second[:, j], second[:, k] = alpha + np.pi, np.pi - beta, gamma + np.pi
    return first, second


def _nearest_turn(angles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Angles shifted by whole turns to lie within pi of ``reference`` (same shapes)."""
    return angles - 2.0 * np.pi * np.round((angles - reference) / (2.0 * np.pi))


def rotmat_to_euler_blender(m: np.ndarray, order: str) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) X, Y, Z angles of Blender ``order``, continuous along N (whole turns and the second
    solution chosen to stay near the previous frame, like Blender's compatible Euler)."""
    first, second = _euler_pair(np.asarray(m, dtype=np.float64), order)
    out = np.empty_like(first)
    out[0] = first[0]
    for t in range(1, len(out)):
        a, b = _nearest_turn(first[t], out[t - 1]), _nearest_turn(second[t], out[t - 1])
        out[t] = a if np.abs(a - out[t - 1]).sum() <= np.abs(b - out[t - 1]).sum() else b
    return out


def axis_angle_to_rotmat(values: np.ndarray) -> np.ndarray:
    """(..., 4) Blender axis-angle (angle, X, Y, Z; the axis need not be unit, a zero axis means no rotation)
    -> (..., 3, 3)."""
    v = np.asarray(values, dtype=np.float64)
    norm = np.linalg.norm(v[..., 1:], axis=-1, keepdims=True)
    axis = v[..., 1:] / np.where(norm > 1e-12, norm, 1.0)
    return rotvec_to_rotmat(axis * np.where(norm > 1e-12, v[..., :1], 0.0))


def rotmat_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 4) angle, X, Y, Z with a unit axis kept continuous along N (an axis flip is written as
    the same rotation about the opposite axis, ``2 pi - angle``); no rotation -> angle 0 about Y."""
    rv = rotmat_to_rotvec(np.asarray(m, dtype=np.float64))
    angle = np.linalg.norm(rv, axis=-1)
    axis = np.where(angle[:, None] > 1e-9, rv / np.where(angle > 1e-9, angle, 1.0)[:, None], [0.0, 1.0, 0.0])
    for t in range(1, len(rv)):
        if angle[t] > 1e-9 and float(axis[t] @ axis[t - 1]) < 0.0:
            axis[t], angle[t] = -axis[t], 2.0 * np.pi - angle[t]
    return np.concatenate([angle[:, None], axis], -1)


def values_to_rotmat(values: np.ndarray, mode: str) -> np.ndarray:
    """(N, 3 or 4) channel values of a bone in ``mode`` -> (N, 3, 3) pose-basis rotations (quaternions are
    normalised as Blender does)."""
    v = np.asarray(values, dtype=np.float64)
    if mode == "QUATERNION":
        return quat_wxyz_to_rotmat(v)
    if mode == "AXIS_ANGLE":
        return axis_angle_to_rotmat(v)
    if mode in EULER_ORDERS:
        return euler_to_rotmat_blender(v, mode)
    raise ValueError(f"unknown rotation mode {mode!r}")


def rotmat_to_values(m: np.ndarray, mode: str) -> np.ndarray:
    """(N, 3, 3) pose-basis rotations -> (N, 3 or 4) channel values in ``mode``, continuous along N."""
    if mode == "QUATERNION":
        return quat_sign_continuous(rotmat_to_quat_wxyz(np.asarray(m, dtype=np.float64)))
    if mode == "AXIS_ANGLE":
        return rotmat_to_axis_angle(m)
    if mode in EULER_ORDERS:
        return rotmat_to_euler_blender(m, mode)
    raise ValueError(f"unknown rotation mode {mode!r}")


def smpl_from_basis(basis: np.ndarray, rest_rot: np.ndarray) -> np.ndarray:
    """Pose bases (N, J, 3, 3) + bone rest rotations (J, 3, 3) -> SMPL axis-angle (N, J, 3), root in the camera
    convention (the inverse of ``motion.pose_basis_quaternions``)."""
    c, d = SMPL_TO_ARMATURE, CAMERA_TO_WORLD
    arm = rest_rot[None] @ basis @ np.transpose(rest_rot, (0, 2, 1))[None]   # A_j = M_j B_j M_j^T
    local = c.T @ arm @ c
    local[:, 0] = d.T @ arm[:, 0] @ c
    return rotmat_to_rotvec(local)


def basis_from_smpl(poses: np.ndarray, rest_rot: np.ndarray) -> np.ndarray:
    """SMPL axis-angle (N, J, 3), root in the camera convention + rest rotations (J, 3, 3) -> pose bases
    (N, J, 3, 3)."""
    c, d = SMPL_TO_ARMATURE, CAMERA_TO_WORLD
    local = rotvec_to_rotmat(np.asarray(poses, dtype=np.float64))
    arm = c @ local @ c.T
    arm[:, 0] = d @ local[:, 0] @ c.T
    return np.transpose(rest_rot, (0, 2, 1))[None] @ arm @ rest_rot[None]


def transl_from_location(location: np.ndarray, head0: np.ndarray, rest_rot0: np.ndarray,
                         pelvis_rest: np.ndarray) -> np.ndarray:
    """Root bone location keys (N, 3) -> SMPL transl (N, 3) in the camera frame.

    ``head0`` (3,) and ``rest_rot0`` (3, 3): the root bone's rest head and rotation in armature space;
    ``pelvis_rest`` (3,): the body's rest pelvis in SMPL's canonical frame (J0). The pelvis in world is
    ``head0 + M_0 loc`` and ``D (transl + J0)`` is that pelvis (no re-centring, unlike a capture's first frame).
    """
    pelvis_world = head0 + np.asarray(location, dtype=np.float64) @ rest_rot0.T
    return pelvis_world @ CAMERA_TO_WORLD - pelvis_rest


def location_from_transl(transl: np.ndarray, head0: np.ndarray, rest_rot0: np.ndarray,
                         pelvis_rest: np.ndarray) -> np.ndarray:
    """The inverse of :func:`transl_from_location`: SMPL transl (N, 3) -> root bone location keys (N, 3)."""
    pelvis_world = (np.asarray(transl, dtype=np.float64) + pelvis_rest) @ CAMERA_TO_WORLD.T
    return (pelvis_world - head0) @ rest_rot0

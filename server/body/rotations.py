"""Rotation helpers in numpy (no torch, no scipy); every name says its representation in and out.

Conventions: rotation matrices act on column vectors (``v' = R @ v``); rotation vectors (axis-angle) are
``axis * angle`` with the angle in radians; quaternions are scalar-first ``(w, x, y, z)`` as Blender uses.
All functions broadcast over leading dimensions and return finite values for degenerate input (zero vectors,
parallel or antiparallel vectors, angles at 0 and pi).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

_EPS = 1e-9


def normalize(vectors: np.ndarray, fallback: Optional[np.ndarray] = None) -> np.ndarray:
    """(..., 3) -> (..., 3) unit vectors; zero-length input becomes ``fallback`` (default +x)."""
    v = np.asarray(vectors, dtype=np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    fb = np.array([1.0, 0.0, 0.0]) if fallback is None else np.asarray(fallback, dtype=np.float64)
    fb = np.broadcast_to(fb, v.shape)
    ok = norm > _EPS
    return np.where(ok, v / np.where(ok, norm, 1.0), fb)


def skew(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices ``[v]_x`` with ``[v]_x @ u = v x u``."""
    v = np.asarray(vectors, dtype=np.float64)
    z = np.zeros(v.shape[:-1])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([np.stack([z, -w, y], -1), np.stack([w, z, -x], -1), np.stack([-y, x, z], -1)], -2)


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues; Taylor series near angle 0)."""
    rv = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rv, axis=-1)[..., None, None]
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    k = skew(rv)
    return np.eye(3) + a * k + b * (k @ k)


def rotmat_to_quat_wxyz(rotmat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0 (Shepperd's method, stable everywhere)."""
    m = np.asarray(rotmat, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    # Four candidate formulas; each is well conditioned when its leading component is the largest.
    cands = np.stack([
        np.stack([1.0 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1.0 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1.0 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1.0 - m00 - m11 + m22], -1),
    ], -2)
    choice = np.argmax(np.stack([trace, m00, m11, m22], -1), axis=-1)
    q = np.take_along_axis(cands, choice[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q, fallback=np.array([1.0, 0.0, 0.0, 0.0]))
    return np.where(q[..., :1] < 0.0, -q, q)


def quat_wxyz_to_rotvec(quat: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), any norm and sign -> (..., 3) axis-angle with angle in [0, pi]."""
    q = normalize(np.asarray(quat, dtype=np.float64), fallback=np.array([1.0, 0.0, 0.0, 0.0]))
    q = np.where(q[..., :1] < 0.0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    s = np.linalg.norm(v, axis=-1)
    angle = 2.0 * np.arctan2(s, w)
    small = s < 1e-7
    # angle / s -> 2 / w as s -> 0 (w -> 1 there because w >= 0 and |q| = 1).
    scale = np.where(small, 2.0 / np.maximum(w, 0.5), angle / np.where(small, 1.0, s))
    return v * scale[..., None]


def quat_wxyz_to_rotmat(quat: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), any norm -> (..., 3, 3) rotation matrices."""
    q = normalize(np.asarray(quat, dtype=np.float64), fallback=np.array([1.0, 0.0, 0.0, 0.0]))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def rotmat_to_rotvec(rotmat: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angle in [0, pi]; robust near 0 and pi."""
    return quat_wxyz_to_rotvec(rotmat_to_quat_wxyz(rotmat))


def rotvec_to_quat_wxyz(rotvec: np.ndarray, continuous_axis: Optional[int] = None) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) quaternions (w, x, y, z), Blender's order.

    With ``continuous_axis`` (e.g. 0 = time for (N, J, 3) input) each quaternion's sign is flipped where needed so
    consecutive quaternions along that axis have a non-negative dot product (no flips in interpolated keyframes).
    """
    rv = np.asarray(rotvec, dtype=np.float64)
    half = 0.5 * np.linalg.norm(rv, axis=-1, keepdims=True)
    small = half < 1e-6
    sinc = np.where(small, 0.5 - half**2 / 12.0, np.sin(half) / np.where(small, 1.0, 2.0 * half))
    q = np.concatenate([np.cos(half), rv * sinc], axis=-1)
    if continuous_axis is not None:
        q = quat_sign_continuous(q, axis=continuous_axis)
    return q


def quat_sign_continuous(quat: np.ndarray, axis: int = 0) -> np.ndarray:
    """(..., 4) quaternions -> same, each sign chosen so neighbours along ``axis`` have dot product >= 0."""
    q = np.moveaxis(np.array(quat, dtype=np.float64), axis, 0)
    for i in range(1, q.shape[0]):
        flip = np.sum(q[i] * q[i - 1], axis=-1, keepdims=True) < 0.0
        q[i] = np.where(flip, -q[i], q[i])
    return np.moveaxis(q, 0, axis)


def any_perpendicular(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3) a unit vector perpendicular to each input (input need not be normalised)."""
    v = normalize(vectors)
    helper = np.where(np.abs(v[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    return normalize(np.cross(v, helper))


def rotation_between_vectors(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3): the minimal (swing-only) rotation taking direction ``source`` to ``target``.

    Antiparallel input rotates by pi about an arbitrary perpendicular axis; zero vectors give identity.
    """
    a, b = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    zero = (np.linalg.norm(a, axis=-1) < _EPS) | (np.linalg.norm(b, axis=-1) < _EPS)
    a, b = normalize(a), normalize(b)
    w = 1.0 + np.sum(a * b, axis=-1, keepdims=True)
    xyz = np.cross(a, b)
    opposite = w[..., 0] < 1e-8
    xyz = np.where(opposite[..., None], any_perpendicular(a), xyz)
    w = np.where(opposite[..., None], 0.0, w)
    q = np.concatenate([w, xyz], axis=-1)
    q = np.where(zero[..., None], np.array([1.0, 0.0, 0.0, 0.0]), q)
    return quat_wxyz_to_rotmat(q)


def frame_from_two_vectors(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3) right-handed orthonormal frame, columns (e1, e2, e3).

    e1 = primary direction, e2 = secondary made orthogonal to e1 (Gram-Schmidt), e3 = e1 x e2. A zero primary
    falls back to +x; a secondary parallel to the primary falls back to an arbitrary perpendicular. The rotation
    taking a rest configuration to an observed one is ``frame(obs) @ frame(rest).T``.
    """
    e1 = normalize(primary)
    s = np.asarray(secondary, dtype=np.float64)
    s = s - np.sum(s * e1, axis=-1, keepdims=True) * e1
    e2 = normalize(s, fallback=np.zeros(3))
    degenerate = np.linalg.norm(s, axis=-1, keepdims=True) < 1e-6 * (1.0 + np.linalg.norm(secondary, axis=-1, keepdims=True))
    e2 = np.where(degenerate, any_perpendicular(e1), e2)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def rotmat_from_axes(primary: np.ndarray, secondary: np.ndarray, primary_axis: int, secondary_axis: int) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3) rotation whose column ``primary_axis`` is the primary direction and whose
    column ``secondary_axis`` is the secondary made orthogonal to it (axes are 0=x, 1=y, 2=z; must differ)."""
    if primary_axis == secondary_axis or {primary_axis, secondary_axis} - {0, 1, 2}:
        raise ValueError(f"axes must be two different values of 0, 1, 2, got {primary_axis}, {secondary_axis}")
    frame = frame_from_two_vectors(primary, secondary)
    third = 3 - primary_axis - secondary_axis
    out = np.empty_like(frame)
    out[..., :, primary_axis] = frame[..., :, 0]
    out[..., :, secondary_axis] = frame[..., :, 1]
    # Right-handedness: e_third = e_primary x e_secondary when (primary, secondary, third) is a cyclic order.
    sign = 1.0 if (secondary_axis - primary_axis) % 3 == 1 else -1.0
    out[..., :, third] = sign * frame[..., :, 2]
    return out


def scale_rotmat(rotmat: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """(..., 3, 3), (...) -> (..., 3, 3): the rotation by ``fraction`` of each angle about the same axis
    (0 = identity, 1 = unchanged). Used to share a rotation along a chain and to blend toward rest."""
    rv = rotmat_to_rotvec(rotmat)
    return rotvec_to_rotmat(rv * np.asarray(fraction, dtype=np.float64)[..., None])


def angle_between_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (...) angle in radians between the directions (0 for a zero vector)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1))


def forward_kinematics_rotmat(rotmats: np.ndarray, rest_joints: np.ndarray,
                              parents: Union[Sequence[int], np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Posed joints from local rotation matrices (SMPL convention, no translation).

    rotmats (N, J, 3, 3): [:, 0] global orientation, [:, j] rotation of joint j relative to its parent.
    rest_joints (J, 3); parents (J,) with -1 for the root, each parent before its children.
    Returns joints (N, J, 3) with the root at rest_joints[0] and global rotations (N, J, 3, 3).
    """
    rot = np.asarray(rotmats, dtype=np.float64)
    rest = np.asarray(rest_joints, dtype=np.float64)
    n, count = rot.shape[0], rot.shape[1]
    glob = np.empty_like(rot)
    joints = np.empty((n, count, 3))
    glob[:, 0] = rot[:, 0]
    joints[:, 0] = rest[0]
    for j in range(1, count):
        p = parents[j]
        glob[:, j] = glob[:, p] @ rot[:, j]
        joints[:, j] = joints[:, p] + glob[:, p] @ (rest[j] - rest[p])
    return joints, glob


def forward_kinematics(poses_rotvec: np.ndarray, rest_joints: np.ndarray,
                       parents: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """(N, J, 3) axis-angle poses, (J, 3) rest joints, (J,) parents -> joints (N, J, 3), global rotations
    (N, J, 3, 3). See :func:`forward_kinematics_rotmat`."""
    return forward_kinematics_rotmat(rotvec_to_rotmat(poses_rotvec), rest_joints, parents)


def rotmat_about_axis(axis: int, angles: np.ndarray) -> np.ndarray:
    """Axis index (0=x, 1=y, 2=z), (...) angles in radians -> (..., 3, 3) right-handed rotations about that axis."""
    a = np.asarray(angles, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == 0:
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == 1:
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == 2:
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    return np.stack([np.stack(r, -1) for r in rows], -2)


def euler_to_rotmat(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., K) angles in radians, ``order`` K axis letters such as "ZXY" -> (..., 3, 3).

    Intrinsic convention of BVH files: the matrix is ``R_order[0] @ R_order[1] @ ...`` (the first listed axis is
    the outermost rotation), so a vector in the joint frame maps to the parent frame as ``v_parent = R @ v``.
    """
    a = np.asarray(angles, dtype=np.float64)
    if a.shape[-1] != len(order):
        raise ValueError(f"{a.shape[-1]} angles for rotation order {order!r}")
    out = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for k, letter in enumerate(order.upper()):
        out = out @ rotmat_about_axis("XYZ".index(letter), a[..., k])
    return out


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> the rotation nearest to each in the Frobenius norm (SVD, determinant +1: the orthogonal
    Procrustes / Kabsch solution when ``matrices`` are the cross-covariances ``sum b a^T``)."""
    u, _, vt = np.linalg.svd(np.asarray(matrices, dtype=np.float64))
    det = np.sign(np.linalg.det(u @ vt))
    u = u.copy()
    u[..., :, 2] *= det[..., None]
    return u @ vt


def quat_wxyz_slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(..., 4), (..., 4), (...) fractions in [0, 1] -> (..., 4) spherical interpolation on the shorter arc."""
    a = normalize(np.asarray(q0, dtype=np.float64), fallback=np.array([1.0, 0.0, 0.0, 0.0]))
    b = normalize(np.asarray(q1, dtype=np.float64), fallback=np.array([1.0, 0.0, 0.0, 0.0]))
    frac = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    near = theta < 1e-6
    sin_t = np.where(near, 1.0, np.sin(theta))
    wa = np.where(near, 1.0 - frac, np.sin((1.0 - frac) * theta) / sin_t)
    wb = np.where(near, frac, np.sin(frac * theta) / sin_t)
    return normalize(wa * a + wb * b, fallback=np.array([1.0, 0.0, 0.0, 0.0]))

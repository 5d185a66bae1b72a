"""Torch rotation helpers for the diffusion state: the 6D representation and its pose layout.

6D layout (ScoreHMR / Zhou et al.): the 6 numbers are the first two COLUMNS of the rotation matrix,
``[R[:, 0], R[:, 1]]``; Gram-Schmidt turns any 6 numbers back into a rotation. The diffusion state of one body is
``x = (24 joints x 6) = 144`` numbers, joint 0 (global orientation) first, SMPL joint order.
Axis-angle -> matrix is :func:`server.body.fast.rotvec_to_rotmat_torch` (not duplicated here).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .fast import rotvec_to_rotmat_torch
from .layout import NUM_JOINTS

POSE_6D_DIM = NUM_JOINTS * 6  # 144: joint 0 (the root: global orientation) then the 23 body joints, 6 numbers each
ROOT_DIM = 6                        # the root's entries at the start of the 6D pose
ROOT_SLICE = slice(0, ROOT_DIM)     # the root's 6D
BODY_SLICE = slice(ROOT_DIM, None)  # the 23 body joints' 6D


def rotmat_to_rot6d(rotmat: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6): first column then second column."""
    return torch.cat([rotmat[..., :, 0], rotmat[..., :, 1]], dim=-1)


def rot6d_to_rotmat(rot6d: Tensor, eps: float = 1e-8) -> Tensor:
    """(..., 6) -> (..., 3, 3) rotation matrices by Gram-Schmidt (columns b1, b2, b1 x b2)."""
    a1, a2 = rot6d[..., :3], rot6d[..., 3:6]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(eps)
    a2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2 / a2.norm(dim=-1, keepdim=True).clamp_min(eps)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def rotmat_to_quat_wxyz_torch(rotmat: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z), w >= 0 (Shepperd: best-conditioned of 4 formulas)."""
    m = rotmat
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    cands = torch.stack([
        torch.stack([1.0 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1.0 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                     m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1.0 - m00 + m11 - m22,
                     m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                     1.0 - m00 - m11 + m22], -1),
    ], -2)                                                                  # (..., 4 candidates, 4)
    choice = torch.stack([trace, m00, m11, m22], -1).argmax(-1)
    q = torch.gather(cands, -2, choice[..., None, None].expand(*choice.shape, 1, 4))[..., 0, :]
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(q[..., :1] < 0.0, -q, q)


def rotmat_to_rotvec_torch(rotmat: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle with angle in [0, pi] (via the quaternion; finite at 0 and pi)."""
    q = rotmat_to_quat_wxyz_torch(rotmat)
    w, v = q[..., :1], q[..., 1:]
    s = v.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, w)
    small = s < 1e-7
    scale = torch.where(small, 2.0 / w.clamp_min(0.5), angle / torch.where(small, torch.ones_like(s), s))
    return v * scale


def rotvec_to_rot6d(rotvec: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 6)."""
    return rotmat_to_rot6d(rotvec_to_rotmat_torch(rotvec))


def poses_to_x(poses: Tensor) -> Tensor:
    """(N, 24, 3) axis-angle or (N, 24, 3, 3) matrices -> (N, 144) diffusion state."""
    rot = poses if poses.shape[-2:] == (3, 3) else rotvec_to_rotmat_torch(poses)
    return rotmat_to_rot6d(rot).reshape(rot.shape[0], POSE_6D_DIM)


def x_to_rotmats(x: Tensor) -> Tensor:
    """(N, 144) diffusion state -> (N, 24, 3, 3) rotation matrices (Gram-Schmidt per joint)."""
    return rot6d_to_rotmat(x.reshape(x.shape[0], NUM_JOINTS, 6))


def orthonormal_x(x: Tensor) -> Tensor:
    """(N, 144) 6D poses -> the same rotations as exact 6D (Gram-Schmidt applied, first two columns)."""
    return rotmat_to_rot6d(x_to_rotmats(x)).reshape(x.shape[0], -1)


def x_to_poses(x: Tensor) -> Tensor:
    """(N, 144) diffusion state -> (N, 24, 3) axis-angle."""
    return rotmat_to_rotvec_torch(x_to_rotmats(x))

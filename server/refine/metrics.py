"""Accuracy metrics of body estimates against ground truth, as pure torch functions.

Joints are (N, 24, 3) in metres (SMPL joint order, joint 0 = pelvis), N frames; every metric returns millimetres
per frame so callers can average, take medians or split by subset. Frames must be consecutive (a clip, in time
order) for :func:`accel_error`. 2D reprojection error is :func:`server.fitting.losses.reprojection_error`.
"""
from __future__ import annotations

import torch
from torch import Tensor

MM = 1000.0       # metres -> millimetres
PELVIS = 0


def pelvis_aligned(joints: Tensor) -> Tensor:
    """(N, J, 3) -> (N, J, 3) with the pelvis (joint 0) moved to the origin."""
    return joints - joints[:, PELVIS:PELVIS + 1]


def mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean per-joint position error after aligning the pelvises: pred, gt (N, J, 3) metres -> (N,) mm."""
    return (pelvis_aligned(pred) - pelvis_aligned(gt)).norm(dim=-1).mean(-1) * MM


def procrustes_align(pred: Tensor, gt: Tensor) -> Tensor:
    """Similarity transform (scale, rotation, translation) per frame that best maps pred onto gt in the least
    squares sense (Umeyama, reflections excluded): pred, gt (N, J, 3) -> aligned pred (N, J, 3)."""
    p = pred.to(torch.float64)
    q = gt.to(torch.float64)
    mp, mq = p.mean(1, keepdim=True), q.mean(1, keepdim=True)
    p0, q0 = p - mp, q - mq
    cov = q0.transpose(1, 2) @ p0                                        # (N, 3, 3) = sum q p^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))                              # -1: a reflection would fit better
    fix = torch.ones_like(s)
    fix[:, 2] = d
    rot = u @ torch.diag_embed(fix) @ vh                                  # (N, 3, 3) maps p0 onto q0
    var = (p0 ** 2).sum((1, 2)).clamp_min(1e-12)
    scale = (s * fix).sum(-1) / var
    aligned = scale[:, None, None] * p0 @ rot.transpose(1, 2) + mq
    return aligned.to(pred.dtype)


def pa_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """MPJPE after a per-frame similarity Procrustes alignment of pred onto gt: (N, J, 3) metres -> (N,) mm."""
    return (procrustes_align(pred, gt) - gt).norm(dim=-1).mean(-1) * MM


def accel_error(pred: Tensor, gt: Tensor) -> Tensor:
    """Acceleration error of a clip: pred, gt (T, J, 3) metres, consecutive frames -> (T - 2,) in mm/frame^2.

    Per frame: the mean over joints of ``|| a_pred - a_gt ||`` with ``a_t = p_{t-1} - 2 p_t + p_{t+1}`` (second
    differences of the pelvis-aligned joints; VIBE / ScoreHMR's definition, whose tables print the unit as mm/s^2
    although it is per frame squared). Multiply by fps^2 for mm/s^2."""
    diff = _second_difference(pelvis_aligned(pred)) - _second_difference(pelvis_aligned(gt))
    return diff.norm(dim=-1).mean(-1) * MM


def acceleration(joints: Tensor) -> Tensor:
    """Jitter of one clip on its own: joints (T, J, 3) metres -> (T - 2,) mean ``|| a_t ||`` in mm/frame^2."""
    return _second_difference(pelvis_aligned(joints)).norm(dim=-1).mean(-1) * MM


def _second_difference(p: Tensor) -> Tensor:
    """(T, ...) -> (T - 2, ...) ``p[t-1] - 2 p[t] + p[t+1]``."""
    return p[:-2] - 2.0 * p[1:-1] + p[2:]

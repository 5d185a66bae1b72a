"""Pinhole cameras as pure torch functions (OpenCV frame: x right, y down, z forward; pixels from the top left).

A view is described by ``focal`` (N,) pixels and ``centre`` (N, 2) principal point in pixels (the image centre
unless the footage says otherwise). The body's camera is its SMPL translation ``transl`` (N, 3) in the camera frame.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

MIN_DEPTH = 0.1  # metres: points closer than this are clamped before the division


def project(points: Tensor, focal: Tensor, centre: Tensor) -> Tensor:
    """Camera-frame points (N, L, 3), focal (N,), centre (N, 2) -> pixels (N, L, 2)."""
    z = points[..., 2:3].clamp_min(MIN_DEPTH)
    return focal[:, None, None] * points[..., :2] / z + centre[:, None]


def box_camera_to_position(cam: Tensor, box: Tensor, focal: Tensor, centre: Tensor) -> Tensor:
    """Box-relative camera ``(a, b, s)`` (N, 3) -> the point's camera-frame position (N, 3).

    ``box`` (N, 3) is ``(centre_u, centre_v, half_size)`` in pixels (:func:`server.diffusion.condition.person_box`);
    the point projects to ``box_centre + (a, b) * half_size`` at depth ``exp(s) * focal / half_size``. Regressing
    ``s`` (log of depth x box size / focal) keeps the target independent of image size and zoom."""
    half = box[:, 2]
    z = torch.exp(cam[:, 2]) * focal / half
    uv = box[:, :2] + cam[:, :2] * half[:, None]
    xy = (uv - centre) * (z / focal)[:, None]
    return torch.cat([xy, z[:, None]], -1)


def position_to_box_camera(position: Tensor, box: Tensor, focal: Tensor, centre: Tensor) -> Tensor:
    """Inverse of :func:`box_camera_to_position`: (N, 3) camera-frame points -> (N, 3) ``(a, b, s)``."""
    half = box[:, 2]
    z = position[:, 2].clamp_min(MIN_DEPTH)
    uv = focal[:, None] * position[:, :2] / z[:, None] + centre
    return torch.cat([(uv - box[:, :2]) / half[:, None], torch.log(z * half / focal)[:, None]], -1)


def fit_translation(points: Tensor, keypoints: Tensor, focal: Tensor, centre: Tensor,
                    min_visibility: float = 0.3, reg: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """Closed-form camera translation: the t (N, 3) minimising the confidence-weighted linearised reprojection
    error of body-frame points (N, L, 3) (posed, rotated into the camera, not yet translated) against
    ``keypoints`` (N, L, 3) pixels + confidence. Each landmark gives two equations linear in t:
    ``f (X + t_x) - (u - c_u)(Z + t_z) = 0`` (and the same in y). -> (t (N, 3), solvable (N,) bool: at least
    three landmarks with confidence >= min_visibility)."""
    w = keypoints[..., 2] * (keypoints[..., 2] >= min_visibility)
    du = keypoints[..., 0] - centre[:, None, 0]
    dv = keypoints[..., 1] - centre[:, None, 1]
    f = focal[:, None].expand_as(du)
    zero = torch.zeros_like(du)
    rows_u = torch.stack([f, zero, -du], -1)                     # (N, L, 3)
    rows_v = torch.stack([zero, f, -dv], -1)
    rhs_u = du * points[..., 2] - f * points[..., 0]
    rhs_v = dv * points[..., 2] - f * points[..., 1]
    a = torch.cat([rows_u, rows_v], 1) * torch.cat([w, w], 1)[..., None].sqrt()
    b = torch.cat([rhs_u, rhs_v], 1) * torch.cat([w, w], 1).sqrt()
    ata = a.transpose(1, 2) @ a
    ata = ata + reg * ata.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] * torch.eye(3, dtype=a.dtype)
    t = torch.linalg.solve(ata, (a.transpose(1, 2) @ b[..., None]))[..., 0]
    return t, (keypoints[..., 2] >= min_visibility).sum(-1) >= 3

"""Multi-view triangulation of 2D landmarks with calibrated cameras (numpy only).

:func:`triangulate` undistorts each view's pixels (:meth:`CameraCalibration.normalise`), solves a
confidence-weighted linear (DLT) system per landmark in normalised camera coordinates (well conditioned: no pixel
scaling needed), and then, robustly, drops the worst view of a landmark while its reprojection error exceeds
``outlier_px`` and at least ``min_views`` views would remain, re-solving after each drop.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .calibration import CameraCalibration

MIN_CONFIDENCE = 0.5    # a view takes part in a landmark with at least this confidence
OUTLIER_PX = 20.0       # a used view reprojecting worse than this is dropped (while min_views remain)
MIN_VIEWS = 2


class Triangulation(NamedTuple):
    """``points`` (N, L, 3) world metres (NaN where fewer than two views were usable); ``residual_px`` (V, N, L)
    distance between each view's (distorted) observation and the point's reprojection (NaN where either is
    missing); ``used`` (V, N, L) the views the point was solved from."""

    points: np.ndarray
    residual_px: np.ndarray
    used: np.ndarray


def _solve(normalised: np.ndarray, weights: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """DLT. normalised (V, P, 2) undistorted camera coordinates, weights (V, P) >= 0 (0 = view not used),
    extrinsics (V, 3, 4) ``[R | t]`` -> points (P, 3); NaN where fewer than two weights are positive."""
    x, y = normalised[..., 0:1], normalised[..., 1:2]                          # (V, P, 1)
    rows_x = x * extrinsics[:, None, 2] - extrinsics[:, None, 0]                # (V, P, 4)
    rows_y = y * extrinsics[:, None, 2] - extrinsics[:, None, 1]
    w = np.where(weights > 0, weights, 0.0)[..., None]
    a = np.concatenate([np.nan_to_num(rows_x * w), np.nan_to_num(rows_y * w)], 0)   # (2V, P, 4)
    a = np.transpose(a, (1, 0, 2))                                              # (P, 2V, 4)
    points = np.full((a.shape[0], 3), np.nan)
    solvable = (weights > 0).sum(0) >= MIN_VIEWS
    if solvable.any():
        _, _, vh = np.linalg.svd(a[solvable])
        h = vh[:, -1]                                                           # (P', 4)
        with np.errstate(divide="ignore", invalid="ignore"):
            points[solvable] = h[:, :3] / h[:, 3:4]
    return points


def reprojection_residual(points: np.ndarray, uv: np.ndarray, cameras: Sequence[CameraCalibration]) -> np.ndarray:
    """points (P, 3), uv (V, P, 2) distorted pixels -> (V, P) pixel distance of each reprojection (NaN if missing)."""
    return np.stack([np.linalg.norm(cam.project(points) - uv[v], axis=-1) for v, cam in enumerate(cameras)])


def triangulate(uv: np.ndarray, conf: np.ndarray, cameras: Sequence[CameraCalibration],
                min_confidence: float = MIN_CONFIDENCE, outlier_px: float = OUTLIER_PX,
                min_views: int = MIN_VIEWS) -> Triangulation:
    """uv (V, N, L, 2) distorted pixels of N frames of L landmarks in V views, conf (V, N, L) 0..1 ->
    :class:`Triangulation`. A view takes part in a landmark when its confidence >= ``min_confidence`` and its
    pixel is finite; rows of the linear system are weighted by the confidence."""
    uv = np.asarray(uv, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    views, frames, landmarks = conf.shape
    if uv.shape != (views, frames, landmarks, 2) or len(cameras) != views:
        raise ValueError(f"uv {uv.shape}, conf {conf.shape} and {len(cameras)} cameras do not match")
    flat_uv = uv.reshape(views, -1, 2)
    weights = np.where((conf >= min_confidence) & np.isfinite(uv).all(-1), conf, 0.0).reshape(views, -1)
    normalised = np.stack([cam.normalise(flat_uv[v]) for v, cam in enumerate(cameras)])
    extrinsics = np.stack([np.c_[cam.R, cam.t] for cam in cameras])
    points = _solve(normalised, weights, extrinsics)
    residual = reprojection_residual(points, flat_uv, cameras)
    for _ in range(max(0, views - min_views)):
        used = weights > 0
        error = np.where(used, np.nan_to_num(residual, nan=np.inf), -np.inf)   # a point behind a camera: worst
        worst, worst_error = error.argmax(0), error.max(0)                        # (P,) each
        redo = (used.sum(0) > min_views) & (worst_error > outlier_px)
        if not redo.any():
            break
        weights[worst[redo], np.flatnonzero(redo)] = 0.0
        points[redo] = _solve(normalised[:, redo], weights[:, redo], extrinsics)
        residual[:, redo] = reprojection_residual(points[redo], flat_uv[:, redo], cameras)
    used = (weights > 0) & np.isfinite(points).all(-1)
    return Triangulation(points.reshape(frames, landmarks, 3), residual.reshape(views, frames, landmarks),
                         used.reshape(views, frames, landmarks))

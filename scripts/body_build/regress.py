"""Sparse, non-negative, sum-to-one vertex regressors fitted over many body shapes (scipy's NNLS)."""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np
from scipy.optimize import nnls

log = logging.getLogger(__name__)

SUM_TO_ONE_WEIGHT = 30.0  # weight of the sum-to-one row relative to one metre of joint error per sample
PRUNE_BELOW = 1e-3  # weights below this are dropped and the rest refitted


def band_candidates(template: np.ndarray, point: np.ndarray, axis: np.ndarray, allowed: np.ndarray,
                    half_width: float = 0.025, radius: float = 0.25, min_count: int = 24) -> np.ndarray:
    """Vertex indices of the ring around ``point``: a slab across ``axis`` (widened until it holds
    ``min_count`` vertices), within ``radius``, restricted to the boolean mask ``allowed`` (V,).

    template (V, 3); point (3,); axis (3,) unit vector along the limb or spine.
    """
    offset = template - point
    along = np.abs(offset @ axis)
    near = (np.linalg.norm(offset, axis=1) < radius) & allowed
    width = half_width
    while True:
        idx = np.flatnonzero(near & (along < width))
        if len(idx) >= min_count or width > 0.2:
            return idx
        width *= 1.5


def nearest_candidates(template: np.ndarray, point: np.ndarray, allowed: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` allowed vertices nearest to ``point``; template (V, 3), point (3,), allowed (V,) bool."""
    idx = np.flatnonzero(allowed)
    dist = np.linalg.norm(template[idx] - point, axis=1)
    return idx[np.argsort(dist)[:count]]


def _solve(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """NNLS with a heavily weighted sum-to-one row; design (R, C), target (R,) -> (C,) weights."""
    rows = np.vstack([design, np.full((1, design.shape[1]), SUM_TO_ONE_WEIGHT * np.sqrt(len(target)))])
    rhs = np.append(target, SUM_TO_ONE_WEIGHT * np.sqrt(len(target)))
    weights, _ = nnls(rows, rhs, maxiter=50 * design.shape[1])
    return weights


def fit_point(vertices: np.ndarray, targets: np.ndarray, candidates: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Fit one point as a convex combination of candidate vertices over N shapes.

    vertices (N, V, 3); targets (N, 3); candidates (C,) -> (indices (S,), weights (S,)) with S <= C, the
    weights non-negative and summing to 1.
    """
    design = vertices[:, candidates, :].transpose(0, 2, 1).reshape(-1, len(candidates)).astype(np.float64)
    weights = _solve(design, targets.reshape(-1))
    keep = weights > PRUNE_BELOW
    if not keep.any():
        keep = weights >= weights.max()
    idx = candidates[keep]
    weights = _solve(design[:, keep], targets.reshape(-1))
    return idx, weights / weights.sum()


def dense_row(num_vertices: int, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(V,) dense regressor row from sparse (indices, weights)."""
    row = np.zeros(num_vertices)
    np.add.at(row, indices, weights)
    return row


def regression_errors(regressor: np.ndarray, vertices: np.ndarray, targets: np.ndarray,
                      rows: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, R) Euclidean errors in metres of ``regressor`` (R, V) on vertices (N, V, 3) against targets (N, R, 3)."""
    reg = regressor if rows is None else regressor[rows]
    pred = np.einsum("rv,nvc->nrc", reg, vertices)
    return np.linalg.norm(pred - targets, axis=-1)

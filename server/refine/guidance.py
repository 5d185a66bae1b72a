"""Guidance terms of the ScoreHMR loop as pure, typed functions over one batch of M rows (frames, views x frames
or hypotheses x frames).

:class:`Evidence` holds what a run keeps fixed per row (detector keypoints, camera, shape). The terms:
:func:`keypoint_term` (ScoreHMR's robust reprojection loss), :func:`video_term` (temporal smoothness of the
clean estimates), :func:`multiview_term` (cross-view agreement of the body joints) and the HMDiff-style
:func:`alignment_gap` / :func:`alignment_term` (confidence-aware pull toward the 2D evidence, early steps only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.rot6d import BODY_SLICE, x_to_rotmats
from ..diffusion.condition import person_box
from ..fitting.camera import fit_translation, project
from ..fitting.losses import keypoint_loss, multiview_loss, temporal_loss
from ..fitting.state import Observations


@dataclass(frozen=True)
class Evidence:
    """Per-row constants of a run: keypoints (M, 33, 3) pixels + confidence, focal (M,), centre (M, 2),
    image_size (M, 2), betas (M, B), box (M, 3) person boxes ``(u, v, half_size)`` in pixels."""

    keypoints: Tensor
    focal: Tensor
    centre: Tensor
    image_size: Tensor
    betas: Tensor
    box: Tensor

    @staticmethod
    def stack(views: Sequence[Observations], betas: Sequence[Tensor]) -> "Evidence":
        """Observations of several views / copies (each N rows) -> one Evidence of sum(N) rows, in order."""
        kp = torch.cat([v.keypoints for v in views]).to(torch.float32)
        return Evidence(keypoints=kp, focal=torch.cat([v.focal for v in views]).to(torch.float32),
                        centre=torch.cat([v.centre for v in views]).to(torch.float32),
                        image_size=torch.cat([v.image_size for v in views]).to(torch.float32),
                        betas=torch.cat(list(betas)).to(torch.float32), box=person_box(kp))


SEEN_CONFIDENCE, SEEN_LANDMARKS = 0.3, 6   # a frame shows the person: this many landmarks at least this confident


def seen_frames(keypoints: Tensor) -> Tensor:
    """(N, 33, 3) keypoints with confidence -> (N,) bool: the frames that show the person (a detection gap's frames
    do not; the prior then uses its null condition there)."""
    return (keypoints[..., 2] >= SEEN_CONFIDENCE).sum(-1) >= SEEN_LANDMARKS


def landmarks_px(skinning: LandmarkSkinning, ev: Evidence, x: Tensor, transl: Tensor) -> Tensor:
    """6D pose x (M, 144), transl (M, 3) -> projected landmarks (M, 33, 2) pixels."""
    _, lms = skinning(x_to_rotmats(x), ev.betas, transl)
    return project(lms, ev.focal, ev.centre)


def joints_of(skinning: LandmarkSkinning, ev: Evidence, x: Tensor, transl: Tensor) -> Tensor:
    """6D pose x (M, 144), transl (M, 3) -> camera-frame joints (M, 24, 3) metres."""
    joints, _ = skinning(x_to_rotmats(x), ev.betas, transl)
    return joints


def keypoint_term(pred_px: Tensor, ev: Evidence) -> Tensor:
    """Projected landmarks (M, 33, 2) -> (M,) ScoreHMR keypoint loss (GMoF sigma 100 at a 1000 px image,
    confidence^2 weighted, summed over landmarks)."""
    return keypoint_loss(pred_px, ev.keypoints, ev.image_size)


def video_term(x0: Tensor, frames: int, order: int = 1) -> Tensor:
    """Clean 6D estimates x0 (M, D) laid out as M / frames clips of ``frames`` consecutive frames -> (M,) the
    squared norm of the ``order``-th temporal difference, entry n holding the difference that ends at frame n (0 at
    each clip's first ``order`` frames). order 1 is ScoreHMR's video term ||x_n - x_{n-1}||^2; 2 penalises
    acceleration, 3 jerk (these remove jitter without flattening smooth motion). On the raw (not z-scored) 6D, or
    on any per-frame vector (e.g. the camera translation)."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    clips = x0.reshape(-1, frames, x0.shape[-1])
    if order == 1:
        return torch.cat([temporal_loss(c) for c in clips])
    d = clips
    for _ in range(order):
        d = d[:, 1:] - d[:, :-1]
    d = (d ** 2).sum(-1)
    return torch.cat([d.new_zeros(d.shape[0], min(order, frames)), d], 1).reshape(-1)


def multiview_term(x0: Tensor, views: int) -> Tensor:
    """Clean 6D estimates x0 (M, 144) laid out view-major (V blocks of M / V frames) -> (M,) squared distance of
    each row's 23 body joints' 6D from the mean over views (ScoreHMR's multi-view term, without their 300^2
    factor: the weight carries the scale)."""
    body = x0[:, BODY_SLICE].reshape(views, -1, x0.shape[-1] - 6)
    return multiview_loss(body).reshape(-1)


def alignment_gap(pred_px: Tensor, ev: Evidence, min_confidence: float = 0.5) -> Tensor:
    """HMDiff's relative gap R per row -> (M,): the confidence-weighted mean reprojection error over landmarks
    with confidence >= min_confidence, divided by the person box half size (0 when none qualify)."""
    conf = ev.keypoints[..., 2] * (ev.keypoints[..., 2] >= min_confidence)
    err = (pred_px - ev.keypoints[..., :2]).norm(dim=-1)
    mean = (conf * err).sum(-1) / conf.sum(-1).clamp_min(1e-6)
    return mean / ev.box[:, 2]


def alignment_term(pred_px: Tensor, ev: Evidence) -> Tensor:
    """The confidence-aware pull toward the 2D evidence -> (M,): sum over landmarks of confidence x squared
    residual in box units (scale free, non-robust: it is used only while the gap is large)."""
    r = (pred_px - ev.keypoints[..., :2]) / ev.box[:, None, 2:]
    return (ev.keypoints[..., 2].clamp(0.0, 1.0) * (r ** 2).sum(-1)).sum(-1)


def refit_translation(skinning: LandmarkSkinning, ev: Evidence, x: Tensor, transl: Tensor) -> Tensor:
    """Closed-form camera translation (M, 3) for the poses x (M, 144) (:func:`server.fitting.camera.
    fit_translation`); rows with too few confident landmarks or an implausible result keep ``transl``."""
    _, lms = skinning(x_to_rotmats(x), ev.betas, torch.zeros_like(transl))
    fitted, ok = fit_translation(lms, ev.keypoints, ev.focal, ev.centre)
    ok = ok & (fitted[:, 2] > 0.3) & torch.isfinite(fitted).all(-1)
    return torch.where(ok[:, None], fitted, transl)

"""Multi-view with known cameras: one body in one world frame, seen by V calibrated cameras.

Uncalibrated multi-view (:func:`.scorehmr.refine_multiview`) shares the body pose between the views but leaves each
view its own global orientation and camera translation. With the cameras' extrinsics known (``R_v``, ``t_v``: world
-> camera v, metres) the body has ONE orientation and ONE position in the world; here both are fused:

- orientation: the chordal mean of the views' ``R_v^T G_v`` (G_v the global orientation seen by view v), weighted
  by how many confident landmarks each view has in the frame, projected back onto a rotation (SVD);
- position: the SMPL translation in the world ``T`` that minimises the confidence-weighted linearised reprojection
  error of the posed body's landmarks (mostly its shoulders and hips) in ALL views at once (linear least squares, 3 unknowns per frame: a
  triangulation of the whole body), so depth is measured from the cameras' baseline instead of the body's size.

Each view's estimate is then the same world body seen by that camera. Body pose and betas are left as they are.
SMPL's root rotates about the rest pelvis ``J0``: a world body (G_w, T_w) is, in camera v, ``G_v = R_v G_w`` and
``T_v = R_v (J0 + T_w) + t_v - J0``. Keypoints must be undistorted pixels (``CameraCalibration.undistort_points``)
with the cameras' own focal length and principal point in the Observations.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.layout import NUM_LANDMARKS
from ..body.rot6d import BODY_SLICE, ROOT_SLICE, rotmat_to_rot6d, x_to_rotmats
from ..errors import Cancelled
from ..fitting.state import Estimate, Observations

if TYPE_CHECKING:
    from ..fitting.calibration import CameraCalibration
    from .optimise import OptimiseSettings

MIN_CONFIDENCE = 0.3
RIDGE = 1e-6
TORSO = (11, 12, 23, 24)   # shoulders and hips place the body; the limbs, whose pose may be off, count little
LIMB_WEIGHT = 0.05         # (they keep a frame with a hidden torso solvable)
SIZE_TOLERANCE = 0.05   # a clip may differ from its calibrated image size by this fraction (cropped edge rows)


def calibrated_observations(obs: Observations, camera: "CameraCalibration") -> Observations:
    """A view's detections with its calibration: keypoints undistorted, the camera's focal length (the mean of
    fx and fy) and principal point. Raises ValueError when the clip's size does not fit the calibration's."""
    size = obs.image_size[0].tolist()
    cw, ch = camera.image_size
    if abs(size[0] / cw - 1.0) > SIZE_TOLERANCE or abs(size[1] / ch - 1.0) > SIZE_TOLERANCE:
        raise ValueError(f"the clip is {size[0]:.0f}x{size[1]:.0f} pixels but camera {camera.name!r} was "
                         f"calibrated at {cw}x{ch}")
    n = len(obs)
    uv = camera.undistort_points(obs.keypoints[..., :2].reshape(-1, 2).double().numpy()).reshape(n, -1, 2)
    keypoints = torch.cat([torch.from_numpy(uv.astype(np.float32)), obs.keypoints[..., 2:3]], -1)
    k = camera.K
    focal = torch.full((n,), 0.5 * float(k[0, 0] + k[1, 1]))
    centre = torch.tensor([float(k[0, 2]), float(k[1, 2])]).expand(n, 2).clone()
    return Observations(keypoints, focal, centre, obs.image_size, obs.world, obs.frames, obs.fps)


def triangulated_landmarks(keypoints: Sequence[np.ndarray], cameras: Sequence["CameraCalibration"]) -> Tensor:
    """Each view's detections (V of (N, 33, 3): distorted pixels, confidence) -> their triangulation (N, 33, 4):
    world metres and 1 where at least two views agreed (else 0, the position 0): lengths in true metres, from
    which the body's shape is measured."""
    from ..fitting.triangulate import triangulate
    kp = np.stack([np.asarray(k, np.float64) for k in keypoints])
    points = triangulate(kp[..., :2], kp[..., 2], cameras).points
    seen = np.isfinite(points).all(-1)
    out = np.concatenate([np.where(seen[..., None], points, 0.0), seen[..., None].astype(np.float64)], -1)
    return torch.from_numpy(out).float()


def extrinsics_of(camera: "CameraCalibration") -> Tuple[Tensor, Tensor]:
    """(R (3, 3), t (3,)) float32 world -> camera."""
    return torch.from_numpy(camera.R.astype(np.float32)), torch.from_numpy(camera.t.astype(np.float32))


def project_to_rotation(m: Tensor) -> Tensor:
    """(..., 3, 3) matrices -> the nearest rotations (SVD, determinant +1)."""
    u, _, vh = torch.linalg.svd(m)
    d = torch.sign(torch.linalg.det(u @ vh))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return u @ fix @ vh


def view_weights(views: Sequence[Observations]) -> Tensor:
    """(V, N) each view's number of landmarks with confidence >= MIN_CONFIDENCE per frame (at least 1e-3)."""
    return torch.stack([(v.keypoints[..., 2] >= MIN_CONFIDENCE).sum(-1).to(torch.float32) for v in views]) + 1e-3


def world_orientation(global_views: Tensor, rotations: Tensor, weights: Tensor) -> Tensor:
    """G_v (V, N, 3, 3) camera-frame global orientations, R_v (V, 3, 3), weights (V, N) -> (N, 3, 3) in the world."""
    in_world = rotations.transpose(1, 2)[:, None] @ global_views
    return project_to_rotation((weights[..., None, None] * in_world).sum(0))


def _landmark_weights() -> Tensor:
    w = torch.full((NUM_LANDMARKS,), LIMB_WEIGHT)
    w[list(TORSO)] = 1.0
    return w


def world_translation(skinning: LandmarkSkinning, rotmats: Tensor, betas: Tensor, views: Sequence[Observations],
                      rotations: Tensor, translations: Tensor) -> Tensor:
    """World-frame pose (N, 24, 3, 3), betas (N, B), V views, R_v (V, 3, 3), t_v (V, 3) -> SMPL translation (N, 3)
    in the world. Each confident landmark l of view v (shoulders and hips at full weight, the rest at
    LIMB_WEIGHT: a limb the pose has wrong must not move the body; measured on synthetic views, 3.8 cm pelvis
    error against 6.1 with every landmark at full weight and 4.3 with the hips alone) gives ``f (r0 . (P + T) + t_x) = du (r2 . (P + T) + t_z)``
    (and the same in y), linear in T; the normal equations are solved per frame (a small ridge keeps frames
    that no view sees finite)."""
    with torch.no_grad():
        _, points = skinning(rotmats, betas)                                   # (N, 33, 3), no translation
    n = points.shape[0]
    ata = torch.zeros(n, 3, 3)
    atb = torch.zeros(n, 3)
    for v, obs in enumerate(views):
        r, t = rotations[v], translations[v]
        conf = obs.keypoints[..., 2]
        w = torch.where(conf >= MIN_CONFIDENCE, conf, torch.zeros_like(conf)) * _landmark_weights()   # (N, 33)
        f = obs.focal[:, None]
        rp = torch.einsum("ab,nlb->nla", r, points) + t                              # (N, 33, 3)
        for axis in (0, 1):
            du = obs.keypoints[..., axis] - obs.centre[:, None, axis]               # (N, 33)
            rows = f[..., None] * r[axis] - du[..., None] * r[2]                     # (N, 33, 3)
            rhs = du * rp[..., 2] - f * rp[..., axis]
            ata += torch.einsum("nl,nla,nlb->nab", w, rows, rows)
            atb += torch.einsum("nl,nla,nl->na", w, rows, rhs)
    ridge = RIDGE * ata.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1.0)[:, None, None] * torch.eye(3)
    return torch.linalg.solve(ata + ridge, atb[..., None])[..., 0]


def in_camera(skinning: LandmarkSkinning, rotmats: Tensor, transl: Tensor, betas: Tensor, rotation: Tensor,
              translation: Tensor) -> Estimate:
    """A world body (pose (N, 24, 3, 3), translation (N, 3)) as an Estimate in the camera (R (3, 3), t (3,))."""
    rest_pelvis = skinning.joint_template[0] + torch.einsum("cb,nb->nc", skinning.joint_shapedirs[0, :, :betas.shape[1]],
                                                            betas)
    root = rotation @ rotmats[:, 0]
    cam_rot = torch.cat([root[:, None], rotmats[:, 1:]], 1)
    cam_transl = torch.einsum("ab,nb->na", rotation, rest_pelvis + transl) + translation - rest_pelvis
    return Estimate(rotmat_to_rot6d(cam_rot).reshape(rotmats.shape[0], -1), betas, cam_transl)


def fuse_calibrated(skinning: LandmarkSkinning, views: Sequence[Observations], estimates: Sequence[Estimate],
                    extrinsics: Sequence[Tuple[Tensor, Tensor]]) -> Tuple[List[Estimate], Tensor, Tensor]:
    """V views' estimates of the same N frames (body pose shared) and each camera's (R (3, 3), t (3,)) ->
    (the fused world body in every view's camera frame, world pose (N, 24, 3, 3), world translation (N, 3))."""
    if not len(views) == len(estimates) == len(extrinsics) >= 2:
        raise ValueError(f"need >= 2 views with one estimate and one camera each, got {len(views)}, "
                         f"{len(estimates)}, {len(extrinsics)}")
    rotations = torch.stack([torch.as_tensor(r, dtype=torch.float32) for r, _ in extrinsics])
    translations = torch.stack([torch.as_tensor(t, dtype=torch.float32).reshape(3) for _, t in extrinsics])
    rots = torch.stack([x_to_rotmats(e.x.detach()) for e in estimates])               # (V, N, 24, 3, 3)
    glob = world_orientation(rots[:, :, 0], rotations, view_weights(views))
    world = torch.cat([glob[:, None], rots[0, :, 1:]], 1)
    betas = estimates[0].betas.detach()
    transl = world_translation(skinning, world, betas, views, rotations, translations)
    fused = [in_camera(skinning, world, transl, betas, rotations[v], translations[v]) for v in range(len(views))]
    return fused, world, transl


def world_fit_objective(skinning: LandmarkSkinning, views: Sequence[Observations], rotations: Tensor,
                        translations: Tensor, x: Tensor, transl: Tensor, betas: Tensor, start: Tensor,
                        settings: "OptimiseSettings") -> Tensor:
    """The calibrated fit's loss per frame (N,): every view's keypoint loss of the ONE world body (6D pose x
    (N, 144), world translation (N, 3)) seen through its fixed camera, + the pull of the pose to ``start``
    (N, 144) and, for clips, the acceleration of the pose and of the translation (the optimisation baseline's
    weights, :class:`server.refine.optimise.OptimiseSettings`)."""
    from ..fitting.camera import project
    from ..fitting.losses import keypoint_loss
    _, points = skinning(x_to_rotmats(x), betas, transl)                     # (N, 33, 3) world
    loss = torch.zeros(x.shape[0])
    for v, obs in enumerate(views):
        cam = torch.einsum("ab,nlb->nla", rotations[v], points) + translations[v]
        loss = loss + keypoint_loss(project(cam, obs.focal, obs.centre), obs.keypoints, obs.image_size)
    d = x - start
    loss = (loss + settings.pose_weight * (d[:, BODY_SLICE] ** 2).sum(-1)
            + settings.root_weight * (d[:, ROOT_SLICE] ** 2).sum(-1))
    if x.shape[0] >= 3:
        acc = lambda v: v[:-2] - 2.0 * v[1:-1] + v[2:]   # noqa: E731
        smooth = (acc(x) ** 2).sum(-1) + WORLD_TRANSL_ACCEL * (acc(transl) ** 2).sum(-1)
        loss = loss + settings.temporal_weight * torch.cat([smooth.new_zeros(2), smooth])
    return loss


WORLD_TRANSL_ACCEL = 10.0   # metres against 6D entries: a 1 cm/frame^2 jolt costs as much as a 0.03 6D one


def fit_world_body(skinning: LandmarkSkinning, views: Sequence[Observations], world: Tensor, transl: Tensor,
                   betas: Tensor, extrinsics: Sequence[Tuple[Tensor, Tensor]],
                   settings: "Optional[OptimiseSettings]" = None,
                   cancelled: Optional[Callable[[], bool]] = None) -> Tuple[Tensor, Tensor]:
    """Refine the fused world body against every view at once with the cameras fixed: world pose (N, 24, 3, 3),
    translation (N, 3), betas (N, B) -> the same, fitted (Adam, the optimisation baseline's steps and learning
    rates, cosine decay). The views' rays then pin each limb's depth, which one view alone cannot. Raises
    Cancelled when ``cancelled()``."""
    from ..body.rot6d import orthonormal_x
    from .optimise import OptimiseSettings
    s = settings or OptimiseSettings()
    rotations = torch.stack([torch.as_tensor(r, dtype=torch.float32) for r, _ in extrinsics])
    translations = torch.stack([torch.as_tensor(t, dtype=torch.float32).reshape(3) for _, t in extrinsics])
    start = rotmat_to_rot6d(world).reshape(world.shape[0], -1).detach()
    x = start.clone().requires_grad_(True)
    tr = transl.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [x], "lr": s.lr}, {"params": [tr], "lr": s.camera_lr}])
    for step in range(s.steps):
        if cancelled is not None and cancelled():
            raise Cancelled()
        opt.zero_grad(set_to_none=True)
        world_fit_objective(skinning, views, rotations, translations, x, tr, betas, start, s).sum().backward()
        opt.step()
        decay = s.final_lr_fraction + (1.0 - s.final_lr_fraction) * 0.5 * (1.0 + math.cos(math.pi * (step + 1) / s.steps))
        for group, base in zip(opt.param_groups, (s.lr, s.camera_lr)):
            group["lr"] = base * decay
    return x_to_rotmats(orthonormal_x(x.detach())), tr.detach()


def calibrated_fit(skinning: LandmarkSkinning, views: Sequence[Observations], estimates: Sequence[Estimate],
                   extrinsics: Sequence[Tuple[Tensor, Tensor]], refit: bool = True,
                   cancelled: Optional[Callable[[], bool]] = None) -> List[Estimate]:
    """:func:`fuse_calibrated`, then (``refit``) :func:`fit_world_body` -> the world body in every view's camera."""
    fused, world, transl = fuse_calibrated(skinning, views, estimates, extrinsics)
    if not refit:
        return fused
    betas = fused[0].betas
    world, transl = fit_world_body(skinning, views, world, transl, betas, extrinsics, cancelled=cancelled)
    return [in_camera(skinning, world, transl, betas, torch.as_tensor(r, dtype=torch.float32),
                      torch.as_tensor(t, dtype=torch.float32).reshape(3)) for r, t in extrinsics]

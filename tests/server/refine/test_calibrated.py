"""Calibrated multi-view fusion: one world body from views with known cameras."""
from __future__ import annotations

import math

import pytest
import torch

from server.body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from server.body.model import default_body_model_path, load_body_model
from server.body.rot6d import rotmat_to_rot6d, x_to_rotmats
from server.fitting.camera import project
from server.fitting.state import Estimate, Observations
from server.refine.calibrated import fuse_calibrated, in_camera, project_to_rotation


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def _cameras(count: int):
    """Cameras on a circle of 4 m radius around the origin at 1.5 m height, looking at it (world y up)."""
    out = []
    for k in range(count):
        a = 2 * math.pi * k / count
        centre = torch.tensor([4 * math.sin(a), 1.5, 4 * math.cos(a)])
        fwd = -centre / centre.norm()
        right = torch.nn.functional.normalize(torch.cross(fwd, torch.tensor([0.0, 1.0, 0.0]), dim=0), dim=0)
        down = torch.cross(fwd, right, dim=0)
        r = torch.stack([right, down, fwd])
        out.append((r, -r @ centre))
    return out


def _seen_by(skinning: LandmarkSkinning, world_rot: torch.Tensor, world_t: torch.Tensor, betas: torch.Tensor,
             r: torch.Tensor, t: torch.Tensor):
    """A world body through camera (r, t) -> (its Estimate in that camera, exact keypoints as Observations)."""
    n = world_rot.shape[0]
    truth = in_camera(skinning, world_rot, world_t, betas, r, t)
    _, lms = skinning(x_to_rotmats(truth.x), betas, truth.transl)
    kp = torch.cat([project(lms, torch.full((n,), 1000.0), torch.tensor([[960.0, 540.0]]).expand(n, 2)),
                    torch.ones(n, 33, 1)], -1)
    return truth, Observations.from_image(kp, 1920, 1080, focal=1000.0)


def _angle(rot: torch.Tensor) -> torch.Tensor:
    return torch.arccos(((rot.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))


def test_fusion_recovers_the_world_body(skinning: LandmarkSkinning) -> None:
    g = torch.Generator().manual_seed(0)
    n = 6
    poses = torch.randn(n, 24, 3, generator=g) * 0.2
    world_rot = rotvec_to_rotmat_torch(poses)
    betas = torch.zeros(n, 10)
    world_t = torch.tensor([0.3, 0.1, -0.2]) + 0.05 * torch.randn(n, 3, generator=g)
    cams = _cameras(3)
    views, estimates, view_angles = [], [], []
    for r, t in cams:
        truth, seen = _seen_by(skinning, world_rot, world_t, betas, r, t)
        views.append(seen)
        tilt = rotvec_to_rotmat_torch(torch.randn(n, 3, generator=g) * 0.05)           # each view a bit off
        x = truth.x.reshape(n, 24, 6).clone()
        x[:, 0] = rotmat_to_rot6d(tilt @ (r @ world_rot[:, 0]))
        view_angles.append(_angle(tilt))
        estimates.append(Estimate(x.reshape(n, -1), betas, truth.transl + torch.randn(n, 3, generator=g) * 0.3))
    fused, rot, transl = fuse_calibrated(skinning, views, estimates, cams)
    angle = _angle(rot[:, 0].transpose(1, 2) @ world_rot[:, 0])
    assert float(angle.mean()) < 0.75 * float(torch.stack(view_angles).mean())   # the views' tilts average out
    assert float((transl - world_t).norm(dim=-1).max()) < 0.03          # metres: the body triangulated
    for (r, t), est in zip(cams, fused):                                # each view: the same world body
        back = in_camera(skinning, rot, transl, betas, r, t)
        torch.testing.assert_close(est.transl, back.transl)


def test_rotation_projection_and_bad_input(skinning: LandmarkSkinning) -> None:
    rot = project_to_rotation(torch.eye(3) * 2.0 + 0.01 * torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(rot @ rot.T, torch.eye(3), atol=1e-5, rtol=0)
    assert float(torch.linalg.det(rot)) > 0
    with pytest.raises(ValueError, match="need >= 2 views"):
        fuse_calibrated(skinning, [], [], [])


def _world_pelvis(skinning: LandmarkSkinning, cams, estimates) -> list:
    out = []
    for (r, t), est in zip(cams, estimates):
        joints, _ = skinning(x_to_rotmats(est.x), est.betas, est.transl)
        out.append(torch.einsum("ba,nb->na", r, joints[:, 0] - t))
    return out


def test_pipeline_fits_one_world_body_with_calibrated_cameras(skinning: LandmarkSkinning) -> None:
    from server.body.model import default_body_model_path, load_body_model
    from server.refine.pipeline import Models, PipelineSettings, run_pipeline
    from ..refine.conftest import upright_poses

    n = 8
    poses = upright_poses(n, 5)
    world_rot = rotvec_to_rotmat_torch(poses)
    betas = torch.zeros(n, 10)
    world_t = torch.tensor([0.2, 0.0, 0.1]).expand(n, 3)
    cams = _cameras(3)
    views = []
    for r, t in cams:
        truth = in_camera(skinning, world_rot, world_t, betas, r, t)
        _, lms = skinning(x_to_rotmats(truth.x), betas, truth.transl)
        kp = torch.cat([project(lms, torch.full((n,), 1000.0), torch.tensor([[960.0, 540.0]]).expand(n, 2)),
                        torch.full((n, 33, 1), 0.95)], -1)
        world = lms - lms[:, 23:25].mean(1, keepdim=True)          # camera-oriented, hip-centred
        views.append(Observations.from_image(kp, 1920, 1080, focal=1000.0, world=world))
    models = Models(load_body_model(default_body_model_path()), is_builtin=True)
    out = run_pipeline(models, views, PipelineSettings(mode="multiview", refine=False, initial="learned"),
                       extrinsics=cams)
    assert out.method.endswith("+calibrated") and len(out.views) == 3
    pelvis = _world_pelvis(skinning, cams, out.views)
    for p in pelvis[1:]:                           # every view holds the same world pelvis
        torch.testing.assert_close(p, pelvis[0], atol=1e-4, rtol=0)
    true_pelvis = skinning(world_rot, betas, world_t)[0][:, 0]
    alone = run_pipeline(models, views, PipelineSettings(mode="multiview", refine=False, initial="learned"))
    error_alone = torch.stack([(p - true_pelvis).norm(dim=-1) for p in _world_pelvis(skinning, cams, alone.views)])
    error = (pelvis[0] - true_pelvis).norm(dim=-1)
    assert float(error.mean()) < 0.1 and float(error.mean()) < 0.7 * float(error_alone.mean())   # metres: 3.8 against 7.3 cm
    with pytest.raises(ValueError, match="one camera per view"):
        run_pipeline(models, views, PipelineSettings(mode="multiview", refine=False), extrinsics=cams[:2])


def test_world_fit_with_fixed_cameras_corrects_a_wrong_limb(skinning: LandmarkSkinning) -> None:
    """Three calibrated views of a moving body; the start's body pose has its elbows and knees off by 0.4 rad.
    The fit against every view at once brings the joints back towards the truth, and its cancel works."""
    from server.errors import Cancelled
    from server.refine.calibrated import calibrated_fit, fit_world_body
    g = torch.Generator().manual_seed(2)
    n = 8
    ends = torch.randn(2, 24, 3, generator=g) * 0.15
    s = torch.linspace(0.0, 1.0, n)[:, None, None]
    poses = ends[0] * (1 - s) + ends[1] * s                               # a smooth motion
    world_rot = rotvec_to_rotmat_torch(poses)
    betas = torch.zeros(n, 10)
    world_t = torch.tensor([0.0, 0.1, 0.0]) + torch.linspace(0.0, 0.2, n)[:, None] * torch.tensor([1.0, 0.0, 0.0])
    cams = _cameras(3)
    views, estimates = [], []
    wrong = poses.clone()
    wrong[:, [4, 5, 18, 19], 0] += 0.4                                     # knees and elbows bent wrongly
    for r, t in cams:
        truth, seen = _seen_by(skinning, world_rot, world_t, betas, r, t)
        views.append(seen)
        start = in_camera(skinning, rotvec_to_rotmat_torch(wrong), world_t, betas, r, t)
        estimates.append(start)
    true_joints, _ = skinning(world_rot, betas, world_t)

    def error(rot: torch.Tensor, transl: torch.Tensor) -> float:
        joints, _ = skinning(rot, betas, transl)
        return float((joints - true_joints).norm(dim=-1).mean())

    _, rot0, transl0 = fuse_calibrated(skinning, views, estimates, cams)
    rot1, transl1 = fit_world_body(skinning, views, rot0, transl0, betas, cams)
    assert error(rot1, transl1) < 0.6 * error(rot0, transl0), (error(rot1, transl1), error(rot0, transl0))
    fitted = calibrated_fit(skinning, views, estimates, cams)
    assert len(fitted) == 3 and all(bool(torch.isfinite(e.x).all()) for e in fitted)
    with pytest.raises(Cancelled):
        calibrated_fit(skinning, views, estimates, cams, cancelled=lambda: True)

"""Fast joints + landmarks (no full skinning) equal smplx's forward pass and our full skinning, with gradients."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch

from server.body.fast import FullSkinning, LandmarkSkinning, full_skinning, rotvec_to_rotmat_torch
from server.body.model import BodyModel, landmarks_from_vertices, skin
from server.body.rotations import rotvec_to_rotmat

from .conftest import random_motion, smplx_forward

T64 = torch.float64


def _t(a: np.ndarray, dtype: torch.dtype = T64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def test_fast_float32_equals_smplx_within_1e5(body_model: BodyModel) -> None:
    """The check: joints and landmarks (regressor @ smplx's vertices) within 1e-5 m, float32 default."""
    poses, betas, transl = random_motion(body_model, 16, seed=11)
    fast = LandmarkSkinning(body_model)
    joints, landmarks = fast(_t(poses, torch.float32), _t(betas, torch.float32), _t(transl, torch.float32))
    assert joints.dtype == torch.float32 and landmarks.shape == (16, 33, 3)
    ref_verts, ref_joints = smplx_forward(body_model, poses, betas, transl)
    ref_landmarks = landmarks_from_vertices(body_model, ref_verts, ref_joints)
    assert np.abs(joints.numpy() - ref_joints).max() < 1e-5
    assert np.abs(landmarks.numpy() - ref_landmarks).max() < 1e-5


def test_fast_float64_equals_numpy_and_torch_full_skinning(body_model: BodyModel) -> None:
    poses, betas, transl = random_motion(body_model, 5, seed=12, scale=1.2)
    verts, joints = skin(body_model, poses, betas, transl)
    fast_joints, fast_landmarks = LandmarkSkinning(body_model, dtype=T64)(_t(poses), _t(betas), _t(transl))
    full_verts, full_joints, full_landmarks = full_skinning(body_model, _t(poses), _t(betas), _t(transl))
    np.testing.assert_allclose(fast_joints.numpy(), joints, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast_landmarks.numpy(), landmarks_from_vertices(body_model, verts, joints), rtol=0,
                               atol=1e-10)
    np.testing.assert_allclose(full_verts.numpy(), verts, rtol=0, atol=1e-10)
    np.testing.assert_allclose(full_joints.numpy(), joints, rtol=0, atol=1e-10)
    np.testing.assert_allclose(full_landmarks.numpy(), fast_landmarks.numpy(), rtol=0, atol=1e-10)


def test_fast_path_touches_few_vertices(body_model: BodyModel) -> None:
    fast = LandmarkSkinning(body_model)
    assert fast.num_vertices_used < body_model.num_vertices
    assert fast.num_pairs <= 33 * 24


def test_rotation_matrix_input_and_per_frame_betas(body_model: BodyModel) -> None:
    poses, betas, transl = random_motion(body_model, 3, seed=13)
    fast = LandmarkSkinning(body_model, dtype=T64)
    by_rotvec = fast(_t(poses), _t(betas), _t(transl))
    by_rotmat = fast(_t(rotvec_to_rotmat(poses)), _t(np.tile(betas, (3, 1))), _t(transl))
    for a, b in zip(by_rotvec, by_rotmat):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="poses must be"):
        fast(torch.zeros(3, 24, 4, dtype=T64))


def test_fixed_betas_fold_into_the_precomputation(body_model: BodyModel) -> None:
    poses, betas, transl = random_motion(body_model, 3, seed=14)
    free = LandmarkSkinning(body_model, dtype=T64)(_t(poses), _t(betas), _t(transl))
    fixed_model = LandmarkSkinning(body_model, betas=betas, dtype=T64)
    fixed = fixed_model(_t(poses), None, _t(transl))
    for a, b in zip(free, fixed):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="fixed betas"):
        fixed_model(_t(poses), _t(betas))


def test_gradients_equal_full_skinning_gradients(body_model: BodyModel) -> None:
    poses, betas, transl = random_motion(body_model, 2, seed=15)
    weights = torch.as_tensor(np.random.default_rng(1).normal(size=(2, 57, 3)), dtype=T64)
    grads = []
    for module in (LandmarkSkinning(body_model, dtype=T64), FullSkinning(body_model, dtype=T64)):
        p, b, t = (_t(a).requires_grad_(True) for a in (poses, betas, transl))
        out = module(p, b, t)
        joints, landmarks = out[-2], out[-1]
        (torch.cat([joints, landmarks], 1) * weights).sum().backward()
        grads.append([x.grad.numpy() for x in (p, b, t)])
    for fast_grad, full_grad in zip(*grads):
        np.testing.assert_allclose(fast_grad, full_grad, rtol=1e-8, atol=1e-9)


def test_rodrigues_is_exact_and_smooth_at_zero() -> None:
    rv = torch.as_tensor(np.random.default_rng(2).normal(size=(50, 3)) * np.logspace(-9, 0.5, 50)[:, None], dtype=T64)
    np.testing.assert_allclose(rotvec_to_rotmat_torch(rv).numpy(), rotvec_to_rotmat(rv.numpy()), atol=1e-14)
    zero = torch.zeros(4, 3, dtype=T64, requires_grad=True)
    rotvec_to_rotmat_torch(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_a_bent_elbow_landmark_stays_on_the_elbow(body_model: BodyModel) -> None:
    """Landmarks at joint centres are the posed joints: bending the elbow 90 degrees bends the landmark arm too
    (the built-in body's vertex regressor for the elbow left it on the shoulder-wrist line, 143 mm off)."""
    from server.body.layout import JOINT_INDEX, LANDMARK_INDEX
    poses = torch.zeros(1, 24, 3, dtype=T64)
    poses[0, JOINT_INDEX["right_elbow"], 1] = math.pi / 2
    joints, landmarks = LandmarkSkinning(body_model, dtype=T64)(poses)
    for side in ("left", "right"):
        for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            torch.testing.assert_close(landmarks[0, LANDMARK_INDEX[f"{side}_{part}"]],
                                       joints[0, JOINT_INDEX[f"{side}_{part}"]])
    from server.body.model import default_body_model_path, load_body_model
    _, landmarks = LandmarkSkinning(load_body_model(default_body_model_path()), dtype=T64)(poses)   # T-posed arm
    s, e, w = (landmarks[0, LANDMARK_INDEX[f"right_{p}"]] for p in ("shoulder", "elbow", "wrist"))
    angle = torch.rad2deg(torch.arccos(torch.dot(s - e, w - e) / ((s - e).norm() * (w - e).norm())))
    assert abs(float(angle) - 90.0) < 5.0

"""The denoiser's shapes and condition dropout, the 6D representation, the condition features."""
from __future__ import annotations

import math

import pytest
import torch

from server.body.fast import rotvec_to_rotmat_torch
from server.body.rot6d import (poses_to_x, rot6d_to_rotmat, rotmat_to_rot6d, rotmat_to_rotvec_torch, x_to_poses,
                               x_to_rotmats)
from server.diffusion.condition import condition_dim, keypoints_to_condition, person_box
from server.diffusion.denoiser import Denoiser, DenoiserConfig, num_parameters

TINY = DenoiserConfig(hidden=32, time_dim=16)


def test_denoiser_shapes_and_published_size() -> None:
    model = Denoiser(TINY)
    x, c = torch.randn(5, 144), torch.randn(5, TINY.cond_dim)
    assert model(x, torch.randint(0, 1000, (5,)), c).shape == (5, 144)
    assert model(x, 7, None).shape == (5, 144)
    assert 1.5e6 < num_parameters(Denoiser(DenoiserConfig())) < 2.5e6
    with pytest.raises(ValueError):
        model(x, 7, torch.randn(5, 3))


def test_cond_mask_selects_the_null_condition() -> None:
    torch.manual_seed(0)
    model = Denoiser(TINY)
    with torch.no_grad():
        model.null_cond.normal_()
    x, t, c = torch.randn(4, 144), torch.full((4,), 100), torch.randn(4, TINY.cond_dim)
    mask = torch.tensor([True, False, True, False])
    mixed = model(x, t, c, mask)
    assert torch.allclose(mixed[mask], model(x, t, c)[mask], atol=1e-6)
    assert torch.allclose(mixed[~mask], model(x, t, None)[~mask], atol=1e-6)
    assert not torch.allclose(model(x, t, c), model(x, t, None))


def test_rot6d_round_trip_and_layout() -> None:
    g = torch.Generator().manual_seed(0)
    rotvec = torch.randn(64, 24, 3, generator=g)
    rotvec = rotvec / rotvec.norm(dim=-1, keepdim=True) * torch.rand(64, 24, 1, generator=g) * (math.pi - 1e-3)
    rot = rotvec_to_rotmat_torch(rotvec)
    assert torch.allclose(rotmat_to_rot6d(rot)[..., :3], rot[..., :, 0])      # first COLUMN first
    assert torch.allclose(rot6d_to_rotmat(rotmat_to_rot6d(rot)), rot, atol=1e-5)
    x = poses_to_x(rotvec)
    assert x.shape == (64, 144) and torch.allclose(x_to_rotmats(x), rot, atol=1e-5)
    assert torch.allclose(x_to_poses(x), rotvec, atol=1e-3)
    assert torch.allclose(rotmat_to_rotvec_torch(torch.eye(3)[None]), torch.zeros(1, 3))


def test_gram_schmidt_makes_rotations_from_any_6d() -> None:
    r = rot6d_to_rotmat(torch.randn(100, 6))
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand(100, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(100), atol=1e-5)


def test_condition_is_box_normalised_and_translation_scale_invariant() -> None:
    g = torch.Generator().manual_seed(0)
    kp = torch.cat([torch.rand(3, 33, 2, generator=g) * 400 + 100, torch.ones(3, 33, 1)], -1)
    feats = keypoints_to_condition(kp)
    assert feats.shape == (3, condition_dim(False))
    moved = kp.clone()
    moved[..., :2] = kp[..., :2] * 2.5 + 300
    assert torch.allclose(keypoints_to_condition(moved), feats, atol=1e-5)
    xy = feats.reshape(3, 33, 3)[..., :2]
    assert float(xy.abs().max()) <= 1.0 / 1.2 + 1e-5
    box = person_box(kp)
    assert box.shape == (3, 3) and torch.all(box[:, 2] > 0)


def test_condition_with_world_landmarks() -> None:
    kp = torch.cat([torch.rand(2, 33, 2) * 100, torch.rand(2, 33, 1)], -1)
    world = torch.randn(2, 33, 4) * 0.3
    feats = keypoints_to_condition(kp, world, use_world=True)
    assert feats.shape == (2, condition_dim(True))
    hips = feats[:, 99:].reshape(2, 33, 3)[:, 23:25].mean(1)
    assert torch.allclose(hips, torch.zeros(2, 3), atol=1e-6)
    with pytest.raises(ValueError):
        keypoints_to_condition(kp, None, use_world=True)

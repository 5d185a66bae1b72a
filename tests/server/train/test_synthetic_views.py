"""Synthetic detector views: shapes, camera convention, the noise and visibility model."""
from __future__ import annotations

import math

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.layout import LANDMARK_INDEX
from server.body.model import default_body_model_path, load_body_model
from server.body.rot6d import x_to_rotmats
from server.train.synthetic_views import ViewConfig, look_at_rotation, synthesize_views


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def test_front_camera_is_opencv_flip_and_sees_the_face() -> None:
    rot = look_at_rotation(torch.zeros(1), torch.zeros(1), torch.zeros(1))
    assert torch.allclose(rot, torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None], atol=1e-6)
    side = look_at_rotation(torch.tensor([math.pi / 2]), torch.zeros(1), torch.zeros(1))
    assert torch.allclose(side[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)


def test_views_shapes_and_camera_frame_root(skinning: LandmarkSkinning) -> None:
    g = torch.Generator().manual_seed(0)
    poses = torch.randn(512, 24, 3, generator=g) * 0.1
    v = synthesize_views(skinning, poses, g)
    assert v.x0.shape == (512, 144) and v.keypoints.shape == (512, 33, 3) and v.world.shape == (512, 33, 3)
    root = x_to_rotmats(v.x0)[:, 0]
    from server.body.fast import rotvec_to_rotmat_torch
    assert torch.allclose(root, v.cam_rotation @ rotvec_to_rotmat_torch(poses[:, 0]), atol=1e-5)
    vis = v.keypoints[..., 2]
    assert 0.0 <= float(vis.min()) and float(vis.max()) <= 1.0
    assert 0.05 < float((vis < 0.5).float().mean()) < 0.4            # some dropped, most seen
    inside = ((v.keypoints[..., :2] >= 0) & (v.keypoints[..., :2] <= v.image_size[:, None])).all(-1)
    assert 0.75 < float(inside.float().mean()) < 1.0


def test_clean_views_face_the_camera_in_front(skinning: LandmarkSkinning) -> None:
    """No noise, camera in front (elevation 0): the nose is nearer than the hips; the world landmarks'
    y axis points down (head above the hips has negative y)."""
    quiet = ViewConfig(elevation=(0.0, 0.0), roll_std=0.0, pixel_noise=(0.0, 0.0), outlier_prob=0.0,
                       drop_rate=(0.0, 0.0), low_conf_prob=0.0, swap_prob=0.0, world_noise=0.0,
                       world_depth_noise=0.0, world_scale=(1.0, 1.0), occluded_limb_prob=0.0, off_centre=0.0)
    g = torch.Generator().manual_seed(0)
    v = synthesize_views(skinning, torch.zeros(64, 24, 3), g, quiet)
    nose = LANDMARK_INDEX["nose"]
    facing = v.cam_rotation[:, 2, 2] < -0.7                           # cameras within ~45 deg of the front
    behind = v.cam_rotation[:, 2, 2] > 0.7
    assert facing.any() and behind.any()
    assert torch.all(v.world[facing, nose, 2] < 0.0) and torch.all(v.world[behind, nose, 2] > 0.0)
    assert torch.all(v.world[:, nose, 1] < -0.3)

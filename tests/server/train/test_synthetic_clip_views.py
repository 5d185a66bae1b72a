"""Synthetic views of a whole clip: one camera and body, per-frame detector noise."""
from __future__ import annotations

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.train.synthetic_views import synthesize_clip_views, synthesize_views


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def test_one_camera_and_body_for_the_clip(skinning: LandmarkSkinning) -> None:
    g = torch.Generator().manual_seed(1)
    clip = synthesize_clip_views(skinning, torch.randn(40, 24, 3, generator=g) * 0.1, g)
    assert clip.x0.shape == (40, 144) and clip.keypoints.shape == (40, 33, 3) and clip.world.shape == (40, 33, 3)
    for name in ("focal", "cam_rotation", "betas", "image_size"):
        value = getattr(clip, name)
        assert torch.equal(value, value[:1].expand_as(value)), name
    assert float(clip.betas.abs().sum()) > 0.0


def test_noise_differs_per_frame(skinning: LandmarkSkinning) -> None:
    """The same pose on every frame: the clean projections agree, the detector's output does not."""
    g = torch.Generator().manual_seed(2)
    pose = (torch.randn(1, 24, 3, generator=g) * 0.1).expand(30, -1, -1).clone()
    clip = synthesize_clip_views(skinning, pose, g)
    assert torch.allclose(clip.transl, clip.transl[:1].expand_as(clip.transl), atol=1e-5)
    uv = clip.keypoints[..., :2]
    assert float((uv[1:] - uv[:-1]).abs().mean()) > 0.5                  # pixels
    vis = clip.keypoints[..., 2]
    assert float((vis[1:] - vis[:-1]).abs().mean()) > 0.01


def test_per_frame_views_unchanged(skinning: LandmarkSkinning) -> None:
    """synthesize_views still draws a camera per sample (the refactor kept it)."""
    g = torch.Generator().manual_seed(3)
    views = synthesize_views(skinning, torch.randn(16, 24, 3, generator=g) * 0.1, g)
    assert len(torch.unique(views.focal)) == 16

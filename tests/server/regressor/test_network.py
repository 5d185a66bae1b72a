"""The regressor network: its input features, the world-landmark flag, strict config loading."""
from __future__ import annotations

import pytest
import torch

from server.diffusion.condition import condition_dim
from server.regressor.network import VIEW_FEATURES, Regressor, RegressorConfig, view_features


def _keypoints(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(n, 33, 3, generator=g) * torch.tensor([200.0, 400.0, 1.0]) + torch.tensor([700.0, 300.0, 0.0])
    return kp


def test_features_and_outputs() -> None:
    model = Regressor(RegressorConfig(hidden=32, num_blocks=1))
    kp, world = _keypoints(4), torch.randn(4, 33, 3) * 0.3
    focal, centre = torch.full((4,), 1000.0), torch.tensor([[960.0, 540.0]]).expand(4, 2)
    features, box = model.features(kp, world, focal, centre)
    assert features.shape == (4, condition_dim(True) + VIEW_FEATURES) == (4, model.config.input_dim)
    assert torch.all(features[:, -1] == 1.0)                          # world landmarks given
    out = model(features)
    assert out["x"].shape == (4, 144) and out["betas"].shape == (4, 10) and out["cam"].shape == (4, 3)
    no_world, _ = model.features(kp, None, focal, centre)
    assert torch.all(no_world[:, -1] == 0.0) and torch.all(no_world[:, 99:198] == 0.0)
    mixed, _ = model.features(kp, world, focal, centre, has_world=torch.tensor([True, False, True, False]))
    torch.testing.assert_close(mixed[1], no_world[1])
    torch.testing.assert_close(mixed[0], features[0])


def test_view_features_say_where_the_person_is() -> None:
    kp = _keypoints(1)
    focal, centre = torch.tensor([1000.0]), torch.tensor([[960.0, 540.0]])
    left, box = view_features(kp, focal, centre, torch.tensor([True]))
    right, _ = view_features(kp + torch.tensor([500.0, 0.0, 0.0]), focal, centre, torch.tensor([True]))
    torch.testing.assert_close(right[0, 0] - left[0, 0], torch.tensor(0.5))
    torch.testing.assert_close(left[0, 2], box[0, 2] / 1000.0)


def test_config_rejects_unknown_keys() -> None:
    assert RegressorConfig.from_dict({"hidden": 8}).hidden == 8
    with pytest.raises(ValueError, match="unknown regressor config keys"):
        RegressorConfig.from_dict({"hidden": 8, "wings": 2})

"""The temporal regressor: streamed blocks equal one pass, any clip length, gaps split, high frame rates, loading."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.errors import WeightsError
from server.fitting.state import Observations
from server.regressor.network import Regressor, RegressorConfig
from server.regressor.predict import regress, regress_temporal, segments
from server.regressor.temporal import (TemporalConfig, TemporalRegressor, checkpoint_dict, load_temporal_regressor,
                                       receptive_field, stride_for)


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def _model(seed: int = 0, trained_heads: bool = True) -> TemporalRegressor:
    torch.manual_seed(seed)
    model = TemporalRegressor(TemporalConfig(channels=16, dilations=(1, 2, 4)),
                              Regressor(RegressorConfig(hidden=32, num_blocks=1)))
    if trained_heads:   # heads start at zero; give them weights so the temporal path shows in the output
        for head in (model.pose_head, model.cam_head, model.betas_head):
            torch.nn.init.normal_(head.weight, std=0.05)
    return model.eval()


def _obs(n: int, seed: int = 0, frames=None, fps=None) -> Observations:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 3, n)[:, None, None]
    kp = torch.rand(1, 33, 3, generator=g) * torch.tensor([200.0, 400.0, 0.0]) + torch.tensor([800.0, 300.0, 0.9])
    kp = kp + torch.cat([20 * torch.sin(t + torch.rand(1, 33, 2, generator=g)), torch.zeros(n, 33, 1)], -1)
    world = torch.randn(1, 33, 3, generator=g).expand(n, 33, 3) * 0.3
    return Observations.from_image(kp, 1920, 1080, world=world, frames=frames, fps=fps)


def test_blocks_equal_one_pass_and_any_length_runs(skinning: LandmarkSkinning) -> None:
    model, obs = _model(), _obs(50)
    whole = regress_temporal(model, skinning, obs, block=1000)
    for block in (1, 7, 16):
        part = regress_temporal(model, skinning, obs, block=block)
        torch.testing.assert_close(part.x, whole.x, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(part.transl, whole.transl, atol=1e-5, rtol=1e-5)
    for n in (1, 2, 5):   # shorter than the receptive field (15 frames): the ends are repeated
        est = regress_temporal(model, skinning, _obs(n))
        assert est.x.shape == (n, 144) and torch.isfinite(est.transl).all()
    with pytest.raises(ValueError, match="at least one frame"):
        regress_temporal(model, skinning, _obs(3).select(torch.arange(0)))


def test_untrained_heads_give_the_per_frame_regressor(skinning: LandmarkSkinning) -> None:
    model, obs = _model(trained_heads=False), _obs(20)
    temporal, frame = regress_temporal(model, skinning, obs), regress(model.frame, skinning, obs)
    torch.testing.assert_close(temporal.x, frame.x)
    torch.testing.assert_close(temporal.transl, frame.transl, atol=1e-5, rtol=1e-5)


def test_a_long_gap_splits_the_clip(skinning: LandmarkSkinning) -> None:
    frames = torch.cat([torch.arange(0, 30), torch.arange(100, 130)])
    obs = _obs(60, frames=frames, fps=30.0)
    assert [len(s) for s in segments(obs)] == [30, 30]
    assert len(segments(_obs(60, frames=torch.cat([torch.arange(0, 30), torch.arange(40, 70)]), fps=30.0))) == 1
    model = _model()
    joined = regress_temporal(model, skinning, obs)
    alone = regress_temporal(model, skinning, obs.select(torch.arange(30, 60)))
    torch.testing.assert_close(joined.x[30:], alone.x)          # the second segment does not see the first


def test_high_frame_rates_run_every_stride_th_frame(skinning: LandmarkSkinning) -> None:
    assert stride_for(30) == stride_for(60) == 1 and stride_for(120) == 2 and stride_for(240) == 4
    model, obs = _model(), _obs(40, fps=120.0)
    est = regress_temporal(model, skinning, obs)
    even = regress_temporal(model, skinning, Observations.from_image(
        obs.keypoints[0::2], 1920, 1080, world=obs.world[0::2], fps=60.0))
    torch.testing.assert_close(est.x[0::2], even.x)
    assert receptive_field(model.config) == 15


def test_checkpoint_round_trip_and_wrong_files(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "temporal_regressor.pt"
    torch.save(checkpoint_dict(model), path)
    loaded = load_temporal_regressor(path)
    assert loaded.config == model.config and loaded.config.frame["hidden"] == 32
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value.half().to(value.dtype))
    frame_ckpt = tmp_path / "regressor.pt"
    from server.regressor.network import checkpoint_dict as frame_checkpoint
    torch.save(frame_checkpoint(model.frame), frame_ckpt)
    with pytest.raises(WeightsError, match="a 'blender_scorehmr.temporal_regressor' model belongs"):
        load_temporal_regressor(frame_ckpt)
    bad = checkpoint_dict(model)
    bad["config"]["wings"] = 2
    torch.save(bad, path)
    with pytest.raises(WeightsError, match="unusable config"):
        load_temporal_regressor(path)

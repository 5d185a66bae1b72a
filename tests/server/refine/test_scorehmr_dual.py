"""ScoreHMR with the dual motion model as the clip prior: video refinement, the guidance interval, hypotheses as
whole clips, and the pipeline's use of it for the clip start (a small untrained model: this checks the wiring;
the shipped model's figures are in docs/benchmarks.md)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.diffusion.denoiser import Denoiser, load_prior
from server.dual.dual_network import DualConfig, DualMotionModel
from server.dual.stream import DualPrior, regress_dual
from server.diffusion.windows import WindowedPrior
from server.diffusion.motion import MotionConfig, MotionDenoiser
from server.fitting.losses import keypoint_loss
from server.fitting.state import Estimate, reproject
from server.refine.pipeline import Models, PipelineSettings, initial_estimate, run_pipeline
from server.refine.refine_settings import RefineSettings
from server.refine.scorehmr import clip_prior, guided_steps, refine, sample_hypotheses
from server.regressor.network import Regressor, RegressorConfig
from server.train.synthetic_views import synthesize_clip_views

from .conftest import as_observations, upright_poses
from .test_scorehmr import perturbed

SETTINGS = RefineSettings(iterations=1, dual_t_start=100, dual_stride=25, dual_hypothesis_t_start=200)


@pytest.fixture(scope="module")
def prior() -> Denoiser:
    return load_prior()


@pytest.fixture(scope="module")
def dual() -> DualMotionModel:
    torch.manual_seed(0)
    model = DualMotionModel(DualConfig(channels=16, dilations=(1, 2, 4), time_dim=16),
                            Regressor(RegressorConfig(hidden=32, num_blocks=1)))
    torch.nn.init.normal_(model.pose_head.weight, std=0.01)
    return model.eval()


@pytest.fixture(scope="module")
def clip(skinning: LandmarkSkinning):
    poses = upright_poses(2, 7)
    s = torch.linspace(0.0, 1.0, 24)[:, None, None]
    return synthesize_clip_views(skinning, poses[0] * (1 - s) + poses[1] * s, torch.Generator().manual_seed(4))


def _loss(skinning: LandmarkSkinning, est: Estimate, obs) -> torch.Tensor:
    return keypoint_loss(reproject(skinning, est, obs), obs.keypoints, obs.image_size)


def test_clip_prior_is_the_dual_model_streamed_or_the_motion_windows(dual: DualMotionModel, clip) -> None:
    obs = as_observations(clip)
    assert isinstance(clip_prior(dual, [obs]), DualPrior)
    assert isinstance(clip_prior(MotionDenoiser(MotionConfig(window=8, channels=8, num_blocks=1)), [obs]),
                      WindowedPrior)
    assert SETTINGS.for_prior(dual).t_start == 100 and SETTINGS.for_prior(None) == SETTINGS
    assert guided_steps(SETTINGS.for_prior(dual)) == 4   # 100, 75, 50, 25


def test_video_refinement_with_the_dual_prior_fits_the_keypoints(prior: Denoiser, dual: DualMotionModel,
                                                                 skinning: LandmarkSkinning, clip) -> None:
    obs, init = as_observations(clip), perturbed(clip, 1)
    out = refine(prior, skinning, obs, init, SETTINGS, mode="video", motion=dual)
    assert out.estimate.x.shape == init.x.shape and bool(torch.isfinite(out.estimate.x).all())
    assert out.keypoint_loss.mean() < _loss(skinning, init, obs).mean()


def test_no_guidance_outside_the_interval(prior: Denoiser, dual: DualMotionModel, skinning: LandmarkSkinning,
                                          clip) -> None:
    """guide_below 0: every step is the prior's own, the camera is never stepped."""
    obs, init = as_observations(clip), perturbed(clip, 2)
    s = replace(SETTINGS, dual_guide_below=0, transl_smoothing=0.0)
    out = refine(prior, skinning, obs, init, s, mode="video", motion=dual)
    assert torch.equal(out.estimate.transl, init.transl)
    assert not torch.allclose(out.estimate.x, init.x)


def test_hypotheses_are_whole_clips_from_the_dual_prior(prior: Denoiser, dual: DualMotionModel,
                                                        skinning: LandmarkSkinning, clip) -> None:
    obs, init = as_observations(clip), perturbed(clip, 3)
    x, spread = sample_hypotheses(prior, skinning, obs, init, 3, SETTINGS, seed=1, motion=dual)
    assert x.shape == (3, len(obs), 144) and spread.shape == (len(obs),)
    assert (x[0] - x[1]).abs().amax() > 1e-3 and bool((spread > 0).all())


def test_the_pipeline_starts_clips_from_the_dual_model(dual: DualMotionModel, skinning: LandmarkSkinning,
                                                       clip) -> None:
    from server.body.model import default_body_model_path, load_body_model
    models = Models(load_body_model(default_body_model_path()), True)
    models._dual = dual
    obs = as_observations(clip)
    start, method = initial_estimate(models, obs, PipelineSettings(dual=True))
    expected = regress_dual(dual, models.skinning, obs)
    assert method == "temporal" and torch.allclose(start.x, expected.x)
    default, _ = initial_estimate(models, obs, PipelineSettings())   # the temporal regressor
    assert not torch.allclose(default.x, expected.x)
    out = run_pipeline(models, [obs], PipelineSettings(iterations=1, dual=True))
    assert out.method.endswith("dual motion model)") and bool(torch.isfinite(out.estimate.x).all())

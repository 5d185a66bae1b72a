"""The keypoints -> body pipeline: start choices, fallbacks and mode checks; refinement improves the fit."""
from __future__ import annotations

import pytest
import torch

from server.body.model import default_body_model_path, load_body_model
from server.errors import WeightsError
from server.fitting.losses import reprojection_error
from server.fitting.state import reproject
from server.refine.pipeline import Models, PipelineSettings, run_pipeline

from .conftest import as_observations


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(load_body_model(default_body_model_path()), is_builtin=True)


def _error_px(models: Models, est, obs) -> float:
    return float(reprojection_error(reproject(models.skinning, est, obs), obs.keypoints).nanmean())


def test_regression_start_then_refinement_fits_the_keypoints_better(models: Models, views) -> None:
    obs = as_observations(views)
    start = run_pipeline(models, [obs], PipelineSettings(mode="frame", refine=False, initial="learned"))
    refined = run_pipeline(models, [obs], PipelineSettings(mode="frame", initial="learned"))
    assert start.method == "regression" and refined.method == "regression+scorehmr(frame)"
    temporal = run_pipeline(models, [obs], PipelineSettings(mode="video", refine=False))
    assert temporal.method == "temporal"                                      # the default start
    assert torch.equal(start.estimate.betas, refined.estimate.betas)       # refinement keeps the shared shape
    assert (start.estimate.betas == start.estimate.betas[:1]).all()          # one shape for the clip
    assert _error_px(models, refined.estimate, obs) < _error_px(models, start.estimate, obs)


def test_analytic_start_and_fallback(models: Models, views, monkeypatch) -> None:
    obs = as_observations(views)
    analytic = run_pipeline(models, [obs], PipelineSettings(mode="frame", refine=False, initial="analytic"))
    assert analytic.method == "analytic" and torch.isfinite(analytic.estimate.x).all()

    def missing() -> None:
        raise WeightsError("no regressor here")
    fresh = Models(models.body, is_builtin=True)
    monkeypatch.setattr(fresh, "temporal_regressor", missing)           # temporal -> per frame
    assert run_pipeline(fresh, [obs], PipelineSettings(mode="frame", refine=False)).method == "regression"
    monkeypatch.setattr(fresh, "regressor", missing)                    # ... -> analytic
    assert run_pipeline(fresh, [obs], PipelineSettings(mode="frame", refine=False)).method == "analytic"
    no_world = as_observations(views).select(torch.arange(len(obs)))
    no_world = type(no_world)(no_world.keypoints, no_world.focal, no_world.centre, no_world.image_size, None)
    with pytest.raises(WeightsError):   # no world landmarks: nothing to fall back on, the error stands
        run_pipeline(fresh, [no_world], PipelineSettings(mode="frame", refine=False))
    with pytest.raises(ValueError, match="world landmarks"):
        run_pipeline(models, [no_world], PipelineSettings(mode="frame", refine=False, initial="analytic"))


def test_mode_checks(models: Models, views) -> None:
    obs = as_observations(views)
    with pytest.raises(ValueError, match="at least two views"):
        run_pipeline(models, [obs], PipelineSettings(mode="multiview"))
    with pytest.raises(ValueError, match="takes one view"):
        run_pipeline(models, [obs, obs], PipelineSettings(mode="video"))
    with pytest.raises(ValueError, match="different numbers of frames"):
        run_pipeline(models, [obs, obs.select(torch.arange(3))], PipelineSettings(mode="multiview"))
    with pytest.raises(ValueError):
        PipelineSettings(mode="teleport")


def test_video_of_one_frame_is_refined_as_a_frame(models: Models, views) -> None:
    out = run_pipeline(models, [as_observations(views).select(torch.arange(1))], PipelineSettings(mode="video"))
    assert out.method.endswith("(frame)") and len(out.estimate) == 1


def test_keypoints_without_world_landmarks(models: Models, views) -> None:
    """Another detector's 2D keypoints only: the regressor runs with its no-world flag, the prior unconditionally."""
    obs = as_observations(views)
    bare = type(obs)(obs.keypoints, obs.focal, obs.centre, obs.image_size, None)
    start = run_pipeline(models, [bare], PipelineSettings(mode="frame", refine=False))
    refined = run_pipeline(models, [bare], PipelineSettings(mode="frame"))
    assert torch.isfinite(refined.estimate.x).all() and torch.isfinite(refined.estimate.transl).all()
    assert _error_px(models, refined.estimate, bare) < _error_px(models, start.estimate, bare)


def test_alternative_poses_fit_and_flag_their_spread(models: Models, views) -> None:
    obs = as_observations(views).select(torch.arange(6))
    out = run_pipeline(models, [obs], PipelineSettings(mode="frame", hypotheses=2))
    assert out.hypotheses.shape == (2, 6, 144) and out.spread.shape == (6,)
    assert (out.spread > 0).all() and (out.spread < 0.3).all()
    assert not torch.allclose(out.hypotheses[0], out.hypotheses[1])


def test_multiview_gap_in_one_view_does_not_pull_the_body(models: Models, views) -> None:
    obs = as_observations(views).select(torch.arange(8))
    blind = type(obs)(obs.keypoints.clone(), obs.focal, obs.centre, obs.image_size, obs.world)
    blind.keypoints[3] = 0.0                              # the second camera saw nobody in frame 3
    out = run_pipeline(models, [obs, blind], PipelineSettings(mode="multiview", temporal=0.0))
    single = run_pipeline(models, [obs], PipelineSettings(mode="frame"))
    body = lambda e: e.x[:, 6:]                           # noqa: E731
    assert torch.allclose(body(out.views[0]), body(out.views[1]), atol=1e-5)
    assert (body(out.estimate)[3] - body(single.estimate)[3]).abs().max() < 0.05   # 0.2 without the fill

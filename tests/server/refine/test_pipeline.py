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


def test_the_users_height_and_gender_shape_the_start_on_the_same_pixels(models: Models, views) -> None:
    """Height and gender asked: the shared betas have them; the taller body starts as much further away, so its
    keypoints land where the estimated body's did."""
    from server.body.phenotype import slider_values
    from server.options import ShapeRequest
    obs = as_observations(views)
    plain = run_pipeline(models, [obs], PipelineSettings(mode="frame", refine=False, initial="learned"))
    asked = run_pipeline(models, [obs], PipelineSettings(mode="frame", refine=False, initial="learned",
                                                         shape=ShapeRequest(height=1.95, gender=0.0)))
    values = slider_values(models.body, models.body.phenotype, asked.estimate.betas[0].double().numpy())
    assert values[0] == pytest.approx(0.0, abs=1e-4) and values[1] == pytest.approx(1.95, abs=1e-3)
    assert (asked.estimate.transl[:, 2] > plain.estimate.transl[:, 2] + 0.2).all()
    assert _error_px(models, asked.estimate, obs) < 1.2 * _error_px(models, plain.estimate, obs) + 2.0


def test_a_shape_asked_of_an_smpl_file_is_a_clear_error(views) -> None:
    from server.body.model import model_from_arrays
    from server.body.synthetic import synthetic_smpl_arrays
    from server.errors import JobError
    from server.options import ShapeRequest
    smpl = Models(model_from_arrays(synthetic_smpl_arrays(num_vertices=6890, seed=1)), is_builtin=False)
    with pytest.raises(JobError, match="phenotype map"):
        run_pipeline(smpl, [as_observations(views)], PipelineSettings(mode="frame", refine=False, initial="learned",
                                                                       shape=ShapeRequest(weight=0.2)))


def test_triangulated_lengths_shape_the_body_unless_they_fit_none(models: Models, views) -> None:
    """Metric landmarks of a known body give its stature back; lengths no body has fall back to the regressor's."""
    from server.body.phenotype import stature, with_phenotype
    from server.body.rot6d import x_to_rotmats
    obs = as_observations(views)
    truth = with_phenotype(models.body.phenotype, torch.zeros(10).numpy(), {"gender": 0.1, "height": 0.55})
    betas = torch.from_numpy(truth).float()[None].expand(len(obs), -1)
    _, points = models.skinning(x_to_rotmats(views.x0), betas)
    metric = torch.cat([points.detach(), torch.ones(*points.shape[:2], 1)], -1)
    settings = PipelineSettings(mode="frame", refine=False, initial="learned")
    est = run_pipeline(models, [obs], settings, metric=metric)
    assert abs(stature(models.body, est.estimate.betas[0].double().numpy()) - stature(models.body, truth)) < 0.02
    wild = metric.clone()
    wild[:, 11:17, :3] *= 2.0                                         # arms and shoulders no body has
    fallback = run_pipeline(models, [obs], settings)
    assert torch.equal(run_pipeline(models, [obs], settings, metric=wild).estimate.betas, fallback.estimate.betas)

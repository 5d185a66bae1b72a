"""ScoreHMR refinement with the committed prior on small synthetic views (frame, video, multi-view, hypotheses)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from server.body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from server.body.rot6d import rotmat_to_rot6d, x_to_rotmats
from server.diffusion.denoiser import Denoiser, load_prior
from server.diffusion.schedule import ddim_timesteps
from server.errors import Cancelled
from server.fitting.losses import keypoint_loss
from server.fitting.state import Estimate, reproject
from server.refine.metrics import acceleration
from server.refine.refine_settings import RefineSettings
from server.refine.scorehmr import refine, refine_multiview, sample_hypotheses
from server.train.synthetic_views import SyntheticViews, synthesize_clip_views, synthesize_views

from .conftest import as_observations, upright_poses

FAST = RefineSettings(iterations=2)


@pytest.fixture(scope="module")
def prior() -> Denoiser:
    return load_prior()


def perturbed(v: SyntheticViews, seed: int, rot_std: float = 0.15, transl_std: float = 0.05) -> Estimate:
    """The ground truth with every joint rotated by noise of ``rot_std`` rad and the translation shifted."""
    g = torch.Generator().manual_seed(seed)
    n = v.x0.shape[0]
    noise = rotvec_to_rotmat_torch(torch.randn(n, 24, 3, generator=g) * rot_std)
    x = rotmat_to_rot6d(x_to_rotmats(v.x0) @ noise).reshape(n, -1)
    return Estimate(x, v.betas.clone(), v.transl + transl_std * torch.randn(n, 3, generator=g))


def loss_of(skinning: LandmarkSkinning, est: Estimate, v: SyntheticViews) -> torch.Tensor:
    obs = as_observations(v)
    return keypoint_loss(reproject(skinning, est, obs), obs.keypoints, obs.image_size)


def test_refinement_lowers_the_keypoint_loss(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    init = perturbed(views, 0)
    out = refine(prior, skinning, as_observations(views), init, FAST)
    start = loss_of(skinning, init, views)
    assert out.keypoint_loss.shape == (16,) and out.iterations_run.shape == (16,)
    assert torch.allclose(out.keypoint_loss, loss_of(skinning, out.estimate, views), rtol=1e-4, atol=1e-2)
    assert out.keypoint_loss.mean() < 0.6 * start.mean(), (float(out.keypoint_loss.mean()), float(start.mean()))
    assert torch.equal(out.estimate.betas, init.betas) and out.align_steps == 0
    rot = x_to_rotmats(out.estimate.x)
    assert torch.allclose(rot.transpose(-1, -2) @ rot, torch.eye(3).expand_as(rot), atol=1e-5)


def test_video_mode_is_smoother_than_frame_mode(prior: Denoiser, skinning: LandmarkSkinning) -> None:
    poses = upright_poses(2, 3)
    s = torch.linspace(0.0, 1.0, 20)[:, None, None]
    clip = synthesize_clip_views(skinning, poses[0] * (1 - s) + poses[1] * s, torch.Generator().manual_seed(3))
    init, obs = perturbed(clip, 1), as_observations(clip)
    frame = refine(prior, skinning, obs, init, FAST, mode="frame")
    video = refine(prior, skinning, obs, init, FAST, mode="video")

    def jitter(est: Estimate) -> float:
        joints, _ = skinning(x_to_rotmats(est.x), est.betas, est.transl)
        return float(acceleration(joints).mean())
    assert jitter(video.estimate) < 0.9 * jitter(frame.estimate), (jitter(video.estimate), jitter(frame.estimate))
    assert video.keypoint_loss.mean() < loss_of(skinning, init, clip).mean()


def test_multiview_shares_the_body_and_keeps_each_views_orientation(prior: Denoiser,
                                                                    skinning: LandmarkSkinning) -> None:
    poses = upright_poses(4, 5)
    vs = [synthesize_views(skinning, poses, torch.Generator().manual_seed(10 + i)) for i in range(2)]
    inits = [perturbed(v, i) for i, v in enumerate(vs)]
    outs = refine_multiview(prior, skinning, [as_observations(v) for v in vs], inits, FAST, video=False)
    a, b = outs[0].estimate, outs[1].estimate
    assert torch.allclose(a.x[:, 6:], b.x[:, 6:], atol=1e-5)
    assert (a.x[:, :6] - b.x[:, :6]).abs().amax() > 0.1
    assert torch.equal(a.betas, b.betas)
    for out, init, v in zip(outs, inits, vs):
        assert out.keypoint_loss.mean() < loss_of(skinning, init, v).mean()


def test_hypotheses_differ_and_fit_the_keypoints(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    v = SyntheticViews(*(t[:4] for t in (views.x0, views.keypoints, views.world, views.image_size, views.focal,
                                         views.cam_rotation, views.betas, views.transl)))
    init = perturbed(v, 2)
    x, spread = sample_hypotheses(prior, skinning, as_observations(v), init, 3, FAST, seed=1)
    assert x.shape == (3, 4, 144) and spread.shape == (4,) and bool((spread > 0).all())
    assert (x[0] - x[1]).abs().amax() > 1e-2
    again, _ = sample_hypotheses(prior, skinning, as_observations(v), init, 3, FAST, seed=1)
    assert torch.equal(x, again)
    start = loss_of(skinning, init, v).mean()
    refined = refine(prior, skinning, as_observations(v), init, FAST).estimate
    for k in range(3):
        assert loss_of(skinning, replace(refined, x=x[k]), v).mean() < start


def test_alignment_reports_its_active_steps(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    init = perturbed(views, 4, rot_std=0.3)
    out = refine(prior, skinning, as_observations(views), init, replace(FAST, align=True))
    per_iteration = math.ceil(FAST.align_fraction * len(ddim_timesteps(FAST.t_start, FAST.stride)))
    assert 0 < out.align_steps <= FAST.iterations * per_iteration
    assert out.keypoint_loss.mean() < loss_of(skinning, init, views).mean()


def test_early_stopped_samples_stay_frozen(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    init, obs = perturbed(views, 0), as_observations(views)
    calls = []
    once = refine(prior, skinning, obs, init, replace(FAST, iterations=1))
    frozen = refine(prior, skinning, obs, init, replace(FAST, iterations=3, early_stop_tol=1e9),
                    progress=lambda done, total: calls.append((done, total)))
    per_iteration = len(ddim_timesteps(FAST.t_start, FAST.stride))     # progress counts guided steps
    assert calls == [(k, 3 * per_iteration) for k in range(1, per_iteration + 1)] + [(3 * per_iteration,) * 2]
    assert torch.equal(frozen.iterations_run, torch.ones(16, dtype=torch.long))
    assert torch.allclose(frozen.estimate.x, once.estimate.x) and torch.allclose(frozen.estimate.transl,
                                                                                  once.estimate.transl)


def test_bad_inputs_are_rejected(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    obs, init = as_observations(views), perturbed(views, 0)
    one = obs.select(torch.tensor([0]))
    with pytest.raises(ValueError, match="at least 2"):
        refine(prior, skinning, one, Estimate(init.x[:1], init.betas[:1], init.transl[:1]), FAST, mode="video")
    with pytest.raises(ValueError, match="same frames"):
        refine_multiview(prior, skinning, [obs, obs.select(torch.arange(8))],
                         [init, Estimate(init.x[:8], init.betas[:8], init.transl[:8])], FAST)
    bad = obs.keypoints.clone()
    bad[3, 5, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        refine(prior, skinning, replace(obs, keypoints=bad), init, FAST)
    with pytest.raises(ValueError, match="mode"):
        refine(prior, skinning, obs, init, FAST, mode="multiview")


def test_cancel_raises_between_guided_steps(prior: Denoiser, skinning: LandmarkSkinning, views) -> None:
    checks = []

    def cancelled() -> bool:
        checks.append(1)
        return len(checks) > 3
    with pytest.raises(Cancelled):
        refine(prior, skinning, as_observations(views), perturbed(views, 0), FAST, cancelled=cancelled)
    assert len(checks) == 4


def test_quality_settings_map_to_iterations_and_temporal_weight() -> None:
    s = RefineSettings.for_quality(5, 0.5)
    assert s.iterations == 5 and s.temporal_weight == 0.5 * RefineSettings().temporal_weight
    assert RefineSettings.for_quality(0, 100.0).iterations == 1
    assert RefineSettings.for_quality(3, 100.0).temporal_weight <= 2.0 * RefineSettings().temporal_weight


def test_video_term_orders_vanish_on_polynomial_motion() -> None:
    from server.refine.guidance import video_term
    t = torch.arange(12.0)[:, None]
    quadratic = torch.cat([t, t ** 2], 1).repeat(2, 1)                 # two clips of 12 frames
    assert video_term(quadratic, 12, order=3).abs().max() < 1e-3
    assert video_term(quadratic, 12, order=2).shape == (24,)
    assert float(video_term(quadratic, 12, order=2)[5]) == pytest.approx(4.0)
    assert torch.equal(video_term(quadratic, 12, order=1)[[0, 12]], torch.zeros(2))


def test_published_explicit_velocity_term_still_smooths(prior: Denoiser, skinning: LandmarkSkinning) -> None:
    poses = upright_poses(2, 3)
    s = torch.linspace(0.0, 1.0, 20)[:, None, None]
    clip = synthesize_clip_views(skinning, poses[0] * (1 - s) + poses[1] * s, torch.Generator().manual_seed(3))
    init, obs = perturbed(clip, 1), as_observations(clip)
    published = replace(FAST, temporal_order=1, temporal_implicit=False, temporal_weight=400.0, video_grad_norm=0.0,
                        network_jacobian=True, keypoint_weight=0.005)
    frame = refine(prior, skinning, obs, init, published, mode="frame")
    video = refine(prior, skinning, obs, init, published, mode="video")

    def jitter(est: Estimate) -> float:
        joints, _ = skinning(x_to_rotmats(est.x), est.betas, est.transl)
        return float(acceleration(joints).mean())
    assert jitter(video.estimate) < jitter(frame.estimate)


def test_long_clips_are_smoothed_in_blocks_like_the_whole_clip() -> None:
    """The implicit temporal step on a 700-frame clip, solved in blocks, equals the whole-clip solution."""
    from types import SimpleNamespace

    from server.refine import scorehmr as S

    g = torch.Generator().manual_seed(0)
    frames = 700
    z0 = torch.cumsum(torch.randn(2 * frames, 144, generator=g), 0) * 0.05 + torch.randn(2 * frames, 144, generator=g)
    denoiser = SimpleNamespace(x_std=torch.rand(144, generator=g) * 0.3 + 0.05)
    settings = S.RefineSettings()
    h = torch.tensor(0.02)
    blocks = S._smooth(SimpleNamespace(frames=frames, smooth=S.difference_basis(S.SMOOTH_WINDOW, 3)), settings,
                       denoiser, z0, h)
    whole = S._smooth(SimpleNamespace(frames=frames, smooth=S.difference_basis(frames, 3)), settings,
                      denoiser, z0, h)
    assert frames > S.SMOOTH_WINDOW and (blocks - whole).abs().max() < 1e-3   # of values ~1 (float32)
    assert (blocks - z0).abs().max() > 1e-2        # it does smooth


def test_video_mode_smooths_the_root_path(prior: Denoiser, skinning: LandmarkSkinning) -> None:
    """The camera translation (the root's path in the animation) gets the implicit jerk step in video mode."""
    from server.train.synthetic_views import synthesize_clip_views

    from .conftest import upright_poses
    g = torch.Generator().manual_seed(5)
    poses = upright_poses(1, 5).repeat(40, 1, 1)
    v = synthesize_clip_views(skinning, poses, g)
    obs = as_observations(v)
    noisy = v.transl + torch.randn(v.transl.shape, generator=g) * torch.tensor([0.02, 0.02, 0.3])
    init = Estimate(v.x0, v.betas, noisy)

    def root_jitter(settings: RefineSettings) -> float:
        t = refine(prior, skinning, obs, init, settings, mode="video").estimate.transl
        return float((t[:-2] - 2 * t[1:-1] + t[2:]).norm(dim=-1).mean())

    assert root_jitter(RefineSettings()) < 0.3 * root_jitter(replace(RefineSettings(), transl_smoothing=0.0))


@pytest.fixture(scope="module")
def motion():
    from server.diffusion.motion import load_motion_prior
    return load_motion_prior()


def _walk(frames: int, seed: int) -> torch.Tensor:
    poses = upright_poses(2, seed)
    s = torch.linspace(0.0, 1.0, frames)[:, None, None]
    return poses[0] * (1 - s) + poses[1] * s


def _walk_clip(skinning: LandmarkSkinning, frames: int, seed: int) -> SyntheticViews:
    return synthesize_clip_views(skinning, _walk(frames, seed), torch.Generator().manual_seed(seed))


def test_motion_prior_guides_clips_of_any_length(prior: Denoiser, motion, skinning: LandmarkSkinning) -> None:
    """Video mode through the motion prior's windows: smoother than frame mode, fits the keypoints, and a clip
    shorter than one window (padded) or several windows long (blended) both work."""
    for frames in (12, 75):
        clip = _walk_clip(skinning, frames, 3)
        init, obs = perturbed(clip, 1), as_observations(clip)
        frame = refine(prior, skinning, obs, init, FAST, mode="frame")
        video = refine(prior, skinning, obs, init, FAST, mode="video", motion=motion)

        def jitter(est: Estimate) -> float:
            joints, _ = skinning(x_to_rotmats(est.x), est.betas, est.transl)
            return float(acceleration(joints).mean())
        assert bool(torch.isfinite(video.estimate.x).all())
        assert jitter(video.estimate) < 0.9 * jitter(frame.estimate), (frames, jitter(video.estimate),
                                                                         jitter(frame.estimate))
        assert video.keypoint_loss.mean() < loss_of(skinning, init, clip).mean()


def test_motion_prior_in_multiview_video(prior: Denoiser, motion, skinning: LandmarkSkinning) -> None:
    poses = _walk(10, 5)
    vs = [synthesize_clip_views(skinning, poses, torch.Generator().manual_seed(s)) for s in (6, 7)]
    inits = [perturbed(v, s) for s, v in enumerate(vs)]
    outs = refine_multiview(prior, skinning, [as_observations(v) for v in vs], inits, FAST, video=True,
                            motion=motion)
    assert len(outs) == 2
    assert torch.allclose(outs[0].estimate.x[:, 6:], outs[1].estimate.x[:, 6:], atol=1e-5)
    for out, v, init in zip(outs, vs, inits):
        assert out.keypoint_loss.mean() < loss_of(skinning, init, v).mean()


def test_a_detection_gap_gets_the_null_condition_and_a_finite_result(prior: Denoiser, motion,
                                                                    skinning: LandmarkSkinning) -> None:
    from server.refine.guidance import seen_frames
    from server.refine.scorehmr import _new_run
    clip = _walk_clip(skinning, 40, 4)
    obs = as_observations(clip)
    keypoints = obs.keypoints.clone()
    keypoints[15:25] = 0.0                                   # nobody detected for 10 frames
    obs = replace(obs, keypoints=keypoints)
    assert seen_frames(keypoints).tolist() == [True] * 15 + [False] * 10 + [True] * 15
    run = _new_run(prior, [obs], [clip.betas])
    assert run.seen is not None and not bool(run.seen[15:25].any())
    out = refine(prior, skinning, obs, perturbed(clip, 2), FAST, mode="video", motion=motion)
    assert bool(torch.isfinite(out.estimate.x).all()) and bool(torch.isfinite(out.estimate.transl).all())

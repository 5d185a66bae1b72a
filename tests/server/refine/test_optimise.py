"""The optimisation baseline: lowers the keypoint loss from a perturbed start, the prior term acts, cancel works."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.diffusion.denoiser import Denoiser, DenoiserConfig
from server.errors import Cancelled
from server.fitting.state import Estimate, Observations, posed_body
from server.refine.optimise import OptimiseSettings, fit_objective, optimise
from server.train.synthetic_views import ViewConfig, synthesize_clip_views

FAST = OptimiseSettings(steps=30)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batches: one thread is faster and immune to a busy machine's oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


@pytest.fixture(scope="module")
def scene(skinning: LandmarkSkinning):
    """A clip of 8 frames with quiet detector noise, and a start whose pose and translation are perturbed."""
    g = torch.Generator().manual_seed(0)
    quiet = ViewConfig(pixel_noise=(0.002, 0.002), outlier_prob=0.0, drop_rate=(0.0, 0.0), swap_prob=0.0,
                       closeup_prob=0.0, low_conf_prob=0.0)
    poses = torch.randn(8, 24, 3, generator=g) * 0.2
    poses[:, 1:] = poses[:1, 1:] + torch.randn(8, 23, 3, generator=g) * 0.02
    views = synthesize_clip_views(skinning, poses, g, quiet)
    obs = Observations(views.keypoints, views.focal, 0.5 * views.image_size, views.image_size, views.world)
    start = Estimate(views.x0 + torch.randn(views.x0.shape, generator=g) * 0.1, views.betas,
                     views.transl + torch.tensor([0.05, -0.05, 0.3]))
    return views, obs, start


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_lowers_the_keypoint_loss_and_gets_closer(skinning: LandmarkSkinning, scene, optimizer: str) -> None:
    views, obs, start = scene
    out = optimise(skinning, obs, start, replace(FAST, optimizer=optimizer))
    assert out.x.shape == (8, 144) and out.transl.shape == (8, 3) and torch.equal(out.betas, start.betas)
    before, after = fit_objective(skinning, obs, start), fit_objective(skinning, obs, out)
    assert float(after.mean()) < 0.5 * float(before.mean())
    gt, _ = posed_body(skinning, views.x0, views.betas, views.transl)
    def err(e: Estimate) -> float:
        j, _ = posed_body(skinning, e.x, e.betas, e.transl)
        return float(((j - j[:, :1]) - (gt - gt[:, :1])).norm(dim=-1).mean())
    assert err(out) < err(start)
    cols = out.x.reshape(8, 24, 2, 3)
    assert torch.allclose(cols.norm(dim=-1), torch.ones(8, 24, 2), atol=1e-5)   # orthonormal 6D out


def test_video_mode_smooths(skinning: LandmarkSkinning, scene) -> None:
    _, obs, start = scene
    frame = optimise(skinning, obs, start, FAST)
    video = optimise(skinning, obs, start, FAST, video=True)
    def jitter(e: Estimate) -> float:
        return float(((e.x[1:] - e.x[:-1]) ** 2).sum(-1).mean())
    assert jitter(video) < jitter(frame)


def test_prior_term_runs_and_changes_the_result(skinning: LandmarkSkinning, scene) -> None:
    _, obs, start = scene
    torch.manual_seed(0)
    tiny = Denoiser(DenoiserConfig(hidden=32, time_dim=16)).eval()
    plain = optimise(skinning, obs, start, FAST)
    prior = optimise(skinning, obs, start, FAST, denoiser=tiny)
    assert torch.isfinite(prior.x).all()
    assert float((prior.x - plain.x).abs().max()) > 1e-3
    again = optimise(skinning, obs, start, FAST, denoiser=tiny)
    assert torch.equal(again.x, prior.x)                             # the prior's noise is seeded
    off = optimise(skinning, obs, start, replace(FAST, prior_weight=0.0), denoiser=tiny)
    assert torch.allclose(off.x, plain.x)


def test_cancel_raises(skinning: LandmarkSkinning, scene) -> None:
    _, obs, start = scene
    calls = []
    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        optimise(skinning, obs, start, FAST, cancelled=cancelled)
    assert len(calls) == 4

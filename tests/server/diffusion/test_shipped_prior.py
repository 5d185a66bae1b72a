"""The committed prior loads offline through the weight resolution and denoises better than no prior."""
from __future__ import annotations

import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.body.rot6d import x_to_rotmats
from server.diffusion.condition import keypoints_to_condition
from server.diffusion.denoiser import load_prior
from server.diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample
from server.train.synthetic_views import synthesize_views

from .conftest import angle_deg


def test_committed_prior_denoises_walking_like_poses(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_prior()                                  # resolves the committed server/assets/weights/prior.pt
    g = torch.Generator().manual_seed(0)
    poses = torch.zeros(64, 24, 3)
    swing = torch.linspace(-0.5, 0.5, 64)
    poses[:, 1, 0], poses[:, 2, 0] = -swing, swing       # legs swing about x, as in a walk
    poses[:, 4, 0], poses[:, 5, 0] = swing.abs(), swing.abs()  # knees bend forward
    views = synthesize_views(LandmarkSkinning(load_body_model(default_body_model_path())), poses, g)
    cond = keypoints_to_condition(views.keypoints, views.world, model.config.use_world)
    ac = cosine_alphas_cumprod(model.config.num_timesteps)
    z0 = model.normalize(views.x0)
    z_t = q_sample(z0, 250, torch.randn(z0.shape, generator=g), ac)
    truth = x_to_rotmats(views.x0)
    with torch.no_grad():
        raw = angle_deg(x_to_rotmats(model.denormalize(z_t / ac[250].sqrt())), truth).mean()
        cond_err = angle_deg(x_to_rotmats(model.denormalize(predict_x0(z_t, 250, model(z_t, 250, cond), ac))),
                              truth).mean()
    assert cond_err < 0.8 * raw, (float(cond_err), float(raw))

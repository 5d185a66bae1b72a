"""The committed motion prior loads offline and denoises a motion window: far better than no prior, and better
than the per-frame prior at the same noise level (the window's temporal context). Its keypoint condition adds
next to nothing (docs/models.md, model card), so it is not asserted."""
from __future__ import annotations

import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.body.rot6d import x_to_rotmats
from server.diffusion.condition import keypoints_to_condition
from server.diffusion.denoiser import load_prior
from server.diffusion.motion import load_motion_prior
from server.diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample
from server.train.synthetic_views import synthesize_clip_views

from .conftest import angle_deg


def test_committed_motion_prior_denoises_a_walk_window(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_motion_prior()                  # resolves the committed server/assets/weights/motion_prior.pt
    w = model.config.window
    g = torch.Generator().manual_seed(0)
    phase = torch.linspace(0.0, 2.0 * torch.pi, w)
    poses = torch.zeros(w, 24, 3)
    swing = 0.5 * torch.sin(phase)
    poses[:, 1, 0], poses[:, 2, 0] = -swing, swing                  # legs swing about x, as in a walk
    poses[:, 4, 0], poses[:, 5, 0] = 0.6 * swing.clamp_min(0), 0.6 * (-swing).clamp_min(0)
    poses[:, 16, 2], poses[:, 17, 2] = -1.2, 1.2                    # arms down
    views = synthesize_clip_views(LandmarkSkinning(load_body_model(default_body_model_path())), poses, g)
    ac = cosine_alphas_cumprod(model.config.num_timesteps)
    frame = load_prior()
    truth = x_to_rotmats(views.x0)
    t = 200
    noise = torch.randn(views.x0.shape, generator=g)
    z_t = q_sample(model.normalize(views.x0), t, noise, ac)[None]
    f_t = q_sample(frame.normalize(views.x0), t, noise, ac)
    cond = keypoints_to_condition(views.keypoints, views.world, frame.config.use_world)
    with torch.no_grad():
        raw = angle_deg(x_to_rotmats(model.denormalize(z_t / ac[t].sqrt())[0]), truth).mean()
        window = angle_deg(x_to_rotmats(model.denormalize(predict_x0(z_t, t, model(z_t, t), ac))[0]), truth).mean()
        per_frame = angle_deg(x_to_rotmats(frame.denormalize(predict_x0(f_t, t, frame(f_t, t, cond), ac))),
                               truth).mean()
    assert window < 0.6 * raw, (float(window), float(raw))
    assert window < 0.85 * per_frame, (float(window), float(per_frame))

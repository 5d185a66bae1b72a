"""The shipped temporal regressor on a smooth synthetic motion: closer to the truth and far steadier than the
per-frame regressor it builds on, given the same noisy detections."""
from __future__ import annotations

import numpy as np
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.fitting.state import Observations, posed_body
from server.refine.metrics import acceleration, pa_mpjpe
from server.regressor.predict import regress, regress_temporal
from server.regressor.temporal import load_temporal_regressor
from server.train.synthetic_views import synthesize_clip_views


def _smooth_motion(frames: int, seed: int) -> torch.Tensor:
    """(frames, 24, 3) axis-angle: every joint swings slowly between two random poses (a walk-like motion)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, 24, 3)) * 0.25
    a[0], b[0] = [0.0, 0.3, 0.0], [0.0, 0.9, 0.0]
    phase = (1.0 - np.cos(np.linspace(0.0, 4.0 * np.pi, frames))) / 2.0
    return torch.from_numpy(a[None] + phase[:, None, None] * (b - a)[None]).float()


def test_shipped_temporal_regressor_beats_the_per_frame_one() -> None:
    torch.set_num_threads(1)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    views = synthesize_clip_views(skinning, _smooth_motion(150, 4), torch.Generator().manual_seed(4))
    obs = Observations(views.keypoints, views.focal, 0.5 * views.image_size, views.image_size, views.world,
                       fps=30.0)
    model = load_temporal_regressor()
    temporal, frame = regress_temporal(model, skinning, obs), regress(model.frame, skinning, obs)
    with torch.no_grad():
        truth, _ = posed_body(skinning, views.x0, views.betas, views.transl)
        ours, _ = posed_body(skinning, temporal.x, temporal.betas, temporal.transl)
        theirs, _ = posed_body(skinning, frame.x, frame.betas, frame.transl)
    assert float(pa_mpjpe(ours, truth).mean()) < float(pa_mpjpe(theirs, truth).mean())
    assert float(acceleration(ours).mean()) < 0.5 * float(acceleration(theirs).mean())

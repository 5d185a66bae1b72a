"""The shipped regressor on held-out-style synthetic views: a usable start, placed where the person is."""
from __future__ import annotations

import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.fitting.losses import reprojection_error
from server.fitting.state import Observations, posed_body, reproject
from server.refine.metrics import pa_mpjpe
from server.regressor.network import load_regressor
from server.regressor.predict import regress
from server.train.synthetic_views import synthesize_views

from ..refine.conftest import upright_poses


def test_shipped_regressor_gives_a_usable_start() -> None:
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    v = synthesize_views(skinning, upright_poses(64, 3), torch.Generator().manual_seed(3))
    obs = Observations(v.keypoints, v.focal, 0.5 * v.image_size, v.image_size, v.world)
    est = regress(load_regressor(), skinning, obs, batch=16)                # chunked like long clips
    assert est.x.shape == (64, 144) and est.betas.shape == (64, 10) and est.transl.shape == (64, 3)
    with torch.no_grad():
        pred, _ = posed_body(skinning, est.x, est.betas, est.transl)
        true, _ = posed_body(skinning, v.x0, v.betas, v.transl)
    assert float(pa_mpjpe(pred, true).median()) < 75.0     # mm: 59 here (random limbs), ~35 on held-out mocap
    height = (v.keypoints[..., 1].amax(1) - v.keypoints[..., 1].amin(1))
    error = reprojection_error(reproject(skinning, est, obs), obs.keypoints)
    assert float((error / height).nanmedian()) < 0.06     # lands on the person (0.036 here)
    depth_ratio = est.transl[:, 2] / v.transl[:, 2]
    assert 0.85 < float(depth_ratio.median()) < 1.15

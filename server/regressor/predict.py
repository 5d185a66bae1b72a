"""Run the regressor on observations: the initial estimate that refinement starts from."""
from __future__ import annotations

import torch

from ..body.fast import LandmarkSkinning
from ..fitting.camera import box_camera_to_position
from ..fitting.state import Estimate, Observations
from .network import Regressor


@torch.no_grad()
def regress(regressor: Regressor, skinning: LandmarkSkinning, obs: Observations, batch: int = 4096) -> Estimate:
    """Observations of N frames -> per-frame Estimate (x (N, 144), betas (N, B), transl (N, 3)).

    The camera head gives the pelvis position; ``transl`` places the posed body (shaped by the predicted betas)
    so that its pelvis lands there. Frames are run in chunks of ``batch``."""
    xs, betas, transl = [], [], []
    for s in range(0, len(obs), batch):
        part = obs.select(torch.arange(s, min(len(obs), s + batch)))
        features, box = regressor.features(part.keypoints, part.world, part.focal, part.centre)
        out = regressor(features)
        pelvis = box_camera_to_position(out["cam"], box, part.focal, part.centre)
        b = out["betas"]
        rest_pelvis = skinning.joint_template[0] + torch.einsum("cb,nb->nc", skinning.joint_shapedirs[0, :, :b.shape[1]], b)
        xs.append(out["x"])
        betas.append(b)
        transl.append(pelvis - rest_pelvis)
    return Estimate(torch.cat(xs), torch.cat(betas), torch.cat(transl))

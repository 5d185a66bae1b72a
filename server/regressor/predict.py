"""Run the regressors on observations: the initial estimate that refinement starts from (per frame, or the
temporal model streamed over the clip)."""
from __future__ import annotations

from typing import Iterator, List, Tuple, cast

import torch

from ..body.fast import LandmarkSkinning
from ..fitting.camera import box_camera_to_position
from ..fitting.state import Estimate, Observations
from .network import Regressor
from .temporal import REFERENCE_FPS, TemporalRegressor, stride_for


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
        xs.append(out["x"])
        betas.append(out["betas"])
        transl.append(pelvis_transl(skinning, out["cam"], box, out["betas"], part))
    return Estimate(torch.cat(xs), torch.cat(betas), torch.cat(transl))


MAX_GAP_SECONDS = 0.5   # a detection gap longer than this splits the clip into independent segments
TEMPORAL_BLOCK = 512    # output frames per block of the streaming pass


def pelvis_transl(skinning: LandmarkSkinning, cam: torch.Tensor, box: torch.Tensor, betas: torch.Tensor,
                   obs: Observations) -> torch.Tensor:
    """Box-relative camera (N, 3), person boxes (N, 3), betas (N, B) -> SMPL translation (N, 3)."""
    pelvis = box_camera_to_position(cam, box, obs.focal, obs.centre)
    rest = skinning.joint_template[0] + torch.einsum("cb,nb->nc", skinning.joint_shapedirs[0, :, :betas.shape[1]], betas)
    return pelvis - rest


def segments(obs: Observations) -> List[torch.Tensor]:
    """Row indices of the runs of frames that belong together: split where the video frame numbers
    (``obs.frames``) jump by more than :data:`MAX_GAP_SECONDS`; one run when the frame numbers are unknown."""
    n = len(obs)
    if obs.frames is None or n < 2:
        return [torch.arange(n)]
    gap = max(1, int(round(MAX_GAP_SECONDS * (obs.fps or REFERENCE_FPS))))
    cut = torch.nonzero(obs.frames[1:] - obs.frames[:-1] > gap)[:, 0] + 1
    bounds = [0] + cut.tolist() + [n]
    return [torch.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def sequences(obs: Observations) -> List[Tuple[torch.Tensor, float]]:
    """The continuous sequences a sequence model reads -> [(rows (n,) into ``obs``, their frame rate)]: each
    segment (:func:`segments`), and above 75 fps each of its ``stride`` phases (every ``stride``-th frame,
    :func:`.temporal.stride_for`) at ``fps / stride``."""
    fps = float(obs.fps or REFERENCE_FPS)
    stride = stride_for(fps)
    return [(rows[phase::stride], fps / stride) for rows in segments(obs) for phase in range(min(stride, len(rows)))]


def context_blocks(n: int, context: int, block: int) -> Iterator[Tuple[int, int, torch.Tensor]]:
    """Blocks of a sequence of n frames -> (s, e, rows): output frames s..e-1 and the rows (e - s + 2 context,)
    they read, the sequence's first and last frames repeated past its ends."""
    for s in range(0, n, block):
        e = min(n, s + block)
        yield s, e, torch.arange(s - context, e + context).clamp(0, n - 1)


@torch.no_grad()
def regress_temporal(model: TemporalRegressor, skinning: LandmarkSkinning, obs: Observations,
                     block: int = TEMPORAL_BLOCK) -> Estimate:
    """Observations of N frames -> per-frame Estimate from the temporal regressor, streamed.

    Each sequence (:func:`sequences`: a segment, or one stride phase of it above 75 fps) is run in blocks of
    ``block`` output frames, each with ``context`` frames of the sequence on either side, the first and last
    frames repeated past its ends (:func:`context_blocks`): time is linear and memory flat in N, and the output
    does not depend on ``block``. The stride phases are interleaved again. A segment of any length works, down
    to one frame (its evidence repeated)."""
    if len(obs) == 0:
        raise ValueError("the temporal regressor needs at least one frame")
    xs, betas, transl = torch.empty(len(obs), 144), None, torch.empty(len(obs), 3)
    for sub, fps in sequences(obs):
        x, b, t = _run_sequence(model, skinning, obs.select(sub), fps, block)
        if betas is None:
            betas = torch.empty(len(obs), b.shape[1])
        xs[sub], betas[sub], transl[sub] = x, b, t
    return Estimate(xs, cast(torch.Tensor, betas), transl)   # set by the first sequence: obs is not empty


def _run_sequence(model: TemporalRegressor, skinning: LandmarkSkinning, obs: Observations, fps: float,
                  block: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One continuous sequence of N frames -> x (N, 144), betas (N, B), transl (N, 3), in blocks."""
    k = model.context
    xs, betas, transl = [], [], []
    rate = torch.tensor([fps])
    for s, e, rows in context_blocks(len(obs), k, block):
        part = obs.select(rows)
        features, box = model.frame.features(part.keypoints, part.world, part.focal, part.centre)
        frame = {key: v[None] for key, v in model.frame(features).items()}
        out = model(features[None], frame, rate)
        x, b, cam = out["x"][0], out["betas"][0], out["cam"][0]
        mid = obs.select(torch.arange(s, e))
        xs.append(x)
        betas.append(b)
        transl.append(pelvis_transl(skinning, cam, box[k:k + (e - s)], b, mid))
    return torch.cat(xs), torch.cat(betas), torch.cat(transl)

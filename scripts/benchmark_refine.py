"""Refinement figures on held-out subjects: regression vs + optimisation vs + optimisation with the diffusion prior
vs + ScoreHMR, given the same synthetic detector keypoints (prints a table; ``--json`` writes the figures).

    .venv/bin/python scripts/benchmark_refine.py [--frames 512] [--clips 8] [--clip-length 240] [--seed 0]
                                                 [--threads 2] [--json OUT]

Observations: held-out (val split, unseen subjects) mocap poses seen by random synthetic cameras with detector-like
noise, dropped and low-confidence landmarks and rare left/right swaps (server.train.synthetic_views). Single-frame
mode: ``--frames`` random val frames, each with its own camera and body. Video mode: ``--clips`` random windows of
``--clip-length`` consecutive frames (30 fps) from different val clips, one camera and body shape per clip
(synthesize_clip_views); the start's betas are shared over the clip (median, pelvis kept) as the pipeline does, and
optimisation and ScoreHMR get their temporal terms.

Rows beyond the four methods: "+ ScoreHMR, motion prior" (video: the motion prior's windows guide the clip, as
capture does; single frames: the per-frame prior, as capture does) and "+ ScoreHMR loop, no prior" (the ablation:
the same loop with the network's noise estimate held at 0, scripts/ablation.py).

Columns: MPJPE and PA-MPJPE (24 SMPL joints, mm), acceleration error (mm/frame^2, video only), 2D error (pixels,
the 33 reprojected landmarks vs the detector keypoints with confidence >= 0.5) and seconds per frame of the row's
own stage (the refinement rows exclude the regression).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.diffusion.denoiser import load_prior  # noqa: E402
from server.diffusion.motion import load_motion_prior  # noqa: E402
from ablation import NoPrior  # noqa: E402
from server.fitting.losses import reprojection_error  # noqa: E402
from server.fitting.state import Estimate, Observations, posed_body, reproject  # noqa: E402
from server.refine.metrics import accel_error, mpjpe, pa_mpjpe  # noqa: E402
from server.refine.optimise import OptimiseSettings, optimise  # noqa: E402
from server.regressor.network import load_regressor  # noqa: E402
from server.regressor.predict import regress, regress_temporal  # noqa: E402
from server.regressor.temporal import load_temporal_regressor  # noqa: E402
from server.train.pose_data import dataset_api  # noqa: E402
from server.train.synthetic_views import SyntheticViews, synthesize_clip_views, synthesize_views  # noqa: E402

log = logging.getLogger("benchmark_refine")
DEFAULT_DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
ROWS = ("regression", "+ optimisation", "+ optimisation with prior", "+ ScoreHMR")
ALIGN_ROW = "+ ScoreHMR with alignment"
MOTION_ROW = "+ ScoreHMR, motion prior"
NO_PRIOR_ROW = "+ ScoreHMR loop, no prior"
Method = Callable[[Observations, Estimate, bool], Estimate]
Batch = Tuple[SyntheticViews, Observations]


def load_val(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """-> val poses (V, 24, 3) float32 and their clip ids (V,), in file order (clips are consecutive in time)."""
    data = dataset_api()[0](path)
    split = np.asarray(data["split"]).astype(str) == "val"
    return np.asarray(data["poses"], np.float32)[split], np.asarray(data["clip_id"])[split]


def observations(views: SyntheticViews) -> Observations:
    """The synthetic detector output as the worker's Observations (principal point at the image centre)."""
    return Observations(keypoints=views.keypoints, focal=views.focal, centre=0.5 * views.image_size,
                        image_size=views.image_size, world=views.world)


def shared_betas(skinning: LandmarkSkinning, estimate: Estimate, betas: Optional[torch.Tensor] = None) -> Estimate:
    """One body shape on every frame (``betas`` (B,), default the clip's median), each frame's pelvis kept where
    it was (as the pipeline does)."""
    b = (estimate.betas.median(0).values if betas is None else betas)[None].expand(len(estimate), -1)

    def rest_pelvis(betas: torch.Tensor) -> torch.Tensor:
        shapedirs = skinning.joint_shapedirs[0, :, :betas.shape[1]]
        return skinning.joint_template[0] + torch.einsum("cb,nb->nc", shapedirs, betas)

    transl = estimate.transl + rest_pelvis(estimate.betas) - rest_pelvis(b)
    return Estimate(estimate.x, b.clone(), transl)


def perturbed(estimate: Estimate, radians: float, seed: int) -> Estimate:
    """A worse start: every body joint (not the root) turned by a random rotation of ``radians`` std per axis."""
    if radians <= 0:
        return estimate
    from server.body.fast import rotvec_to_rotmat_torch
    from server.body.rot6d import rotmat_to_rot6d, x_to_rotmats
    g = torch.Generator().manual_seed(seed + 3)
    rot = x_to_rotmats(estimate.x)
    noise = rotvec_to_rotmat_torch(torch.randn(rot.shape[0], rot.shape[1] - 1, 3, generator=g) * radians)
    rot = torch.cat([rot[:, :1], rot[:, 1:] @ noise], 1)
    return Estimate(rotmat_to_rot6d(rot).reshape(len(estimate), -1), estimate.betas, estimate.transl)


def methods(skinning: LandmarkSkinning, prior: torch.nn.Module, settings: OptimiseSettings,
            motion: Optional[torch.nn.Module] = None) -> Dict[str, Method]:
    """Row name -> refinement of (obs, start, video) (the regression row is the start itself); with a ``motion``
    prior also ScoreHMR guiding its windows in video mode (frame mode: the per-frame prior, as in capture)."""
    from server.refine.refine_settings import RefineSettings
    from server.refine.scorehmr import refine
    base = RefineSettings()

    def score(obs: Observations, start: Estimate, video: bool) -> Estimate:
        return refine(prior, skinning, obs, start, base, mode="video" if video else "frame").estimate

    def aligned(obs: Observations, start: Estimate, video: bool) -> Estimate:
        return refine(prior, skinning, obs, start, replace(base, align=True),
                      mode="video" if video else "frame").estimate

    def windows(obs: Observations, start: Estimate, video: bool) -> Estimate:
        return refine(prior, skinning, obs, start, base, mode="video" if video else "frame", motion=motion).estimate

    rows = {
        ROWS[0]: lambda obs, start, video: start,
        ROWS[1]: lambda obs, start, video: optimise(skinning, obs, start, settings, video=video),
        ROWS[2]: lambda obs, start, video: optimise(skinning, obs, start, settings, denoiser=prior, video=video),
        ROWS[3]: score,
        ALIGN_ROW: aligned,
    }
    if motion is not None:
        rows[MOTION_ROW] = windows
    rows[NO_PRIOR_ROW] = lambda obs, start, video: refine(NoPrior(prior), skinning, obs, start, base,
                                                          mode="video" if video else "frame").estimate
    return rows


def evaluate(skinning: LandmarkSkinning, views: SyntheticViews, obs: Observations, est: Estimate,
             video: bool) -> Dict[str, np.ndarray]:
    """Per-frame metrics of one batch (one clip in video mode)."""
    with torch.no_grad():
        gt, _ = posed_body(skinning, views.x0, views.betas, views.transl)
        pred, _ = posed_body(skinning, est.x, est.betas, est.transl)
        out = {"mpjpe": mpjpe(pred, gt), "pa_mpjpe": pa_mpjpe(pred, gt),
               "error_2d": reprojection_error(reproject(skinning, est, obs), obs.keypoints)}
        if video:
            out["accel"] = accel_error(pred, gt)
    return {k: v.numpy() for k, v in out.items()}


def run_batches(batches: List[Batch], start_fn: Callable[[Observations], Estimate],
                rows: Dict[str, Method], skinning: LandmarkSkinning, video: bool) -> Dict[str, Dict[str, float]]:
    """Every row on every batch -> row -> {metric: mean, 'seconds_per_frame': ...}."""
    frames = sum(len(obs) for _, obs in batches)
    warm = torch.arange(min(8, len(batches[0][1])))
    start_fn(batches[0][1].select(warm))                                        # warm-up: not timed
    t0 = time.perf_counter()
    starts = [start_fn(obs) for _, obs in batches]
    regression_s = time.perf_counter() - t0
    table = {}
    for name, method in rows.items():
        method(batches[0][1].select(warm), _select(starts[0], warm), video)   # warm-up: not timed
        per: Dict[str, List[np.ndarray]] = {}
        t0 = time.perf_counter()
        ests = [method(obs, start, video) for (_, obs), start in zip(batches, starts)]
        seconds = regression_s if name == ROWS[0] else time.perf_counter() - t0
        for (views, obs), est in zip(batches, ests):
            for k, v in evaluate(skinning, views, obs, est, video).items():
                per.setdefault(k, []).append(v)
        table[name] = {k: float(np.nanmean(np.concatenate(v))) for k, v in per.items()}
        table[name]["seconds_per_frame"] = seconds / frames
        log.info("%s: %s", name, table[name])
    return table


def _select(estimate: Estimate, index: torch.Tensor) -> Estimate:
    return Estimate(estimate.x[index], estimate.betas[index], estimate.transl[index])


def frame_batches(skinning: LandmarkSkinning, poses: np.ndarray, n: int, seed: int) -> List[Batch]:
    """One batch of ``n`` random val frames, each with its own random camera and body."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(poses), generator=g)[:n]
    views = synthesize_views(skinning, torch.from_numpy(poses[pick.numpy()]), g)
    return [(views, observations(views))]


def clip_windows(poses: np.ndarray, clip_id: np.ndarray, clips: int, length: int,
                 g: torch.Generator) -> List[torch.Tensor]:
    """``clips`` windows (length, 24, 3) of consecutive frames from different val clips (those long enough)."""
    ids, first, counts = np.unique(clip_id, return_index=True, return_counts=True)
    long_enough = np.flatnonzero(counts >= length)
    if len(long_enough) == 0:
        raise SystemExit(f"no val clip has {length} frames; lower --clip-length")
    chosen = long_enough[torch.randperm(len(long_enough), generator=g)[:clips].numpy()]
    windows = []
    for c in chosen:
        offset = int(torch.randint(0, int(counts[c]) - length + 1, (1,), generator=g))
        windows.append(torch.from_numpy(poses[first[c] + offset:first[c] + offset + length]))
    return windows


def clip_batches(skinning: LandmarkSkinning, poses: np.ndarray, clip_id: np.ndarray, clips: int, length: int,
                 seed: int) -> List[Batch]:
    """``clips`` windows of ``length`` consecutive frames from different val clips, one random view each."""
    g = torch.Generator().manual_seed(seed + 1)
    batches = []
    for window in clip_windows(poses, clip_id, clips, length, g):
        views = synthesize_clip_views(skinning, window, g)
        batches.append((views, observations(views)))
    return batches


def multiview_figures(skinning: LandmarkSkinning, regressor: torch.nn.Module, prior: torch.nn.Module,
                      poses: np.ndarray, clip_id: np.ndarray, clips: int, length: int, views: int,
                      seed: int, motion: Optional[torch.nn.Module] = None) -> Dict[str, Dict[str, float]]:
    """``clips`` val windows, each seen by ``views`` synchronised random cameras of one body: regression per
    view, ScoreHMR on each view alone (video mode), and ScoreHMR on all views together (multi-view, video); with
    a ``motion`` prior, both refinements guide its windows (as capture does).
    Metrics per view against that view's ground truth, averaged over views and frames."""
    from server.refine.scorehmr import refine, refine_multiview
    from server.train.synthetic_views import synthesize_multiview_clip

    g = torch.Generator().manual_seed(seed + 2)
    rows = ("regression", "+ ScoreHMR, each view alone", "+ ScoreHMR, views together")
    per: Dict[str, Dict[str, List[np.ndarray]]] = {row: {} for row in rows}
    seconds = dict.fromkeys(rows, 0.0)
    frames = 0
    for window in clip_windows(poses, clip_id, clips, length, torch.Generator().manual_seed(seed + 1)):
        synth = synthesize_multiview_clip(skinning, window, views, g)
        obs = [observations(v) for v in synth]
        t0 = time.perf_counter()
        starts = [regress(regressor, skinning, o) for o in obs]
        betas = torch.cat([e.betas for e in starts]).median(0).values      # one body for all views
        starts = [shared_betas(skinning, e, betas) for e in starts]
        seconds[rows[0]] += time.perf_counter() - t0
        t0 = time.perf_counter()
        alone = [refine(prior, skinning, o, e, mode="video", motion=motion).estimate for o, e in zip(obs, starts)]
        seconds[rows[1]] += time.perf_counter() - t0
        t0 = time.perf_counter()
        together = [r.estimate for r in refine_multiview(prior, skinning, obs, starts, video=True, motion=motion)]
        seconds[rows[2]] += time.perf_counter() - t0
        frames += len(window) * views
        for row, ests in zip(rows, (starts, alone, together)):
            for v, o, e in zip(synth, obs, ests):
                for k, value in evaluate(skinning, v, o, e, True).items():
                    per[row].setdefault(k, []).append(value)
    table = {}
    for row in rows:
        table[row] = {k: float(np.nanmean(np.concatenate(v))) for k, v in per[row].items()}
        table[row]["seconds_per_frame"] = seconds[row] / frames
    return table


def iteration_rows(prior: torch.nn.Module, skinning: LandmarkSkinning, counts: str,
                   motion: Optional[torch.nn.Module] = None) -> Dict[str, Method]:
    """``+ ScoreHMR, K iterations`` rows (video mode) for each K in the comma-separated ``counts`` (with the
    ``motion`` prior's windows when given)."""
    from server.refine.refine_settings import RefineSettings
    from server.refine.scorehmr import refine

    def make(k: int) -> Method:
        settings = RefineSettings.for_quality(k, 1.0)
        return lambda obs, start, video: refine(prior, skinning, obs, start, settings,
                                                mode="video" if video else "frame", motion=motion).estimate
    name = "+ ScoreHMR{}, {} iterations".format(", motion prior" if motion is not None else "", "{}")
    return {name.format(int(k)): make(int(k)) for k in counts.split(",") if k.strip()}


def video_from_temporal(args: argparse.Namespace, skinning: LandmarkSkinning, regressor: torch.nn.Module,
                        prior: torch.nn.Module, rows: Dict[str, Method], batches: List[Batch],
                        figures: Dict[str, object], motion: Optional[torch.nn.Module] = None) -> None:
    """The video rows again from the temporal regressor's start (same clips), and the iteration sweeps."""
    if args.iterations:
        sweep = iteration_rows(prior, skinning, args.iterations)
        start = lambda obs: shared_betas(skinning, regress(regressor, skinning, obs))  # noqa: E731
        figures["video_iterations"] = run_batches(batches, start, sweep, skinning, True)
        print_table("Video, per-frame start: ScoreHMR outer iterations", figures["video_iterations"])
    if args.no_temporal:
        return
    temporal = load_temporal_regressor(args.temporal)
    start = lambda obs: shared_betas(skinning, regress_temporal(temporal, skinning, obs))  # noqa: E731
    named = {("temporal regression" if name == ROWS[0] else name): fn for name, fn in rows.items()}
    figures["video_temporal"] = run_batches(batches, start, named, skinning, True)
    print_table(f"Video from the temporal regressor's start (same {len(batches)} clips)", figures["video_temporal"])
    if args.iterations:
        sweep = iteration_rows(prior, skinning, args.iterations)
        if motion is not None:
            sweep.update(iteration_rows(prior, skinning, args.iterations, motion))
        figures["video_temporal_iterations"] = run_batches(batches, start, sweep, skinning, True)
        print_table("Video, temporal start: ScoreHMR outer iterations", figures["video_temporal_iterations"])


def print_table(title: str, table: Dict[str, Dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':28s} {'MPJPE':>8s} {'PA-MPJPE':>9s} {'accel':>8s} {'2D px':>8s} {'s/frame':>9s}")
    for name, row in table.items():
        accel = f"{row['accel']:8.2f}" if "accel" in row else f"{'-':>8s}"
        print(f"{name:28s} {row['mpjpe']:8.1f} {row['pa_mpjpe']:9.1f} {accel} {row['error_2d']:8.1f} "
              f"{row['seconds_per_frame']:9.4f}")


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--frames", type=int, default=512, help="single-frame mode: random val frames (0: skip)")
    parser.add_argument("--clips", type=int, default=8, help="video mode: val clips (0: skip)")
    parser.add_argument("--clip-length", type=int, default=240)
    parser.add_argument("--regressor", type=Path, default=None, help="regressor checkpoint (default: resolved)")
    parser.add_argument("--prior", type=Path, default=None, help="prior checkpoint (default: resolved)")
    parser.add_argument("--temporal", type=Path, default=None,
                        help="temporal regressor checkpoint (default: resolved; video mode also runs every row "
                             "from its start)")
    parser.add_argument("--no-temporal", action="store_true", help="skip the rows from the temporal start")
    parser.add_argument("--motion", type=Path, default=None,
                        help="motion prior checkpoint (default: resolved; a row guiding its windows in video mode)")
    parser.add_argument("--no-motion", action="store_true", help="skip the motion prior's rows")
    parser.add_argument("--iterations", default="",
                        help="comma-separated ScoreHMR outer iterations to compare from each video start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=OptimiseSettings().steps, help="optimisation steps")
    parser.add_argument("--rows", default="", help="comma-separated row numbers 0-3 to run (default: all)")
    parser.add_argument("--align", action="store_true", help="also a row with the HMDiff-style alignment")
    parser.add_argument("--start-noise", type=float, default=0.0,
                        help="radians: perturb the regression start's body joints (a worse start; default 0)")
    parser.add_argument("--views", type=int, default=3, help="multi-view mode: cameras per clip (0: skip)")
    parser.add_argument("--mv-clips", type=int, default=4, help="multi-view mode: val clips")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    regressor, prior = load_regressor(args.regressor), load_prior(args.prior)
    settings = OptimiseSettings(steps=args.steps, seed=args.seed)
    motion = None if args.no_motion else load_motion_prior(args.motion)
    rows = methods(skinning, prior, settings, motion)
    if not args.align:
        rows.pop(ALIGN_ROW)
    if args.rows:
        keep = ([ROWS[int(i)] for i in args.rows.split(",")] + ([ALIGN_ROW] if args.align else [])
                + ([MOTION_ROW] if motion is not None else []) + [NO_PRIOR_ROW])
        rows = {name: rows[name] for name in keep}
    poses, clip_id = load_val(args.dataset)
    figures = {"settings": {**vars(args), "dataset": str(args.dataset), "json": str(args.json),
                            "optimise": asdict(settings),
                            "torch": torch.__version__}}
    if args.frames > 0:
        batches = frame_batches(skinning, poses, args.frames, args.seed)
        start = lambda obs: perturbed(regress(regressor, skinning, obs), args.start_noise, args.seed)  # noqa: E731
        figures["frame"] = run_batches(batches, start, rows, skinning, False)
        print_table(f"Single frame: {args.frames} held-out frames, {args.threads} threads", figures["frame"])
    if args.clips > 0:
        batches = clip_batches(skinning, poses, clip_id, args.clips, args.clip_length, args.seed)
        start = lambda obs: perturbed(shared_betas(skinning, regress(regressor, skinning, obs)),  # noqa: E731
                                      args.start_noise, args.seed)
        figures["video"] = run_batches(batches, start, rows, skinning, True)
        print_table(f"Video: {len(batches)} held-out clips x {args.clip_length} frames, {args.threads} threads",
                    figures["video"])
        video_from_temporal(args, skinning, regressor, prior, rows, batches, figures, motion)
    if args.views > 1 and args.mv_clips > 0:
        figures["multiview"] = multiview_figures(skinning, regressor, prior, poses, clip_id, args.mv_clips,
                                                 args.clip_length, args.views, args.seed, motion)
        print_table(f"Multi-view: {args.mv_clips} held-out clips x {args.clip_length} frames, {args.views} cameras "
                    f"each, {args.threads} threads", figures["multiview"])
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

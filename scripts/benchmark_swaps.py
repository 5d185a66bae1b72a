"""Left/right swap correction (:mod:`server.refine.swaps`) measured: on synthetic clips with injected swap runs (where
the penalties are chosen) and on the Pose2Sim clip's four views against its triangulated reference.

    .venv/bin/python scripts/benchmark_swaps.py synthetic [--windows 60] [--grid]
    .venv/bin/python scripts/benchmark_swaps.py pose2sim --multiview POSE2SIM_DIR [--fit] [--json OUT]
                                                         [--learned DUAL_CHECKPOINT]
    .venv/bin/python scripts/benchmark_swaps.py flip --multiview POSE2SIM_DIR

Synthetic: mocap windows seen by a synthetic camera (:func:`server.train.clip_windows.synthesize_window`, the
temporal detector errors without their own swaps), then 0-3 swap runs of 1-15 frames per window injected into the
legs (+ hips), the arms (+ shoulders) or the whole body (:data:`server.train.clip_noise.SWAP_GROUPS`), image and world
landmarks together. Swapped share = the limb-frames (arm: elbow + wrist, leg: knee + ankle) whose sides lie nearer
the other side's clean landmarks, over those whose two sides are >= 5% of the person's height apart (as
:func:`pose2sim_noise.swap_stats` counts them against the reference); also on clean windows (false corrections).
Pose2Sim: the swapped share per view before and after correction, and with ``--fit`` the per-view PA-MPJPE and
joint-angle table of the pipeline with the correction on and off (:mod:`benchmark_pose2sim`'s figures).
``--learned``: also the shares with the dual motion model's swap head (its per-frame probabilities from regression
mode) added to the chains as log-odds (:func:`server.refine.swaps.undo_swaps`' ``probability``).
Flip: the flip test as evidence, measured before building it into the stage: BlazePose (video mode, whole frames)
on each view and on its mirror image (landmarks relabelled left <-> right and mirrored back), the swapped share of
each against the reference, and of the frames swapped in both (what no per-frame choice between the two can undo).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from server.refine.swaps import SwapSettings, undo_swaps  # noqa: E402

log = logging.getLogger("benchmark_swaps")
DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
LIMB_PAIRS = {"arm": ((13, 15), (14, 16)), "leg": ((25, 27), (26, 28))}
AMBIGUOUS = 0.05


def swapped_share(kp: np.ndarray, clean: np.ndarray) -> Dict[str, tuple]:
    """kp, clean (N, 33, >=2) pixels -> per limb (swapped frames, counted frames) against the clean landmarks."""
    height = clean[..., 1].max(-1) - clean[..., 1].min(-1)
    out = {}
    for limb, (left, right) in LIMB_PAIRS.items():
        def dist(a, b):
            return np.linalg.norm(kp[:, a, :2] - clean[:, b, :2], axis=-1).mean(-1)
        apart = np.linalg.norm(clean[:, left, :2] - clean[:, right, :2], axis=-1).mean(-1) / height
        counted = apart >= AMBIGUOUS
        swapped = counted & (dist(left, right) + dist(right, left) < dist(left, left) + dist(right, right))
        out[limb] = (int(swapped.sum()), int(counted.sum()))
    return out


def synthetic_clips(count: int, length: int, seed: int) -> List[Dict[str, torch.Tensor]]:
    """``count`` windows: clean and swapped keypoints / world, fps (module docstring)."""
    from server.body.fast import LandmarkSkinning
    from server.body.model import default_body_model_path, load_body_model
    from server.train.clip_noise import _SIDE_SWAP, CLIP_VIEW, SWAP_GROUPS, ClipNoiseConfig
    from server.train.clip_windows import TRAINING_FPS, load_clip_sets, sample_frames, synthesize_window
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    _, val = load_clip_sets(DATASET)
    g = torch.Generator().manual_seed(seed)
    noise = ClipNoiseConfig(swap_rate=(0.0, 0.0))
    clips = []
    for frame in sample_frames(val, count, g).tolist():
        views, speed = synthesize_window(skinning, val, int(frame), length, g, noise, CLIP_VIEW)
        kp, world = views.keypoints.clone(), views.world.clone()
        for _ in range(int(torch.randint(0, 4, (1,), generator=g))):
            start = int(torch.randint(0, length, (1,), generator=g))
            stop = start + int(torch.randint(1, 16, (1,), generator=g))
            group = list(SWAP_GROUPS[int(torch.randint(0, 3, (1,), generator=g))])
            order = torch.arange(33)
            order[group] = torch.tensor([_SIDE_SWAP[i] for i in group])
            kp[start:stop] = kp[start:stop][:, order]
            world[start:stop] = world[start:stop][:, order]
        clips.append({"clean": views.keypoints, "keypoints": kp, "world": world, "fps": TRAINING_FPS / speed})
    return clips


def synthetic_figures(clips: List[Dict[str, torch.Tensor]], settings: SwapSettings) -> Dict[str, float]:
    """Swapped share (%) per limb before and after correction, and the share of clean limb-frames made wrong."""
    totals = {k: np.zeros(4, np.int64) for k in LIMB_PAIRS}      # before swapped, after swapped, counted, broken
    for c in clips:
        kp, _, _ = undo_swaps(c["keypoints"], c["world"], None, c["fps"], settings=settings)
        clean = c["clean"].numpy()
        before, after = swapped_share(c["keypoints"].numpy(), clean), swapped_share(kp.numpy(), clean)
        for limb in LIMB_PAIRS:
            was = _swapped_mask(c["keypoints"].numpy(), clean, limb)
            now = _swapped_mask(kp.numpy(), clean, limb)
            totals[limb] += [before[limb][0], after[limb][0], before[limb][1], int((now & ~was).sum())]
    return {f"{limb} {key}": 100.0 * t[i] / max(t[2], 1) for limb, t in totals.items()
            for i, key in ((0, "before"), (1, "after"), (3, "broken"))}


def _swapped_mask(kp: np.ndarray, clean: np.ndarray, limb: str) -> np.ndarray:
    left, right = LIMB_PAIRS[limb]
    def dist(a, b):
        return np.linalg.norm(kp[:, a, :2] - clean[:, b, :2], axis=-1).mean(-1)
    height = clean[..., 1].max(-1) - clean[..., 1].min(-1)
    apart = np.linalg.norm(clean[:, left, :2] - clean[:, right, :2], axis=-1).mean(-1) / height
    return (apart >= AMBIGUOUS) & (dist(left, right) + dist(right, left) < dist(left, left) + dist(right, right))


def run_synthetic(args: argparse.Namespace) -> None:
    tick = time.perf_counter()
    clips = synthetic_clips(args.windows, args.length, args.seed)
    log.info("%d synthetic windows in %.1f s", len(clips), time.perf_counter() - tick)
    grid = [SwapSettings()]
    if args.grid:
        base = SwapSettings()
        grid = [replace(base, **kw) for kw in (
            {}, {"speed": 4.0}, {"speed": 12.0}, {"accel": 0.03}, {"cap": 16.0}, {"switch": 24.0}, {"swapped": 2.0},
            {"points": 2.0}, {"world": 0.0}, {"bone_weight": 0.5})]
    for s in grid:
        fig = synthetic_figures(clips, s)
        diff = {k: v for k, v in vars(s).items() if v != getattr(SwapSettings(), k)}
        print(f"{str(diff):<28}" + "  ".join(f"{k} {v:5.2f}" for k, v in fig.items()))


def run_pose2sim(args: argparse.Namespace) -> Dict[str, object]:
    """Swapped share per view before / after; with ``--fit`` the default pipeline row with the correction on and
    off (PA-MPJPE, joint angles), BlazePose's world landmarks beside them."""
    from benchmark_pose2sim import WORLD_ROW, figures, write_json
    from pose2sim_noise import swap_stats
    from pose2sim_reference import box_heights, load_reference, reprojected
    cameras, kps, ref = load_reference(args.multiview.resolve())
    frames = torch.from_numpy(kps.frame_indices.astype("int64"))
    out: Dict[str, object] = {}
    print(f"{'view':<7}{'arm before':>11}{'after':>7}{'leg before':>11}{'after':>7}{'ms':>6}")
    for v, cam in enumerate(cameras):
        proj = reprojected(ref.points, cam)
        heights = box_heights(proj)
        tick = time.perf_counter()
        fixed, _, report = undo_swaps(torch.from_numpy(kps.keypoints[v]), torch.from_numpy(kps.world[v]), frames,
                                      float(kps.fps))
        ms = 1000.0 * (time.perf_counter() - tick)
        shares = {}
        rows = [("before", kps.keypoints[v]), ("after", fixed.numpy())]
        if args.learned is not None:
            rows.append(("learned", learned_fix(args.learned, kps, v, frames)))
        for name, points in rows:
            image = np.where(points[..., 2:3] > 0, points[..., :2], np.nan)
            shares[name] = {k: 100.0 * s["share"] for k, s in swap_stats(image, proj, heights, frames.numpy()).items()}
        out[cam.name] = {"swapped_pct": shares, "ms": ms,
                         "corrected": {k: report.frames(k) for k in report.swapped}}
        learned = (f"   with the swap head: arms {shares['learned']['arm']:.1f}, legs {shares['learned']['leg']:.1f}"
                   if "learned" in shares else "")
        print(f"{cam.name:<7}{shares['before']['arm']:>11.1f}{shares['after']['arm']:>7.1f}"
              f"{shares['before']['leg']:>11.1f}{shares['after']['leg']:>7.1f}{ms:>6.0f}{learned}")
    if args.fit:
        out["fit"] = fit_rows(kps, ref, cameras, figures, WORLD_ROW)
    if args.json:
        write_json(args.json, out)
    return out


def learned_fix(checkpoint: Path, kps, view: int, frames: torch.Tensor) -> np.ndarray:
    """One view's detections with the swaps undone by continuity + the dual model's swap head -> (N, 33, 3)."""
    from server.body.fast import LandmarkSkinning
    from server.body.model import default_body_model_path, load_body_model
    from server.dual.dual_network import load_dual_motion
    from server.dual.stream import dual_regression
    from server.refine.from_keypoints import observations
    model = load_dual_motion(checkpoint)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    with torch.no_grad():
        _, probability = dual_regression(model, skinning, observations(kps, view))
    fixed, _, _ = undo_swaps(torch.from_numpy(kps.keypoints[view]), torch.from_numpy(kps.world[view]), frames,
                             float(kps.fps), probability=probability)
    return fixed.numpy()


def run_flip(args: argparse.Namespace) -> Dict[str, object]:
    """Swapped share per view of BlazePose on the frames, on their mirror images, and in both."""
    from pose2sim_noise import SWAP_LIMBS
    from pose2sim_reference import box_heights, load_reference, reprojected
    from server.detection.blazepose import BlazePoseDetector
    from server.refine.swaps import MIRROR
    from server.video import iter_frames
    folder = args.multiview.resolve()
    cameras, kps, ref = load_reference(folder)
    frames = kps.frame_indices.astype(int)
    row = {int(f): i for i, f in enumerate(frames)}
    out: Dict[str, object] = {}
    print(f"{'view':<7}" + "".join(f"{limb + ' ' + k:>14}" for limb in SWAP_LIMBS for k in ("plain", "mirror", "both")))
    for cam in cameras:
        proj = reprojected(ref.points, cam)
        heights = box_heights(proj)
        swapped = {}
        for mirror in (False, True):
            points = np.full((len(frames), 33, 2), np.nan)
            with BlazePoseDetector(static=False) as detector:
                for f, rgb in iter_frames(str(folder / f"{cam.name}.mp4"), int(frames.min()), int(frames.max()) + 1,
                                          wanted=row):
                    if f not in row:
                        continue
                    found = detector.detect(np.ascontiguousarray(rgb[:, ::-1]) if mirror else rgb)
                    if found is None:
                        continue
                    image = found.image[list(MIRROR)] if mirror else found.image
                    points[row[f]] = image[:, :2]
                    if mirror:
                        points[row[f], :, 0] = rgb.shape[1] - 1 - image[:, 0]
            for limb, (left, right) in SWAP_LIMBS.items():
                def dist(det, ref_side):
                    return np.linalg.norm(points[:, det] - proj[:, ref_side], axis=-1).mean(-1) / heights
                swapped[(limb, mirror)] = (dist(left, right) < dist(left, left)) | (dist(right, left) < dist(right, right))
        shares = {limb: {"plain": 100.0 * swapped[(limb, False)].mean(), "mirror": 100.0 * swapped[(limb, True)].mean(),
                         "both": 100.0 * (swapped[(limb, False)] & swapped[(limb, True)]).mean()} for limb in SWAP_LIMBS}
        out[cam.name] = shares
        print(f"{cam.name:<7}" + "".join(f"{shares[limb][k]:>14.1f}" for limb in SWAP_LIMBS
                                         for k in ("plain", "mirror", "both")))
    return out


def fit_rows(kps, ref, cameras, figures, world_row: str) -> Dict[str, object]:
    """The capture's default pipeline (temporal + ScoreHMR video) per view with the correction off and on."""
    from benchmark_pose2sim import ANGLES
    from server.body.model import default_body_model_path, load_body_model
    from server.fitting.state import posed_body
    from server.refine.from_keypoints import observations
    from server.refine.pipeline import Models, PipelineSettings, run_pipeline
    models = Models(load_body_model(default_body_model_path()), is_builtin=True)
    rows = {"swaps kept": PipelineSettings(undo_swaps=False), "swaps undone": PipelineSettings()}
    table: Dict[str, Dict[str, object]] = {}
    for v, cam in enumerate(cameras):
        seen = (kps.keypoints[v, ..., 2] >= 0.3).sum(-1) >= 6
        valid = ref.valid & seen
        table[cam.name] = {world_row: figures(kps.world[v].astype(np.float64), ref, valid)}
        for name, settings in rows.items():
            tick = time.perf_counter()
            est = run_pipeline(models, [observations(kps, v)], settings).views[0]
            seconds = time.perf_counter() - tick
            lms = posed_body(models.skinning, est.x, est.betas, est.transl)[1].detach().numpy().astype(np.float64)
            table[cam.name][name] = {**figures(lms, ref, valid), "seconds": seconds}
    print(f"\n{'row':<28}" + "".join(f"{c.name:>14}" for c in cameras) + f"{'mean':>14}   (PA-MPJPE mm / angle deg)")
    for row in [world_row, *rows]:
        cells = [table[c.name][row] for c in cameras]
        print(f"{row:<28}" + "".join(f"{x['pa_mpjpe_mm']:>8.1f}/{x['angle_error_mean_deg']:<5.1f}" for x in cells)
              + f"{np.mean([x['pa_mpjpe_mm'] for x in cells]):>8.1f}/"
              f"{np.mean([x['angle_error_mean_deg'] for x in cells]):<5.1f}")
    for row in rows:
        print(f"seconds {row}: " + " ".join(f"{table[c.name][row]['seconds']:.1f}" for c in cameras))
    for row in [world_row, *rows]:
        print(f"angles {row}: " + ", ".join(
            f"{n} " + "/".join(f"{table[c.name][row]['angle_error_deg'][n]:.1f}" for c in cameras) for n in ANGLES))
    return table


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    syn = sub.add_parser("synthetic")
    syn.add_argument("--windows", type=int, default=60)
    syn.add_argument("--length", type=int, default=120)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--grid", action="store_true")
    p2s = sub.add_parser("pose2sim")
    p2s.add_argument("--multiview", type=Path, required=True)
    p2s.add_argument("--fit", action="store_true")
    p2s.add_argument("--json", type=Path)
    p2s.add_argument("--learned", type=Path, help="a dual motion checkpoint: also use its swap head")
    flip = sub.add_parser("flip")
    flip.add_argument("--multiview", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(1)
    if args.command == "synthetic":
        run_synthetic(args)
    elif args.command == "flip":
        run_flip(args)
    else:
        run_pose2sim(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

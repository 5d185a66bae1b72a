"""Real footage with a 3-D reference: each of the Pose2Sim clip's four calibrated views alone, against the
landmarks triangulated from all four (prints tables; ``--json`` writes the figures).

    .venv/bin/python scripts/benchmark_pose2sim.py --multiview POSE2SIM_DIR [--noise-stats OUT.json]
                                                   [--threads 1] [--json OUT]

(``python3 build.py benchmark`` fetches the clip and runs this after benchmark_real.py.) The reference
(:mod:`pose2sim_reference`): BlazePose on the four 60 fps views (cached next to the footage; a view that followed
someone else is detected again following the performer), triangulated per frame (confidence >= 0.5 in >= 2 views,
DLT on undistorted points, the worst view dropped while it reprojects > 20 px and 2 remain). Its verification,
printed first: per view the median pixel distance between the detections it was triangulated from and the point's
reprojection (with distortion). That measures how well four BlazePose views and the calibration agree with each
other (the detector's noise and view-dependent bias, calibration and synchronisation errors), not the reference's
3-D accuracy; figures of ~1-1.5% of the person's height say the calibration is read right.

The detector-noise statistics (:mod:`pose2sim_noise`, ``--noise-stats``) are written before the slow rows.

Rows, for each view alone: "BlazePose world landmarks" (the detector's own metric 3-D landmarks), then
:data:`INITIAL_ROWS` (per initial estimate, without and with ScoreHMR video refinement; a method missing from
``INITIAL_METHODS`` is skipped), each run with the calibration's focal length (principal point at the image centre,
as a capture). Figures on the frames with the whole reference, over its 12 limb landmarks (shoulders, elbows, wrists,
hips, knees, ankles): PA-MPJPE (similarity Procrustes per frame, mm), joint-angle errors (|angle - reference angle|,
degrees; knee = hip-knee-ankle, elbow = shoulder-elbow-wrist, hip = shoulder-hip-knee, shoulder =
hip-shoulder-elbow, left and right), jitter (mean acceleration of the hip-centred landmarks, mm/frame^2; the
reference's own next to it). Camera height: the capture's place stage on each pipeline row against the calibrated
camera centre's height above the floor, the floor being the low percentile of the resting heels' and foot indices'
height along the world's up axis (the calibration axis nearest the body's hip -> shoulder direction).
Then all four views fitted together, uncalibrated and with the calibration (:mod:`pose2sim_multiview`).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from pose2sim_multiview import multiview_rows, print_multiview  # noqa: E402
from pose2sim_noise import noise_statistics, print_noise  # noqa: E402
from pose2sim_reference import (LIMBS, Reference, camera_heights, load_reference, print_reference,  # noqa: E402
                                reference_figures)
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.fitting.calibration import CameraCalibration  # noqa: E402
from server.refine.output import result_arrays  # noqa: E402
from server.fitting.state import posed_body  # noqa: E402
from server.detection.keypoints_file import KeypointSet  # noqa: E402
from server.refine.from_keypoints import observations  # noqa: E402
from server.refine.metrics import pa_mpjpe  # noqa: E402
from server.refine.pipeline import INITIAL_METHODS, Models, PipelineSettings, run_pipeline  # noqa: E402
from server.world.capture_world import place_capture  # noqa: E402

log = logging.getLogger("benchmark_pose2sim")

NOISE_COPY = Path("/tmp/pose2sim_noise.json")
WORLD_ROW = "BlazePose world landmarks"
# initial estimate -> (row without refinement, row with ScoreHMR video refinement)
INITIAL_ROWS: Dict[str, tuple] = {"learned": ("regression", "+ ScoreHMR (video)"),
                                  "temporal": ("temporal regression", "+ ScoreHMR from temporal")}
ANGLES: Dict[str, tuple] = {"knee": ((23, 25, 27), (24, 26, 28)), "elbow": ((11, 13, 15), (12, 14, 16)),
                            "hip": ((11, 23, 25), (12, 24, 26)), "shoulder": ((23, 11, 13), (24, 12, 14))}
HIPS = (23, 24)


def pipeline_rows() -> Dict[str, PipelineSettings]:
    """The pipeline's rows: :data:`INITIAL_ROWS` for the initial methods this checkout has."""
    rows = {}
    for initial, (plain, refined) in INITIAL_ROWS.items():
        if initial not in INITIAL_METHODS:
            log.info("initial estimate %r is not in this checkout: rows %r skipped", initial, (plain, refined))
            continue
        rows[plain] = PipelineSettings(initial=initial, refine=False, mode="video")
        rows[refined] = PipelineSettings(initial=initial, mode="video")
    return rows


def joint_angles(points: np.ndarray) -> Dict[str, np.ndarray]:
    """(N, 33, 3) landmarks -> {joint type: (N, 2) left and right angles in degrees}."""
    out = {}
    for name, sides in ANGLES.items():
        values = []
        for a, b, c in sides:
            u, v = points[:, a] - points[:, b], points[:, c] - points[:, b]
            cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
            values.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        out[name] = np.stack(values, -1)
    return out


def jitter(points: np.ndarray, frames: np.ndarray) -> float:
    """Mean acceleration (mm/frame^2) of the hip-centred limb landmarks over consecutive valid frames.
    points (N, 33, 3) metres (NaN rows = invalid), frames (N,) video frame numbers."""
    centred = points[:, LIMBS] - points[:, HIPS].mean(1, keepdims=True)
    grid = np.full((int(frames.max() - frames.min()) + 1,) + centred.shape[1:], np.nan)
    grid[frames - frames.min()] = centred
    accel = np.linalg.norm(grid[:-2] - 2.0 * grid[1:-1] + grid[2:], axis=-1)
    return float(np.nanmean(accel) * 1000.0)


def figures(points: np.ndarray, ref: Reference, frames: np.ndarray) -> Dict[str, object]:
    """An estimate's 33 landmarks (N, 33, 3, any frame) on the rows ``frames`` (N,) bool against the reference."""
    pred = torch.from_numpy(points[frames][:, LIMBS]).double()
    truth = torch.from_numpy(ref.points[frames][:, LIMBS]).double()
    ours, theirs = joint_angles(points[frames]), joint_angles(ref.points[frames])
    errors = {name: float(np.mean(np.abs(ours[name] - theirs[name]))) for name in ANGLES}
    masked = np.where(frames[:, None, None], points, np.nan)
    return {"pa_mpjpe_mm": float(pa_mpjpe(pred, truth).mean()), "angle_error_deg": errors,
            "angle_error_mean_deg": float(np.mean(list(errors.values()))),
            "jitter_mm_per_frame2": jitter(masked, ref.frame_indices), "frames": int(frames.sum())}


def placement_figures(models: Models, out, kps: KeypointSet, view: int) -> Dict[str, float]:
    """The capture's place stage on a single-view pipeline result -> the camera's height above its floor (m) and
    pitch (degrees down); NaN when no ground was found."""
    width, height = (float(v) for v in kps.image_size[view])
    arrays = result_arrays(models.body, out, width, height, kps.fps, float(kps.focal[view]))
    arrays["world_landmarks"] = observations(kps, view).world.numpy()   # as a capture's result carries them
    placed, report = place_capture(arrays, models.body)
    if report.placement is None:
        return {"camera_height_m": float("nan"), "pitch_deg": float("nan")}
    return {"camera_height_m": float(placed["camera_height"]), "pitch_deg": report.placement.camera_pitch_deg}


def calibrated_view(camera: CameraCalibration, ref: Reference) -> Dict[str, float]:
    """The calibration's pitch (degrees down) and the reference hips' median distance from the camera (m)."""
    hips = np.nanmedian(np.linalg.norm(ref.points[:, HIPS].mean(1) - camera.centre, axis=-1))
    return {"pitch_deg": float(np.degrees(np.arcsin(-camera.R[2] @ ref.up))), "hip_distance_m": float(hips)}


def evaluate_view(models: Models, kps: KeypointSet, ref: Reference, view: int,
                  rows: Dict[str, PipelineSettings]) -> Dict[str, Dict[str, object]]:
    """Every row's figures for one view; the pipeline rows also get the place stage's camera height and pitch,
    the hips' median distance from the camera (m) and the seconds of the fit."""
    seen = (kps.keypoints[view, ..., 2] >= 0.3).sum(-1) >= 6
    frames = ref.valid & seen
    table = {WORLD_ROW: figures(kps.world[view].astype(np.float64), ref, frames)}
    obs = observations(kps, view)
    for name, settings in rows.items():
        tick = time.perf_counter()
        out = run_pipeline(models, [obs], settings)
        seconds = time.perf_counter() - tick
        est = out.views[0]
        landmarks = posed_body(models.skinning, est.x, est.betas, est.transl)[1].detach().numpy().astype(np.float64)
        distance = float(np.median(np.linalg.norm(landmarks[:, HIPS].mean(1), axis=-1)))
        table[name] = {**figures(landmarks, ref, frames), "method": out.method, "seconds": seconds,
                       "hip_distance_m": distance, **placement_figures(models, out, kps, view)}
        log.info("view %d, %s (%s): %.1f s", view + 1, name, out.method, seconds)
    return table


def mean_over_views(per_view: List[Dict[str, Dict[str, object]]], row: str, key: str) -> float:
    return float(np.nanmean([v[row][key] for v in per_view]))


def print_tables(per_view: List[Dict[str, Dict[str, object]]], ref_jitter: float, names: Sequence[str],
                 calibrated: List[Dict[str, float]]) -> None:
    rows = list(per_view[0])
    frames = sorted({v[WORLD_ROW]["frames"] for v in per_view})
    print(f"\nEach view alone against the triangulated reference ({'-'.join(map(str, frames))} frames, 12 limb "
          "landmarks)")
    cams = " ".join(f"{n:>6}" for n in names)
    print(f"{'method':<28}{'PA-MPJPE mm ' + cams + '   mean':>48}{'jitter mm/f^2 ' + cams + '   mean':>50}")
    for row in rows:
        pa = " ".join(f"{v[row]['pa_mpjpe_mm']:6.1f}" for v in per_view)
        jit = " ".join(f"{v[row]['jitter_mm_per_frame2']:6.1f}" for v in per_view)
        print(f"{row:<28}{pa:>41}{mean_over_views(per_view, row, 'pa_mpjpe_mm'):7.1f}"
              f"{jit:>43}{mean_over_views(per_view, row, 'jitter_mm_per_frame2'):7.1f}")
    print(f"{'triangulated reference':<28}{'':>48}{'':>43}{ref_jitter:7.1f}")
    print("\nJoint-angle error, degrees (mean |angle - reference| over left and right, frames and views)")
    print(f"{'method':<28}" + "".join(f"{n:>10}" for n in ANGLES) + f"{'all':>8}  all per view ({' '.join(names)})")
    for row in rows:
        types = [np.mean([v[row]["angle_error_deg"][n] for v in per_view]) for n in ANGLES]
        each = " ".join(f"{v[row]['angle_error_mean_deg']:5.1f}" for v in per_view)
        print(f"{row:<28}" + "".join(f"{t:>10.1f}" for t in types)
              + f"{mean_over_views(per_view, row, 'angle_error_mean_deg'):>8.1f}  {each}")
    print_placement(per_view, names, calibrated)
    fell_back = sorted({(row, v[row]["method"]) for v in per_view for row in rows if row != WORLD_ROW
                        and not v[row]["method"].startswith(row_initial(row))})
    for row, method in fell_back:
        print(f"note: {row!r} ran as {method!r} (its initial estimate's weights are missing)")


def row_initial(row: str) -> str:
    """The method name a pipeline row's result should start with (``out.method``)."""
    initial = next(i for i, names in INITIAL_ROWS.items() if row in names)
    return "regression" if initial == "learned" else initial


def print_placement(per_view: List[Dict[str, Dict[str, object]]], names: Sequence[str],
                    calibrated: List[Dict[str, float]]) -> None:
    print("\nCamera height above the floor (m) and pitch (deg down) found by the place stage, against the calibration "
          "(camera centre above the floor under the resting feet); hip distance = median camera-hips distance (m)")
    print(f"{'camera':<8}{'method':<28}{'height':>8}{'found':>8}{'error':>8}{'pitch':>8}{'found':>8}"
          f"{'hip dist':>10}{'found':>8}")
    for v, name in enumerate(names):
        cal = calibrated[v]
        for row, fig in per_view[v].items():
            if row == WORLD_ROW:
                continue
            print(f"{name:<8}{row:<28}{cal['height_m']:>8.2f}{fig['camera_height_m']:>8.2f}"
                  f"{fig['camera_height_m'] - cal['height_m']:>+8.2f}{cal['pitch_deg']:>8.1f}{fig['pitch_deg']:>8.1f}"
                  f"{cal['hip_distance_m']:>10.2f}{fig['hip_distance_m']:>8.2f}")
    for row in [r for r in per_view[0] if r != WORLD_ROW]:
        err = np.mean([abs(p[row]["camera_height_m"] - c["height_m"]) for p, c in zip(per_view, calibrated)])
        print(f"mean |height error| {row}: {err:.2f} m")


def write_json(path: Path, data: Dict[str, object]) -> None:
    """``data`` as JSON (NaN and infinities as null)."""
    path.write_text(json.dumps(_finite(data), indent=2))


def _finite(value: object) -> object:
    """JSON-safe copy: non-finite floats -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multiview", type=Path, required=True,
                        help="folder with cam01..04.mp4 and the calibration (Calib.qca.txt or a Pose2Sim .toml)")
    parser.add_argument("--noise-stats", type=Path, help="write the detector-noise statistics here (first)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("pose2sim_reference").setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    cameras, kps, ref = load_reference(args.multiview.resolve())
    names = [c.name for c in cameras]
    reference = reference_figures(ref, kps, cameras)
    heights = camera_heights(ref, cameras)
    print_reference(reference, cameras, heights)
    noise = noise_statistics(kps, ref, cameras)
    if args.noise_stats:
        write_json(args.noise_stats, noise)
        if args.noise_stats.resolve() != NOISE_COPY:
            shutil.copyfile(args.noise_stats, NOISE_COPY)
    print_noise(noise)
    models = Models(load_body_model(default_body_model_path()), is_builtin=True)
    rows = pipeline_rows()
    per_view = [evaluate_view(models, kps, ref, v, rows) for v in range(len(cameras))]
    ref_jitter = jitter(np.where(ref.valid[:, None, None], ref.points, np.nan), ref.frame_indices)
    calibrated = [{"height_m": h, "height_above_world_zero_m": float(c.centre @ ref.up), **calibrated_view(c, ref)}
                  for c, h in zip(cameras, heights)]
    print_tables(per_view, ref_jitter, names, calibrated)
    together = multiview_rows(models, kps, ref, cameras, figures,
                              "temporal" if "temporal" in INITIAL_METHODS else "learned")
    print_multiview(together, list(ANGLES))
    if args.json:
        write_json(args.json, {"reference": {**reference, "cameras": dict(zip(names, calibrated)),
                                             "jitter_mm_per_frame2": ref_jitter},
                               "views": dict(zip(names, per_view)), "multiview": together, "noise": noise})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

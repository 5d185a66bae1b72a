"""Pose2Sim's four views fitted together, without and with the calibration, against the triangulated reference.

Rows: the four views together as an uncalibrated multi-view capture (shared body pose, each view its own camera;
PA-MPJPE in view 1's frame), and with the calibration (cameras fixed, one body in the world frame:
:func:`server.refine.calibrated.fuse_calibrated`), where the body's landmarks can also be compared with the
reference WITHOUT any alignment (world MPJPE, mm) and the root's position is measured, not guessed from the body's
size.
"""
from __future__ import annotations

import time
from typing import Dict, List, Sequence

import numpy as np

from pose2sim_reference import LIMBS, Reference
from server.fitting.calibration import CameraCalibration
from server.fitting.state import posed_body
from server.detection.keypoints_file import KeypointSet
from server.refine.calibrated import calibrated_observations, extrinsics_of
from server.refine.from_keypoints import observations
from server.refine.pipeline import Models, PipelineSettings, run_pipeline

ROWS = {"four views, uncalibrated": False, "four views, calibrated": True}


def _world_mpjpe(points: np.ndarray, ref: Reference, frames: np.ndarray) -> float:
    """Mean distance (mm) of the 12 limb landmarks from the reference's, in the world frame, no alignment."""
    return float(np.nanmean(np.linalg.norm(points[frames][:, LIMBS] - ref.points[frames][:, LIMBS], axis=-1)) * 1e3)


def multiview_rows(models: Models, kps: KeypointSet, ref: Reference, cameras: Sequence[CameraCalibration],
                   figures, initial: str) -> Dict[str, Dict[str, object]]:
    """Each row of :data:`ROWS` -> figures (the benchmark's ``figures`` callable) + world MPJPE when calibrated."""
    views = [observations(kps, v) for v in range(len(cameras))]
    seen = (kps.keypoints[0, ..., 2] >= 0.3).sum(-1) >= 6
    frames = ref.valid & seen
    table = {}
    for name, calibrated in ROWS.items():
        settings = PipelineSettings(initial=initial, mode="multiview")
        use = [calibrated_observations(v, c) for v, c in zip(views, cameras)] if calibrated else views
        tick = time.perf_counter()
        out = run_pipeline(models, use, settings, extrinsics=[extrinsics_of(c) for c in cameras] if calibrated
                           else None)
        seconds = time.perf_counter() - tick
        est = out.views[0]
        landmarks = posed_body(models.skinning, est.x, est.betas, est.transl)[1].detach().numpy().astype(np.float64)
        row = {**figures(landmarks, ref, frames), "method": out.method, "seconds": seconds}
        if calibrated:
            r, t = (a.astype(np.float64) for a in (cameras[0].R, cameras[0].t))
            world = (landmarks - t) @ r                                           # camera 1 -> world
            row["world_mpjpe_mm"] = _world_mpjpe(world, ref, frames)
        table[name] = row
    return table


def print_multiview(table: Dict[str, Dict[str, object]], angles: List[str]) -> None:
    print("\nAll four views fitted together (view 1's result against the reference)")
    print(f"{'method':<28}{'PA-MPJPE mm':>12}{'world MPJPE mm':>16}{'angle err deg':>15}{'jitter mm/f^2':>15}"
          f"{'s':>7}")
    for name, row in table.items():
        world = f"{row['world_mpjpe_mm']:16.1f}" if "world_mpjpe_mm" in row else f"{'-':>16}"
        print(f"{name:<28}{row['pa_mpjpe_mm']:12.1f}{world}{row['angle_error_mean_deg']:15.1f}"
              f"{row['jitter_mm_per_frame2']:15.1f}{row['seconds']:7.1f}")

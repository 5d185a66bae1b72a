"""Do the four Pose2Sim views agree on where the body faces? Each calibrated view captured alone (BlazePose's
detections of the clip, the pipeline's default video settings), its root orientation taken into the calibration's
world (``R_cam^T R_root``), and the views compared with each other frame by frame: the median angle between two
views' world orientations over every pair and frame where all four saw the body. A single view's heading error
shows up as disagreement; nothing here was tuned on it.

Rows: BlazePose's world landmarks read as the detector gives them (its line of sight's axes) and turned onto the
camera's axes (:mod:`server.detection.line_of_sight`, what a capture does).

    .venv/bin/python scripts/benchmark_line_of_sight.py --multiview ~/.cache/blender_scorehmr/footage/pose2sim
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path
from typing import List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from pose2sim_reference import load_reference  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.body.rot6d import x_to_rotmats  # noqa: E402
from server.camera_motion.matching import rotation_angle  # noqa: E402
from server.fitting.state import Observations  # noqa: E402
from server.refine.pipeline import Models, PipelineSettings, run_pipeline  # noqa: E402


def raw_observations(kps, view: int) -> Observations:
    """A view of the keypoints file as Observations, its world landmarks as the detector gave them."""
    width, height = (float(v) for v in kps.image_size[view])
    return Observations.from_image(torch.from_numpy(kps.keypoints[view]), width, height, float(kps.focal[view]),
                                   torch.from_numpy(kps.world[view]),
                                   torch.from_numpy(kps.frame_indices.astype("int64")), float(kps.fps))


def world_roots(models: Models, kps, cameras, turned: bool) -> np.ndarray:
    """(V, N, 3, 3) each view's root orientation in the calibration's world."""
    out: List[np.ndarray] = []
    for view, camera in enumerate(cameras):
        obs = raw_observations(kps, view)
        obs = obs.in_camera_axes() if turned else obs
        estimate = run_pipeline(models, [obs], PipelineSettings(mode="video", threads=1)).estimate
        root = x_to_rotmats(estimate.x)[:, 0].numpy().astype(np.float64)
        out.append(np.asarray(camera.R, np.float64).T @ root)
    return np.stack(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiview", type=Path, required=True, help="the Pose2Sim demo folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cameras, kps, _ = load_reference(args.multiview)
    models = Models(load_body_model(default_body_model_path()), is_builtin=True)
    seen = np.all((kps.keypoints[..., 2] >= 0.3).sum(-1) >= 20, axis=0)          # (N,) every view saw the body
    print(f"Pose2Sim: {len(cameras)} views, {int(seen.sum())} of {len(seen)} frames seen by all")
    print(f"{'world landmarks':<28}{'median deg':>11}{'mean deg':>10}{'per pair (median)':>40}")
    for label, turned in (("as the detector gives them", False), ("turned onto the camera axes", True)):
        roots = world_roots(models, kps, cameras, turned)[:, seen]
        pairs = {f"{a + 1}-{b + 1}": rotation_angle(roots[a], roots[b]) for a, b in
                 itertools.combinations(range(len(cameras)), 2)}
        every = np.concatenate(list(pairs.values()))
        detail = " ".join(f"{k}:{np.median(v):.1f}" for k, v in pairs.items())
        print(f"{label:<28}{np.median(every):>11.2f}{every.mean():>10.2f}   {detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

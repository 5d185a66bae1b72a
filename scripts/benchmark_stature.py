"""Stature: how tall the captured body is against a reference (the figure the body-shape work starts from).

    .venv/bin/python scripts/benchmark_stature.py --multiview ~/.cache/blender_scorehmr/footage/pose2sim

The reference is the calibrated four-view capture of Pose2Sim's single-person demo (``capture --view ...
--calibration``: the calibrated cameras fix the body's scale); each view is then captured alone (its own focal
length from the calibration, nothing else) and its body's stature compared (the shaped rest mesh's height, top of the
head to the soles, metres). Captures without fingers and without the place stage (neither changes the shape).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from pose2sim_reference import CAMERAS, calibration_path, load_cameras  # noqa: E402
from server.camera_motion.lens import focal_mm_of  # noqa: E402
from server.jobs.capture import CaptureRequest, run_capture  # noqa: E402
from server.options import CaptureOptions  # noqa: E402

log = logging.getLogger("benchmark_stature")


def stature(path: Path) -> float:
    """The result's shaped rest mesh's height (metres; T-pose, y up)."""
    with np.load(path) as data:
        return float(np.ptp(data["mesh_vertices"][:, 1]))


def capture(videos: Sequence[Path], out: Path, calibration: str = "", focal_mm: float = 0.0) -> float:
    request = CaptureRequest(video=str(videos[0]), views=tuple(str(v) for v in videos[1:]), output=str(out),
                             calibration=calibration,
                             options=CaptureOptions(hands=False, place=False, focal_mm=focal_mm))
    run_capture(request, lambda *a: None, lambda: False)
    return stature(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiview", type=Path, required=True, help="Pose2Sim single-person demo folder")
    args = parser.parse_args(argv)
    videos = [args.multiview / f"{cam}.mp4" for cam in CAMERAS]
    cameras = load_cameras(args.multiview)
    figures: Dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures["reference"] = capture(videos, Path(tmp) / "four.npz", str(calibration_path(args.multiview)))
        for cam, video, camera in zip(CAMERAS, videos, cameras):
            width, height = camera.image_size
            focal_mm = focal_mm_of(width, height, float(camera.K[0, 0]))   # the calibrated focal length
            figures[cam] = capture([video], Path(tmp) / f"{cam}.npz", focal_mm=focal_mm)
            log.info("%s (focal %.1f mm equivalent): %.3f m", cam, focal_mm, figures[cam])
    print(f"stature of the four-view calibrated capture (reference): {figures['reference']:.3f} m")
    for cam in CAMERAS:
        print(f"  {cam} alone: {figures[cam]:.3f} m, error {100 * (figures[cam] - figures['reference']):+.1f} cm")
    errors = [abs(figures[cam] - figures["reference"]) for cam in CAMERAS]
    print(f"  mean absolute error {100 * float(np.mean(errors)):.1f} cm (target: within 4 cm from each view)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

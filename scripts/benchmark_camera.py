"""The camera's rotation from the background (server/camera_motion) on real footage turned by a KNOWN virtual camera.

Each static clip (the Sports2D sample; Pose2Sim's cam01 with ``--pose2sim``) is seen through a virtual camera on
each path of :func:`server.camera_motion.virtual.camera_path` (a centred 80% crop, the footage's focal length
``max(width, height)``; a turn is capped at 60% of the footage's view about its axis, since the virtual camera
cannot see what the static one did not), and the rotation estimated from the warped frames is compared with the
true one. Prints, per clip and path: the mean and largest rotation error per frame (degrees), the error at the last
frame (the drift), the lowest confidence, milliseconds per frame (the estimate alone, frames already decoded), and
the "no stage" error: what assuming a still camera costs (the true rotation itself). ``--focal-scale 0.7 1.4``
tells the estimate a focal length off by those factors (a 26 mm phone lens taken for the default 38 mm is 1.45).

    python scripts/benchmark_camera.py --sample ~/.cache/blender_scorehmr/footage/sports2d_demo.mp4 \\
        [--pose2sim ~/.cache/blender_scorehmr/footage/pose2sim/cam01.mp4]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.camera_motion.estimate import estimate_rotations  # noqa: E402
from server.camera_motion.matching import rotation_angle  # noqa: E402
from server.camera_motion.virtual import camera_path, largest_turn, virtual_view, warp_frame  # noqa: E402

log = logging.getLogger("benchmark_camera")
# path -> degrees: turns of a hand-held phone, a fast whip pan, a shake of a few degrees
MOTIONS = {"pan": 20.0, "tilt": 10.0, "roll": 8.0, "shake": 6.0, "whip": 40.0}


def read_frames(path: Path, limit: int) -> List[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames: List[np.ndarray] = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"cannot read {path}")
    return frames


def run_clip(name: str, frames: List[np.ndarray], focal_scale: float = 1.0) -> None:
    height, width = frames[0].shape[:2]
    k_in, k_out, size = virtual_view(width, height, 0.8)
    told = k_out.copy()
    told[:2, :2] *= focal_scale
    print(f"\n{name}: {len(frames)} frames {width}x{height}, virtual camera {size[0]}x{size[1]}, "
          f"f = {k_out[0, 0]:.0f} px" + (f", the estimate told {told[0, 0]:.0f} px" if focal_scale != 1.0 else ""))
    print(f"{'motion':<14}{'mean deg':>9}{'max deg':>9}{'end deg':>9}{'no stage':>10}{'min conf':>9}{'ms/frame':>9}")
    for kind, asked in MOTIONS.items():
        axis = {"whip": "pan", "shake": "roll"}.get(kind, kind)
        degrees = min(asked, round(largest_turn(width, height, axis)))   # stay where the footage saw something
        truth = camera_path(kind, len(frames), degrees)
        warped = [warp_frame(f, r, k_in, k_out, size) for f, r in zip(frames, truth)]
        tick = time.perf_counter()
        motion = estimate_rotations(enumerate(warped), len(warped), told)
        ms = (time.perf_counter() - tick) * 1000.0 / len(warped)
        error = rotation_angle(motion.rotations, truth)
        still = rotation_angle(truth, np.eye(3))
        print(f"{kind + f' {degrees:g} deg':<14}{error.mean():>9.2f}{error.max():>9.2f}{error[-1]:>9.2f}"
              f"{still.mean():>10.2f}{motion.confidence.min():>9.2f}{ms:>9.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D clip")
    parser.add_argument("--pose2sim", type=Path, help="a Pose2Sim view (e.g. cam01.mp4)")
    parser.add_argument("--frames", type=int, default=300, help="at most this many frames per clip")
    parser.add_argument("--focal-scale", type=float, nargs="+", default=[1.0],
                        help="tell the estimate these multiples of the true focal length (the sensitivity): one "
                             "table each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    clips = [(args.sample.name, read_frames(args.sample, args.frames))]
    if args.pose2sim is not None:
        clips.append((args.pose2sim.name, read_frames(args.pose2sim, args.frames)))
    for scale in args.focal_scale:
        for name, frames in clips:
            run_clip(name, frames, scale)
    print("\n(no stage: the mean true rotation, the error of taking the camera for still)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

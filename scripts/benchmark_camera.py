"""The camera's rotation from the background (server/camera_motion) on real footage turned by a KNOWN virtual camera.

Each static clip (the Sports2D sample; Pose2Sim's cam01 with ``--pose2sim``) is seen through a virtual camera on
each path of :func:`server.camera_motion.virtual.camera_path` (a centred 80% crop, the footage's focal length
``max(width, height)``; a turn is capped at 60% of the footage's view about its axis, since the virtual camera
cannot see what the static one did not), and the rotation estimated from the warped frames is compared with the
true one. Prints, per clip and path: the mean and largest rotation error per frame (degrees), the error at the last
frame (the drift), the lowest confidence, processor milliseconds per frame (the estimate alone, frames already
decoded, one OpenCV and BLAS thread as in the capture's detector processes; the least of ``--repeats`` runs: this
shared machine's speed drifts by up to two times within minutes), and
the "no stage" error: what assuming a still camera costs (the true rotation itself). ``--focal-scale 0.7 1.4``
tells the estimate a focal length off by those factors (a 26 mm phone lens taken for the default 38 mm is 1.45).
Last, a camera that WALKS as it turns (parallax, which the clips cannot show: synthetic flat layers at known
depths), with the essential matrix's fallback and without it: the layouts its settings were chosen on, then held-out
layouts (other textures, places, depths and paths) that no setting was ever chosen on.

    python scripts/benchmark_camera.py --sample ~/.cache/blender_scorehmr/footage/sports2d_demo.mp4 \\
        [--pose2sim ~/.cache/blender_scorehmr/footage/pose2sim/cam01.mp4]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Sequence, Tuple

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):   # before numpy loads: as a detector runs
    os.environ[_name] = "1"

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.camera_motion.estimate import estimate_rotations  # noqa: E402
from server.camera_motion.matching import MotionConfig, rotation_angle  # noqa: E402
from server.camera_motion.virtual import (camera_path, largest_turn, textured_wall, virtual_view,  # noqa: E402
                                          walking_positions, warp_frame, warp_layers)

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


def run_clip(name: str, frames: List[np.ndarray], focal_scale: float = 1.0, repeats: int = 3) -> None:
    height, width = frames[0].shape[:2]
    k_in, k_out, size = virtual_view(width, height, 0.8)
    told = k_out.copy()
    told[:2, :2] *= focal_scale
    print(f"\n{name}: {len(frames)} frames {width}x{height}, virtual camera {size[0]}x{size[1]}, "
          f"f = {k_out[0, 0]:.0f} px" + (f", the estimate told {told[0, 0]:.0f} px" if focal_scale != 1.0 else ""))
    print(f"{'motion':<14}{'mean deg':>9}{'max deg':>9}{'end deg':>9}{'no stage':>10}{'min conf':>9}{'cpu ms/f':>9}")
    for kind, asked in MOTIONS.items():
        axis = {"whip": "pan", "shake": "roll"}.get(kind, kind)
        degrees = min(asked, round(largest_turn(width, height, axis)))   # stay where the footage saw something
        truth = camera_path(kind, len(frames), degrees)
        warped = [warp_frame(f, r, k_in, k_out, size) for f, r in zip(frames, truth)]
        seconds = []
        for _ in range(repeats):   # the least of a few runs: what the work costs, not what the neighbours took
            tick = time.process_time()
            motion = estimate_rotations(enumerate(warped), len(warped), told)
            seconds.append(time.process_time() - tick)
        ms = min(seconds) * 1000.0 / len(warped)
        error = rotation_angle(motion.rotations, truth)
        still = rotation_angle(truth, np.eye(3))
        print(f"{kind + f' {degrees:g} deg':<14}{error.mean():>9.2f}{error.max():>9.2f}{error[-1]:>9.2f}"
              f"{still.mean():>10.2f}{motion.confidence.min():>9.2f}{ms:>9.1f}")


# a camera that walks as it turns (synthetic: flat textured layers at known depths, 960 x 540, f = 960 px):
# (name, where the near layer is, near metres, far metres, walked metres); the first layout is the one the essential
# matrix's settings were worked out on, the others were measured, then looked into (a tolerance of the first frame's
# closure that grew with the links since the last one fixed the 0.3 m shake, lost on the held-out layouts: not kept)
Layout = Tuple[str, str, float, float, float]
LAYOUTS: Tuple[Layout, ...] = (("bench below", "below", 2.0, 8.0, 0.6), ("bench below", "below", 2.0, 8.0, 0.3),
                               ("wall left", "left", 1.5, 6.0, 0.4), ("wall left far", "left", 2.5, 12.0, 0.8))
# never looked at while the settings were chosen (other textures, places, depths and paths); measured once since
# to drop an alternative (the growing tolerance above), which kept the settings: pick no setting on it
HELD_OUT: Tuple[Layout, ...] = (("pillar right", "right", 1.8, 10.0, 0.5), ("step below", "below", 1.2, 6.0, 0.2),
                                ("hedge left", "left", 3.0, 20.0, 1.0))
WALK_MOTIONS = {"pan": 10.0, "tilt": 6.0, "roll": 6.0, "shake": 5.0}


def near_mask(where: str, width: int, height: int) -> np.ndarray:
    """(height, width) uint8: 255 where the near layer is ("below": the lower 45%, "left": the left 40%, "right":
    the right 35%)."""
    near = np.zeros((height, width), np.uint8)
    if where == "below":
        near[int(height * 0.55):] = 255
    elif where == "left":
        near[:, :int(width * 0.4)] = 255
    else:
        near[:, int(width * 0.65):] = 255
    return near


def run_walking(layouts: Sequence[Layout] = LAYOUTS, title: str = "", seed: int = 0, frames: int = 64) -> None:
    """The rotation of a camera that walks sideways while it turns, with the essential matrix's fallback and
    without it (the camera taken to turn only): the walk's parallax read as turning. ``seed`` picks other textures
    and camera paths."""
    width, height = 960, 540
    k_in, k_out, size = virtual_view(width, height, 0.8)
    print(f"\nwalking camera{title}: synthetic layers, {frames} frames {size[0]}x{size[1]}, "
          f"f = {k_out[0, 0]:.0f} px; mean / end rotation error, deg")
    print(f"{'layout':<16}{'walk m':>7}{'motion':>8}{'mean':>7}{'end':>7}{'turn only':>11}{'end':>7}")
    for name, where, near_depth, far_depth, metres in layouts:
        layers = [(textured_wall(width, height, seed), None, far_depth),
                  (textured_wall(width, height, seed + 2), near_mask(where, width, height), near_depth)]
        for kind, degrees in WALK_MOTIONS.items():
            truth = camera_path(kind, frames, degrees, seed=seed + 3)
            views = [warp_layers(layers, r, c, k_in, k_out, size)
                     for r, c in zip(truth, walking_positions(frames, metres))]
            row = []
            for config in (MotionConfig(), MotionConfig(parallax_share=0.0)):
                error = rotation_angle(estimate_rotations(enumerate(views), frames, k_out, config=config).rotations,
                                       truth)
                row += [error.mean(), error[-1]]
            print(f"{name:<16}{metres:>7.1f}{kind:>8}{row[0]:>7.2f}{row[1]:>7.2f}{row[2]:>11.2f}{row[3]:>7.2f}",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D clip")
    parser.add_argument("--pose2sim", type=Path, help="a Pose2Sim view (e.g. cam01.mp4)")
    parser.add_argument("--frames", type=int, default=300, help="at most this many frames per clip")
    parser.add_argument("--focal-scale", type=float, nargs="+", default=[1.0],
                        help="tell the estimate these multiples of the true focal length (the sensitivity): one "
                             "table each")
    parser.add_argument("--repeats", type=int, default=3, help="time each estimate this many times (the least counts)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)
    clips = [(args.sample.name, read_frames(args.sample, args.frames))]
    if args.pose2sim is not None:
        clips.append((args.pose2sim.name, read_frames(args.pose2sim, args.frames)))
    for scale in args.focal_scale:
        for name, frames in clips:
            run_clip(name, frames, scale, args.repeats)
    run_walking()
    run_walking(HELD_OUT, ", held out", seed=10)
    print("\n(no stage: the mean true rotation, the error of taking the camera for still)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

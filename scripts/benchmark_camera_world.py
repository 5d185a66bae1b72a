"""The body's motion in the world from hand-held footage: a capture of a clip seen by a turning virtual camera
against the capture of the static original.

Each static clip (the Sports2D sample; Pose2Sim's cam01 with ``--pose2sim``) is captured as it is (the reference:
camera static), then seen by a virtual camera on each path of :func:`server.camera_motion.virtual.camera_path` (the
moving clip written to a temporary folder, the turn capped at 60% of the footage's view as in
scripts/benchmark_camera.py; turned so the person crosses the view rather than leaves it) and captured twice: with
the camera stage (Camera: Auto, as a user captures; ``--moving`` forces it) and without it (Camera: Static, the "no
stage" row). The "still" row is the floor: the virtual camera standing still, i.e. the footage written again and
captured, against the original's capture. Both use the true focal length (the original's ``max(width,
height)``; ``--focal-scale`` misstates it, for the sensitivity). The virtual camera's first frame is the original
camera, so the results compare directly on the frames both captured. Printed per clip and path:

- ``traj cm``: the root's world trajectory error, RTE-style: the pelvis's displacement since the first shared frame
  against the reference's, median over frames (cm);
- ``orient deg``: the root orientation's angle from the reference's, median over frames;
- ``slide``: foot sliding of the capture (cm per frame while a foot is in contact; its own contacts and ground),
  the reference's in the header;
- then the cost (``--cost-rounds``): whole Sports2D captures with Camera Auto against Static on MPEG-4 clips
  (still, pan, shake), alternating, the median wall and processor time of each; what Auto adds per frame is the
  stage's price;
- and (``--chunk-rounds``) the same where the stage runs: one detector's chunk job (BlazePose following the person
  over the whole pan and shake clips, in a fresh process each) with and without the camera chain, alternating:
  BlazePose's own time moves by a second from run to run, so what the chain adds is a mean with its standard error;
- ``check ms``: the camera stage in the capture's own process (the cheap check, the joining of the chunks);
  ``chain ms/f``: what the detector processes spent chaining frames for the camera's turn, per frame (all of them
  together: with two detectors about half of it is wall time); ``detect s``: the detection stage (it holds the
  chaining), against the "without" capture of the same clip. The moving clips are lossless (FFV1), so the
  detector sees what it would in the footage; their decoding is slower than a phone's H.264.

    python scripts/benchmark_camera_world.py --sample ~/.cache/blender_scorehmr/footage/sports2d_demo.mp4 \\
        [--pose2sim ~/.cache/blender_scorehmr/footage/pose2sim/cam01.mp4] [--motions pan tilt]
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.rotations import forward_kinematics, rotvec_to_rotmat  # noqa: E402
from server.camera_motion.matching import rotation_angle  # noqa: E402
from server.camera_motion.lens import focal_mm_of  # noqa: E402
from server.camera_motion.virtual import largest_turn, virtual_view, write_moving_clip  # noqa: E402
from server.jobs.capture import CaptureRequest, run_capture  # noqa: E402
from server.options import CaptureOptions  # noqa: E402
from server.result import ResultFile  # noqa: E402
from server.world.feet import FOOT_JOINTS, Ground, foot_sliding  # noqa: E402

log = logging.getLogger("benchmark_camera_world")
MOTIONS = {"pan": 20.0, "tilt": 10.0, "roll": 8.0, "shake": 6.0, "whip": 40.0}
CROP = 1.0   # the virtual camera sees as much as the footage: a crop would cut the person (Sports2D's head) and change
             # the capture by itself (an 80% crop with no turn: 16 cm, 9 degrees from the original's capture)


def capture(path: Path, output: Path, camera: str, focal_mm: float,
            boxes: Tuple[Tuple[float, ...], ...] = ()) -> Tuple[ResultFile, Dict[str, float]]:
    """Capture ``path`` (the person of ``boxes``, [frame, x0, y0, x1, y1] rows; none: the most visible one) ->
    (its result, the capture's seconds per stage)."""
    request = CaptureRequest(video=str(path), output=str(output), person_boxes=boxes,
                             options=CaptureOptions(camera=camera, focal_mm=focal_mm, hands=False))
    summary = run_capture(request, lambda *a: None, lambda: False)
    return ResultFile.read(str(output)), summary.timings


def followed_boxes(reference: ResultFile, rotations: np.ndarray, k_in: np.ndarray, k_out: np.ndarray,
                   size: Tuple[int, int]) -> Tuple[Tuple[float, ...], ...]:
    """The reference's person seen by the virtual camera: each frame's keypoint box (its corners through
    ``K_out R_t K_in^-1``), [frame, x0, y0, x1, y1] rows of the frames where it stays in view, so both captures
    follow the same person (the Sports2D clip shows two)."""
    rows = []
    for frame, points in zip(np.asarray(reference.frame_indices), np.asarray(reference.keypoints_2d)):
        seen = points[points[:, 2] > 0.3, :2]
        if len(seen) < 2:
            continue
        (x0, y0), (x1, y1) = seen.min(0), seen.max(0)
        corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]])
        warped = corners @ (k_out @ rotations[int(frame)] @ np.linalg.inv(k_in)).T
        uv = warped[:, :2] / warped[:, 2:]
        (u0, v0), (u1, v1) = uv.min(0), uv.max(0)
        if u1 > 0 and v1 > 0 and u0 < size[0] and v0 < size[1]:
            rows.append((float(frame), float(u0), float(v0), float(u1), float(v1)))
    return tuple(rows)


def pelvis_and_root(result: ResultFile) -> Tuple[Dict[int, np.ndarray], Dict[int, np.ndarray]]:
    """Source frame -> pelvis position (3,) and root orientation (3, 3) of a result (its own frame)."""
    rest = np.asarray(result.joints_rest, np.float64)
    pelvis = np.asarray(result.transl, np.float64) + rest[0]
    roots = rotvec_to_rotmat(np.asarray(result.poses, np.float64)[:, 0])
    frames = [int(f) for f in result.frame_indices]
    return dict(zip(frames, pelvis)), dict(zip(frames, roots))


def sliding(result: ResultFile) -> float:
    """Foot sliding (cm per frame) over the result's own contacts on its own ground; NaN without them."""
    if result.ground is None or result.foot_contacts is None:
        return float("nan")
    joints, _ = forward_kinematics(np.asarray(result.poses, np.float64), np.asarray(result.joints_rest, np.float64),
                                   np.asarray(result.parents).tolist())
    joints = joints + np.asarray(result.transl, np.float64)[:, None]
    ground = Ground(np.asarray(result.ground[:3], np.float64), float(result.ground[3]), np.zeros(0, bool))
    return foot_sliding(joints, np.asarray(result.foot_contacts).astype(bool)[:, :len(FOOT_JOINTS)], ground)


def compare(result: ResultFile, reference: ResultFile) -> Tuple[float, float]:
    """(median trajectory error cm, median root orientation error deg) of ``result`` against ``reference`` on the
    frames both hold, the displacement taken from the first of them."""
    pelvis, roots = pelvis_and_root(result)
    ref_pelvis, ref_roots = pelvis_and_root(reference)
    shared = sorted(set(pelvis) & set(ref_pelvis))
    if len(shared) < 2:
        return float("nan"), float("nan")
    moved = np.stack([pelvis[f] - pelvis[shared[0]] for f in shared])
    ref_moved = np.stack([ref_pelvis[f] - ref_pelvis[shared[0]] for f in shared])
    trajectory = float(np.median(np.linalg.norm(moved - ref_moved, axis=1))) * 100.0
    orientation = float(np.median(rotation_angle(np.stack([roots[f] for f in shared]),
                                                 np.stack([ref_roots[f] for f in shared]))))
    return trajectory, orientation


def run_clip(path: Path, folder: Path, motions: Dict[str, float], camera: str, focal_scale: float) -> None:
    import cv2
    probe = cv2.VideoCapture(str(path))
    width, height = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
    probe.release()
    k_in, k_out, size = virtual_view(width, height, CROP)
    true_mm = focal_mm_of(size[0], size[1], float(k_out[0, 0]))
    reference, _ = capture(path, folder / "reference.npz", "static", focal_mm_of(width, height, max(width, height)))
    frames = len(reference.frame_indices)
    print(f"\n{path.name}: {width}x{height}, reference capture {frames} frames, foot sliding "
          f"{sliding(reference):.2f} cm/frame; virtual camera {size[0]}x{size[1]}, f = {k_out[0, 0]:.0f} px "
          f"({true_mm:.1f} mm), the capture told {true_mm * focal_scale:.1f} mm")
    print(f"{'motion':<16}{'stage':<8}{'frames':>7}{'traj cm':>9}{'orient deg':>11}{'slide':>7}{'check ms':>9}"
          f"{'chain ms/f':>11}{'detect s':>9}")
    towards = np.sign(np.median(np.asarray(reference.transl)[:, :2], axis=0))   # the person's side of the view
    for kind, asked in {"still": 0.0, **motions}.items():
        axis = {"whip": "pan", "shake": "roll", "still": "roll"}.get(kind, kind)
        degrees = min(asked, round(largest_turn(width, height, axis)))
        # turn so the person crosses the view rather than leaves it: a pan (about y) moves the view's content by
        # +angle in x, a tilt (about x) by -angle in y
        sign = {"pan": -towards[0], "whip": -towards[0], "tilt": towards[1]}.get(kind, 1.0) or 1.0
        clip = folder / f"{kind}.avi"
        truth = write_moving_clip(str(path), str(clip), "static" if kind == "still" else kind, sign * degrees,
                                  crop=CROP)
        boxes = followed_boxes(reference, truth, k_in, k_out, size)
        for label, mode in (("with", camera), ("without", "static")) if kind != "still" else (("-", "static"),):
            result, timings = capture(clip, folder / f"{kind}_{mode}.npz", mode, true_mm * focal_scale, boxes)
            trajectory, orientation = compare(result, reference)
            count = int(result.frame_range[1] - result.frame_range[0]) if result.frame_range is not None else 1
            print(f"{kind + f' {degrees:g} deg':<16}{label:<8}{len(result.frame_indices):>7}{trajectory:>9.1f}"
                  f"{orientation:>11.1f}{sliding(result):>7.2f}{1000.0 * timings.get('camera', 0.0):>9.0f}"
                  f"{1000.0 * timings.get('camera_chain', 0.0) / count:>11.1f}{timings['detect']:>9.1f}", flush=True)


def cost(path: Path, folder: Path, rounds: int) -> None:
    """The stage's cost where it counts: whole captures (``python -m server capture``, as the add-on runs it) with
    Camera: Auto against Static on the same clip (MPEG-4, decoded about as fast as a phone's H.264), ``rounds``
    times each, alternating; still, pan and shake. Wall time on this shared machine varies by a tenth from run to
    run, so the processor time of the capture and its detector processes is given too (user + system, from
    ``getrusage``): what the stage adds to it does not depend on what else the machine was doing. Without the place
    stage: a static capture of a shaking clip finds no ground and skips the foot locking that the followed one
    does (2-3 s), which is not the stage's cost."""
    import resource
    import subprocess

    import cv2
    probe = cv2.VideoCapture(str(path))
    width, height = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = int(probe.get(cv2.CAP_PROP_FRAME_COUNT))
    probe.release()
    print(f"\n{path.name}: whole captures, Camera Auto against Static, {rounds} rounds each (medians)")
    print(f"{'motion':<10}{'frames':>7}{'static s':>9}{'auto s':>8}{'added ms/f':>11}{'static cpu':>11}"
          f"{'auto cpu':>9}{'added cpu ms/f':>15}")
    for kind, degrees in (("still", 0.0), ("pan", MOTIONS["pan"]), ("shake", MOTIONS["shake"])):
        clip = folder / f"cost_{kind}.mp4"
        axis = {"shake": "roll", "still": "roll"}.get(kind, kind)
        write_moving_clip(str(path), str(clip), "static" if kind == "still" else kind,
                          min(degrees, round(largest_turn(width, height, axis))), crop=CROP)
        wall: Dict[str, list] = {"static": [], "auto": []}
        cpu: Dict[str, list] = {"static": [], "auto": []}
        for _ in range(rounds):
            for mode in ("static", "auto"):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                tick = time.perf_counter()
                subprocess.run([sys.executable, "-m", "server", "capture", str(clip), "-o",
                                str(folder / f"cost_{mode}.npz"), "--camera", mode, "--no-place"], cwd=ROOT, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wall[mode].append(time.perf_counter() - tick)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[mode].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        still, auto = float(np.median(wall["static"])), float(np.median(wall["auto"]))
        still_cpu, auto_cpu = float(np.median(cpu["static"])), float(np.median(cpu["auto"]))
        print(f"{kind:<10}{frames:>7}{still:>9.2f}{auto:>8.2f}{1000.0 * (auto - still) / frames:>11.1f}"
              f"{still_cpu:>11.1f}{auto_cpu:>9.1f}{1000.0 * (auto_cpu - still_cpu) / frames:>15.1f}", flush=True)


def timed_chunk(clip: str, count: int, camera: object, answer: multiprocessing.Queue) -> None:
    """In a fresh process: one chunk job over the whole clip (``camera``: a CameraLooks or None) -> ``answer`` gets
    (user s, system s, wall s, the chain's own s), the imports and the models' start-up left out."""
    import resource

    import cv2
    from server.detection.chunk_job import detect_chunk
    from server.detection.chunks import ChunkTask

    cv2.setNumThreads(1)
    before = resource.getrusage(resource.RUSAGE_SELF)
    tick = time.perf_counter()
    result = detect_chunk(ChunkTask(0, 0, clip, 0, 0, count, camera=camera), lambda done: None)
    after = resource.getrusage(resource.RUSAGE_SELF)
    answer.put((after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, time.perf_counter() - tick,
                result.camera_seconds))


def chunk_cost(path: Path, folder: Path, rounds: int) -> None:
    """The stage's cost inside a detector process (``--chunk-rounds``): the chunk job over the whole Sports2D pan
    and shake (MPEG-4) without and with the camera chain, ``rounds`` times each, alternating which goes first, each in a
    process started as the capture starts its detectors (one BLAS thread; one OpenCV thread)."""
    import cv2
    from server.camera_motion.follow import plan_camera
    from server.detection.pool import single_threaded_maths
    from server.video import iter_frames

    probe = cv2.VideoCapture(str(path))
    width, height = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
    probe.release()
    k = virtual_view(width, height, CROP)[1]
    context = multiprocessing.get_context("spawn")
    print(f"\n{path.name}: one detector's chunk job over the whole clip, without / with the camera chain, {rounds} "
          f"rounds each (ms per frame; +- the standard error)")
    print(f"{'motion':<10}{'added user':>11}{'+-':>6}{'added sys':>10}{'+-':>6}{'added wall':>11}{'+-':>6}{'chain':>7}")
    for kind in ("pan", "shake"):
        clip = folder / f"chunk_{kind}.mp4"
        axis = {"shake": "roll"}.get(kind, kind)
        degrees = min(MOTIONS[kind], round(largest_turn(width, height, axis)))
        count = len(write_moving_clip(str(path), str(clip), kind, degrees, crop=CROP))
        looks = plan_camera("moving", lambda i: next((f for _, f in iter_frames(str(clip), i, i + 1)), None), 0,
                            count, k).looks
        runs: Dict[str, list] = {"static": [], "moving": []}
        for round_ in range(rounds):
            order = (("static", None), ("moving", looks))
            for mode, camera in order if round_ % 2 == 0 else order[::-1]:
                answer = context.Queue()
                with single_threaded_maths():
                    process = context.Process(target=timed_chunk, args=(str(clip), count, camera, answer))
                    process.start()
                runs[mode].append(answer.get())
                process.join()
        still, moving = np.array(runs["static"]), np.array(runs["moving"])
        added = (moving - still) * 1000.0 / count
        spread = added.std(0) / np.sqrt(rounds)
        print(f"{kind:<10}{added[:, 0].mean():>11.1f}{spread[0]:>6.1f}{added[:, 1].mean():>10.1f}{spread[1]:>6.1f}"
              f"{added[:, 2].mean():>11.1f}{spread[2]:>6.1f}{1000.0 * moving[:, 3].mean() / count:>7.1f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D clip")
    parser.add_argument("--pose2sim", type=Path, help="a Pose2Sim view (e.g. cam01.mp4)")
    parser.add_argument("--motions", nargs="+", choices=sorted(MOTIONS), default=list(MOTIONS))
    parser.add_argument("--moving", action="store_true", help="capture with Camera: Moving instead of Auto")
    parser.add_argument("--cost-rounds", type=int, default=6, help="alternating captures per mode for the cost "
                        "table (0: none; 3 measured the same pan at +12 and at +2 ms per frame on this machine)")
    parser.add_argument("--chunk-rounds", type=int, default=6, help="alternating chunk jobs per mode for the "
                        "detector-process cost (0: none)")
    parser.add_argument("--no-accuracy", action="store_true", help="only the cost tables")
    parser.add_argument("--focal-scale", type=float, default=1.0,
                        help="tell the capture this multiple of the true focal length (sensitivity)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    motions = {m: MOTIONS[m] for m in args.motions}
    camera = "moving" if args.moving else "auto"
    with tempfile.TemporaryDirectory(prefix="scorehmr_camera_world_") as folder:
        if not args.no_accuracy:
            run_clip(args.sample, Path(folder), motions, camera, args.focal_scale)
            if args.pose2sim is not None:
                run_clip(args.pose2sim, Path(folder), motions, camera, args.focal_scale)
        if args.cost_rounds > 0:
            cost(args.sample, Path(folder), args.cost_rounds)
        if args.chunk_rounds > 0:
            chunk_cost(args.sample, Path(folder), args.chunk_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

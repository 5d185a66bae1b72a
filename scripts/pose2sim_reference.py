"""The Pose2Sim four-view clip's reference: its calibration, BlazePose on every view (one person, the same in all
views), and the triangulated 33 landmarks with the world's up axis and floor found from the data.

Used by ``scripts/benchmark_pose2sim.py``. Detections are cached next to the footage: ``four_views.keypoints.npz``
(benchmark_real's, the capture's person choice in each view), ``<cam>.guided.keypoints.npz`` (a view re-detected
following the person the other views see) and ``four_views_reference.keypoints.npz`` (the four views used here,
with the calibrated focal lengths).

Why the re-detection: the capture follows the most visible person of the first view, and in cam01 that is a
bystander standing still in the background, not the performer. So the view whose removal leaves the other views
most consistent is checked against them (their triangulation reprojected into it); when its detections disagree
by more than :data:`WRONG_PERSON` of the person's height it is detected again, guided by the boxes of that
reprojection (repeated while 3 views remain).
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark_real import detect_cached  # noqa: E402
from server.fitting.calibration import CameraCalibration, read_calibration  # noqa: E402
from server.detection.keypoints_file import KeypointSet, load_keypoints, save_keypoints  # noqa: E402
from server.fitting.triangulate import Triangulation, triangulate  # noqa: E402

log = logging.getLogger("pose2sim_reference")

CAMERAS = ("cam01", "cam02", "cam03", "cam04")
WRONG_PERSON = 0.15      # median leave-one-out disagreement (fraction of the box height) of a view on someone else
SHOULDERS, HIPS = (11, 12), (23, 24)
LIMBS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)    # shoulders, elbows, wrists, hips, knees, ankles
FEET = (29, 30, 31, 32)                                        # heels, foot indices
FOOT_REST_SPEED = 0.3    # m/s: a heel or foot index slower than this rests
FLOOR_PERCENTILE = 5.0


def calibration_path(folder: Path) -> Path:
    """The clip's calibration: a Pose2Sim ``*.toml`` when the folder has one, else ``Calib.qca.txt``."""
    tomls = sorted(folder.glob("*.toml"))
    return tomls[0] if tomls else folder / "Calib.qca.txt"


def load_cameras(folder: Path) -> List[CameraCalibration]:
    """The calibrated cameras in :data:`CAMERAS` order."""
    by_name = {c.name: c for c in read_calibration(calibration_path(folder))}
    missing = [n for n in CAMERAS if n not in by_name]
    if missing:
        raise SystemExit(f"{calibration_path(folder)} lacks cameras {missing}")
    return [by_name[n] for n in CAMERAS]


def box_heights(uv: np.ndarray) -> np.ndarray:
    """(..., L, 2) pixels (NaN = missing) -> (...,) height of their bounding box."""
    with np.errstate(invalid="ignore"):
        return np.nanmax(uv[..., 1], -1) - np.nanmin(uv[..., 1], -1)


def reprojected(points: np.ndarray, camera: CameraCalibration) -> np.ndarray:
    """(N, L, 3) world points -> (N, L, 2) pixels in ``camera``."""
    return camera.project(points.reshape(-1, 3)).reshape(points.shape[:-1] + (2,))


def leave_one_out(keypoints: np.ndarray, cameras: Sequence[CameraCalibration], view: int) -> np.ndarray:
    """keypoints (V, N, 33, 3) -> (N, 33, 2) the other views' triangulation reprojected into ``view``."""
    others = [v for v in range(len(cameras)) if v != view]
    tri = triangulate(keypoints[others, ..., :2], keypoints[others, ..., 2], [cameras[v] for v in others])
    return reprojected(tri.points, cameras[view])


def _confident(keypoints: np.ndarray) -> np.ndarray:
    """(..., 33, 3) detections -> (..., 33, 2) pixels, NaN where the confidence is below 0.5."""
    return np.where(keypoints[..., 2:3] >= 0.5, keypoints[..., :2], np.nan)


def disagreement(keypoints: np.ndarray, cameras: Sequence[CameraCalibration], view: int) -> float:
    """Median distance (fraction of the detected box height) between a view's confident detections (>= 0.5) and
    the other views' triangulation reprojected into it."""
    image = _confident(keypoints[view])
    dist = np.linalg.norm(image - leave_one_out(keypoints, cameras, view), axis=-1) / box_heights(image)[:, None]
    return float(np.nanmedian(dist)) if np.isfinite(dist).any() else float("inf")


def consistency(keypoints: np.ndarray, cameras: Sequence[CameraCalibration]) -> float:
    """Median reprojection error (fraction of each view's detected box height) of the views' own triangulation."""
    tri = triangulate(keypoints[..., :2], keypoints[..., 2], cameras)
    heights = box_heights(_confident(keypoints))[..., None]                    # (V, N, 1)
    error = np.where(tri.used, tri.residual_px, np.nan) / heights
    return float(np.nanmedian(error)) if np.isfinite(error).any() else float("inf")


def odd_view_out(keypoints: np.ndarray, cameras: Sequence[CameraCalibration]) -> int:
    """The view whose removal leaves the most consistent other views (the one most likely on someone else)."""
    views = range(len(cameras))
    rest = [consistency(keypoints[[o for o in views if o != v]], [cameras[o] for o in views if o != v])
            for v in views]
    log.info("the other views' consistency without each view (box heights): %s", np.round(rest, 3).tolist())
    return int(np.argmin(rest))


def guided_detection(video: Path, frames: np.ndarray, boxes: np.ndarray, out: Path) -> Path:
    """BlazePose on ``video``'s ``frames`` (N,) following the person in ``boxes`` (N, 4) (NaN rows: no guide),
    cached in ``out`` (one view, the rows of ``frames``; confidence 0 where nobody was found)."""
    if out.exists():
        return out
    from server import video as videos
    from server.detection.blazepose import FollowingDetector
    guide = {int(f): b for f, b in zip(frames, boxes) if np.all(np.isfinite(b))}
    rows = {int(f): i for i, f in enumerate(frames)}
    image, world = np.zeros((len(frames), 33, 3), np.float32), np.zeros((len(frames), 33, 3), np.float32)
    info = videos.probe(str(video))
    log.info("detecting %s again, following the person the other views see", video.name)
    with FollowingDetector(guide) as detector:
        for index, rgb in videos.iter_frames(str(video), int(frames.min()), int(frames.max()) + 1):
            found = detector.detect(rgb, index)
            if found is not None and index in rows:
                image[rows[index]], world[rows[index]] = found.image, found.world[:, :3]
    save_keypoints(str(out), image, np.array([info.width, info.height]), world=world, frame_indices=frames)
    return out


def consistent_keypoints(folder: Path, cameras: Sequence[CameraCalibration]) -> KeypointSet:
    """The four views' detections of the same person, with the calibrated focal lengths (cached)."""
    out = folder / "four_views_reference.keypoints.npz"
    if out.exists():
        return load_keypoints(str(out))
    videos = [folder / f"{n}.mp4" for n in CAMERAS]
    kps = load_keypoints(str(detect_cached(videos, folder / "four_views.keypoints.npz")))
    keypoints, world = kps.keypoints.copy(), kps.world.copy()
    for _ in range(len(CAMERAS) - 2):
        worst = odd_view_out(keypoints, cameras)
        error = disagreement(keypoints, cameras, worst)
        log.info("%s disagrees with the other views by %.3f box heights", CAMERAS[worst], error)
        if error <= WRONG_PERSON:
            break
        proj = leave_one_out(keypoints, cameras, worst)
        with np.errstate(invalid="ignore"):
            boxes = np.concatenate([np.nanmin(proj, 1), np.nanmax(proj, 1)], -1)
        name = CAMERAS[worst]
        redone = load_keypoints(str(guided_detection(folder / f"{name}.mp4", kps.frame_indices, boxes,
                                                     folder / f"{name}.guided.keypoints.npz")))
        keypoints[worst], world[worst] = redone.keypoints[0], redone.world[0]
    save_keypoints(str(out), keypoints, kps.image_size, world, [c.K[0, 0] for c in cameras], kps.fps,
                   kps.frame_indices)
    return load_keypoints(str(out))


@dataclass(frozen=True)
class Reference:
    """The triangulated clip. ``tri`` (:class:`Triangulation` of (N, 33) landmarks, world metres); ``valid`` (N,)
    frames with all 12 limb landmarks; ``up`` (3,) the world axis pointing up; ``floor`` the floor's coordinate
    along ``up`` (metres); ``fps``; ``frame_indices`` (N,) video frames of the rows."""

    tri: Triangulation
    valid: np.ndarray
    up: np.ndarray
    floor: float
    fps: float
    frame_indices: np.ndarray

    @property
    def points(self) -> np.ndarray:
        return self.tri.points


def up_axis(points: np.ndarray) -> np.ndarray:
    """(N, 33, 3) world landmarks -> (3,) the signed world axis best aligned with the mean hip -> shoulder direction."""
    direction = np.nanmean(points[:, SHOULDERS].mean(1) - points[:, HIPS].mean(1), 0)
    axis = int(np.argmax(np.abs(direction)))
    up = np.zeros(3)
    up[axis] = np.sign(direction[axis])
    return up


def floor_level(points: np.ndarray, up: np.ndarray, fps: float) -> float:
    """The floor's coordinate along ``up``: the low percentile of the heels' and foot indices' heights in the
    frames where they rest (slower than :data:`FOOT_REST_SPEED`)."""
    feet = points[:, FEET]                                             # (N, 4, 3)
    heights = feet @ up
    speed = np.full(heights.shape, np.inf)
    speed[1:-1] = np.linalg.norm(feet[2:] - feet[:-2], axis=-1) * fps / 2.0
    resting = heights[np.isfinite(heights) & (speed < FOOT_REST_SPEED)]
    if resting.size < 10:
        resting = heights[np.isfinite(heights)]
    return float(np.percentile(resting, FLOOR_PERCENTILE))


def build_reference(kps: KeypointSet, cameras: Sequence[CameraCalibration]) -> Reference:
    """Triangulate every frame's 33 landmarks (confidence >= 0.5 in >= 2 views, robust view dropping)."""
    tri = triangulate(kps.keypoints[..., :2], kps.keypoints[..., 2], cameras)
    valid = np.isfinite(tri.points[:, LIMBS]).all((-1, -2))
    up = up_axis(tri.points[valid])
    return Reference(tri, valid, up, floor_level(tri.points, up, kps.fps), float(kps.fps), kps.frame_indices)


def camera_heights(ref: Reference, cameras: Sequence[CameraCalibration]) -> List[float]:
    """Each camera centre's height above the floor (metres)."""
    return [float(c.centre @ ref.up - ref.floor) for c in cameras]


def reference_figures(ref: Reference, kps: KeypointSet, cameras: Sequence[CameraCalibration]) -> Dict[str, object]:
    """The verification of the reference: per view the median reprojection error (pixels, and in % of the
    person's box height) of the landmarks it was used for, and the share of its confident detections (>= 0.5) the
    robust step dropped; counts of what was triangulated."""
    tri = ref.tri
    used_err = np.where(tri.used, tri.residual_px, np.nan)
    heights = [float(np.nanmedian(box_heights(reprojected(ref.points, c)))) for c in cameras]
    confident = (kps.keypoints[..., 2] >= 0.5) & np.isfinite(tri.points[..., 0])[None]
    return {"median_reprojection_px": [float(np.nanmedian(e)) for e in used_err], "box_height_px": heights,
            "dropped_share": [float((c & ~u).sum() / max(c.sum(), 1)) for c, u in zip(confident, tri.used)],
            "views_per_landmark": float(tri.used.sum(0)[np.isfinite(tri.points[..., 0])].mean()),
            "frames": int(len(ref.valid)), "frames_with_all_limbs": int(ref.valid.sum()),
            "landmarks_triangulated": int(np.isfinite(tri.points[..., 0]).sum()),
            "landmarks_total": int(tri.points[..., 0].size), "up_axis": ref.up.tolist(), "floor_m": ref.floor,
            "fps": ref.fps}


def print_reference(figures: Dict[str, object], cameras: Sequence[CameraCalibration], heights: List[float]) -> None:
    print(f"\nPose2Sim reference: {figures['frames_with_all_limbs']} of {figures['frames']} frames with all 12 limb "
          f"landmarks, {figures['landmarks_triangulated']} of {figures['landmarks_total']} landmarks triangulated "
          f"({figures['views_per_landmark']:.2f} views each), {figures['fps']:.0f} fps")
    axis = "xyz"[int(np.argmax(np.abs(figures["up_axis"])))]
    sign = "+" if max(figures["up_axis"], key=abs) > 0 else "-"
    print(f"world up = {sign}{axis} (hip -> shoulder), floor at {figures['floor_m']:+.3f} m along it")
    print(f"{'camera':<8}{'median reproj px':>18}{'% of box':>10}{'dropped':>9}{'height above floor m':>22}")
    for v, (cam, height) in enumerate(zip(cameras, heights)):
        px = figures["median_reprojection_px"][v]
        print(f"{cam.name:<8}{px:>18.1f}{100 * px / figures['box_height_px'][v]:>9.1f}%"
              f"{100 * figures['dropped_share'][v]:>8.1f}%{height:>22.3f}")


def load_reference(folder: Path) -> Tuple[List[CameraCalibration], KeypointSet, Reference]:
    """The cameras, the consistent four-view detections and their triangulated reference."""
    cameras = load_cameras(folder)
    kps = consistent_keypoints(folder, cameras)
    return cameras, kps, build_reference(kps, cameras)

"""The capture job: footage -> BlazePose per frame -> initial estimate (regressor) -> ScoreHMR refinement ->
result ``.npz``. Several synchronised clips of one performance make a multi-view capture.

Stages (reported through ``progress``): open, camera (whether the camera turns: :mod:`server.camera_motion.follow`;
a turning camera is then followed by the detectors, frame by frame beside BlazePose), search (finding the people,
when no person is given), detect (one unit per frame and view; with ``options.hands`` the first view's detectors
find the hands too), regress, refine, place, fingers (with ``options.hands``: :mod:`server.hands.stage`), write.
The result schema is documented in docs/cli.md ("Result file").
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np

from .. import video
from ..checks import check_capture_options, check_not_an_input
from ..detection.chunks import Detections
from ..detection.clip_pass import detect_footage
from ..detection.pool import default_detectors
from ..errors import Cancelled, JobError
from ..options import SHAPE_HINT, CaptureOptions
from ..result import CaptureSummary, ResultFile

if TYPE_CHECKING:
    from ..camera_motion.follow import CameraPlan
    from ..fitting.state import Observations
    from ..refine.pipeline import Models, PipelineSettings

log = logging.getLogger(__name__)

# The fit runs after detection, when the detector processes have left the cores free: two torch threads there
# measured 1.37 -> 1.04 s of refinement on the sample clip (one thread stays the default of a fit beside a detector).
REFINE_THREADS = min(2, default_detectors())

ProgressFn = Callable[[str, int, int, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class CaptureRequest:
    """One capture job: frames ``start <= i < end`` of ``video`` (``end`` < 0: to the end) -> ``output``, made as
    ``options`` say (:class:`server.options.CaptureOptions`: validated when it was built).

    ``body_model``: an official SMPL model file, or empty for the built-in open body. ``views``: further clips
    of the same performance, synchronised with ``video`` frame for frame (multi-view capture). ``calibration``
    (multi-view): a calibration file of the cameras (:func:`server.fitting.calibration.read_calibration`); the views'
    cameras are then fixed and the body is fitted in one world frame. ``options.place`` steadies the root depth and
    finds the ground, the foot contacts and the camera height; ``options.lock_feet`` then holds the feet still
    during contacts at ``options.foot_strength`` (:mod:`server.world.capture_world`).
    """

    video: str
    output: str
    start: int = 0
    end: int = -1
    body_model: str = ""
    views: Tuple[str, ...] = ()
    person: int = -1                                  # 1-based id of :mod:`server.detection.listing`; < 1: most visible
    person_boxes: Tuple[Tuple[float, ...], ...] = ()  # [frame, x0, y0, x1, y1] rows: follow them (no discovery)
    calibration: str = ""                             # multi-view: the cameras' calibration (Pose2Sim TOML, QCA)
    options: CaptureOptions = CaptureOptions()
    detectors: int = 0                                # BlazePose processes (0: one per core, at most 4)
    threads: int = 0                                  # torch threads of the fit (0: REFINE_THREADS)


def run_capture(request: CaptureRequest, progress: ProgressFn, cancelled: CancelFn) -> CaptureSummary:
    """Run one capture job end to end and write its ``.npz``; raise :class:`JobError` on user-facing failures."""
    check_capture_request(request)
    timings = {"open": 0.0, "decode": 0.0, "detect": 0.0, "regress": 0.0, "refine": 0.0, "camera": 0.0, "place": 0.0,
               "write": 0.0}
    tick = time.perf_counter()
    progress("open", 0, 1, os.path.basename(request.video))
    info = video.probe(request.video)
    start, stop = video.resolve_range(info, request.start, request.end)
    others = [_probe_view(path, start, stop) for path in request.views]
    cameras = _cameras(request)
    progress("open", 1, 1, f"{info.width}x{info.height} @ {info.fps:.2f} fps, frames {start}..{stop - 1}"
             + (f", {1 + len(others)} views" if others else ""))

    def load() -> "Tuple[PipelineSettings, Models]":  # beside detection: a bad model file fails it in a second
        began = time.perf_counter()
        loaded = _settings(request), _load_models(request.body_model)
        if not request.options.shape.empty and loaded[1].body.phenotype is None:   # before the fit, not after it
            raise JobError("bad_request", f"The body model {loaded[1].body.name} has no phenotype map, so its "
                           "height, gender, weight and muscle cannot be set.",
                           SHAPE_HINT)
        loaded[1].preload(loaded[0])
        log.info("settings and models loaded in %.1f s, beside detection", time.perf_counter() - began)
        return loaded

    processed = stop - start
    timings["open"] = time.perf_counter() - tick
    focal = _focal(request, info)
    plan = _plan_camera(request, info, start, stop, focal, progress, cancelled, timings)
    (found, *extra), crossing_notes, (settings, models) = detect_footage(
        [info] + others, start, stop, request.person, request.person_boxes, request.detectors or default_detectors(),
        progress, cancelled, timings, load, camera=plan.looks if plan is not None else None,
        hands=request.options.hands)
    log.info("person found in %d of %d frames", len(found.frame_indices), processed)
    if cancelled():
        raise Cancelled()

    arrays = _estimate(found, extra, info, models, settings, progress, cancelled, timings, cameras, focal)
    arrays["frame_range"] = np.array([start, stop], dtype=np.int32)
    if cancelled():
        raise Cancelled()
    camera_notes = _follow_camera(arrays, plan, found, info, start, progress, timings)
    if request.views and request.options.camera == "moving":
        camera_notes.append("Multi-view captures take every camera as fixed; Camera: Moving was not used.")
    notes = _place(arrays, models, request, progress, cancelled, timings) if request.options.place else []
    if request.options.hands:
        notes += _fingers(arrays, found, models, progress, timings)

    tick = time.perf_counter()
    progress("write", 0, 1, "")
    ResultFile.made(arrays, request.output).write(request.output)
    timings["write"] = time.perf_counter() - tick
    progress("write", 1, 1, "")
    return CaptureSummary(path=os.path.abspath(request.output), frames=len(found.frame_indices),
                          processed=processed, timings=timings, notes=crossing_notes + camera_notes + notes)


def check_capture_request(request: CaptureRequest) -> None:
    """Before any work: the range, person and detectors in their ranges (:data:`server.checks.OPTIONS`; the
    capture's options were checked when they were built) and the output none of the inputs; raises
    :class:`JobError` ``bad_request`` naming the option or file."""
    check_capture_options(vars(request))
    check_not_an_input(request.output, [request.video, *request.views, request.calibration, request.body_model],
                       flag="The output")


def _focal(request: CaptureRequest, info: video.VideoInfo) -> Optional[float]:
    """The first clip's focal length in pixels: the user's (``options.focal_mm``), else the video's metadata, else
    None (the default ``max(width, height)``; a calibration's own replaces any of them)."""
    from ..camera_motion.lens import focal_pixels, metadata_focal_mm
    focal_mm = request.options.focal_mm or metadata_focal_mm(request.video) or 0.0
    return focal_pixels(info.width, info.height, focal_mm) if focal_mm else None


def _plan_camera(request: CaptureRequest, info: video.VideoInfo, start: int, stop: int, focal: Optional[float],
                 progress: ProgressFn, cancelled: CancelFn, timings: Dict[str, float]) -> "Optional[CameraPlan]":
    """Before detection, the camera stage's plan (:func:`server.camera_motion.follow.plan_camera`; None: Camera is
    Static, or a multi-view capture, whose cameras are fixed). Raises Cancelled between the frames it decodes."""
    if request.options.camera == "static" or request.views:
        return None
    from ..camera_motion.follow import plan_camera
    from ..result import camera_intrinsics

    tick = time.perf_counter()
    progress("camera", 0, 1, "checking whether the camera turns")

    def frame_at(index: int) -> Optional[np.ndarray]:
        if cancelled():
            raise Cancelled()
        found = next(video.iter_frames(info.path, start + index, start + index + 1), None)
        return None if found is None else cast(np.ndarray, found[1])

    plan = plan_camera(request.options.camera, frame_at, start, stop - start,
                       camera_intrinsics(info.width, info.height, focal).astype(np.float64))
    timings["camera"] = time.perf_counter() - tick
    if cancelled():
        raise Cancelled()
    progress("camera", 1, 1, "the camera turns: following it" if plan.looks is not None else "the camera stands still")
    return plan


def _follow_camera(arrays: Dict[str, Any], plan: "Optional[CameraPlan]", found: Detections, info: video.VideoInfo,
                   start: int, progress: ProgressFn, timings: Dict[str, float]) -> List[str]:
    """The camera stage's end (:mod:`server.camera_motion.follow`) on the result ``arrays`` (updated in place: the
    root in the first frame's camera frame, ``camera_rotation`` and ``camera_confidence`` added when the camera
    turned; the chunks' pieces came with the detections) -> user-facing notes. Raises JobError ``camera_lost``
    naming the frame where the camera could not be followed."""
    if plan is None or plan.looks is None:
        return list(plan.notes) if plan is not None else []
    from ..camera_motion.follow import CameraLost, camera_motion, points_to_first_frame, to_first_frame
    from ..camera_motion.matching import rotation_angle

    tick = time.perf_counter()
    try:
        motion, notes = camera_motion(found.camera, plan.looks)
    except CameraLost as exc:
        frame = start + exc.frame + 1
        raise JobError("camera_lost", f"The camera's turn could not be followed at frame {frame} of "
                       f"{os.path.basename(info.path)}: a cut, a whip pan too fast to follow, or a view with nothing "
                       "to match (a bare wall, the person filling it).",
                       f"Capture the clip in parts split at frame {frame}, or set Camera to Static.") from exc
    rows = np.asarray(arrays["frame_indices"]) - start
    rotations = motion.rotations[rows]
    joints_rest = np.asarray(arrays["joints_rest"], np.float64)
    arrays["poses"], arrays["transl"] = to_first_frame(arrays["poses"], arrays["transl"], joints_rest[0], rotations)
    arrays["world_landmarks"] = points_to_first_frame(arrays["world_landmarks"], rotations)
    arrays["camera_rotation"] = rotations.astype(np.float32)
    arrays["camera_confidence"] = motion.confidence[rows].astype(np.float32)
    timings["camera"] = timings.get("camera", 0.0) + time.perf_counter() - tick
    timings["camera_chain"] = found.camera_seconds    # the detectors' own seconds at it, all together (within detect)
    degrees = float(rotation_angle(rotations, np.eye(3)).max())
    progress("camera", 1, 1, f"the camera turned up to {degrees:.0f} degrees")
    return list(plan.notes + notes)


def _place(arrays: Dict[str, np.ndarray], models: "Models", request: CaptureRequest, progress: ProgressFn,
           cancelled: CancelFn, timings: Dict[str, float]) -> List[str]:
    """The place stage on the result ``arrays`` (updated in place) -> user-facing notes."""
    from ..world.capture_world import place_capture

    tick = time.perf_counter()
    progress("place", 0, 1, "finding the ground")
    report_steps = lambda done, total: progress("place", done, total, "locking the feet")  # noqa: E731
    placed, report = place_capture(arrays, models.body, request.options.lock_feet, request.options.foot_strength, report_steps,
                                   cancelled)
    arrays.update(placed)
    timings["place"] = time.perf_counter() - tick
    if report.placement is None:
        progress("place", 1, 1, "no ground found")
        return [report.note]
    detail = f"camera {report.placement.camera_height:.2f} m above the ground"
    if request.options.lock_feet and not report.note:
        detail += f", foot sliding {report.sliding_before:.1f} -> {report.sliding_after:.1f} cm/frame"
    progress("place", 1, 1, detail)
    return [report.note] if report.note else []


def _fingers(arrays: Dict[str, Any], found: Detections, models: "Models", progress: ProgressFn,
             timings: Dict[str, float]) -> List[str]:
    """The fingers stage (:func:`server.hands.stage.add_fingers`) on the result ``arrays`` (updated in place) ->
    user-facing notes. ``timings``: ``fingers`` the fit, ``hands`` the detectors' seconds at the hands (within
    detect, all detectors together)."""
    from ..detection.hands import HandsFrame, HandTrack
    from ..hands.stage import add_fingers

    tick = time.perf_counter()
    progress("fingers", 0, 1, "fitting the fingers")
    hands = found.hands if found.hands is not None else HandTrack.of([HandsFrame.empty()] * len(arrays["poses"]))
    notes = add_fingers(arrays, hands, models.body)
    looked = hands.confidence[hands.looked]
    seen = float((looked > 0).any(axis=1).mean()) if len(looked) else 0.0
    timings["fingers"] = time.perf_counter() - tick
    timings["hands"] = found.hands_seconds
    progress("fingers", 1, 1, f"a hand seen on {100 * seen:.0f}% of the frames looked at" if not notes else
             "no fingers")
    return notes


def run_detect(videos: List[str], output: str, start: int, end: int, progress: ProgressFn,
               cancelled: CancelFn, person: int = -1, detectors: int = 0) -> CaptureSummary:
    """Detection only: one or several synchronised clips -> a keypoints file (:mod:`server.detection.keypoints_file`) with
    one view per clip; a frame where a view saw nobody has confidence 0 in that view. Frames where the first
    clip saw nobody are left out. ``person``, ``detectors``: as in :class:`CaptureRequest`."""
    from ..detection.keypoints_file import save_keypoints

    timings = {"open": 0.0, "decode": 0.0, "detect": 0.0, "write": 0.0}
    info = video.probe(videos[0])
    start, stop = video.resolve_range(info, start, end)
    infos = [info] + [_probe_view(path, start, stop) for path in videos[1:]]
    found, notes, _ = detect_footage(infos, start, stop, person, (), detectors or default_detectors(), progress,
                                     cancelled, timings)
    aligned = [_align_view(found[0], f) for f in found]
    tick = time.perf_counter()
    save_keypoints(output, np.stack([a[0] for a in aligned]), np.array([[i.width, i.height] for i in infos]),
                   world=np.stack([a[1][..., :3] for a in aligned]), fps=info.fps,
                   frame_indices=np.array(found[0].frame_indices))
    timings["write"] = time.perf_counter() - tick
    return CaptureSummary(path=os.path.abspath(output), frames=len(found[0].frame_indices), processed=stop - start,
                          timings=timings, notes=notes)


def _probe_view(path: str, start: int, stop: int) -> video.VideoInfo:
    """A further view of a multi-view capture; it must cover the same frames as the first clip."""
    info = video.probe(path)
    if info.frame_count and info.frame_count < stop:
        raise JobError("bad_request", f"{os.path.basename(path)} has {info.frame_count} frames; the multi-view "
                       f"capture needs frames {start}..{stop - 1} in every clip.",
                       "Trim the clips so they start together and cover the same frames.")
    return info


def _settings(request: CaptureRequest) -> "PipelineSettings":
    from ..refine.pipeline import PipelineSettings
    return PipelineSettings.from_options(request.options, mode="multiview" if request.views else "video",
                                         threads=request.threads or REFINE_THREADS)


def _load_models(path: str) -> "Models":
    """The user's SMPL file, or the built-in open body, with the trained networks (loaded on first use);
    raises JobError ``bad_body_model`` with a hint."""
    from ..body.model import default_body_model_path, load_body_model
    from ..refine.pipeline import Models

    model = load_body_model(path or default_body_model_path())
    log.info("body model %s (%d vertices) from %s", model.name, model.num_vertices, model.source)
    return Models(model, is_builtin=not path)


def _observations(image: np.ndarray, world: Optional[np.ndarray], info: video.VideoInfo,
                  frames: Sequence[int], focal: Optional[float] = None) -> "Observations":
    import torch
    from ..fitting.state import Observations
    return Observations.from_image(torch.from_numpy(image), info.width, info.height, focal,
                                   world=None if world is None else torch.from_numpy(world),
                                   frames=torch.tensor(list(frames), dtype=torch.int64), fps=info.fps)


def _align_view(found: Detections, other: Detections) -> Tuple[np.ndarray, np.ndarray]:
    """A view's detections on the first view's frames: (N, 33, 3) keypoints, (N, 33, 4) world, float32; frames
    where that view saw nobody get confidence 0 (the fit ignores them there). ``other`` may be ``found`` itself."""
    rows = {index: i for i, index in enumerate(other.frame_indices)}
    n = len(found.frame_indices)
    image, world = np.zeros((n, 33, 3), np.float32), np.zeros((n, 33, 4), np.float32)
    for row, index in enumerate(found.frame_indices):
        if index in rows:
            image[row], world[row] = other.image[rows[index]], other.world[rows[index]]
    return image, world


def _cameras(request: CaptureRequest) -> Optional[list]:
    """The calibrated cameras of a multi-view capture, one per clip (None without a calibration); raises
    JobError ``bad_calibration`` with what to do (a :class:`server.fitting.calibration.CalibrationError` is one)."""
    if not request.calibration:
        return None
    from ..fitting.calibration import match_cameras, read_calibration
    if not request.views:
        raise JobError("bad_request", "A camera calibration needs a multi-view capture.",
                       "Add the other cameras' clips, or clear the calibration file.")
    try:
        return match_cameras(read_calibration(request.calibration), [request.video, *request.views])
    except OSError as exc:
        raise JobError("bad_calibration", f"Cannot read the calibration {request.calibration}: {exc}.",
                       "Pick the calibration file again.") from exc


def _estimate(found: Detections, extra: List[Detections], info: video.VideoInfo, models: "Models",
              settings: "PipelineSettings", progress: ProgressFn, cancelled: CancelFn,
              timings: Dict[str, float], cameras: Optional[list] = None,
              focal: Optional[float] = None) -> Dict[str, Any]:
    """Detections -> the pipeline (regression, refinement) -> every array the result schema names. ``cameras``:
    the views' calibrations (:func:`_cameras`): keypoints undistorted, focal lengths and principal points taken
    from them, the body fitted in one world frame; else ``focal`` (pixels; None: the default) for every view."""
    from ..refine.output import result_arrays
    from ..refine.pipeline import run_pipeline

    aligned = [_align_view(found, f) for f in [found] + extra]
    views = [_observations(kp, wl[..., :3], info, found.frame_indices, focal) for kp, wl in aligned]
    extrinsics, metric = None, None
    if cameras is not None:
        from ..refine.calibrated import calibrated_observations, extrinsics_of, triangulated_landmarks
        try:
            views = [calibrated_observations(v, c) for v, c in zip(views, cameras)]
        except ValueError as exc:
            raise JobError("bad_calibration", f"The calibration does not fit the clips: {exc}.",
                           "Use the calibration made for these cameras at this resolution.") from exc
        extrinsics, focal = [extrinsics_of(c) for c in cameras], float(views[0].focal[0])
        metric = triangulated_landmarks([kp for kp, _ in aligned], cameras)
    views = [v.in_camera_axes() for v in views]
    out = run_pipeline(models, views, settings, progress, cancelled, extrinsics, metric)
    timings.update(out.seconds)
    arrays: Dict[str, Any] = result_arrays(models.body, out, info.width, info.height, info.fps, focal)
    world = aligned[0][1].copy()
    if views[0].world is not None:
        world[..., :3] = views[0].world.numpy()
    arrays.update({"frame_indices": np.array(found.frame_indices, dtype=np.int32), "keypoints_2d": aligned[0][0],
                   "world_landmarks": world, "source_video": np.array(info.path),
                   "frame_count": np.int32(info.frame_count)})
    return arrays

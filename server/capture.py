"""The capture job: footage -> BlazePose per frame -> body shape + analytic SMPL solve -> result ``.npz``.

Stages (reported through ``progress``): open, detect (one unit per frame), solve, write.
The result schema is documented in the README ("Result file").
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List

import numpy as np

from . import video
from .body.layout import SMPL_JOINT_NAMES, SMPL_PARENTS
from .errors import Cancelled, JobError

if TYPE_CHECKING:
    from .body.model import BodyModel

log = logging.getLogger(__name__)

RESULT_SCHEMA_VERSION = 2
NUM_BETAS = 10

ProgressFn = Callable[[str, int, int, str], None]
CancelFn = Callable[[], bool]


@dataclass(frozen=True)
class CaptureRequest:
    """One capture job: frames ``start <= i < end`` of ``video`` (``end`` < 0: to the end) -> ``output``.

    ``body_model``: an official SMPL model file, or empty for the built-in open body.
    """

    video: str
    output: str
    start: int = 0
    end: int = -1
    body_model: str = ""


@dataclass
class CaptureSummary:
    """What a finished job reports: the result path, frames with a person, seconds per stage."""

    path: str
    frames: int
    processed: int
    timings: Dict[str, float] = field(default_factory=dict)


@dataclass
class Detections:
    """Per-frame detector output gathered over the clip (only frames where a person was found)."""

    frame_indices: List[int] = field(default_factory=list)
    image: List[np.ndarray] = field(default_factory=list)
    world: List[np.ndarray] = field(default_factory=list)


def camera_intrinsics(width: int, height: int) -> np.ndarray:
    """(3, 3) pinhole K with the stated focal-length assumption ``f = max(width, height)`` pixels.

    That is a ~53 degree field of view across the long side, typical of phone and action cameras;
    only the root's distance from the camera depends on it.
    """
    focal = float(max(width, height))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float32)


def _detect(info: video.VideoInfo, start: int, stop: int, progress: ProgressFn, cancelled: CancelFn,
            timings: Dict[str, float]) -> Detections:
    """Run BlazePose over the range, checking for cancel between frames; fills decode/detect timings."""
    from .detect import FollowingDetector

    found = Detections()
    total = stop - start
    frames = video.iter_frames(info.path, start, stop)
    with FollowingDetector() as detector:
        done = 0
        while True:
            if cancelled():
                raise Cancelled()
            tick = time.perf_counter()
            item = next(frames, None)
            timings["decode"] += time.perf_counter() - tick
            if item is None:
                break
            index, rgb = item
            tick = time.perf_counter()
            observation = detector.detect(rgb)
            timings["detect"] += time.perf_counter() - tick
            if observation is not None:
                found.frame_indices.append(index)
                found.image.append(observation.image)
                found.world.append(observation.world)
            done += 1
            progress("detect", done, total, f"frame {index}")
    return found


def run_capture(request: CaptureRequest, progress: ProgressFn, cancelled: CancelFn) -> CaptureSummary:
    """Run one capture job end to end and write its ``.npz``; raise :class:`JobError` on user-facing failures."""
    timings = {"open": 0.0, "decode": 0.0, "detect": 0.0, "solve": 0.0, "write": 0.0}
    tick = time.perf_counter()
    progress("open", 0, 1, os.path.basename(request.video))
    info = video.probe(request.video)
    start, stop = video.resolve_range(info, request.start, request.end)
    model = _load_body(request.body_model)  # before detection: a bad model file fails in a second, not a minute
    timings["open"] = time.perf_counter() - tick
    progress("open", 1, 1, f"{info.width}x{info.height} @ {info.fps:.2f} fps, frames {start}..{stop - 1}")

    found = _detect(info, start, stop, progress, cancelled, timings)
    processed = stop - start
    if not found.frame_indices:
        raise JobError("no_person", f"No person was found in frames {start}..{stop - 1} of {info.path}.",
                       "Check the frame range, or use footage where the whole body is visible.")
    log.info("person found in %d of %d frames", len(found.frame_indices), processed)
    if cancelled():
        raise Cancelled()

    tick = time.perf_counter()
    progress("solve", 0, 1, "solving body pose")
    arrays = _solve(found, info, model)
    timings["solve"] = time.perf_counter() - tick
    progress("solve", 1, 1, "")
    if cancelled():
        raise Cancelled()

    tick = time.perf_counter()
    progress("write", 0, 1, "")
    write_result(request.output, arrays)
    timings["write"] = time.perf_counter() - tick
    progress("write", 1, 1, "")
    return CaptureSummary(path=os.path.abspath(request.output), frames=len(found.frame_indices),
                          processed=processed, timings=timings)


def _load_body(path: str) -> "BodyModel":
    """The user's SMPL file, or the built-in open body; raises JobError ``bad_body_model`` with a hint."""
    from .body.model import default_body_model_path, load_body_model

    model = load_body_model(path or default_body_model_path())
    log.info("body model %s (%d vertices) from %s", model.name, model.num_vertices, model.source)
    return model


def _solve(found: Detections, info: video.VideoInfo, model: "BodyModel") -> Dict[str, np.ndarray]:
    """Body shape from the clip, analytic initial estimate (``server.solve``) on that body, packed with
    everything the result schema names."""
    from .body.model import shaped_vertices
    from .body.shape_fit import fit_body_shape
    from .solve import solve_poses, solve_translation

    image = np.stack(found.image).astype(np.float32)    # (N, 33, 3)
    world = np.stack(found.world).astype(np.float32)    # (N, 33, 4)
    K = camera_intrinsics(info.width, info.height)
    betas = fit_body_shape(model, world, NUM_BETAS)
    vertices = shaped_vertices(model, betas)            # (V, 3) rest mesh of this body
    rest = model.J_regressor @ vertices                 # (24, 3) its joints
    poses = solve_poses(world, rest, model.landmark_regressor @ vertices)
    transl = solve_translation(image, world, poses, rest, K)
    return {
        "schema_version": np.int32(RESULT_SCHEMA_VERSION),
        "poses": poses.astype(np.float32),
        "betas": betas.astype(np.float32),
        "transl": transl.astype(np.float32),
        "joints_rest": rest.astype(np.float32),
        "mesh_vertices": vertices.astype(np.float32),
        "mesh_faces": model.faces.astype(np.int32),
        "skin_weights": model.weights.astype(np.float32),
        "body_model": np.array(model.name),
        "parents": np.array(SMPL_PARENTS, dtype=np.int32),
        "joint_names": np.array(SMPL_JOINT_NAMES, dtype="<U16"),
        "fps": np.float32(info.fps),
        "frame_indices": np.array(found.frame_indices, dtype=np.int32),
        "keypoints_2d": image,
        "world_landmarks": world,
        "image_size": np.array([info.width, info.height], dtype=np.int32),
        "camera_intrinsics": K,
        "source_video": np.array(info.path),
        "frame_count": np.int32(info.frame_count),
    }


def write_result(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file, then rename), so a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, path)

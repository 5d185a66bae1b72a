"""Keypoints files: 2D detections in BlazePose's 33-landmark format, from our detector or anyone's.

Format (``.npz``, read with ``allow_pickle=False``); V views (synchronised cameras), N frames:

| key | shape | meaning |
|---|---|---|
| ``keypoints`` (or ``keypoints_2d``) | (N, 33, 3) or (V, N, 33, 3) | x, y pixels, confidence 0..1 |
| ``image_size`` | (2,) or (V, 2) | width, height in pixels |
| ``world_landmarks`` | optional, like keypoints with 3 or 4 columns | BlazePose metric landmarks (metres) |
| ``focal`` | optional () or (V,) | pixels; default max(width, height); else ``camera_intrinsics[0, 0]`` |
| ``fps`` | optional () | frames per second (default 30) |
| ``frame_indices`` | optional (N,) | source frame of each row (default 0..N-1) |

A capture result file is a valid keypoints file (``keypoints_2d``, ``world_landmarks``, ``camera_intrinsics``).
Documented fallbacks (logged, never silent): a landmark with a NaN coordinate or confidence is treated as missing
(confidence 0); frames with fewer than :data:`MIN_LANDMARKS` landmarks of confidence >= 0.3 in every view are left
out of the result, as capture leaves out frames with no person. Everything else that is wrong is a ``bad_keypoints``
error naming the key and the expected shape.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

from ..body.layout import NUM_LANDMARKS
from ..errors import JobError
from ..files import kind_problem, read_npz

log = logging.getLogger(__name__)

MIN_LANDMARKS = 6          # a frame needs this many landmarks of confidence >= USABLE_CONFIDENCE (in some view)
USABLE_CONFIDENCE = 0.3
DEFAULT_FPS = 30.0
NUMERIC_KEYS = ("keypoints", "keypoints_2d", "image_size", "world_landmarks", "focal", "camera_intrinsics", "fps",
                "frame_indices")
FORMAT_HINT = ("A keypoints file is an .npz with 'keypoints' (N, 33, 3) or (views, N, 33, 3) in BlazePose order "
               "(x, y in pixels, confidence 0..1) and 'image_size' (width, height); see docs/cli.md.")


def _fail(message: str) -> JobError:
    return JobError("bad_keypoints", message, FORMAT_HINT)


@dataclass(frozen=True)
class KeypointSet:
    """Validated detections: keypoints (V, N, 33, 3) float32; world (V, N, 33, 3) float32 or None; image_size
    (V, 2) float32; focal (V,) float32; fps; frame_indices (N,) int32 of the frames kept; ``dropped`` frames."""

    keypoints: np.ndarray
    world: Optional[np.ndarray]
    image_size: np.ndarray
    focal: np.ndarray
    fps: float
    frame_indices: np.ndarray
    dropped: int = 0

    @property
    def num_views(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[1])


def _read(path: str) -> Dict[str, np.ndarray]:
    """Every array of the keypoints file (no pickles), each of numbers; else JobError ``bad_keypoints``."""
    arrays = read_npz(path, "keypoints file", "bad_keypoints", FORMAT_HINT)
    for key, value in arrays.items():
        held = kind_problem(value) if key in NUMERIC_KEYS else None
        if held is not None:
            raise _fail(f"'{key}' in {path} holds {held} where numbers belong.")
    return arrays


def _per_view(value: np.ndarray, views: int, tail: tuple, key: str) -> np.ndarray:
    """(*tail) or (V, *tail) -> (V, *tail) float64."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == tail:
        arr = np.broadcast_to(arr, (views, *tail))
    if arr.shape != (views, *tail):
        raise _fail(f"'{key}' must have shape {tail} or ({views}, {', '.join(map(str, tail))}), got {value.shape}.")
    return np.array(arr)


def _as_views(value: np.ndarray, key: str, columns: tuple) -> np.ndarray:
    """(N, 33, C) or (V, N, 33, C) -> (V, N, 33, C) float64, C in ``columns``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise _fail(f"'{key}' must be numeric, got dtype {arr.dtype}.")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[2] != NUM_LANDMARKS or arr.shape[3] not in columns:
        raise _fail(f"'{key}' must be (N, {NUM_LANDMARKS}, {'|'.join(map(str, columns))}) or "
                    f"(views, N, {NUM_LANDMARKS}, ...), got {arr.shape}.")
    if arr.shape[1] == 0:
        raise _fail(f"'{key}' has no frames.")
    return arr.astype(np.float64)


def _focal(data: Dict[str, Any], views: int, size: np.ndarray) -> np.ndarray:
    if "focal" in data:
        focal = _per_view(data["focal"], views, (), "focal")
    elif "camera_intrinsics" in data:
        focal = _per_view(data["camera_intrinsics"], views, (3, 3), "camera_intrinsics")[:, 0, 0]
    else:
        focal = size.max(-1)
    if not np.all(np.isfinite(focal)) or np.any(focal <= 0):
        raise _fail(f"the focal length must be positive pixels, got {focal.tolist()}.")
    return focal


def _frame_indices(data: Dict[str, Any], frames: int) -> np.ndarray:
    """``frame_indices`` (default 0..N-1): ``frames`` whole frame numbers of 0 or more."""
    indices = np.asarray(data.get("frame_indices", np.arange(frames)))
    if indices.shape != (frames,):
        raise _fail(f"'frame_indices' must be ({frames},), got {indices.shape}.")
    if not (np.all(np.isfinite(indices)) and np.all(indices == np.round(indices)) and np.all(indices >= 0)):
        raise _fail("'frame_indices' must be whole frame numbers of 0 or more.")
    return indices


def load_keypoints(path: str) -> KeypointSet:
    """Read and validate a keypoints file (format in the module docstring); raises JobError ``bad_keypoints``."""
    data = _read(path)
    key = "keypoints" if "keypoints" in data else "keypoints_2d" if "keypoints_2d" in data else None
    if key is None:
        raise _fail(f"{path} has no 'keypoints' array (keys: {sorted(data)}).")
    kp = _as_views(data[key], key, (3,))
    views, frames = kp.shape[:2]
    if "image_size" not in data:
        raise _fail(f"{path} has no 'image_size' (width, height).")
    size = _per_view(data["image_size"], views, (2,), "image_size")
    if not np.all(np.isfinite(size)) or np.any(size < 1):
        raise _fail(f"'image_size' must be positive pixels, got {size.tolist()}.")
    world = None
    if "world_landmarks" in data:
        world = _as_views(data["world_landmarks"], "world_landmarks", (3, 4))[..., :3]
        if world.shape[:2] != (views, frames):
            raise _fail(f"'world_landmarks' covers {world.shape[:2]} (views, frames), 'keypoints' {(views, frames)}.")
    fps_array = np.asarray(data.get("fps", DEFAULT_FPS))
    if fps_array.size != 1 or fps_array.dtype.kind not in "fiu":
        raise _fail(f"'fps' must be one number, got {fps_array.dtype} of shape {fps_array.shape}.")
    fps = float(fps_array.reshape(()))
    if not np.isfinite(fps) or fps <= 0:
        raise _fail(f"'fps' must be positive, got {fps}.")
    indices = _frame_indices(data, frames)

    conf = kp[..., 2]
    finite_conf = conf[np.isfinite(conf)]
    if finite_conf.size and (finite_conf.min() < -1e-6 or finite_conf.max() > 1.0 + 1e-6):
        raise _fail(f"confidence (column 3 of '{key}') must be within 0..1, got {finite_conf.min():.3g}.."
                    f"{finite_conf.max():.3g}.")
    bad = ~np.isfinite(kp).all(-1)
    if world is not None:
        bad_world = ~np.isfinite(world).all(-1)
        world[bad_world] = 0.0
        bad |= bad_world
    if bad.any():
        log.warning("%d landmark(s) with NaN/inf values are treated as missing (confidence 0)", int(bad.sum()))
        kp[bad] = 0.0
    kp[..., 2] = np.clip(kp[..., 2], 0.0, 1.0)
    usable = ((kp[..., 2] >= USABLE_CONFIDENCE).sum(-1) >= MIN_LANDMARKS).any(0)   # (N,) in some view
    if not usable.any():
        raise JobError("bad_keypoints", f"No frame of {path} has {MIN_LANDMARKS} or more landmarks with confidence "
                       f">= {USABLE_CONFIDENCE} (all-zero confidence?).",
                       "Check that the third column holds the detector's confidence, not zeros.")
    dropped = int((~usable).sum())
    if dropped:
        log.warning("%d of %d frames have too few confident landmarks and are left out", dropped, frames)
    return KeypointSet(keypoints=kp[:, usable].astype(np.float32),
                       world=None if world is None else world[:, usable].astype(np.float32),
                       image_size=size.astype(np.float32), focal=_focal(data, views, size).astype(np.float32),
                       fps=fps, frame_indices=indices[usable].astype(np.int32), dropped=dropped)


def save_keypoints(path: str, keypoints: np.ndarray, image_size: np.ndarray, world: Optional[np.ndarray] = None,
                   focal: Optional[np.ndarray] = None, fps: float = DEFAULT_FPS,
                   frame_indices: Optional[np.ndarray] = None) -> None:
    """Write a keypoints file (shapes as in the module docstring) atomically."""
    from ..result import write_result
    arrays: Dict[str, Any] = {"keypoints": np.asarray(keypoints, np.float32),
                              "image_size": np.asarray(image_size, np.float32), "fps": np.float32(fps)}
    if world is not None:
        arrays["world_landmarks"] = np.asarray(world, np.float32)
    if focal is not None:
        arrays["focal"] = np.asarray(focal, np.float32)
    if frame_indices is not None:
        arrays["frame_indices"] = np.asarray(frame_indices, np.int32)
    write_result(path, arrays)

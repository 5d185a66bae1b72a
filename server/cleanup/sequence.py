"""Pose sequences for motion cleanup: reading and writing the result schema (docs/cli.md, "Result file"), masks.

A :class:`MotionSequence` is N frames of SMPL poses (axis-angle, SMPL joint order), the root translation, the body
shape and a per-frame, per-joint confidence in [0, 1] (1 trusted, 0 unknown: the cleanup completes such joints from
the prior instead of fitting them). ``root_frame`` says what the root orientation maps SMPL's canonical body frame
into: "camera" (capture results: OpenCV camera, y down) or "world" (SMPL's canonical world frame, y up, as in
AMASS files and hand-keyed animation).

NaN handling: a frame whose pose or translation has NaN entries keeps its finite joints; every joint with a NaN
rotation (and, for a NaN translation, the whole frame) gets confidence 0 and its values are filled (rest rotation,
the nearest finite translation) so the cleanup completes them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from ..body.layout import HAND_SMPL_JOINTS, JOINT_INDEX, NUM_FINGERED_JOINTS, NUM_JOINTS
from ..errors import JobError
from ..files import kind_problem, read_npz
from ..result import (REQUIRED_KEYS, RESULT_SCHEMA_VERSION, SUPPORTED_SCHEMAS, ResultFile, non_finite_keys,
                      write_result)

log = logging.getLogger(__name__)

ROOT_FRAMES = ("camera", "world")
SCHEMA_HINT = ("Use a result file of a capture (docs/cli.md, 'Result file'): poses (N, 24, 3) axis-angle, transl (N, 3), "
               "betas (10,), fps, with at least 2 frames.")
MASK_HINT = "A mask file holds 'confidence' (N, 24), (N,) or (24,) in [0, 1], or 'joints': SMPL joint names to drop."


@dataclass(frozen=True)
class MotionSequence:
    """poses (N, 24, 3) float32 axis-angle; transl (N, 3) float32 metres; betas (B,) float32; fps; confidence
    (N, 24) float32 in [0, 1]; root_frame "camera" | "world" (see the module docstring)."""

    poses: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    fps: float
    confidence: np.ndarray
    root_frame: str = "camera"

    def __len__(self) -> int:
        return int(self.poses.shape[0])


def _bad(message: str, hint: str = SCHEMA_HINT) -> JobError:
    return JobError("bad_request", message, hint)


def _numbers(value: object, key: str, source: str, hint: str = SCHEMA_HINT) -> np.ndarray:
    """``value`` as a float32 array; text, Python objects, complex numbers or records -> JobError naming ``key``."""
    held = kind_problem(value)
    if held is not None:
        raise _bad(f"{source}: '{key}' holds {held} where numbers belong.", hint)
    return np.asarray(value, dtype=np.float32)


def _scalar(value: object, key: str, source: str) -> float:
    """One number stored as an array (``fps``) -> float; anything else -> JobError naming ``key``."""
    array = _numbers(value, key, source)
    if array.size != 1:
        raise _bad(f"{source}: '{key}' must be one number, got {array.size} values of shape {array.shape}.")
    return float(array.reshape(()))


def _fill_translation(transl: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(N, 3) with rows ``ok`` (N,) finite -> (N, 3): the other rows linearly interpolated (held at the ends)."""
    frames = np.arange(len(transl))
    return np.stack([np.interp(frames, frames[ok], transl[ok, c]) for c in range(3)], -1).astype(np.float32)


def make_sequence(poses: np.ndarray, transl: Optional[np.ndarray], betas: np.ndarray, fps: float,
                  confidence: Optional[np.ndarray] = None, root_frame: str = "camera",
                  source: str = "the input") -> MotionSequence:
    """Validate and normalise arrays into a sequence (NaN joints -> confidence 0, filled). Raises JobError."""
    poses = _numbers(poses, "poses", source)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
        raise _bad(f"{source}: poses must be (N, 24, 3) axis-angle, got {poses.shape}.")
    n = poses.shape[0]
    if n == 0:
        raise _bad(f"{source} has no frames: nothing to clean up.")
    if n < 2:
        raise _bad(f"{source} has a single frame: cleanup works on motion.", "Pick a range of at least 2 frames.")
    transl = np.zeros((n, 3), np.float32) if transl is None else _numbers(transl, "transl", source)
    if transl.shape != (n, 3):
        raise _bad(f"{source}: transl must be ({n}, 3), got {transl.shape}.")
    betas = _numbers(betas, "betas", source)
    if betas.ndim > 2 or (betas.ndim == 2 and betas.shape[0] != 1):
        raise _bad(f"{source}: betas must be one body shape (10,), got {betas.shape}.")
    betas = betas.reshape(-1)
    if not np.isfinite(betas).all():
        raise _bad(f"{source}: betas contain NaN or infinite values.")
    if root_frame not in ROOT_FRAMES:
        raise _bad(f"{source}: root_frame must be one of {ROOT_FRAMES}, got {root_frame!r}.")
    if not (np.isfinite(fps) and fps > 0):
        raise _bad(f"{source}: fps must be positive, got {fps}.")
    conf = np.ones((n, NUM_JOINTS), np.float32) if confidence is None else \
        broadcast_confidence(confidence, n, source)
    bad_joint = ~np.isfinite(poses).all(-1)                                      # (N, 24)
    bad_frame = ~np.isfinite(transl).all(-1)                                     # (N,)
    if bad_frame.all() or bad_joint.all():
        raise _bad(f"{source}: every frame has NaN values.", "Key the motion, or pick a range with valid keys.")
    if bad_joint.any() or bad_frame.any():
        log.warning("%s: %d joint keys and %d translations are NaN; they are completed by the prior", source,
                    int(bad_joint.sum()), int(bad_frame.sum()))
        poses = np.where(bad_joint[..., None], 0.0, poses).astype(np.float32)
        transl = _fill_translation(transl, ~bad_frame)
        conf = np.where(bad_joint | bad_frame[:, None], 0.0, conf).astype(np.float32)
    return MotionSequence(poses, transl, betas, float(fps), conf, root_frame)


def broadcast_confidence(confidence: np.ndarray, n: int, source: str = "") -> np.ndarray:
    """(N, 24), (N,) per frame or (24,) per joint confidence -> (N, 24) float32 clipped to [0, 1]; NaN -> 0.
    ``source`` names the file in errors."""
    where = f"{source}: " if source else ""
    held = kind_problem(confidence)
    if held is not None:
        raise _bad(f"{where}'confidence' holds {held}, not numbers in [0, 1].", MASK_HINT)
    c = np.asarray(confidence, dtype=np.float32)
    if c.shape == (n, NUM_JOINTS):
        out = c
    elif c.shape == (n,):
        out = np.repeat(c[:, None], NUM_JOINTS, 1)
    elif c.shape == (NUM_JOINTS,):
        out = np.repeat(c[None], n, 0)
    else:
        raise _bad(f"{where}'confidence' must be ({n}, 24), ({n},) or (24,), got {c.shape}.", MASK_HINT)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0).astype(np.float32)


def _read(path: Union[str, PathLike], what: str, hint: str = SCHEMA_HINT) -> Dict[str, np.ndarray]:
    """Every array of the .npz at ``path`` (no pickles); any damage -> JobError ``bad_request`` naming the file."""
    return read_npz(str(path), what, "bad_request", hint)


def load_sequence(path: Union[str, PathLike]) -> MotionSequence:
    """A result-schema .npz -> MotionSequence (root_frame from an optional ``root_frame`` key, else "camera";
    optional ``confidence`` (N, 24) or (N,)). Raises JobError (code bad_request) with a hint."""
    arrays = _read(path, "motion file")
    missing = [k for k in ("poses", "betas") if k not in arrays]
    if missing:
        raise _bad(f"The motion file {path} lacks {missing}.")
    source = f"The motion file {path}"
    fps = _scalar(arrays["fps"], "fps", source) if "fps" in arrays else 30.0
    root = arrays.get("root_frame", np.array("camera"))
    if root.dtype.kind not in "US" or root.size != 1:
        raise _bad(f"{source}: 'root_frame' must be the text 'camera' or 'world'.")
    return make_sequence(_body_poses(arrays["poses"]), arrays.get("transl"), arrays["betas"], fps,
                         arrays.get("confidence"),
                         str(root.reshape(())), source=source)


def load_mask(path: Union[str, PathLike], frames: int) -> np.ndarray:
    """A mask .npz -> confidence (N, 24): its ``confidence`` ((N, 24), (N,) or (24,)) and/or ``joints`` (SMPL
    joint names given confidence 0 in every frame). Raises JobError."""
    arrays = _read(path, "mask file", MASK_HINT)
    if "confidence" not in arrays and "joints" not in arrays:
        raise _bad(f"The mask file {path} has neither 'confidence' nor 'joints'.", MASK_HINT)
    if "joints" in arrays and arrays["joints"].dtype.kind not in "US":
        raise _bad(f"The mask file {path}: 'joints' must be SMPL joint names (text).", MASK_HINT)
    conf = broadcast_confidence(arrays.get("confidence", np.ones(NUM_JOINTS, np.float32)), frames,
                                f"The mask file {path}")
    names = [str(j) for j in np.atleast_1d(arrays.get("joints", np.array([], dtype=str)))]
    unknown = [j for j in names if j not in JOINT_INDEX]
    if unknown:
        raise _bad(f"The mask file {path} names unknown joints {unknown}.", MASK_HINT)
    conf[:, [JOINT_INDEX[j] for j in names]] = 0.0
    return conf


OWN_KEYS = ("poses", "transl", "betas", "fps", "confidence", "root_frame", "frame_indices", "schema_version",
            "method")   # what :func:`save_sequence` writes itself; ``like``'s other keys are copied


def save_sequence(path: Union[str, PathLike], seq: MotionSequence,
                  like: Optional[Mapping[str, np.ndarray]] = None, method: str = "") -> None:
    """Write ``seq`` as a result-schema .npz (atomic), copying the other keys of ``like`` (the input's arrays;
    its frame_indices and schema_version only when they fit). Raises JobError (``internal`` for NaN/inf)."""
    arrays: Dict[str, Any] = {k: np.asarray(v) for k, v in (like or {}).items()}   # arrays and numpy scalars
    version = arrays.get("schema_version")
    if version is None or kind_problem(version) or version.size != 1 or float(version) not in SUPPORTED_SCHEMAS:
        arrays["schema_version"] = np.int32(RESULT_SCHEMA_VERSION)
    arrays.update(poses=_with_fingers(seq.poses, arrays.get("poses")), transl=seq.transl.astype(np.float32),
                  betas=seq.betas.astype(np.float32), fps=np.float32(seq.fps),
                  confidence=seq.confidence.astype(np.float32), root_frame=np.array(seq.root_frame))
    frames = arrays.get("frame_indices")
    if frames is None or frames.dtype.kind not in "iuf" or frames.shape != (len(seq),) or \
            not np.all(np.isfinite(frames)) or not np.all(frames == np.round(frames)):
        arrays["frame_indices"] = np.arange(len(seq), dtype=np.int32)
    elif frames.dtype.kind == "f":
        arrays["frame_indices"] = frames.astype(np.int32)
    if method:
        arrays["method"] = np.array(method)
    if all(key in arrays for key in REQUIRED_KEYS):   # a cleaned result is a result again
        ResultFile.made(arrays, str(path)).write(str(path))
    else:                                             # a cleaned bare motion stays a motion file
        write_result(str(path), arrays)


def _body_poses(poses: np.ndarray) -> np.ndarray:
    """A motion's poses without its fingers: (N, 54, 3) (a capture with fingers) -> its first 24 joints, SMPL's."""
    poses = np.asarray(poses)
    return poses[:, :NUM_JOINTS] if poses.ndim == 3 and poses.shape[1] == NUM_FINGERED_JOINTS else poses


def _with_fingers(cleaned: np.ndarray, original: Optional[np.ndarray]) -> np.ndarray:
    """The cleaned (N, 24, 3) poses, with the original's fingers kept as they were when it had them ((N, 54, 3):
    SMPL's hand joints back at rest, as a capture with fingers keeps them)."""
    cleaned = cleaned.astype(np.float32)
    if original is None or original.ndim != 3 or original.shape[1] != NUM_FINGERED_JOINTS or \
            len(original) != len(cleaned):
        return cleaned
    cleaned[:, list(HAND_SMPL_JOINTS)] = 0.0
    return np.concatenate([cleaned, original[:, NUM_JOINTS:].astype(np.float32)], axis=1)


def read_arrays(path: Union[str, PathLike]) -> Dict[str, np.ndarray]:
    """All arrays of a motion .npz, for :func:`save_sequence`'s ``like``; an array that would be copied into the
    result with NaN or infinite values is refused here, before any work. Raises JobError ``bad_request``."""
    arrays = _read(path, "motion file")
    broken = non_finite_keys({key: value for key, value in arrays.items() if key not in OWN_KEYS})
    if broken:
        raise _bad(f"The motion file {path}: {', '.join(map(repr, broken))} "
                   f"{'holds' if len(broken) == 1 else 'hold'} NaN or infinite values, and the cleaned file would "
                   "carry them over.", "Remove those arrays from the file, or replace their NaN values.")
    return arrays

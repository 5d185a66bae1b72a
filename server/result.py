"""The result file: its schema version, the atomic write, and the check that a file on disk is a whole, valid result.

A result is an ``.npz`` of plain arrays (no pickles), documented in docs/cli.md ("Result file"). Everything that
writes one (capture, refine, cleanup, motion import, keypoints IO) writes it through :func:`write_result`; the
batch runner trusts a result it finds only after :func:`read_result` / :func:`check_result`. Also here: the camera
matrix the result stores (:func:`camera_intrinsics`) and what a job that wrote one reports (:class:`CaptureSummary`).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .files import replaced_atomically

RESULT_SCHEMA_VERSION = 2
SUPPORTED_SCHEMAS = (1, 2)
NUM_BETAS = 10
REQUIRED_KEYS = ("schema_version", "poses", "transl", "joints_rest", "parents", "joint_names", "fps",
                 "frame_indices")


@dataclass
class CaptureSummary:
    """What a finished job reports: the result path, frames with a person, seconds per stage."""

    path: str
    frames: int
    processed: int
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)   # user-facing remarks on a successful job


def camera_intrinsics(width: int, height: int, focal: Optional[float] = None) -> np.ndarray:
    """(3, 3) pinhole K; ``focal`` None: the stated focal-length assumption ``f = max(width, height)`` pixels.

    That is a ~53 degree field of view across the long side, typical of phone and action cameras;
    only the root's distance from the camera depends on it.
    """
    focal = float(focal) if focal else float(max(width, height))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float32)


def write_result(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file, then rename), so a reader never sees half a file.
    Raises ValueError for an object array (a result holds plain arrays only: no pickles)."""
    pickled = [key for key, value in arrays.items() if np.asarray(value).dtype.hasobject]
    if pickled:
        raise ValueError(f"result arrays must not hold Python objects: {', '.join(pickled)}")
    with replaced_atomically(path, ".npz") as partial:
        np.savez_compressed(partial, **arrays)


class ResultFileError(ValueError):
    """A file that is not a complete, valid result; the message says what is wrong (a short phrase)."""


def read_result(path: str) -> Dict[str, np.ndarray]:
    """Every array of the result file at ``path``, after checking it; raises :class:`ResultFileError`.

    Reads every array (a truncated or corrupt member fails here, not later; pickles are refused), then checks the
    schema version and the shapes the add-on keys from: poses (N, J, 3), transl (N, 3), frame_indices (N,),
    joints_rest (J, 3), parents (J,), joint_names (J,), a positive fps, all finite.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
    except FileNotFoundError as exc:
        raise ResultFileError("missing") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ResultFileError(f"unreadable ({exc})") from exc
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ResultFileError(f"missing {', '.join(missing)}")
    if int(arrays["schema_version"]) not in SUPPORTED_SCHEMAS:
        raise ResultFileError(f"schema_version {int(arrays['schema_version'])}")
    problem = _shape_problem(arrays)
    if problem is not None:
        raise ResultFileError(problem)
    return arrays


def check_result(path: str) -> Optional[str]:
    """None when ``path`` is a complete, valid result file (:func:`read_result`); else what is wrong with it."""
    try:
        read_result(path)
    except ResultFileError as exc:
        return str(exc)
    return None


def _shape_problem(arrays: Dict[str, np.ndarray]) -> Optional[str]:
    """What is inconsistent in the required arrays of a result, or None."""
    poses, transl, frames = arrays["poses"], arrays["transl"], arrays["frame_indices"]
    joints = arrays["joints_rest"].shape[0] if arrays["joints_rest"].ndim == 2 else -1
    n = frames.shape[0] if frames.ndim == 1 else -1
    if n < 1:
        return "no frames"
    if poses.shape != (n, joints, 3) or transl.shape != (n, 3) or arrays["joints_rest"].shape != (joints, 3):
        return f"inconsistent shapes: poses {poses.shape}, transl {transl.shape}, frame_indices {frames.shape}"
    if arrays["parents"].shape != (joints,) or arrays["joint_names"].shape != (joints,):
        return "parents or joint_names do not match the joints"
    if not float(arrays["fps"]) > 0:
        return "no frame rate"
    if not (np.isfinite(poses).all() and np.isfinite(transl).all()):
        return "non-finite poses"
    return None

"""The result file: its schema version, the atomic write, and the check that a file on disk is a whole, valid result.

A result is an ``.npz`` of plain arrays (no pickles), documented in docs/cli.md ("Result file"). Everything that
writes one (capture, refine, cleanup, motion import, keypoints IO) writes it through :func:`write_result`, which
never writes NaN or infinite values (a failed job leaves the earlier file as it was); the batch runner trusts a
result it finds only after :func:`read_result` / :func:`check_result`. Also here: the camera
matrix the result stores (:func:`camera_intrinsics`) and what a job that wrote one reports (:class:`CaptureSummary`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .errors import JobError
from .files import NpzUnreadable, kind_problem, load_npz, replaced_atomically

RESULT_SCHEMA_VERSION = 2
SUPPORTED_SCHEMAS = (1, 2)
NUM_BETAS = 10
REQUIRED_KEYS = ("schema_version", "poses", "transl", "joints_rest", "parents", "joint_names", "fps",
                 "frame_indices")
MESH_KEYS = ("mesh_vertices", "mesh_faces", "skin_weights")   # optional (schema 2): all three or none
NUMERIC_KEYS = ("schema_version", "poses", "transl", "joints_rest", "parents", "fps", "frame_indices")
RESULT_HINT = ("Use a result file written by a capture, a cleanup or an import (docs/cli.md, 'Result file'), "
               "or run the job again to write it anew.")
NOT_FINITE_HINT = ("The computation diverged (NaN or infinite numbers). Try again with the default settings; if it "
                   "happens again, report it with the log.")


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


def non_finite_keys(arrays: Dict[str, np.ndarray]) -> List[str]:
    """The keys of ``arrays`` whose float (or complex) values hold NaN or infinity."""
    return [key for key, value in arrays.items()
            if np.asarray(value).dtype.kind in "fc" and not np.isfinite(np.asarray(value)).all()]


def write_result(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file, then rename), so a reader never sees half a file.

    Checked before anything is written (``path`` and its folder are left as they were): an object array raises
    ValueError (a result holds plain arrays only: no pickles); NaN or infinite values raise JobError
    ``internal`` naming the arrays (no result file ever holds them)."""
    pickled = [key for key, value in arrays.items() if np.asarray(value).dtype.hasobject]
    if pickled:
        raise ValueError(f"result arrays must not hold Python objects: {', '.join(pickled)}")
    broken = non_finite_keys(arrays)
    if broken:
        raise JobError("internal", f"Nothing was written to {path}: the result's {', '.join(map(repr, broken))} "
                       f"{'holds' if len(broken) == 1 else 'hold'} NaN or infinite values.", NOT_FINITE_HINT)
    with replaced_atomically(path, ".npz") as partial:
        np.savez_compressed(partial, **arrays)


class ResultFileError(JobError, ValueError):
    """A file that is not a complete, valid result (code ``bad_request``). ``str()`` is what is wrong as a short
    phrase (what a batch records); ``message`` the sentence for the user, naming the file."""

    def __init__(self, problem: str, path: str = "") -> None:
        named = f"The result file {path}" if path else "The result file"
        super().__init__("bad_request", f"{named} is not usable: {problem}.", RESULT_HINT)
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


def read_result(path: str) -> Dict[str, np.ndarray]:
    """Every array of the result file at ``path``, after checking it; raises :class:`ResultFileError`.

    Reads every array (a truncated or corrupt member fails here, not later; pickles are refused), then checks the
    schema version and the shapes the add-on keys from: poses (N, J, 3), transl (N, 3), frame_indices (N,),
    joints_rest (J, 3), parents (J,), joint_names (J,) text, one positive fps, every float array finite.
    """
    try:
        arrays = load_npz(path)
    except NpzUnreadable as exc:
        raise ResultFileError("missing" if str(exc) == "missing" else f"unreadable ({exc})", path) from exc
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ResultFileError(f"missing {', '.join(missing)}", path)
    problem = _kind_problem(arrays)
    if problem is not None:
        raise ResultFileError(problem, path)
    version = float(arrays["schema_version"])
    if version not in SUPPORTED_SCHEMAS:
        raise ResultFileError(f"schema_version {version:g}", path)
    problem = _shape_problem(arrays)
    if problem is not None:
        raise ResultFileError(problem, path)
    return arrays


def check_result(path: str) -> Optional[str]:
    """None when ``path`` is a complete, valid result file (:func:`read_result`); else what is wrong with it."""
    try:
        read_result(path)
    except ResultFileError as exc:
        return str(exc)
    return None


def _kind_problem(arrays: Dict[str, np.ndarray]) -> Optional[str]:
    """What is of the wrong kind in the required arrays (text where numbers belong, a list where one number
    belongs), or None."""
    for key in NUMERIC_KEYS:
        held = kind_problem(arrays[key])
        if held is not None:
            return f"'{key}' holds {held} where numbers belong"
    for key in ("schema_version", "fps"):
        if arrays[key].size != 1:
            return f"'{key}' is {arrays[key].size} values, not one number"
    if arrays["joint_names"].dtype.kind not in "US":
        return "'joint_names' is not text"
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
    if any(not -1 <= parent < joint for joint, parent in enumerate(arrays["parents"].tolist())):
        return "parents do not form a skeleton (each joint's parent must come before it)"
    if not float(arrays["fps"]) > 0:
        return "no frame rate"
    if not (np.isfinite(poses).all() and np.isfinite(transl).all()):
        return "non-finite poses"
    broken = non_finite_keys(arrays)
    if broken:
        return f"non-finite values in {', '.join(broken)}"
    return None

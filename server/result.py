"""The result file, declared once: :class:`ResultFile` (every key of the schema, the schema version, the checks),
its atomic write and its one reader (numpy only: the add-on bundles this module and reads results with it).

A result is an ``.npz`` of plain arrays (no pickles), documented in docs/cli.md ("Result file"). Every job that
writes one (capture, refine, motion import, a clean-up of a result) builds a :class:`ResultFile` and writes it with
:meth:`ResultFile.write`: it is checked as a reader would check it before anything is written, and never holds NaN
or infinite values (a failed job leaves the earlier file as it was). Every reader (the add-on, the batch runner,
which trusts a result it finds only then) gets one from :meth:`ResultFile.read` (or :func:`read_result` /
:func:`check_result`). :func:`write_result` is the atomic write of any array file (keypoints files use it too).
Also here: the camera matrix the result stores (:func:`camera_intrinsics`) and what a job that wrote one reports
(:class:`CaptureSummary`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from .errors import JobError
from .files import NpzUnreadable, kind_problem, load_npz, replaced_atomically

RESULT_SCHEMA_VERSION = 4   # 3: 54 joints with fingers (SMPL's 24 then SMPL-H's 30 finger joints), hand_confidence;
                            # 4: the body-shape sliders (shape_sliders, shape_values, shape_*_dirs)
SUPPORTED_SCHEMAS = (1, 2, 3, 4)
NUM_BETAS = 10
REQUIRED_KEYS = ("schema_version", "poses", "transl", "joints_rest", "parents", "joint_names", "fps",
                 "frame_indices")
MESH_KEYS = ("mesh_vertices", "mesh_faces", "skin_weights")   # optional (schema 2): all three or none
SHAPE_KEYS = ("shape_sliders", "shape_values", "shape_vertex_dirs", "shape_joint_dirs")   # optional (4): all or none
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
        raise _not_finite(path, broken)
    with replaced_atomically(path, ".npz") as partial:
        np.savez_compressed(partial, **arrays)


def _not_finite(path: str, broken: List[str]) -> JobError:
    return JobError("internal", f"Nothing was written to {path}: the result's {', '.join(map(repr, broken))} "
                    f"{'holds' if len(broken) == 1 else 'hold'} NaN or infinite values.", NOT_FINITE_HINT)


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
    """Every array of the result file at ``path``, after checking it (:meth:`ResultFile.read`); raises
    :class:`ResultFileError`."""
    return ResultFile.read(path).to_arrays()


def check_result(path: str) -> Optional[str]:
    """None when ``path`` is a complete, valid result file (:func:`read_result`); else what is wrong with it."""
    try:
        read_result(path)
    except ResultFileError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class ResultFile:
    """One result file: every key of the schema (docs/cli.md, "Result file") as a field holding the array the file
    holds (dtype as written), the required ones first; a key the schema does not name (a cleaned file keeps its
    input's) in ``extra``. Built by :meth:`from_arrays` (or :meth:`read`), which checks it; N frames, J joints."""

    poses: np.ndarray                      # (N, J, 3) axis-angle, SMPL order; root: camera-frame orientation
    transl: np.ndarray                     # (N, 3) metres, camera frame: the pelvis at transl + joints_rest[0]
    joints_rest: np.ndarray                # (J, 3) rest joints, SMPL canonical frame, metres
    parents: np.ndarray                    # (J,) int, -1 for the root, each parent before its child
    joint_names: np.ndarray                # (J,) text
    fps: np.ndarray                        # () frames per second
    frame_indices: np.ndarray              # (N,) 0-based source frames
    schema_version: np.ndarray             # () one of SUPPORTED_SCHEMAS
    betas: Optional[np.ndarray] = None             # (B,) shape coefficients of body_model
    body_model: Optional[np.ndarray] = None        # () text
    mesh_vertices: Optional[np.ndarray] = None     # (V, 3) with mesh_faces (F, 3) and skin_weights (V, J)
    mesh_faces: Optional[np.ndarray] = None
    skin_weights: Optional[np.ndarray] = None
    keypoints_2d: Optional[np.ndarray] = None      # (N, 33, 3) BlazePose image landmarks
    world_landmarks: Optional[np.ndarray] = None   # (N, 33, 4) BlazePose metric landmarks + visibility
    image_size: Optional[np.ndarray] = None        # (2,) width, height
    camera_intrinsics: Optional[np.ndarray] = None  # (3, 3) pinhole K
    source_video: Optional[np.ndarray] = None      # () text
    frame_count: Optional[np.ndarray] = None       # () frames in the video
    frame_range: Optional[np.ndarray] = None       # (2,) captured source frames start, stop
    method: Optional[np.ndarray] = None            # () text: how the poses were made
    hypotheses: Optional[np.ndarray] = None        # (K, N, J, 3) with ambiguity (N,)
    ambiguity: Optional[np.ndarray] = None
    confidence: Optional[np.ndarray] = None        # (N, J) a clean-up's per-joint confidence
    root_frame: Optional[np.ndarray] = None        # () "camera" or "world"
    ground: Optional[np.ndarray] = None            # (4,) normal, offset
    foot_contacts: Optional[np.ndarray] = None     # (N, 4) 0/1 left/right heel, left/right toe
    camera_height: Optional[np.ndarray] = None     # () metres
    world_rotation: Optional[np.ndarray] = None    # (3, 3) camera -> Z-up world
    camera_rotation: Optional[np.ndarray] = None   # (N, 3, 3) a turning camera's x_t = R_t x_0 (first frame's camera)
    camera_confidence: Optional[np.ndarray] = None  # (N,) in [0, 1], with camera_rotation
    hand_confidence: Optional[np.ndarray] = None   # (N, 2) in [0, 1] left, right hand (54 joints: with fingers)
    shape_sliders: Optional[np.ndarray] = None     # (S,) text: gender, height, weight, muscle (with the mesh)
    shape_values: Optional[np.ndarray] = None      # (S,) the body's values (height: stature, metres)
    shape_vertex_dirs: Optional[np.ndarray] = None  # (S, V, 3) rest mesh change per unit of each slider
    shape_joint_dirs: Optional[np.ndarray] = None  # (S, J, 3) rest joints' change per unit of each slider
    extra: Dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, given: Mapping[str, Any], path: str = "") -> "ResultFile":
        """The result made of ``arrays`` (key -> array), after the checks every reader makes (the schema version,
        the required keys, their kinds and shapes, finite values); raises :class:`ResultFileError` naming
        ``path``."""
        arrays = {key: np.asarray(value) for key, value in given.items()}
        problem = result_problem(arrays)
        if problem is not None:
            raise ResultFileError(problem, path)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in arrays.items() if k in known},
                   extra={k: v for k, v in arrays.items() if k not in known})

    @classmethod
    def made(cls, given: Mapping[str, Any], path: str) -> "ResultFile":
        """A job's result, about to be written to ``path``: checked as a reader will check it. A failed check is
        the job's fault, not the user's: JobError ``internal`` (nothing is written)."""
        arrays = {key: np.asarray(value) for key, value in given.items()}
        broken = non_finite_keys(arrays)
        if broken:
            raise _not_finite(path, broken)
        try:
            return cls.from_arrays(arrays, path)
        except ResultFileError as exc:
            raise JobError("internal", f"Nothing was written to {path}: the result would not be a valid result "
                           f"file ({exc.problem}).", "Report it with the log.") from exc

    @classmethod
    def read(cls, path: str) -> "ResultFile":
        """The result file at ``path``: every array read (a truncated or corrupt member fails here, not later;
        pickles are refused), then checked; raises :class:`ResultFileError`."""
        try:
            arrays = load_npz(path)
        except NpzUnreadable as exc:
            raise ResultFileError("missing" if str(exc) == "missing" else f"unreadable ({exc})", path) from exc
        return cls.from_arrays(arrays, path)

    def to_arrays(self) -> Dict[str, np.ndarray]:
        """Key -> array of every key the result holds (absent optional keys left out)."""
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "extra" and getattr(self, f.name) is not None}
        return {**arrays, **self.extra}

    def write(self, path: str) -> None:
        """Write the result to ``path`` atomically (:func:`write_result`)."""
        write_result(path, self.to_arrays())


def result_problem(arrays: Dict[str, np.ndarray]) -> Optional[str]:
    """What makes ``arrays`` not a result (a short phrase), or None: the required keys, their kinds, the schema
    version, the shapes the add-on keys from, every float array finite."""
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        return f"missing {', '.join(missing)}"
    problem = _kind_problem(arrays)
    if problem is not None:
        return problem
    version = float(arrays["schema_version"])
    if version not in SUPPORTED_SCHEMAS:
        return f"schema_version {version:g}"
    return _shape_problem(arrays)


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
    return _camera_problem(arrays, n) or _hands_problem(arrays, n) or _sliders_problem(arrays, joints)


def _sliders_problem(arrays: Dict[str, np.ndarray], joints: int) -> Optional[str]:
    """What is wrong with the body-shape sliders (all four keys or none, with the mesh; one row per slider), or
    None."""
    present = [key for key in SHAPE_KEYS if key in arrays]
    if not present:
        return None
    if len(present) != len(SHAPE_KEYS) or "mesh_vertices" not in arrays:
        return f"{', '.join(SHAPE_KEYS)} come together, with mesh_vertices"
    names, values = arrays["shape_sliders"], arrays["shape_values"]
    count, vertices = names.shape[0] if names.ndim == 1 else -1, arrays["mesh_vertices"].shape[0]
    if names.dtype.kind not in "US" or kind_problem(values) or values.shape != (count,):
        return "shape_sliders is not text with one number of shape_values each"
    if arrays["shape_vertex_dirs"].shape != (count, vertices, 3) or arrays["shape_joint_dirs"].shape != (count,
                                                                                                          joints, 3):
        return (f"shape_vertex_dirs {arrays['shape_vertex_dirs'].shape} or shape_joint_dirs "
                f"{arrays['shape_joint_dirs'].shape} do not match the sliders, the mesh and the joints")
    return None


def _hands_problem(arrays: Dict[str, np.ndarray], n: int) -> Optional[str]:
    """What is wrong with the fingers' confidence (one per frame and hand, in [0, 1]), or None."""
    confidence = arrays.get("hand_confidence")
    if confidence is None:
        return None
    if kind_problem(confidence) or confidence.shape != (n, 2):
        return f"hand_confidence {confidence.shape} is not one number per frame and hand"
    if confidence.size and not (confidence.min() >= 0 and confidence.max() <= 1):
        return "hand_confidence outside [0, 1]"
    return None


def _camera_problem(arrays: Dict[str, np.ndarray], n: int) -> Optional[str]:
    """What is wrong with a turning camera's keys (both or neither; a rotation per frame), or None."""
    rotation, confidence = arrays.get("camera_rotation"), arrays.get("camera_confidence")
    if rotation is None and confidence is None:
        return None
    if rotation is None or confidence is None:
        return "camera_rotation and camera_confidence come together"
    if rotation.shape != (n, 3, 3) or confidence.shape != (n,):
        return f"camera_rotation {rotation.shape} or camera_confidence {confidence.shape} is not one per frame"
    turned = rotation.astype(np.float64) @ np.swapaxes(rotation, 1, 2).astype(np.float64)
    if not np.allclose(turned, np.eye(3), atol=1e-3) or not np.all(np.linalg.det(rotation) > 0):
        return "camera_rotation holds matrices that are not rotations"
    return None

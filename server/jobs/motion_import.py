"""Import of SMPL / AMASS-style motion files (.npz) as a result file in the capture convention (docs/cli.md, "Result file").

Accepted input (numpy ``.npz``, no pickles):

- ``poses`` (N, 72) SMPL (24 joints), or (N, 66) body only (22 joints), (N, 156) SMPL+H or (N, 165) SMPL-X (the
  first 22 joints are the body); or SMPL-X style ``root_orient`` (N, 3) + ``pose_body`` (N, 63). Axis-angle.
- ``trans`` (N, 3) metres (optional: zeros); ``betas`` (B,) or per frame (N, B) (averaged), the first 10 used,
  zero-padded; frame rate from ``mocap_framerate``, ``mocap_frame_rate`` or ``fps`` (else 30, logged).

Without 24 joints in the file, SMPL's hand joints (22 left_hand, 23 right_hand) get the identity rotation.

Frames: AMASS's world is z up, which is Blender's world. Results live in the capture's OpenCV camera frame, and
Blender's world is ``D`` (:data:`CAMERA_TO_WORLD`) times the camera frame, so the root rotation becomes
``D^T R_world`` and the translation is chosen so that the pelvis lands where the file puts it:
``transl_cam = D^T (trans + J0) - J0`` with ``J0`` the shaped body's rest pelvis.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, Mapping

import numpy as np

from ..body.layout import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from ..body.rotations import rotmat_to_rotvec, rotvec_to_rotmat
from ..errors import Cancelled, JobError
from ..files import kind_problem, read_npz
from ..result import NUM_BETAS, RESULT_SCHEMA_VERSION, CaptureSummary, ResultFile

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int, str], None]
# OpenCV camera (x right, y down, z forward) -> Blender / AMASS world (z up): (x, z, -y). Same as the add-on's.
CAMERA_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
POSE_WIDTHS = {72: 24, 66: 22, 156: 22, 165: 22}   # poses width -> leading joints used as SMPL body joints
FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
DEFAULT_FPS = 30.0
HINT = ("Use an AMASS / SMPL motion .npz: 'poses' (N, 72), (N, 66), (N, 156) or (N, 165) axis-angle, or "
        "'root_orient' (N, 3) + 'pose_body' (N, 63); optional 'trans' (N, 3), 'betas', 'mocap_framerate'.")


def _bad(message: str) -> JobError:
    return JobError("bad_request", message, HINT)


def read_motion_arrays(path: str) -> Dict[str, np.ndarray]:
    """The arrays of ``path`` that an import uses (others, e.g. pickled metadata, are never touched), each an
    array of numbers. Raises JobError ``bad_request`` naming the file and what is wrong with it."""
    wanted = ("poses", "root_orient", "pose_body", "trans", "betas") + FPS_KEYS
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise JobError("bad_request", f"The motion file {path} does not exist.", "Check the path.")
    arrays = read_npz(path, "motion file", "bad_request", HINT, keys=wanted, name=name)
    for key, value in arrays.items():
        held = kind_problem(value)
        if held is not None:
            raise _bad(f"{name}: '{key}' holds {held} where numbers belong.")
    return arrays


def smpl_poses(arrays: Mapping[str, np.ndarray], name: str = "the file") -> np.ndarray:
    """The file's pose arrays -> (N, 24, 3) float64 axis-angle, SMPL joint order (hands identity when absent)."""
    if "poses" in arrays:
        raw = np.asarray(arrays["poses"], dtype=np.float64)
        if raw.ndim == 3 and raw.shape[2] == 3:
            raw = raw.reshape(raw.shape[0], -1)
        if raw.ndim != 2 or raw.shape[1] not in POSE_WIDTHS:
            raise _bad(f"{name}: 'poses' is {raw.shape}; accepted widths are (N, 72) SMPL, (N, 66) body only, "
                       f"(N, 156) SMPL+H and (N, 165) SMPL-X.")
        joints = POSE_WIDTHS[raw.shape[1]]
        body = raw[:, :3 * joints].reshape(-1, joints, 3)
    elif "root_orient" in arrays and "pose_body" in arrays:
        root, rest = (np.asarray(arrays[k], dtype=np.float64) for k in ("root_orient", "pose_body"))
        if root.ndim != 2 or root.shape[1] != 3 or rest.shape != (root.shape[0], 63):
            raise _bad(f"{name}: 'root_orient' {root.shape} and 'pose_body' {rest.shape}; expected (N, 3) and "
                       "(N, 63).")
        body = np.concatenate([root, rest], 1).reshape(-1, 22, 3)
    else:
        raise _bad(f"{name} has no 'poses' (nor 'root_orient' + 'pose_body').")
    if body.shape[0] == 0:
        raise _bad(f"{name} has no frames.")
    out = np.zeros((body.shape[0], NUM_JOINTS, 3))
    out[:, :body.shape[1]] = body
    return out


def _betas(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """(B,) or (N, B) -> (10,) float64: per-frame shapes averaged, the first 10 kept, zero-padded."""
    if "betas" not in arrays:
        return np.zeros(NUM_BETAS)
    betas = np.asarray(arrays["betas"], dtype=np.float64)
    if betas.ndim == 2:
        betas = betas.mean(0)
    if betas.ndim != 1:
        raise _bad(f"{name}: 'betas' is {betas.shape}; expected (B,) or (N, B).")
    return np.pad(betas[:NUM_BETAS], (0, max(0, NUM_BETAS - len(betas))))


def _fps(arrays: Mapping[str, np.ndarray], name: str) -> float:
    for key in FPS_KEYS:
        if key in arrays:
            value = np.asarray(arrays[key], dtype=np.float64).reshape(-1)
            if value.size != 1 or not np.isfinite(value[0]) or value[0] <= 0:
                raise _bad(f"{name}: '{key}' must be one positive number, got {value.tolist()}.")
            return float(value[0])
    log.warning("%s has no frame rate (%s): assuming %g fps", name, ", ".join(FPS_KEYS), DEFAULT_FPS)
    return DEFAULT_FPS


def world_to_camera(poses: np.ndarray, trans: np.ndarray, pelvis_rest: np.ndarray) -> tuple:
    """World-frame (z up) SMPL motion -> the capture convention.

    poses (N, 24, 3) axis-angle with the root mapping SMPL canonical -> world; trans (N, 3) world; pelvis_rest (3,)
    the shaped body's rest pelvis J0 -> (poses (N, 24, 3) with the root mapping canonical -> camera, transl (N, 3)
    camera frame) such that D (transl + J0) = trans + J0 and D R_cam = R_world.
    """
    d = CAMERA_TO_WORLD
    out = np.array(poses, dtype=np.float64, copy=True)
    out[:, 0] = rotmat_to_rotvec(d.T @ rotvec_to_rotmat(out[:, 0]))
    pelvis_cam = (np.asarray(trans, dtype=np.float64) + pelvis_rest) @ d   # row form of D^T p
    return out, pelvis_cam - pelvis_rest


def load_motion(path: str) -> tuple:
    """``path`` -> (poses (N, 24, 3) world, trans (N, 3), betas (10,), fps). Raises JobError (bad_request)."""
    name = os.path.basename(path)
    arrays = read_motion_arrays(path)
    poses = smpl_poses(arrays, name)
    n = poses.shape[0]
    trans = np.asarray(arrays.get("trans", np.zeros((n, 3))), dtype=np.float64)
    if trans.shape != (n, 3):
        raise _bad(f"{name}: 'trans' is {trans.shape}; expected ({n}, 3) like the poses.")
    betas = _betas(arrays, name)
    for key, values in (("poses", poses), ("trans", trans), ("betas", betas)):
        if not np.all(np.isfinite(values)):
            raise _bad(f"{name}: '{key}' contains NaN or infinite values.")
    return poses, trans, betas, _fps(arrays, name)


def import_motion(path: str, output: str, body_model: str = "", progress: ProgressFn = lambda *a: None,
                  cancelled: Callable[[], bool] = lambda: False) -> CaptureSummary:
    """Convert an SMPL/AMASS motion file into a result file at ``output`` (shaped body mesh included). Raises
    JobError: ``bad_request`` for a bad file, ``bad_body_model``, ``cancelled``."""
    from ..body.model import default_body_model_path, load_body_model, shaped_vertices

    timings: Dict[str, float] = {}
    tick = time.perf_counter()
    progress("import", 0, 2, os.path.basename(path))
    poses_world, trans, betas, fps = load_motion(path)
    body = load_body_model(body_model or default_body_model_path())
    used = betas[:body.num_betas]
    vertices = shaped_vertices(body, used)
    joints_rest = body.J_regressor @ vertices
    poses, transl = world_to_camera(poses_world, trans, joints_rest[0])
    timings["load"] = time.perf_counter() - tick
    if cancelled():
        raise Cancelled()
    progress("import", 1, 2, f"{len(poses)} frames at {fps:g} fps")
    tick = time.perf_counter()
    n = len(poses)
    arrays: Dict[str, Any] = {
        "schema_version": np.int32(RESULT_SCHEMA_VERSION), "poses": poses.astype(np.float32),
        "betas": betas.astype(np.float32), "transl": transl.astype(np.float32),
        "joints_rest": joints_rest.astype(np.float32), "mesh_vertices": vertices.astype(np.float32),
        "mesh_faces": body.faces.astype(np.int32), "skin_weights": body.weights.astype(np.float32),
        "body_model": np.array(body.name), "parents": np.array(SMPL_PARENTS, dtype=np.int32),
        "joint_names": np.array(SMPL_JOINT_NAMES, dtype="<U16"), "fps": np.float32(fps),
        "frame_indices": np.arange(n, dtype=np.int32), "source_video": np.array(os.path.basename(path)),
        "frame_count": np.int32(n), "method": np.array("import"),
    }
    ResultFile.made(arrays, output).write(output)
    timings["write"] = time.perf_counter() - tick
    progress("import", 2, 2, "")
    log.info("imported %s: %d frames at %g fps", path, n, fps)
    return CaptureSummary(path=os.path.abspath(output), frames=n, processed=n, timings=timings)

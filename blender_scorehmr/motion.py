"""The capture result (.npz, schema 1 in CONTRACT) and its conversion to Blender keys, in numpy (no bpy).

Frames: SMPL canonical (x left, y up, z front) maps onto armature space with ``C`` = (x, -z, y); the camera
(x right, y down, z forward) maps onto Blender world with ``D`` = (x, z, -y); the armature object sits at the
identity, so armature space is world space. For a bone with rest rotation ``M_j`` (rotation part of
``bone.matrix_local``) the pose basis is ``B_j = M_j^-1 (C R_j C^-1) M_j``; for the root
``B_0 = M_0^-1 (D R_0 C^-1) M_0`` and its location is ``M_0^-1 (pelvis_world - pelvis_rest)``.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

from .errors import ScoreHMRError
from .rotations import CAMERA_TO_WORLD, SMPL_TO_ARMATURE, quat_sign_continuous, rotmat_to_quat_wxyz, rotvec_to_rotmat

SCHEMA_VERSION = 1
_BAD_HINT = "The worker and the add-on disagree on the result format; reinstall the extension"


@dataclass(frozen=True)
class CaptureResult:
    """The arrays of a result file that the add-on uses. ``N`` frames, ``J`` joints."""

    poses: np.ndarray          # (N, J, 3) axis-angle, SMPL convention (root = camera-frame orientation)
    transl: np.ndarray         # (N, 3) camera frame, metres
    joints_rest: np.ndarray    # (J, 3) SMPL canonical frame, metres
    parents: np.ndarray        # (J,) int, -1 for the root
    joint_names: Tuple[str, ...]
    fps: float
    frame_indices: np.ndarray  # (N,) 0-based source-video frames
    source_video: str


def _bad(detail: str) -> ScoreHMRError:
    return ScoreHMRError(f"The worker's result is invalid: {detail}", _BAD_HINT, code="bad_result")


def load_result(path: Path) -> CaptureResult:
    """Read and validate a result ``.npz`` (no pickles); raise :class:`ScoreHMRError` if it is not schema 1."""
    try:
        with np.load(str(path), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # missing, truncated, not a zip, or pickled
        raise _bad(f"cannot read {path}: {exc}") from exc
    need = ("schema_version", "poses", "transl", "joints_rest", "parents", "joint_names", "fps", "frame_indices")
    missing = [key for key in need if key not in arrays]
    if missing:
        raise _bad(f"missing {', '.join(missing)}")
    if int(arrays["schema_version"]) != SCHEMA_VERSION:
        raise _bad(f"schema_version {int(arrays['schema_version'])}, expected {SCHEMA_VERSION}")
    result = CaptureResult(
        poses=np.asarray(arrays["poses"], dtype=np.float64),
        transl=np.asarray(arrays["transl"], dtype=np.float64),
        joints_rest=np.asarray(arrays["joints_rest"], dtype=np.float64),
        parents=np.asarray(arrays["parents"], dtype=np.int64),
        joint_names=tuple(str(name) for name in arrays["joint_names"]),
        fps=float(arrays["fps"]),
        frame_indices=np.asarray(arrays["frame_indices"], dtype=np.int64),
        source_video=str(arrays.get("source_video", "")),
    )
    _validate(result)
    return result


def _validate(result: CaptureResult) -> None:
    """Check shapes, the tree and finiteness; raise :class:`ScoreHMRError` on the first problem."""
    n, j = result.poses.shape[0], result.joints_rest.shape[0]
    if n == 0:
        raise ScoreHMRError("No person was found in the footage.", "Check the frame range and the footage",
                            code="no_person")
    checks = (
        (result.poses.shape == (n, j, 3), "poses must be (N, J, 3)"),
        (result.transl.shape == (n, 3), "transl must be (N, 3)"),
        (result.joints_rest.shape == (j, 3), "joints_rest must be (J, 3)"),
        (result.parents.shape == (j,) and len(result.joint_names) == j, "parents/joint_names must have J entries"),
        (result.frame_indices.shape == (n,), "frame_indices must have N entries"),
        (len(set(result.joint_names)) == j, "joint names must be unique"),
        (result.parents[0] == -1 and all(0 <= p < i for i, p in enumerate(result.parents[1:], 1)),
         "parents must form a tree rooted at joint 0 in topological order"),
        (bool(np.all(np.diff(result.frame_indices) > 0)), "frame_indices must increase"),
        (np.isfinite(result.fps) and result.fps > 0, "fps must be positive"),
        (all(np.all(np.isfinite(a)) for a in (result.poses, result.transl, result.joints_rest)), "non-finite values"),
    )
    for ok, detail in checks:
        if not ok:
            raise _bad(detail)


def rest_heads_armature(joints_rest: np.ndarray) -> np.ndarray:
    """Rest joints ``(J, 3)`` SMPL canonical -> bone heads ``(J, 3)`` in armature space, lowest joint at z = 0."""
    heads = np.asarray(joints_rest, dtype=np.float64) @ SMPL_TO_ARMATURE.T
    heads[:, 2] -= heads[:, 2].min()
    return heads


def global_rotations(poses: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Axis-angle ``(N, J, 3)`` -> rotations ``(N, J, 3, 3)`` from the canonical frame to the camera frame."""
    local = rotvec_to_rotmat(poses)
    glob = np.empty_like(local)
    glob[:, 0] = local[:, 0]
    for j in range(1, local.shape[1]):
        glob[:, j] = glob[:, parents[j]] @ local[:, j]
    return glob


def pelvis_world(transl: np.ndarray, joints_rest: np.ndarray, rest_pelvis: np.ndarray) -> np.ndarray:
    """Pelvis in Blender world ``(N, 3)``, re-centred: frame one is above the origin at the rest pelvis height."""
    world = (np.asarray(transl, dtype=np.float64) + joints_rest[0]) @ CAMERA_TO_WORLD.T
    offset = world[0] - np.array([0.0, 0.0, rest_pelvis[2]])
    return world - offset


def pose_basis_quaternions(poses: np.ndarray, rest_rot: np.ndarray) -> np.ndarray:
    """SMPL axis-angle ``(N, J, 3)`` + bone rest rotations ``(J, 3, 3)`` -> pose-basis WXYZ ``(N, J, 4)``.

    Signs are continuous along time per bone.
    """
    c, d = SMPL_TO_ARMATURE, CAMERA_TO_WORLD
    local = rotvec_to_rotmat(poses)                      # (N, J, 3, 3)
    arm = c @ local @ c.T                                # C R_j C^-1 for every joint
    arm[:, 0] = d @ local[:, 0] @ c.T                    # root: D R_0 C^-1
    rest_inv = np.transpose(rest_rot, (0, 2, 1))         # M_j^-1 (orthonormal)
    basis = rest_inv[None] @ arm @ rest_rot[None]        # (N, J, 3, 3)
    return quat_sign_continuous(rotmat_to_quat_wxyz(basis))


def root_locations(result: CaptureResult, rest_heads: np.ndarray, rest_rot0: np.ndarray) -> np.ndarray:
    """Root bone location keys ``(N, 3)`` in the root bone's rest frame: ``M_0^-1 (pelvis_world - pelvis_rest)``."""
    offset = pelvis_world(result.transl, result.joints_rest, rest_heads[0]) - rest_heads[0]
    return offset @ rest_rot0  # row-vector form of M_0^T @ offset


def world_joints(result: CaptureResult, rest_heads: np.ndarray) -> np.ndarray:
    """Forward kinematics of the result mapped into Blender world: joint positions ``(N, J, 3)``."""
    glob = global_rotations(result.poses, result.parents)
    arm_rot = CAMERA_TO_WORLD @ glob @ SMPL_TO_ARMATURE.T  # A_j = D G_j C^-1
    out = np.empty((glob.shape[0], glob.shape[1], 3))
    out[:, 0] = pelvis_world(result.transl, result.joints_rest, rest_heads[0])
    for j in range(1, glob.shape[1]):
        p = result.parents[j]
        out[:, j] = out[:, p] + arm_rot[:, p] @ (rest_heads[j] - rest_heads[p])
    return out


def scene_frames(frame_indices: np.ndarray, video_start: int, scene_start: int,
                 video_fps: float, scene_fps: float) -> np.ndarray:
    """Source-video frames ``(N,)`` -> scene frames ``(N,)``; video frame ``video_start`` lands on ``scene_start``."""
    return scene_start + (np.asarray(frame_indices, dtype=np.float64) - video_start) * (scene_fps / video_fps)


def scene_fps_settings(video_fps: float) -> Tuple[int, float]:
    """``(render.fps, render.fps_base)`` that reproduce ``video_fps`` (29.97 -> (30, 1.001))."""
    fps = max(1, int(round(video_fps)))
    return fps, fps / video_fps

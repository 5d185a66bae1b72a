"""The capture result (.npz, schema 1 to 4, see docs/cli.md, "Result file") and its conversion to Blender, in numpy
(no bpy). Schema 2 adds the optional shaped body mesh (``mesh_vertices``, ``mesh_faces``, ``skin_weights``) and
``body_model``; a schema 1 file simply has no mesh.

Frames: SMPL canonical (x left, y up, z front) maps onto armature space with ``C`` = (x, -z, y); the camera
(x right, y down, z forward) maps onto Blender world with ``D`` = (x, z, -y), or with the worker's
``world_rotation`` when its place stage found the ground (then the ground is z = 0); the armature object sits at
the identity, so armature space is world space. For a bone with rest rotation ``M_j`` (rotation part of
``bone.matrix_local``) the pose basis is ``B_j = M_j^-1 (C R_j C^-1) M_j``; for the root
``B_0 = M_0^-1 (D R_0 C^-1) M_0`` and its location is ``M_0^-1 (pelvis_world - pelvis_rest)``.
"""
from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from ..server.protocol import ErrorCode
from ..server.result import MESH_KEYS, NUM_BETAS, ResultFile, ResultFileError
from .blender_frames import (CAMERA_TO_WORLD, SMPL_TO_ARMATURE, quat_sign_continuous, rotmat_to_quat_wxyz,
                             rotvec_to_rotmat)
from .body_shape import ShapeSliders, load_sliders
from .panel_errors import ScoreHMRError

# Custom properties keyed with the worker's foot contacts (its ``foot_contacts`` columns, in this order).
CONTACT_PROPS: Tuple[str, ...] = ("scorehmr_contact_left_heel", "scorehmr_contact_right_heel",
                                  "scorehmr_contact_left_toe", "scorehmr_contact_right_toe")
# Custom properties keyed with how far each hand's fingers were seen (the result's ``hand_confidence`` columns).
HAND_PROPS: Tuple[str, ...] = ("scorehmr_fingers_left", "scorehmr_fingers_right")
_BAD_HINT = "The worker and the add-on disagree on the result format; reinstall the extension"


@dataclass(frozen=True)
class BodyMesh:
    """The rest body already shaped by the result's betas, in the frame and units of ``joints_rest``."""

    vertices: np.ndarray  # (V, 3) float64, SMPL canonical frame, metres
    faces: np.ndarray     # (F, 3) int32 triangle vertex indices
    weights: np.ndarray   # (V, J) float32 skinning weights, columns in joint order, rows sum to 1


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
    betas: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(NUM_BETAS))  # (B,) shape coefficients
    body_model: str = ""               # e.g. "open_body_neutral"; "" in schema 1
    mesh: Optional[BodyMesh] = None    # the shaped, skinned body (schema 2, optional)
    hypotheses: Optional[np.ndarray] = None  # (K, N, J, 3) alternative poses (Diff-HMR), optional
    ambiguity: Optional[np.ndarray] = None   # (N,) metres: the hypotheses' spread per frame, with them
    image_size: Optional[np.ndarray] = None  # (2,) width, height of the main view in pixels, when given
    camera_intrinsics: Optional[np.ndarray] = None  # (3, 3) the main view's pinhole K, when given
    world_rotation: Optional[np.ndarray] = None     # (3, 3) camera -> Z-up world (the worker's place stage)
    camera_height: Optional[float] = None           # metres of the camera above the ground, with world_rotation
    foot_contacts: Optional[np.ndarray] = None      # (N, 4) bool: left/right heel, left/right toe (CONTACT_PROPS)
    frame_range: Optional[Tuple[int, int]] = None   # the captured source frames start, stop (exclusive), when given
    camera_rotation: Optional[np.ndarray] = None    # (N, 3, 3) a turning camera's x_t = R_t x_0: the body is in the
                                                    # first frame's camera frame, the matched camera turns with R_t
    hand_confidence: Optional[np.ndarray] = None    # (N, 2) 0..1 left / right fingers seen (HAND_PROPS), with fingers
    shape: Optional[ShapeSliders] = None            # the body-shape sliders (schema 4, built-in body, with the mesh)

    @property
    def camera_to_world(self) -> np.ndarray:
        """(3, 3) the rotation from the camera frame onto Blender world: the worker's ground-levelled one when
        the result has it, else ``D`` (a level camera)."""
        return CAMERA_TO_WORLD if self.world_rotation is None else self.world_rotation


def _bad(detail: str) -> ScoreHMRError:
    return ScoreHMRError(f"The worker's result is invalid: {detail}", _BAD_HINT, code=ErrorCode.BAD_RESULT)


def load_result(path: Path) -> CaptureResult:
    """Read and validate a result ``.npz`` (no pickles) with the worker's own reader
    (:meth:`server.result.ResultFile.read`: the schema version, the required keys, their kinds and shapes), then the
    optional parts the add-on uses; raise :class:`ScoreHMRError` on a bad or unknown file."""
    try:
        file = ResultFile.read(str(path))
    except ResultFileError as exc:
        if exc.problem == "no frames":
            raise ScoreHMRError("No person was found in the footage.", "Check the frame range and the footage",
                                code=ErrorCode.NO_PERSON) from exc
        raise _bad(f"{exc.problem} ({path})") from exc
    result = CaptureResult(
        poses=np.asarray(file.poses, dtype=np.float64),
        transl=np.asarray(file.transl, dtype=np.float64),
        joints_rest=np.asarray(file.joints_rest, dtype=np.float64),
        parents=np.asarray(file.parents, dtype=np.int64),
        joint_names=tuple(str(name) for name in file.joint_names),
        fps=float(file.fps),
        frame_indices=np.asarray(file.frame_indices, dtype=np.int64),
        source_video=str(file.source_video) if file.source_video is not None else "",
        betas=np.asarray(file.betas if file.betas is not None else np.zeros(NUM_BETAS), dtype=np.float64).ravel(),
        body_model=str(file.body_model) if file.body_model is not None else "",
    )
    arrays = file.to_arrays()
    _validate(result)
    mesh = _load_mesh(arrays, len(result.joint_names))
    hypotheses, ambiguity = _load_hypotheses(arrays, result.poses.shape)
    size, k = _load_camera(arrays)
    rotation, height, contacts = _load_world(arrays, len(result.frame_indices))
    return dataclasses.replace(result, mesh=mesh, hypotheses=hypotheses, ambiguity=ambiguity, image_size=size,
                               camera_intrinsics=k, world_rotation=rotation, camera_height=height,
                               foot_contacts=contacts, frame_range=_load_range(arrays),
                               camera_rotation=None if file.camera_rotation is None
                               else np.asarray(file.camera_rotation, dtype=np.float64),
                               hand_confidence=None if file.hand_confidence is None
                               else np.asarray(file.hand_confidence, dtype=np.float64),
                               shape=load_sliders(arrays) if mesh is not None else None)


def onto_rest(result: CaptureResult, joints_rest: np.ndarray, betas: Optional[np.ndarray] = None) -> CaptureResult:
    """The result moved onto another skeleton of the same joints (``joints_rest`` (J, 3), SMPL canonical): the same
    local rotations, ``transl`` shifted so the pelvis follows the same path (:func:`pelvis_world` uses
    ``transl + joints_rest[0]``), no mesh of its own; ``betas`` (B,) the skeleton's shape, if known."""
    rest = np.asarray(joints_rest, dtype=np.float64).reshape(result.joints_rest.shape)
    return dataclasses.replace(result, joints_rest=rest, transl=result.transl + (result.joints_rest[0] - rest[0]),
                               mesh=None, shape=None,
                               betas=result.betas if betas is None else np.asarray(betas, np.float64))


def _load_range(arrays: Dict[str, np.ndarray]) -> Optional[Tuple[int, int]]:
    """``frame_range`` (2,) as ``(start, stop)``, or None when absent (results made before captures kept it);
    a malformed one is an error."""
    if "frame_range" not in arrays:
        return None
    r = np.asarray(arrays["frame_range"])
    if r.shape != (2,) or not np.issubdtype(r.dtype, np.integer) or r[0] < 0 or r[1] < r[0]:
        raise _bad(f"frame_range {r.tolist()} is not two frames start <= stop")
    return int(r[0]), int(r[1])


def camera_height_of(path: Path) -> Optional[float]:
    """The result's ``camera_height`` (metres above the ground), or None when it has none or cannot be read."""
    try:
        with np.load(str(path), allow_pickle=False) as data:
            if "camera_height" not in data.files:
                return None
            value = float(np.asarray(data["camera_height"]).reshape(-1)[0])
    except (OSError, ValueError, IndexError, zipfile.BadZipFile):
        return None
    return value if np.isfinite(value) else None


def _load_world(arrays: Dict[str, np.ndarray],
                frames: int) -> Tuple[Optional[np.ndarray], Optional[float], Optional[np.ndarray]]:
    """The place stage's ``world_rotation`` (3, 3) and ``camera_height``, and the ``foot_contacts`` (N, 4) bool, each
    None when absent (a result from before the stage, an import, a clip where no ground was found). A rotation
    that is not one only costs the placement (the level camera is used); malformed contacts are an error."""
    rotation, height, contacts = None, None, None
    if "world_rotation" in arrays and "camera_height" in arrays:
        r = np.asarray(arrays["world_rotation"], dtype=np.float64)
        h = np.asarray(arrays["camera_height"], dtype=np.float64)
        if (r.shape == (3, 3) and h.shape == () and np.all(np.isfinite(r)) and np.isfinite(h)
                and np.allclose(r @ r.T, np.eye(3), atol=1e-3) and np.linalg.det(r) > 0):
            rotation, height = r, float(h)
    if "foot_contacts" in arrays:
        c = np.asarray(arrays["foot_contacts"])
        if c.shape != (frames, len(CONTACT_PROPS)):
            raise _bad(f"foot_contacts {c.shape} for {frames} frames; expected ({frames}, {len(CONTACT_PROPS)})")
        contacts = c > 0
    return rotation, height, contacts


def _load_camera(arrays: Dict[str, np.ndarray]) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The main view's image size (2,) and K (3, 3), or (None, None) when the file has no usable camera (a motion
    import; a malformed camera only costs the camera match, never the capture)."""
    if "image_size" not in arrays or "camera_intrinsics" not in arrays:
        return None, None
    size = np.asarray(arrays["image_size"], dtype=np.float64)
    k = np.asarray(arrays["camera_intrinsics"], dtype=np.float64)
    size, k = (size[0] if size.ndim == 2 else size), (k[0] if k.ndim == 3 else k)
    if size.shape != (2,) or k.shape != (3, 3) or not (np.all(np.isfinite(k)) and np.all(size > 0) and k[0, 0] > 0):
        return None, None
    return size, k


def _load_hypotheses(arrays: Dict[str, np.ndarray],
                     poses_shape: Tuple[int, ...]) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The optional alternative poses (K, N, J, 3) and their per-frame spread (N,): both or neither."""
    if "hypotheses" not in arrays and "ambiguity" not in arrays:
        return None, None
    if "hypotheses" not in arrays or "ambiguity" not in arrays:
        raise _bad("hypotheses and ambiguity come together")
    hyp = np.asarray(arrays["hypotheses"], dtype=np.float64)
    amb = np.asarray(arrays["ambiguity"], dtype=np.float64)
    if hyp.ndim != 4 or hyp.shape[1:] != poses_shape or hyp.shape[0] < 1 or amb.shape != poses_shape[:1]:
        raise _bad(f"hypotheses {hyp.shape} / ambiguity {amb.shape}; expected (K, {', '.join(map(str, poses_shape))})"
                   f" and ({poses_shape[0]},)")
    if not (np.all(np.isfinite(hyp)) and np.all(np.isfinite(amb))):
        raise _bad("non-finite hypotheses")
    return hyp, amb


def _load_mesh(arrays: Dict[str, np.ndarray], joints: int) -> Optional[BodyMesh]:
    """The optional body mesh: all three keys or none; shapes, finiteness, face range and weights checked."""
    present = [key for key in MESH_KEYS if key in arrays]
    if not present:
        return None
    if len(present) != len(MESH_KEYS):
        raise _bad(f"the body mesh needs {', '.join(MESH_KEYS)} together; missing "
                   f"{', '.join(k for k in MESH_KEYS if k not in present)}")
    verts, faces, weights = (np.asarray(arrays[key]) for key in MESH_KEYS)
    v = verts.shape[0] if verts.ndim == 2 else -1
    shape_ok = (verts.shape == (v, 3) and v > 0 and faces.ndim == 2 and faces.shape[1] == 3
                and faces.shape[0] > 0 and weights.shape == (v, joints))
    if not shape_ok:
        raise _bad(f"mesh shapes {verts.shape}, {faces.shape}, {weights.shape}; expected (V, 3) vertices, "
                   f"(F, 3) faces and (V, {joints}) skin_weights")
    if not (np.issubdtype(faces.dtype, np.integer) and np.issubdtype(verts.dtype, np.floating)
            and np.issubdtype(weights.dtype, np.floating)):
        raise _bad("mesh_faces must be integers, mesh_vertices and skin_weights floats")
    checks = (
        (bool(np.all(np.isfinite(verts)) and np.all(np.isfinite(weights))), "non-finite mesh values"),
        (int(faces.min()) >= 0 and int(faces.max()) < v, f"mesh_faces index outside 0..{v - 1}"),
        (bool(np.all(weights >= 0.0)), "negative skin_weights"),
        (bool(np.allclose(weights.sum(axis=1), 1.0, atol=1e-3)), "skin_weights rows must sum to 1"),
    )
    for ok, detail in checks:
        if not ok:
            raise _bad(detail)
    return BodyMesh(vertices=verts.astype(np.float64), faces=faces.astype(np.int32),
                    weights=weights.astype(np.float32))


def _validate(result: CaptureResult) -> None:
    """Check shapes, the tree and finiteness; raise :class:`ScoreHMRError` on the first problem."""
    n, j = result.poses.shape[0], result.joints_rest.shape[0]
    if n == 0:
        raise ScoreHMRError("No person was found in the footage.", "Check the frame range and the footage",
                            code=ErrorCode.NO_PERSON)
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
        (all(np.all(np.isfinite(a)) for a in (result.poses, result.transl, result.joints_rest, result.betas)),
         "non-finite values"),
    )
    for ok, detail in checks:
        if not ok:
            raise _bad(detail)


def rest_to_armature(points: np.ndarray, joints_rest: np.ndarray) -> np.ndarray:
    """Rest points ``(P, 3)`` SMPL canonical -> armature space ``(P, 3)``: ``C p`` moved up so that the lowest
    rest joint is at z = 0. Bone heads and body vertices both go through here, so the mesh sits on the bones."""
    lowest = float((np.asarray(joints_rest, dtype=np.float64) @ SMPL_TO_ARMATURE.T)[:, 2].min())
    out = np.asarray(points, dtype=np.float64) @ SMPL_TO_ARMATURE.T
    out[:, 2] -= lowest
    return out


def rest_heads_armature(joints_rest: np.ndarray) -> np.ndarray:
    """Rest joints ``(J, 3)`` SMPL canonical -> bone heads ``(J, 3)`` in armature space, lowest joint at z = 0."""
    return rest_to_armature(joints_rest, joints_rest)


def global_rotations(poses: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Axis-angle ``(N, J, 3)`` -> rotations ``(N, J, 3, 3)`` from the canonical frame to the camera frame."""
    local = rotvec_to_rotmat(poses)
    glob = np.empty_like(local)
    glob[:, 0] = local[:, 0]
    for j in range(1, local.shape[1]):
        glob[:, j] = glob[:, parents[j]] @ local[:, j]
    return glob


def pelvis_world(transl: np.ndarray, joints_rest: np.ndarray, rest_pelvis: np.ndarray,
                 rotation: np.ndarray = CAMERA_TO_WORLD, height: Optional[float] = None) -> np.ndarray:
    """Pelvis in Blender world ``(N, 3)``, re-centred (:func:`recentre_offset`): frame one is above the origin."""
    world = (np.asarray(transl, dtype=np.float64) + joints_rest[0]) @ np.asarray(rotation).T
    return world - recentre_offset(transl, joints_rest, rest_pelvis, rotation, height)


def recentre_offset(transl: np.ndarray, joints_rest: np.ndarray, rest_pelvis: np.ndarray,
                    rotation: np.ndarray = CAMERA_TO_WORLD, height: Optional[float] = None) -> np.ndarray:
    """The ``(3,)`` offset subtracted from ``R`` times every camera-frame position (``R`` the camera -> world
    ``rotation``, ``D`` by default) so frame one's pelvis is above the origin: Blender world = ``R p_cam - offset``
    (the camera sits at ``-offset``). With the camera's ``height`` above the ground (the worker's place stage) the
    ground is z = 0; without it frame one's pelvis is at the rest pelvis height."""
    first = (np.asarray(transl, dtype=np.float64)[0] + joints_rest[0]) @ np.asarray(rotation).T
    if height is not None:
        return np.array([first[0], first[1], -float(height)])
    return first - np.array([0.0, 0.0, rest_pelvis[2]])


def pose_basis_quaternions(poses: np.ndarray, rest_rot: np.ndarray,
                           rotation: np.ndarray = CAMERA_TO_WORLD) -> np.ndarray:
    """SMPL axis-angle ``(N, J, 3)`` + bone rest rotations ``(J, 3, 3)`` -> pose-basis WXYZ ``(N, J, 4)``; the root
    is turned from the camera frame onto the world by ``rotation`` (``D`` for a level camera).

    Signs are continuous along time per bone.
    """
    c, d = SMPL_TO_ARMATURE, np.asarray(rotation, dtype=np.float64)
    local = rotvec_to_rotmat(poses)                      # (N, J, 3, 3)
    arm = c @ local @ c.T                                # C R_j C^-1 for every joint
    arm[:, 0] = d @ local[:, 0] @ c.T                    # root: D R_0 C^-1
    rest_inv = np.transpose(rest_rot, (0, 2, 1))         # M_j^-1 (orthonormal)
    basis = rest_inv[None] @ arm @ rest_rot[None]        # (N, J, 3, 3)
    return quat_sign_continuous(rotmat_to_quat_wxyz(basis))


def root_locations(result: CaptureResult, rest_heads: np.ndarray, rest_rot0: np.ndarray) -> np.ndarray:
    """Root bone location keys ``(N, 3)`` in the root bone's rest frame: ``M_0^-1 (pelvis_world - pelvis_rest)``."""
    offset = pelvis_world(result.transl, result.joints_rest, rest_heads[0], result.camera_to_world,
                          result.camera_height) - rest_heads[0]
    return offset @ rest_rot0  # row-vector form of M_0^T @ offset


def world_joints(result: CaptureResult, rest_heads: np.ndarray) -> np.ndarray:
    """Forward kinematics of the result mapped into Blender world: joint positions ``(N, J, 3)``."""
    glob = global_rotations(result.poses, result.parents)
    arm_rot = result.camera_to_world @ glob @ SMPL_TO_ARMATURE.T  # A_j = D G_j C^-1
    out = np.empty((glob.shape[0], glob.shape[1], 3))
    out[:, 0] = pelvis_world(result.transl, result.joints_rest, rest_heads[0], result.camera_to_world,
                             result.camera_height)
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

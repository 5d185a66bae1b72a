"""A small, valid result .npz (docs/cli.md, "Result file"): plausible SMPL-like rest joints and smooth motion; schema 2
adds a small skinned body (one box per bone, its vertices blended with the parent / child bone)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# SMPL canonical frame (x = body's left, y up, z front), metres, arms horizontal; roughly SMPL's mean body.
JOINTS_REST = np.array([
    [0.000, -0.220, 0.020], [0.085, -0.310, 0.010], [-0.085, -0.310, 0.010], [0.000, -0.110, -0.010],
    [0.100, -0.690, 0.010], [-0.100, -0.690, 0.010], [0.000, 0.030, 0.000], [0.090, -1.090, -0.030],
    [-0.090, -1.090, -0.030], [0.000, 0.090, 0.020], [0.110, -1.150, 0.090], [-0.110, -1.150, 0.090],
    [0.000, 0.300, -0.010], [0.070, 0.210, 0.000], [-0.070, 0.210, 0.000], [0.000, 0.380, 0.040],
    [0.170, 0.240, -0.010], [-0.170, 0.240, -0.010], [0.430, 0.230, -0.030], [-0.430, 0.230, -0.030],
    [0.680, 0.230, -0.020], [-0.680, 0.230, -0.020], [0.760, 0.230, -0.020], [-0.760, 0.230, -0.020],
], dtype=np.float32)


# Box corners (unit cube, 0/1 per axis) and its 12 outward triangles.
_CORNERS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.float64)
_BOX_FACES = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                       [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]], dtype=np.int32)


def _bone_target(j: int, joints: np.ndarray, parents: Sequence[int]) -> Tuple[np.ndarray, int]:
    """Where joint ``j``'s box reaches (its most central child, else beyond the joint) and that child (-1)."""
    children = [c for c in range(len(parents)) if parents[c] == j]
    if children:
        child = min(children, key=lambda c: abs(joints[c][0] - joints[j][0]))
        return joints[child], child
    return joints[j] + 0.5 * (joints[j] - joints[parents[j]]), -1


def make_body_mesh(joints: np.ndarray = JOINTS_REST, parents: Sequence[int] = PARENTS,
                   half_width: float = 0.03) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices ``(24 * 8, 3)``, faces ``(24 * 12, 3)`` and weights ``(24 * 8, 24)`` of a box per bone.

    Near the joint a vertex is weighted 0.6 to its bone and 0.4 to the parent; near the far end 0.75 to its
    bone and 0.25 to the child it points at (1.0 where there is none), so blending is exercised.
    """
    joints = np.asarray(joints, dtype=np.float64)
    n = len(parents)
    verts, faces = np.zeros((n * 8, 3)), np.zeros((n * 12, 3), dtype=np.int32)
    weights = np.zeros((n * 8, n))
    for j in range(n):
        target, child = _bone_target(j, joints, parents)
        axis = target - joints[j]
        side = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 * np.linalg.norm(axis) else [1.0, 0.0, 0.0])
        side *= half_width / np.linalg.norm(side)
        up = np.cross(axis, side)
        up *= half_width / np.linalg.norm(up)
        c = _CORNERS
        rows = slice(8 * j, 8 * j + 8)
        verts[rows] = joints[j] + (0.1 + 0.8 * c[:, :1]) * axis + (2 * c[:, 1:2] - 1) * side + (2 * c[:, 2:] - 1) * up
        faces[12 * j:12 * j + 12] = _BOX_FACES + 8 * j
        near, far = np.flatnonzero(c[:, 0] == 0) + 8 * j, np.flatnonzero(c[:, 0] == 1) + 8 * j
        if parents[j] >= 0:
            weights[near, j], weights[near, parents[j]] = 0.6, 0.4
        else:
            weights[near, j] = 1.0
        if child >= 0:
            weights[far, j], weights[far, child] = 0.75, 0.25
        else:
            weights[far, j] = 1.0
    return verts.astype(np.float32), faces, weights.astype(np.float32)


def make_result(frame_indices: Sequence[int], fps: float = 24.0, source_video: str = "",
                frame_count: int = 0, seed: int = 0, schema: int = 2) -> Dict[str, np.ndarray]:
    """Arrays of a result file for the given source frames (a person facing the camera, 4 m away).

    ``schema=2`` adds the body mesh keys and ``body_model``; ``schema=1`` is the file before the body mesh.
    """
    frames = np.asarray(frame_indices, dtype=np.int32)
    n = len(frames)
    t = frames.astype(np.float64) / fps
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0.1, 0.6, size=(1, 24, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 24, 3))
    poses = amp * np.sin(2.0 * t[:, None, None] + phase)
    poses[:, 0] = np.stack([np.pi + 0.1 * np.sin(t), 0.8 * np.sin(1.5 * t), 0.05 * np.cos(t)], axis=-1)
    poses[:, 4, 0] = 2.8 * np.sin(3.0 * t) ** 2  # left knee: a large bend (exercises quaternion signs)
    pelvis_cam = np.stack([0.3 * np.sin(t), 0.05 * np.cos(3 * t), 4.0 + 0.2 * t], axis=-1)
    transl = pelvis_cam - JOINTS_REST[0]
    arrays = {
        "schema_version": np.array(schema, dtype=np.int32),
        "poses": poses.astype(np.float32),
        "betas": np.zeros(10, dtype=np.float32),
        "transl": transl.astype(np.float32),
        "joints_rest": JOINTS_REST.copy(),
        "parents": np.array(PARENTS, dtype=np.int32),
        "joint_names": np.array(JOINT_NAMES, dtype="<U16"),
        "fps": np.array(fps, dtype=np.float32),
        "frame_indices": frames,
        "keypoints_2d": np.zeros((n, 33, 3), dtype=np.float32),
        "world_landmarks": np.zeros((n, 33, 4), dtype=np.float32),
        "image_size": np.array([640, 480], dtype=np.int32),
        "camera_intrinsics": np.array([[640, 0, 320], [0, 640, 240], [0, 0, 1]], dtype=np.float32),
        "source_video": np.array(source_video),
        "frame_count": np.array(frame_count or (int(frames.max()) + 1 if n else 0), dtype=np.int32),
    }
    if schema >= 2:
        verts, faces, weights = make_body_mesh()
        arrays.update(mesh_vertices=verts, mesh_faces=faces, skin_weights=weights,
                      body_model=np.array("open_body_neutral"),
                      betas=np.linspace(-0.5, 0.5, 10).astype(np.float32))
    return arrays


PLACED_PITCH_DEG = 12.0
PLACED_CAMERA_HEIGHT = 1.5


def placed_keys(frames: int, pitch_deg: float = PLACED_PITCH_DEG,
                height: float = PLACED_CAMERA_HEIGHT) -> Dict[str, np.ndarray]:
    """The place stage's result keys for a camera ``height`` m above the floor looking ``pitch_deg`` down: ground
    (the plane through the resting foot joints, 2 cm above the floor), world_rotation (camera -> Z-up world, built
    here from its definition: z the ground normal, y the camera's forward laid on the ground), camera_height and a
    contact pattern (heels on even thirds of the clip, toes on odd)."""
    t = np.radians(pitch_deg)
    normal = np.array([0.0, -np.cos(t), -np.sin(t)])
    forward = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    y = forward / np.linalg.norm(forward)
    rotation = np.stack([np.cross(y, normal), y, normal])
    contacts = np.zeros((frames, 4), np.uint8)
    third = (np.arange(frames) * 3) // max(frames, 1)
    contacts[:, :2] = (third % 2 == 0)[:, None]
    contacts[:, 2:] = (third % 2 == 1)[:, None]
    return {"ground": np.r_[normal, height - 0.02].astype(np.float32), "foot_contacts": contacts,
            "camera_height": np.float32(height), "world_rotation": rotation.astype(np.float32)}


TURNING_PAN_DEG = 15.0


def turning_keys(arrays: Dict[str, np.ndarray], pan_deg: float = TURNING_PAN_DEG) -> Dict[str, np.ndarray]:
    """A turning camera's result made of a still camera's ``arrays``: the camera pans ``pan_deg`` about its y axis
    over the clip (and tilts a fifth of that), ``camera_rotation`` R_t (``x_t = R_t x_0``) and ``camera_confidence``
    added, the root (orientation and pelvis) turned back into the first frame's camera frame, as the worker's
    camera stage writes it. Each frame's camera-frame body (what projects onto the pixels) is unchanged."""
    from server.body.rotations import euler_to_rotmat, rotmat_to_rotvec, rotvec_to_rotmat

    n = len(arrays["poses"])
    share = np.linspace(0.0, 1.0, n)
    turns = euler_to_rotmat(np.radians(np.stack([0.2 * pan_deg * share, pan_deg * share, 0.0 * share], 1)), "xyz")
    back = np.transpose(turns, (0, 2, 1))
    poses = arrays["poses"].copy()
    poses[:, 0] = rotmat_to_rotvec(back @ rotvec_to_rotmat(arrays["poses"][:, 0].astype(np.float64)))
    pelvis = np.einsum("nab,nb->na", back, arrays["transl"].astype(np.float64) + arrays["joints_rest"][0])
    return {"poses": poses, "transl": (pelvis - arrays["joints_rest"][0]).astype(np.float32),
            "camera_rotation": turns.astype(np.float32), "camera_confidence": np.full(n, 0.9, np.float32)}


def write_result(path: Path, **kwargs) -> Path:
    """Write :func:`make_result` to ``path`` (an .npz without pickles)."""
    np.savez(str(path), **make_result(**kwargs))
    return Path(path)


def with_fingers(arrays: Dict[str, np.ndarray], seed: int = 0) -> Dict[str, np.ndarray]:
    """``arrays`` (a 24-joint result from :func:`make_result`) as a capture with fingers: 54 joints (SMPL's 24, then
    SMPL-H's 30 finger joints hanging from the hand joints), the fingers curling and opening over time, SMPL's hand
    joints at rest, a box per bone as the mesh and ``hand_confidence``."""
    from server.body.layout import FINGERED_JOINT_NAMES, FINGERED_PARENTS

    out = dict(arrays)
    n = len(arrays["frame_indices"])
    fingers = np.zeros((30, 3), np.float32)
    for hand, sign in enumerate((1.0, -1.0)):
        hand_joint = JOINTS_REST[22 + hand]
        for finger in range(5):
            across = 0.02 * (finger - 2) if finger < 4 else -0.035
            for k in range(3):
                fingers[15 * hand + 3 * finger + k] = hand_joint + [sign * (0.03 + 0.025 * k), 0.0, across]
    joints = np.concatenate([arrays["joints_rest"], fingers]).astype(np.float32)
    t = np.asarray(arrays["frame_indices"], np.float64) / float(arrays["fps"])
    rng = np.random.default_rng(seed)
    curl = rng.uniform(0.2, 1.2, size=(1, 30)) * (0.5 + 0.5 * np.sin(2.0 * t))[:, None]   # (N, 30) radians
    finger_poses = np.zeros((n, 30, 3), np.float32)
    finger_poses[..., 2] = curl                    # about the front axis: the fingers bend down
    poses = np.array(arrays["poses"], np.float32)
    poses[:, 22:24] = 0.0
    out.update(schema_version=np.array(3, np.int32), poses=np.concatenate([poses, finger_poses], axis=1),
               joints_rest=joints, parents=np.array(FINGERED_PARENTS, np.int32),
               joint_names=np.array(FINGERED_JOINT_NAMES, dtype="<U16"),
               hand_confidence=np.full((n, 2), 0.8, np.float32))
    if "mesh_vertices" in arrays:
        verts, faces, weights = make_body_mesh(joints, FINGERED_PARENTS, half_width=0.01)
        out.update(mesh_vertices=verts, mesh_faces=faces, skin_weights=weights)
    return out


SLIDER_VALUES = (0.3, 1.75, 0.5, 0.4)   # gender, height (m), weight, muscle of :func:`with_sliders`' capture


def with_sliders(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """``arrays`` (a result with a mesh) with body-shape sliders (schema 4): each slider a linear change of the
    canonical rest points (``A_s p``: height stretches y about the soles, the others widen x or z), applied alike to
    the mesh and the joints, so the slid body is the same boxes on the same skeleton made that shape."""
    points = {"mesh": np.asarray(arrays["mesh_vertices"], np.float64),
              "joints": np.asarray(arrays["joints_rest"], np.float64)}
    floor = points["mesh"][:, 1].min()
    maps = [np.diag([0.2, 0.0, 0.0]), np.diag([0.0, 1.0, 0.0]) / 1.75, np.diag([0.3, 0.0, 0.3]),
            np.diag([0.0, 0.0, 0.4])]

    def dirs(p: np.ndarray) -> np.ndarray:
        moved = p - [0.0, floor, 0.0]
        return np.stack([moved @ a.T for a in maps]).astype(np.float32)
    out = dict(arrays)
    out.update(schema_version=np.array(4, np.int32), shape_sliders=np.array(["gender", "height", "weight", "muscle"]),
               shape_values=np.array(SLIDER_VALUES, np.float32), shape_vertex_dirs=dirs(points["mesh"]),
               shape_joint_dirs=dirs(points["joints"]))
    return out

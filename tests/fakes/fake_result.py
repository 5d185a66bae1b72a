"""A small, valid result .npz per CONTRACT (schema 1): plausible SMPL-like rest joints and smooth motion."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence

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


def make_result(frame_indices: Sequence[int], fps: float = 24.0, source_video: str = "",
                frame_count: int = 0, seed: int = 0) -> Dict[str, np.ndarray]:
    """Arrays of a result file for the given source frames (a person facing the camera, 4 m away)."""
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
    return {
        "schema_version": np.array(1, dtype=np.int32),
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


def write_result(path: Path, **kwargs) -> Path:
    """Write :func:`make_result` to ``path`` (an .npz without pickles)."""
    np.savez(str(path), **make_result(**kwargs))
    return Path(path)

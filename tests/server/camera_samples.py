"""Synthetic calibrated cameras for the calibration and triangulation tests (numpy only)."""
from __future__ import annotations

from typing import List

import numpy as np

from server.fitting.calibration import CameraCalibration

DISTORTION = (-0.05, 0.12, 0.001, -0.0008, 0.0)


def look_at(name: str, position, target=(0.0, 0.0, 1.0), focal: float = 1500.0,
            distortion=DISTORTION, size=(1080, 1920)) -> CameraCalibration:
    """A camera at ``position`` (world, z up, metres) looking at ``target``, OpenCV axes (y down)."""
    position, target = np.asarray(position, float), np.asarray(target, float)
    z = (target - position) / np.linalg.norm(target - position)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    rot = np.stack([x, np.cross(z, x), z])
    k = np.array([[focal, 0.0, size[0] / 2 - 7.0], [0.0, focal * 1.001, size[1] / 2 + 11.0], [0.0, 0.0, 1.0]])
    return CameraCalibration(name, size, k, distortion, rot, -rot @ position)


def ring(count: int = 4, radius: float = 4.0, height: float = 1.8) -> List[CameraCalibration]:
    """``count`` cameras around the origin, pitched down at a body 1 m up."""
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False) + 0.3
    return [look_at(f"cam{i + 1:02d}", (radius * np.cos(a), radius * np.sin(a), height)) for i, a in enumerate(angles)]


def body_points(frames: int = 5, landmarks: int = 33, seed: int = 0) -> np.ndarray:
    """(frames, landmarks, 3) points in a 1.8 m tall box around the origin."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-0.4, -0.3, 0.0], [0.4, 0.3, 1.8], (frames, landmarks, 3))


def observe(cameras: List[CameraCalibration], points: np.ndarray) -> np.ndarray:
    """points (N, L, 3) -> (V, N, L, 2) distorted pixels."""
    return np.stack([cam.project(points.reshape(-1, 3)).reshape(points.shape[:-1] + (2,)) for cam in cameras])

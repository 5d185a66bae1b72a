"""Ground plane, foot contacts and foot-sliding figures for a clip of SMPL joints (pure numpy).

Feet are SMPL's ankle (heel) and foot (toe base) joints: :data:`FOOT_JOINTS` = left ankle, right ankle, left
foot, right foot. Positions are (N, 24, 3) metres in any frame with a static ground (a static camera's frame or
the world); the ground is a plane ``n . p + d = 0`` with ``n`` pointing up (away from the floor), so the height of
a point is ``n . p + d``.

- :func:`up_direction`: the body's mean pelvis -> neck direction over the clip (a fallback when the frame's up
  direction is not known).
- :func:`fit_ground`: the plane through the feet where they rest: per frame the lowest foot point along the up
  direction, the frames where it barely moves, then an iteratively re-weighted least-squares plane (Geman-McClure).
  Its slope against the up direction has a Gaussian prior (SLOPE_PRIOR), so a floor the feet barely cover stays
  level and a well covered one is fitted (within ``max_tilt_deg``); the camera height is ``d`` for a camera-frame
  clip.
- :func:`foot_contacts`: per frame and foot point, low (height < ``height`` above the ground) and slow
  (speed < ``speed``), with gaps and blips shorter than ``min_frames`` closed / dropped.
- :func:`foot_sliding` and :func:`ground_penetration`: the benchmark figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..body.layout import JOINT_INDEX

FOOT_JOINTS = tuple(JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))
NECK = JOINT_INDEX["neck"]
CONTACT_HEIGHT = 0.05       # metres above the ground
CONTACT_SPEED = 0.25        # metres per second
MIN_FRAMES = 3
SLOPE_PRIOR = 0.05          # prior std of the floor's slope against the up direction (tan 3 degrees)
OTHER_LEVEL = 0.25          # metres: a foot further below the ground stands on another level (off a box, a step)


@dataclass(frozen=True)
class Ground:
    """The plane ``normal . p + offset = 0``; normal (3,) unit, pointing up. ``support`` (N,) bool: the frames whose
    lowest foot point was used for the fit."""

    normal: np.ndarray
    offset: float
    support: np.ndarray

    def height(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) -> (...) metres above the plane."""
        return np.asarray(points, dtype=np.float64) @ self.normal + self.offset


def up_direction(joints: np.ndarray) -> np.ndarray:
    """joints (N, 24, 3) -> (3,) unit: the mean pelvis -> neck direction."""
    spine = joints[:, NECK] - joints[:, 0]
    spine = spine / np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
    up = spine.mean(0)
    return up / max(float(np.linalg.norm(up)), 1e-9)


def _speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(N, ..., 3) -> (N, ...) metres per second (central differences, one-sided at the ends)."""
    if points.shape[0] < 2:
        return np.zeros(points.shape[:-1])
    return np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps


def _moving(points: np.ndarray, fps: float, across_rays: bool) -> np.ndarray:
    """(N, ..., 3) -> (N, ...) speed in metres per second; ``across_rays``: without the part along each point's
    camera ray (a single view's depth noise lives there)."""
    if not across_rays:
        return _speed(points, fps)
    velocity = np.gradient(points, axis=0) * fps if len(points) > 1 else np.zeros_like(points)
    ray = points / np.maximum(np.linalg.norm(points, axis=-1, keepdims=True), 1e-9)
    return np.linalg.norm(velocity - (velocity * ray).sum(-1, keepdims=True) * ray, axis=-1)


def fit_ground(joints: np.ndarray, fps: float, up: Optional[np.ndarray] = None, iterations: int = 5,
               max_tilt_deg: float = 30.0, slope_prior: float = SLOPE_PRIOR, rest_speed: float = 2.0 * CONTACT_SPEED,
               across_rays: bool = False) -> Ground:
    """joints (N, 24, 3), N >= 2 -> the ground plane under the feet (see the module docstring). ``up`` (3,): the
    frame's up direction when known (a world frame; a level camera's -y), else the body's mean spine direction,
    which leans with the motion (measured on held-out mocap clips: 0.4-33 degrees off the vertical);
    ``slope_prior`` the prior std of the floor's slope against ``up``; a foot point slower than ``rest_speed`` rests
    (``across_rays``: as in :func:`foot_contacts`). Raises ValueError when no frame has a resting foot."""
    joints = np.asarray(joints, dtype=np.float64)
    feet = joints[:, list(FOOT_JOINTS)]                                       # (N, 4, 3)
    up = up_direction(joints) if up is None else np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    lowest = np.argmin(feet @ up, axis=1)                                     # (N,)
    rows = np.arange(len(feet))
    points = feet[rows, lowest]                                               # (N, 3)
    still = _moving(feet, fps, across_rays)[rows, lowest] < rest_speed
    if still.sum() < 3:
        raise ValueError("no frame has a foot at rest: the ground cannot be found")
    p = points[still]
    e1 = np.cross(up, [1.0, 0.0, 0.0] if abs(up[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    basis = np.stack([up, e1, np.cross(up, e1)])                             # up and two floor directions
    local = p @ basis.T                                                       # (M, 3): height, floor coordinates
    normal, weight = up, np.ones(len(p))
    offset = -float(np.median(p @ normal))
    slope = np.zeros(2)
    limit = np.tan(np.radians(max_tilt_deg))
    for _ in range(iterations):
        residual = p @ normal + offset
        scale = max(float(np.median(np.abs(residual))) * 1.4826, 0.005)
        weight = scale ** 2 / (scale ** 2 + residual ** 2)                   # Geman-McClure weights
        # heights h = -d' - slope . (floor coordinates): weighted least squares with a Gaussian prior on the
        # slope (SLOPE_PRIOR), so a floor the feet barely cover stays level and a well covered one is fitted
        a = np.concatenate([local[:, 1:], np.ones((len(p), 1))], 1)
        lhs = (a * weight[:, None]).T @ a + np.diag([scale ** 2 / slope_prior ** 2] * 2 + [0.0])
        solution = np.linalg.solve(lhs, (a * weight[:, None]).T @ local[:, 0])
        slope = np.clip(solution[:2], -limit, limit)
        normal = up - slope[0] * basis[1] - slope[1] * basis[2]
        normal /= np.linalg.norm(normal)
        centre = (weight[:, None] * p).sum(0) / weight.sum()
        offset = -float(centre @ normal)
    support = np.zeros(len(feet), bool)
    support[np.flatnonzero(still)[weight > 0.5]] = True
    return Ground(normal, offset, support)


def _clean_runs(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """(N,) bool -> same with gaps shorter than ``min_frames`` filled, then runs shorter than it dropped."""
    out = mask.copy()
    for value in (False, True):          # first close short gaps, then drop short blips
        n, start = len(out), 0
        while start < n:
            end = start
            while end < n and out[end] == out[start]:
                end += 1
            if out[start] == value and end - start < min_frames and (value or (start > 0 and end < n)):
                out[start:end] = not value
            start = end
    return out


def foot_contacts(joints: np.ndarray, ground: Ground, fps: float, height: float = CONTACT_HEIGHT,
                  speed: float = CONTACT_SPEED, min_frames: int = MIN_FRAMES, across_rays: bool = False) -> np.ndarray:
    """joints (N, 24, 3) -> (N, 4) bool contacts of FOOT_JOINTS (heel and toe, left and right): low above the ground
    (but not more than OTHER_LEVEL below it: another level) and slow. ``across_rays``
    (a camera-frame clip): the speed leaves out the motion along each point's camera ray, where a single view's
    depth noise lives."""
    feet = np.asarray(joints, dtype=np.float64)[:, list(FOOT_JOINTS)]
    moving = _moving(feet, fps, across_rays)
    above = ground.height(feet)
    raw = (above < height) & (above > -OTHER_LEVEL) & (moving < speed)
    return np.stack([_clean_runs(raw[:, k], min_frames) for k in range(raw.shape[1])], -1)


def foot_sliding(joints: np.ndarray, contacts: np.ndarray, ground: Ground) -> float:
    """Mean horizontal displacement (cm per frame) of the foot points over consecutive frames both in contact;
    NaN without any."""
    feet = np.asarray(joints, dtype=np.float64)[:, list(FOOT_JOINTS)]
    step = feet[1:] - feet[:-1]
    step = step - (step @ ground.normal)[..., None] * ground.normal            # horizontal part
    both = contacts[1:] & contacts[:-1]
    if not both.any():
        return float("nan")
    return float(np.linalg.norm(step, axis=-1)[both].mean() * 100.0)


def ground_penetration(joints: np.ndarray, ground: Ground) -> Tuple[float, float]:
    """(mean depth in cm of the foot points below the ground where they are below it (0 if never), the fraction of
    foot points below it by more than 1 cm)."""
    h = ground.height(np.asarray(joints, dtype=np.float64)[:, list(FOOT_JOINTS)])
    below = h < 0.0
    depth = float(-h[below].mean() * 100.0) if below.any() else 0.0
    return depth, float((h < -0.01).mean())


def camera_height(ground: Ground) -> float:
    """For a clip in the camera's frame: the camera's height above the ground (metres)."""
    return float(ground.offset)


LEGS = {JOINT_INDEX["left_ankle"]: ("left_knee",), JOINT_INDEX["right_ankle"]: ("right_knee",),
        JOINT_INDEX["left_foot"]: ("left_knee", "left_ankle"), JOINT_INDEX["right_foot"]: ("right_knee", "right_ankle")}


def contact_weights(contacts: np.ndarray, frames: int, joints: int = 24) -> np.ndarray:
    """(N, 4) bool contacts -> (N, 24) float32 per-joint weights (1 on the contacting foot joints)."""
    out = np.zeros((frames, joints), np.float32)
    out[:, list(FOOT_JOINTS)] = contacts.astype(np.float32)
    return out


def contact_anchors(joints: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """joints (N, 24, 3), contacts (N, 4) -> anchors (N, 24, 3): for every run of contact frames of a foot point,
    its median position over the run (elsewhere the joints themselves)."""
    out = np.array(joints, dtype=np.float64, copy=True)
    for k, j in enumerate(FOOT_JOINTS):
        c = contacts[:, k]
        start = 0
        while start < len(c):
            end = start
            while end < len(c) and c[end] == c[start]:
                end += 1
            if c[start]:
                out[start:end, j] = np.median(joints[start:end, j], axis=0)
            start = end
    return out


def leg_release(contacts: np.ndarray, frames: int, joints: int = 24) -> np.ndarray:
    """(N, 4) bool contacts -> (N, 24) float32: 1 on the joints above a contacting foot point (knee, ankle) whose
    data term should give way so the leg can bend to hold the foot, 0 elsewhere."""
    out = np.zeros((frames, joints), np.float32)
    for k, j in enumerate(FOOT_JOINTS):
        for name in LEGS[j]:
            out[:, JOINT_INDEX[name]] = np.maximum(out[:, JOINT_INDEX[name]], contacts[:, k])
    return out

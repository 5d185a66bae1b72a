"""World placement for a static camera: steady the monocular root depth, find the ground under the feet and the
camera's height above it (pure numpy).

A single view measures the body's distance from the camera only through its apparent size, so the root depth of a
capture wanders by decimetres (Sports2D: +-0.3 m within a second; it jitters frame to frame without refinement)
while the image position is sharp. :func:`place` therefore moves the body only along the camera ray through its
pelvis (the pelvis stays on the same pixel) and

1. smooths the depth with a Whittaker smoother (second differences, :func:`whittaker`) whose strength is set by the
   depth's measured noise against a plausible root acceleration (:data:`ROOT_ACCEL`);
2. fits the ground plane and the foot contacts on the steadied, low-passed joints (:func:`camera_ground`: the
   body's up while it stands on both feet, read on the detector's metric landmarks, as a tight slope prior; :func:`camera_contacts`: a single view's thresholds).

A slow depth error (the body's size misjudged for a second) stays: contacts on the found ground could pin the depth
only for a camera looking down steeply, and measured (scripts/benchmark_place.py, cameras pitched 0-45 degrees)
adding them as depth observations gained 0.1-0.5 cm of the 22-26 cm error, or lost a lot when trusted more (the
found ground's own tilt error moves them), so they are not used.

The result is still in the camera frame (x right, y down, z forward, metres); :func:`camera_to_world` gives the
rotation onto a Z-up world whose ground is z = 0 beneath a camera at ``camera_height``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..body.layout import JOINT_INDEX
from .feet import NECK, Ground, fit_ground, foot_contacts

ANKLES = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])

log = logging.getLogger(__name__)

ROOT_ACCEL = 3.0            # m/s^2: std of the root's acceleration along the depth axis the smoother allows
CAMERA_SLOPE_PRIOR = float(np.tan(np.radians(1.0)))   # prior std of the ground's slope against the body's up
BODY_UP_MAX_DEG = 60.0      # the body's up is trusted within this of a level camera's (cameras pitched 20-25 degrees
                            # and rolled are 26-34 degrees off it: Pose2Sim)
DOUBLE_SUPPORT = 0.10       # metres: both feet's lowest points this close along the up: the body stands on both
MIN_SUPPORT_FRAMES = 10
# (hips, ankles, left foot points, right foot points, neck) in BlazePose's 33 landmarks and in SMPL's 24 joints
BLAZEPOSE_LAYOUT = ((23, 24), (27, 28), (27, 29, 31), (28, 30, 32), (11, 12))
SMPL_LAYOUT = ((0,), ANKLES, (ANKLES[0], JOINT_INDEX["left_foot"]), (ANKLES[1], JOINT_INDEX["right_foot"]), (NECK,))
MIN_DEPTH_NOISE = 0.005     # metres
CAMERA_CONTACT_HEIGHT = 0.10  # metres: contact thresholds of a single view (looser than mocap's 5 cm, 0.25 m/s:
CAMERA_CONTACT_SPEED = 0.40   # m/s    the detector's foot keypoints jitter by 1-5 px at rest, ~0.1-0.6 m/s at 7 m)
MIN_CAMERA_DEPTH = 1.0      # metres: a body nearer the camera centre is not a single view's capture

LowPass = Callable[[np.ndarray, float], np.ndarray]   # joints (N, 24, 3), fps -> low-passed joints


@dataclass(frozen=True)
class Placement:
    """What :func:`place` found. ``shift`` (N, 3): metres added to every joint and to the translation of each frame
    (along the pelvis ray); ``ground`` in the camera frame; ``contacts`` (N, 4) bool of the FOOT_JOINTS;
    ``depth_noise`` the measured per-frame noise of the input's root depth (metres)."""

    shift: np.ndarray
    ground: Ground
    contacts: np.ndarray
    depth_noise: float

    @property
    def camera_height(self) -> float:
        """The camera's height above the ground (metres)."""
        return float(self.ground.offset)

    @property
    def camera_pitch_deg(self) -> float:
        """How far the camera looks down (positive) or up from the horizontal, degrees."""
        return float(np.degrees(np.arcsin(np.clip(-self.ground.normal[2], -1.0, 1.0))))


def whittaker(values: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """``argmin_z sum w (z - v)^2 + lam sum (D2 z)^2`` for values (N,), weights (N,) >= 0 (not all 0) -> (N,).
    A banded (pentadiagonal) Cholesky solve, O(N)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = len(v)
    if n < 3 or lam <= 0.0:
        return v.copy()
    d2 = np.zeros((n - 2, n))
    rows = np.arange(n - 2)
    d2[rows, rows], d2[rows, rows + 1], d2[rows, rows + 2] = 1.0, -2.0, 1.0
    if n <= 1500:
        return np.linalg.solve(np.diag(w) + lam * d2.T @ d2, w * v)
    return _banded_solve(w, lam, w * v)


def _banded_solve(w: np.ndarray, lam: float, rhs: np.ndarray) -> np.ndarray:
    """Solve (W + lam D2^T D2) z = rhs by banded LDL^T (bandwidth 2) for long clips."""
    n = len(w)
    diag = np.full(n, 6.0)
    diag[[0, -1]], diag[[1, -2]] = 1.0, 5.0
    off1 = np.full(n - 1, -4.0)
    off1[[0, -1]] = -2.0
    a0, a1, a2 = w + lam * diag, lam * off1, np.full(n - 2, lam)
    d, l1, l2 = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        d[i] = a0[i] - (l1[i - 1] ** 2 * d[i - 1] if i >= 1 else 0.0) - (l2[i - 2] ** 2 * d[i - 2] if i >= 2 else 0.0)
        if i + 1 < n:
            l1[i] = (a1[i] - (l2[i - 1] * l1[i - 1] * d[i - 1] if i >= 1 else 0.0)) / d[i]
        if i + 2 < n:
            l2[i] = a2[i] / d[i]
    y = np.zeros(n)
    for i in range(n):
        y[i] = rhs[i] - (l1[i - 1] * y[i - 1] if i >= 1 else 0.0) - (l2[i - 2] * y[i - 2] if i >= 2 else 0.0)
    z = y / d
    for i in range(n - 1, -1, -1):
        z[i] -= (l1[i] * z[i + 1] if i + 1 < n else 0.0) + (l2[i] * z[i + 2] if i + 2 < n else 0.0)
    return z


def depth_noise(depth: np.ndarray) -> float:
    """(N,) -> the per-frame noise std of a depth track from its third differences (median |D3| / 0.6745 / sqrt 20:
    smooth motion barely excites them)."""
    d = np.asarray(depth, dtype=np.float64)
    if len(d) < 6:
        return MIN_DEPTH_NOISE
    d3 = d[3:] - 3.0 * d[2:-1] + 3.0 * d[1:-2] - d[:-3]
    return max(float(np.median(np.abs(d3))) / 0.6745 / np.sqrt(20.0), MIN_DEPTH_NOISE)


def _median_direction(vectors: np.ndarray) -> np.ndarray:
    """(N, 3) -> (3,) unit: the median of the unit vectors, normalised."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)
    m = np.median(unit, axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-9)


def support_up(points: np.ndarray, layout=SMPL_LAYOUT) -> np.ndarray:
    """Points (N, J, 3) of the body (``layout`` names hips, ankles, each foot's points, neck) -> (3,) unit: the
    median mid-ankle -> mid-hip direction over the frames where the body stands on both feet (their lowest points
    within DOUBLE_SUPPORT along the current up; three passes from the neck -> mid-ankle median, the tolerance
    widened 1.5 x until MIN_SUPPORT_FRAMES frames qualify). A standing body's legs are vertical then, while its
    trunk leans and a kick or a one-legged stance tilts the neck -> ankles axis (Pose2Sim: 11 degrees off)."""
    hips, ankles, left, right, neck = (list(i) for i in layout)
    mid_ankle = points[:, ankles].mean(1)
    legs = points[:, hips].mean(1) - mid_ankle
    up = _median_direction(points[:, neck].mean(1) - mid_ankle)
    for _ in range(3):
        gap = np.abs((points[:, left] @ up).min(1) - (points[:, right] @ up).min(1))
        tolerance = DOUBLE_SUPPORT
        while (gap < tolerance).sum() < min(MIN_SUPPORT_FRAMES, len(points)) and tolerance < 1.0:
            tolerance *= 1.5
        up = _median_direction(legs[gap < tolerance])
    return up


def body_up(joints: np.ndarray, level_up: np.ndarray, max_deg: float = BODY_UP_MAX_DEG,
            landmarks: Optional[np.ndarray] = None) -> np.ndarray:
    """(3,) unit: the body's up (:func:`support_up`) from the detector's own metric landmarks (N, 33, 3, camera
    axes) when given -- measured on Pose2Sim's calibrated views 1.6-5.4 degrees off the truth, against 10-15 for
    our joints' tilt, which the regressor biases towards a level camera -- else from the joints (N, 24, 3); or
    ``level_up`` when that is more than ``max_deg`` away from it (someone lying, a camera on its side)."""
    up = support_up(landmarks, BLAZEPOSE_LAYOUT) if landmarks is not None else support_up(joints)
    level_up = np.asarray(level_up, dtype=np.float64) / np.linalg.norm(level_up)
    return up if float(up @ level_up) > np.cos(np.radians(max_deg)) else level_up


def seen_from_afar(joints: np.ndarray) -> bool:
    """True when the body is in front of the camera on every frame (pelvis depth > MIN_CAMERA_DEPTH): only then is
    the motion along a camera ray a single view's depth noise. A camera-frame clip made from keyframes (the add-on
    sends an armature's world through the level camera's axes) sits around the origin instead."""
    return bool(np.all(np.asarray(joints)[:, 0, 2] > MIN_CAMERA_DEPTH))


def camera_ground(joints: np.ndarray, fps: float, level_up: np.ndarray,
                  landmarks: Optional[np.ndarray] = None) -> Ground:
    """:func:`.feet.fit_ground` for a camera-frame clip: the body's up as a tight prior (:func:`body_up`, 1 degree:
    the feet's own plane is tilted by the single view's depth error, 6-26 degrees on Pose2Sim), rest at twice the
    contact speed, read across the camera rays when :func:`seen_from_afar`."""
    return fit_ground(joints, fps, body_up(joints, level_up, landmarks=landmarks), slope_prior=CAMERA_SLOPE_PRIOR,
                      rest_speed=2.0 * CAMERA_CONTACT_SPEED, across_rays=seen_from_afar(joints))


def camera_contacts(joints: np.ndarray, ground: Ground, fps: float) -> np.ndarray:
    """:func:`.feet.foot_contacts` with a single view's thresholds, the speed taken across the camera rays when
    :func:`seen_from_afar`."""
    return foot_contacts(joints, ground, fps, CAMERA_CONTACT_HEIGHT, CAMERA_CONTACT_SPEED,
                         across_rays=seen_from_afar(joints))


def _shift_to(joints: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The (N, 3) shift that moves each frame's pelvis along its ray to ``depth`` (N,)."""
    pelvis = joints[:, 0]
    return pelvis * (depth / pelvis[:, 2] - 1.0)[:, None]


def place(joints: np.ndarray, fps: float, low_pass: LowPass, up: Optional[np.ndarray] = None,
          accel: float = ROOT_ACCEL, landmarks: Optional[np.ndarray] = None) -> Placement:
    """Camera-frame joints (N, 24, 3) of a static camera's clip -> the :class:`Placement` (see the module
    docstring). ``low_pass`` smooths joints for their noise before the ground and the contacts are read; ``up`` the
    camera frame's level up (default: a level camera, -y); ``landmarks`` (N, 33, 3) the detector's metric world
    landmarks (camera axes), which give the body's up (:func:`body_up`). Raises ValueError when no foot ever rests
    (no ground)."""
    joints = np.asarray(joints, dtype=np.float64)
    if not np.all(joints[:, 0, 2] > 0.1):
        raise ValueError("the body is behind or at the camera")
    up = np.array([0.0, -1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    depth = joints[:, 0, 2]
    noise = depth_noise(depth)
    lam = (noise / (accel / fps ** 2)) ** 2
    steady = whittaker(depth, np.ones(len(depth)), lam)
    moved = low_pass(joints + _shift_to(joints, steady)[:, None], fps)
    ground = camera_ground(moved, fps, up, landmarks)
    contacts = camera_contacts(moved, ground, fps)
    shift = _shift_to(joints, steady)
    log.info("placement: root depth noise %.3f m/frame, camera %.2f m above the ground, %.0f%% foot contact",
             noise, ground.offset, 100.0 * contacts.mean())
    return Placement(shift=shift, ground=ground, contacts=contacts, depth_noise=noise)


def camera_to_world(normal: np.ndarray) -> np.ndarray:
    """Ground normal (3,) in the camera frame -> (3, 3) rotation R onto a Z-up world: z along the normal, y the
    camera's forward direction laid on the ground, x = y x z (camera right). A level camera gives (x, z, -y).
    World position = ``R p + (0, 0, offset)`` puts the ground at z = 0."""
    z = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    forward = np.array([0.0, 0.0, 1.0]) - z[2] * z
    if np.linalg.norm(forward) < 1e-6:                                      # looking straight down
        forward = np.array([0.0, -1.0, 0.0]) - z[1] * z
    y = forward / np.linalg.norm(forward)
    return np.stack([np.cross(y, z), y, z])

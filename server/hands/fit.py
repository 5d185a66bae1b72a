"""Finger rotations from MediaPipe's 21 metric hand landmarks: our own fit, pure numpy.

Per frame and hand: the observed hand (or its mirror in depth, whichever bends plausibly: :func:`plausible_angles`)
is turned onto the rest hand by their palms (the frame of the wrist, the middle
knuckle and the index-pinky line), so what is left is the fingers' own bend. Down each finger, joint by joint, the
bone leaving the joint is swung from its rest direction onto the observed one, in the joint's anatomical frame
(along the bone; toward the palm; across): the swing is split into flexion (toward the palm) and spread (across),
each clamped to the joint's range (:data:`JOINT_LIMITS`: the middle and last joints of a finger only bend, and not
backwards), and the joint gets the rotation of the clamped swing with no twist. The joint angles are then smoothed
over time weighted by confidence; frames without a hand are filled from their neighbours (confidence falling with
the distance to a seen frame) and far from any seen frame the hand goes back to rest (confidence 0). Rotations are
SMPL-H's local finger rotations (axis-angle, the parent joint's frame, rest = 0), joint order of
:data:`server.body.layout.FINGER_NAMES`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..body.layout import FINGER_NAMES, HAND_SIDES, JOINTS_PER_FINGER, NUM_FINGER_JOINTS
from ..body.rotations import rotation_between_vectors, rotmat_to_rotvec, rotvec_to_rotmat
from .angles import FINGER_CHAINS

WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17

# (least flexion, most flexion, most spread) degrees per joint of a finger: knuckle, middle, last.
_FINGER = ((-20.0, 90.0, 25.0), (0.0, 110.0, 0.0), (-5.0, 90.0, 0.0))
_THUMB = ((-30.0, 60.0, 40.0), (-10.0, 70.0, 15.0), (-10.0, 90.0, 0.0))
JOINT_LIMITS: np.ndarray = np.array([_THUMB if name == "thumb" else _FINGER for name in FINGER_NAMES])  # (5, 3, 3)


@dataclass(frozen=True)
class FitConfig:
    """Temporal settings of the finger fit (seconds, so they hold at any frame rate)."""

    smooth_seconds: float = 0.05     # sigma of the confidence-weighted Gaussian over time
    fill_seconds: float = 0.5        # a gap up to this long is filled from both sides
    fade_seconds: float = 0.25       # past a seen frame (and past fill_seconds), the hand returns to rest over this


def palm_frame(points: np.ndarray) -> np.ndarray:
    """(..., 21, 3) hand landmarks -> (..., 3, 3) an orthonormal frame (columns: wrist to middle knuckle; in the
    palm's plane toward the index; the normal, cross of the two) of the palm."""
    out = points[..., MIDDLE_MCP, :] - points[..., WRIST, :]
    out = out / np.linalg.norm(out, axis=-1, keepdims=True)
    across = points[..., INDEX_MCP, :] - points[..., PINKY_MCP, :]
    across = across - np.sum(across * out, axis=-1, keepdims=True) * out
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    return np.stack([out, across, np.cross(out, across)], axis=-1)


def _palm_side(side: str) -> float:
    """+1 when the palm frame's normal points out of the palm (a left hand), -1 when out of the back (a right hand)."""
    return 1.0 if side == HAND_SIDES[0] else -1.0


def finger_angles(points: np.ndarray, rest: np.ndarray, side: str) -> np.ndarray:
    """(N, 21, 3) observed hand landmarks (metres, any frame) and the (21, 3) rest hand of ``side`` ->
    (N, 5, 3, 2) per finger and joint (flexion, spread) in degrees, unclamped."""
    points = np.asarray(points, dtype=np.float64)
    rest_frame = palm_frame(rest)
    turn = np.einsum("ij,nkj->nik", rest_frame, palm_frame(points))         # observed palm -> rest palm
    aligned = np.einsum("nij,nkj->nki", turn, points - points[:, :1])      # (N, 21, 3) in the rest palm's frame
    rest = rest - rest[:1]
    normal = _palm_side(side) * rest_frame[:, 2]
    angles = np.zeros((len(points), len(FINGER_CHAINS), JOINTS_PER_FINGER, 2))
    for finger, chain in enumerate(FINGER_CHAINS):
        parent = np.broadcast_to(np.eye(3), (len(points), 3, 3))
        for k in range(JOINTS_PER_FINGER):
            bone_rest = rest[chain[k + 2]] - rest[chain[k + 1]]
            axis = bone_rest / np.linalg.norm(bone_rest)
            palm = normal - np.dot(normal, axis) * axis
            palm /= np.linalg.norm(palm)
            cross = np.cross(axis, palm)
            seen = np.einsum("nji,nj->ni", parent, aligned[:, chain[k + 2]] - aligned[:, chain[k + 1]])
            along, toward, side_way = seen @ axis, seen @ palm, seen @ cross
            angles[:, finger, k, 0] = np.degrees(np.arctan2(toward, along))
            angles[:, finger, k, 1] = np.degrees(np.arctan2(side_way, np.hypot(along, toward)))
            parent = parent @ _joint_rotation(angles[:, finger, k], axis, palm, cross)
    return angles


def _joint_rotation(angles: np.ndarray, axis: np.ndarray, palm: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """(N, 2) (flexion, spread) degrees in a joint's frame -> (N, 3, 3) the twist-free rotation taking the bone's rest
    direction ``axis`` to that direction."""
    flex, spread = np.radians(angles[:, 0]), np.radians(angles[:, 1])
    target = (np.cos(spread) * np.cos(flex))[:, None] * axis + (np.cos(spread) * np.sin(flex))[:, None] * palm \
        + np.sin(spread)[:, None] * cross
    return rotation_between_vectors(np.broadcast_to(axis, target.shape), target)


def plausible_angles(points: np.ndarray, rest: np.ndarray, side: str) -> np.ndarray:
    """(N, 21, 3) observed metric hand landmarks -> (N, 5, 3, 2) :func:`finger_angles` of the hand as seen or of its
    mirror in depth, whichever bends its fingers' middle and last joints more toward the palm.

    One view cannot tell a hand from its mirror in depth (both project alike), and the model's depth sometimes picks
    the other hand's chirality (measured on Pose2Sim: most of one view's left hands); the fingers' middle and last
    joints only flex, so the mirror that has them bending backwards is the wrong one."""
    as_seen = finger_angles(points, rest, side)
    mirrored = finger_angles(np.asarray(points) * np.array([1.0, 1.0, -1.0]), rest, side)
    bend = [a[:, :4, 1:, 0].sum((-1, -2)) for a in (as_seen, mirrored)]
    return np.where((bend[1] > bend[0])[:, None, None, None], mirrored, as_seen)


def clamp_angles(angles: np.ndarray) -> np.ndarray:
    """(..., 5, 3, 2) (flexion, spread) degrees -> the same within :data:`JOINT_LIMITS`."""
    flex = np.clip(angles[..., 0], JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1])
    spread = np.clip(angles[..., 1], -JOINT_LIMITS[..., 2], JOINT_LIMITS[..., 2])
    return np.stack([flex, spread], axis=-1)


def angles_to_rotvecs(angles: np.ndarray, rest: np.ndarray, side: str) -> np.ndarray:
    """(N, 5, 3, 2) (flexion, spread) degrees -> (N, 15, 3) SMPL-H local finger rotations (axis-angle) of ``side``."""
    rest_frame = palm_frame(rest)
    rest = rest - rest[:1]
    normal = _palm_side(side) * rest_frame[:, 2]
    out = np.zeros((len(angles), NUM_FINGER_JOINTS, 3))
    for finger, chain in enumerate(FINGER_CHAINS):
        for k in range(JOINTS_PER_FINGER):
            bone_rest = rest[chain[k + 2]] - rest[chain[k + 1]]
            axis = bone_rest / np.linalg.norm(bone_rest)
            palm = normal - np.dot(normal, axis) * axis
            palm /= np.linalg.norm(palm)
            rot = _joint_rotation(angles[:, finger, k], axis, palm, np.cross(axis, palm))
            out[:, finger * JOINTS_PER_FINGER + k] = rotmat_to_rotvec(rot)
    return out


def posed_hand(rotvecs: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(N, 15, 3) local finger rotations and the (21, 3) rest hand -> (N, 21, 3) the posed hand's landmarks (the
    wrist fixed; forward kinematics down each finger)."""
    rot = rotvec_to_rotmat(rotvecs)                                                     # (N, 15, 3, 3)
    out = np.broadcast_to(rest, (len(rotvecs),) + rest.shape).copy()
    for finger, chain in enumerate(FINGER_CHAINS):
        glob = np.broadcast_to(np.eye(3), (len(rotvecs), 3, 3))
        for k in range(JOINTS_PER_FINGER):
            glob = glob @ rot[:, finger * JOINTS_PER_FINGER + k]
            bone = rest[chain[k + 2]] - rest[chain[k + 1]]
            out[:, chain[k + 2]] = out[:, chain[k + 1]] + glob @ bone
    return out


def _gaussian_average(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """(N, D) values with (N,) weights -> (N, D) their weighted Gaussian average around every frame (sigma in
    frames, the kernel cut at 4 sigma, so a long clip costs N x kernel, not N x N)."""
    radius = max(1, int(np.ceil(4.0 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / max(sigma, 1e-6)) ** 2)
    total = np.convolve(weights, kernel, mode="same")
    weighted = values * weights[:, None]
    summed = np.stack([np.convolve(weighted[:, d], kernel, mode="same") for d in range(values.shape[1])], axis=1)
    return summed / np.maximum(total, 1e-12)[:, None]


def smooth_hand(angles: np.ndarray, confidence: np.ndarray, fps: float,
                config: FitConfig = FitConfig()) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 5, 3, 2) per-frame angles (anything where confidence is 0) and (N,) confidence -> the smoothed, filled
    angles (N, 5, 3, 2) and each frame's confidence (N,).

    Seen frames: a confidence-weighted Gaussian over the seen frames near them, their own confidence. A gap of at most
    ``fill_seconds`` between two seen frames: interpolated, confidence half the neighbours' mean, falling to 0 across
    the fill span. Before the first, after the last seen frame and inside longer gaps: the nearest values faded
    to rest (0) over ``fade_seconds``, confidence 0."""
    count = len(angles)
    seen = np.flatnonzero(confidence > 0)
    if not len(seen):
        return np.zeros_like(angles), np.zeros(count)
    flat = np.where(confidence[:, None] > 0, angles.reshape(count, -1), 0.0)
    smooth = _gaussian_average(flat, np.where(confidence > 0, confidence, 0.0), config.smooth_seconds * fps)
    frames = np.arange(count)
    filled = np.stack([np.interp(frames, seen, smooth[seen, d]) for d in range(flat.shape[1])], axis=1)
    slot = np.clip(np.searchsorted(seen, frames, side="right") - 1, 0, len(seen) - 1)
    last = seen[slot]
    nxt = seen[np.minimum(slot + 1, len(seen) - 1)]
    gap = np.minimum(np.abs(frames - last), np.abs(nxt - frames)).astype(np.float64)
    inside = (last < frames) & (frames < nxt) & ((nxt - last) <= config.fill_seconds * fps)
    fade = np.clip(1.0 - gap / max(config.fade_seconds * fps, 1e-6), 0.0, 1.0)
    keep = np.where(inside | (confidence > 0), 1.0, fade)
    span = np.maximum(nxt - last, 1).astype(np.float64)
    gap_conf = 0.5 * 0.5 * (confidence[last] + confidence[nxt]) * (1.0 - gap / span)
    conf = np.where(confidence > 0, confidence, np.where(inside, gap_conf, 0.0))
    return (filled * keep[:, None]).reshape(angles.shape), conf


def fit_hands(world: np.ndarray, confidence: np.ndarray, rests: np.ndarray, fps: float,
              config: FitConfig = FitConfig(), looked: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 2, 21, 3) metric hand landmarks per frame (left, right), (N, 2) confidence (0: no hand) and the (2, 21, 3)
    rest hands -> (N, 2, 15, 3) SMPL-H local finger rotations (axis-angle) and (N, 2) their confidence.

    ``looked`` (N,) bool: the frames the hands were looked for on (None: all). The fit runs on those frames alone
    (at their own rate) and the frames between are interpolated from them, angles and confidence alike: a frame not
    looked at is not a frame where the hand was missed."""
    count = len(world)
    rows = np.flatnonzero(np.ones(count, bool) if looked is None else looked)
    poses = np.zeros((count, 2, NUM_FINGER_JOINTS, 3))
    conf = np.zeros((count, 2))
    if not len(rows):
        return poses, conf
    rate = fps / float(np.median(np.diff(rows))) if len(rows) > 1 else fps
    frames = np.arange(count)
    for hand, side in enumerate(HAND_SIDES):
        seen = confidence[rows, hand] > 0
        angles = np.zeros((len(rows), len(FINGER_CHAINS), JOINTS_PER_FINGER, 2))
        if seen.any():
            angles[seen] = clamp_angles(plausible_angles(world[rows[seen], hand], rests[hand], side))
        smoothed, row_conf = smooth_hand(angles, confidence[rows, hand], rate, config)
        flat = smoothed.reshape(len(rows), -1)
        every = np.stack([np.interp(frames, rows, flat[:, d]) for d in range(flat.shape[1])], axis=1)
        conf[:, hand] = np.interp(frames, rows, row_conf)
        poses[:, hand] = angles_to_rotvecs(clamp_angles(every.reshape((count,) + smoothed.shape[1:])), rests[hand],
                                           side)
    return poses, conf

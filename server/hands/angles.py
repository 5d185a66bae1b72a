"""Finger joint angles from MediaPipe's 21 hand landmarks: pure numpy.

Each finger is a chain of five landmarks (the wrist, then the finger's four points, see
:data:`server.detection.hands.HAND_LANDMARK_NAMES`); its three joints are SMPL-H's three joints of that finger (thumb:
CMC, MCP, IP; the others: MCP, PIP, DIP). A joint's angle is the bend between the segment into it and the segment out
of it: 0 for a straight finger, about 90 degrees for a fist's knuckle. The angle ignores where the hand points, so
one view's hand and a triangulated hand compare directly, in whatever frame each is.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..body.layout import FINGER_NAMES, NUM_FINGER_JOINTS

_CHAINS: Dict[str, Tuple[int, ...]] = {
    "thumb": (0, 1, 2, 3, 4), "index": (0, 5, 6, 7, 8), "middle": (0, 9, 10, 11, 12), "ring": (0, 13, 14, 15, 16),
    "pinky": (0, 17, 18, 19, 20),
}
# Each finger (SMPL-H's order, FINGER_NAMES) as its chain of MediaPipe landmarks out of the wrist.
FINGER_CHAINS: Tuple[Tuple[int, ...], ...] = tuple(_CHAINS[name] for name in FINGER_NAMES)


def joint_angles(points: np.ndarray) -> np.ndarray:
    """(..., 21, 3) hand landmarks (any frame, any unit) -> (..., 15) joint bend angles in degrees, SMPL-H's joint
    order (index 1-3, middle 1-3, pinky 1-3, ring 1-3, thumb 1-3); NaN where a segment has no length or a point is
    not finite."""
    chains = np.asarray(points, dtype=np.float64)[..., np.array(FINGER_CHAINS), :]    # (..., 5, 5, 3)
    segments = np.diff(chains, axis=-2)                                                 # (..., 5, 4, 3)
    into, out = segments[..., :-1, :], segments[..., 1:, :]                             # (..., 5, 3, 3) each
    norms = np.linalg.norm(into, axis=-1) * np.linalg.norm(out, axis=-1)
    angles = np.degrees(np.arctan2(np.linalg.norm(np.cross(into, out), axis=-1), np.sum(into * out, axis=-1)))
    angles = np.where(norms > 0, angles, np.nan)
    return angles.reshape(angles.shape[:-2] + (NUM_FINGER_JOINTS,))

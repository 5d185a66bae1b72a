"""A body model's rest hand as MediaPipe's 21 hand landmarks: the wrist, SMPL-H's finger joints and the fingertips.

SMPL-H's three joints of a finger stand for MediaPipe's first three points of it (thumb: CMC, MCP, IP; the other
fingers: MCP, PIP, DIP); the fingertip is the vertex of the finger's last bone farthest out along that bone. Pure
numpy; used to turn landmarks into finger rotations (:mod:`server.hands.fit`) and as the rest-hand baseline.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..body.layout import FINGER_NAMES, HAND_FINGER_JOINTS, HAND_SIDES, HAND_WRIST_JOINTS, JOINTS_PER_FINGER
from ..body.model import BodyModel, shaped_vertices
from .angles import FINGER_CHAINS


def _rig(model: BodyModel):
    if model.hands is None:
        raise ValueError(f"the body model {model.name} has no fingers (an SMPL file; SMPL-H has them)")
    return model.hands


def fingertip_vertices(model: BodyModel, side: str) -> np.ndarray:
    """(5,) the vertex at each fingertip of ``side``'s hand, fingers in :data:`FINGER_NAMES` order."""
    rig = _rig(model)
    hand = HAND_SIDES.index(side)
    joints = rig.J_regressor[hand * 15:(hand + 1) * 15] @ model.v_template                 # (15, 3)
    owner = np.argmax(rig.weights, axis=1)
    tips = []
    for finger in range(len(FINGER_NAMES)):
        last = finger * JOINTS_PER_FINGER + JOINTS_PER_FINGER - 1
        bone = joints[last] - joints[last - 1]
        mine = np.flatnonzero(owner == HAND_FINGER_JOINTS[hand][last])
        if not len(mine):
            raise ValueError(f"no vertex follows the {side} {FINGER_NAMES[finger]}'s last joint")
        reach = (model.v_template[mine] - joints[last]) @ (bone / np.linalg.norm(bone))
        tips.append(mine[int(np.argmax(reach))])
    return np.array(tips, dtype=np.int64)


def rest_hand_landmarks(model: BodyModel, side: str, betas: Optional[np.ndarray] = None) -> np.ndarray:
    """(21, 3) ``side``'s rest hand (metres, the model's rest frame) in MediaPipe's landmark order."""
    rig = _rig(model)
    hand = HAND_SIDES.index(side)
    vertices = shaped_vertices(model, np.zeros(0) if betas is None else betas)
    joints = rig.J_regressor[hand * 15:(hand + 1) * 15] @ vertices
    tips = vertices[fingertip_vertices(model, side)]
    points = np.zeros((21, 3))
    points[0] = model.J_regressor[HAND_WRIST_JOINTS[hand]] @ vertices
    for finger, chain in enumerate(FINGER_CHAINS):
        points[list(chain[1:4])] = joints[finger * JOINTS_PER_FINGER:(finger + 1) * JOINTS_PER_FINGER]
        points[chain[4]] = tips[finger]
    return points

"""SMPL-H's fingers on an SMPL-format body: the :class:`HandRig` a :class:`~.model.BodyModel` may carry, and the
24-joint view of an SMPL-H file (numpy only; layout constants in :mod:`.layout`).

The pipeline works in SMPL's 24-joint layout. A model with fingers also carries a HandRig: the 30 finger joints
(SMPL-H order, left hand then right) as vertex combinations, skinning weights in SMPL-H's 52-joint layout and
SMPL-H's parents. The built-in body stores its rig as ``hands_*`` arrays next to its 24-joint ones; a user's
SMPL-H file (52 joints) is read as its 24-joint view plus the rig:

- joints 0..21 as they are; SMPL's hand joint (22 left, 23 right) = 0.2 x the wrist + 0.2 x each of the index,
  middle, ring and pinky joint 1 (the knuckles), as the built-in body defines it (mid-palm to knuckles);
- weights: each hand's 15 finger columns summed into that hand's column;
- pose correctives: the body's (joints 1..21, the first 189 of SMPL-H's 459) kept, the hand joints' slots zero
  (SMPL-H's finger correctives are dropped).

``hand_entry`` says where SMPL's hand-joint rotation acts on the 52-joint rig (see :mod:`.hands`): in each
finger's chain, from the joint whose weights SMPL's hand joint held in the 24-joint layout. For SMPL-H files
that is every finger's joint 1; the built-in body gives its thumb's base (CMC to MCP) to the wrist in the 24-joint
layout, so its thumb follows the hand joint from joint 2 on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .layout import (FINGER_NAMES, HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, HAND_WRIST_JOINTS, JOINTS_PER_FINGER,
                     NUM_JOINTS, NUM_SMPLH_BODY_JOINTS, NUM_SMPLH_JOINTS)

NUM_SMPLH_POSE_BASIS = 9 * (NUM_SMPLH_JOINTS - 1)  # 459
NUM_BODY_POSE_BASIS = 9 * (NUM_SMPLH_BODY_JOINTS - 1)  # 189: joints 1..21, shared by SMPL and SMPL-H
HAND_JOINT_SHARE = 0.2  # SMPL's hand joint: this share of the wrist and of each of four knuckles
HAND_JOINT_KNUCKLES: Tuple[str, ...] = ("index", "middle", "ring", "pinky")


def finger_joint(hand: int, finger: str, k: int) -> int:
    """52-layout index of joint ``k`` (1..3) of ``finger`` (a :data:`.layout.FINGER_NAMES` entry) of ``hand``."""
    return HAND_FINGER_JOINTS[hand][FINGER_NAMES.index(finger) * JOINTS_PER_FINGER + k - 1]


def default_hand_entry() -> np.ndarray:
    """(2, 5) int64: each finger's joint 1 (SMPL-H files), per hand and finger in SMPL-H's order."""
    return np.array([[finger_joint(h, f, 1) for f in FINGER_NAMES] for h in range(len(HAND_FINGER_JOINTS))],
                    dtype=np.int64)


@dataclass(frozen=True, eq=False)
class HandRig:
    """SMPL-H's fingers for a body model; arrays read-only.

    J_regressor (30, V): the finger joints (SMPL-H order: left index1..3, middle, pinky, ring, thumb, then the
    right hand's 15) as vertex combinations. weights (V, 52) skinning weights in SMPL-H's layout (the wrists keep
    the palm; SMPL's 'hand' joints do not exist there). parents (52,) SMPL-H's tree, -1 at the root.
    hand_entry (2, 5) int64: per hand and finger, the 52-layout joint from which on the finger follows SMPL's
    hand joint (22 left, 23 right) of a 24-joint pose (see the module docstring).
    """

    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    hand_entry: np.ndarray

    def __post_init__(self) -> None:
        for value in (self.J_regressor, self.weights, self.parents, self.hand_entry):
            value.setflags(write=False)


def hand_joint_rows(j_regressor: np.ndarray) -> np.ndarray:
    """(52, V) SMPL-H joint regressor -> (2, V) SMPL's left_hand / right_hand rows (see the module docstring)."""
    rows = []
    for hand, wrist in enumerate(HAND_WRIST_JOINTS):
        knuckles = [finger_joint(hand, finger, 1) for finger in HAND_JOINT_KNUCKLES]
        rows.append(HAND_JOINT_SHARE * (j_regressor[wrist] + j_regressor[knuckles].sum(0)))
    return np.stack(rows)


def smpl_view(j_regressor: np.ndarray, weights: np.ndarray,
              posedirs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An SMPL-H model's 24-joint view (see the module docstring).

    j_regressor (52, V), weights (V, 52), posedirs (V, 3, 459) -> J_regressor (24, V), weights (V, 24),
    posedirs (V, 3, 207).
    """
    body = NUM_SMPLH_BODY_JOINTS
    j24 = np.concatenate([j_regressor[:body], hand_joint_rows(j_regressor)])
    w24 = np.zeros((weights.shape[0], NUM_JOINTS))
    w24[:, :body] = weights[:, :body]
    for hand, column in enumerate(HAND_SMPL_JOINTS):
        w24[:, column] = weights[:, list(HAND_FINGER_JOINTS[hand])].sum(1)
    p24 = np.zeros((posedirs.shape[0], 3, 9 * (NUM_JOINTS - 1)))
    p24[:, :, :NUM_BODY_POSE_BASIS] = posedirs[:, :, :NUM_BODY_POSE_BASIS]
    return j24, w24, p24


def smplh_hand_rig(j_regressor: np.ndarray, weights: np.ndarray, parents: np.ndarray) -> HandRig:
    """The HandRig of an SMPL-H model: j_regressor (52, V), weights (V, 52), parents (52,)."""
    return HandRig(J_regressor=np.array(j_regressor[NUM_SMPLH_BODY_JOINTS:]), weights=np.array(weights),
                   parents=np.array(parents, dtype=np.int64), hand_entry=default_hand_entry())


def check_hand_entry(hand_entry: np.ndarray) -> bool:
    """Whether (2, 5) ``hand_entry`` names, per hand and finger, one of that finger's own joints."""
    if hand_entry.shape != (len(HAND_FINGER_JOINTS), len(FINGER_NAMES)):
        return False
    for hand, joints in enumerate(HAND_FINGER_JOINTS):
        for f, joint in enumerate(hand_entry[hand]):
            if joint not in joints[f * JOINTS_PER_FINGER:(f + 1) * JOINTS_PER_FINGER]:
                return False
    return True

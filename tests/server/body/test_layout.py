"""SMPL-H's 52-joint layout constants (server/body/layout.py) against smplx's joint names and SMPL-H's tree."""
from __future__ import annotations

from server.body.layout import (HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, HAND_WRIST_JOINTS, NUM_FINGER_JOINTS,
                                NUM_SMPLH_JOINTS, SMPL_JOINT_NAMES, SMPLH_JOINT_INDEX, SMPLH_JOINT_NAMES,
                                SMPLH_PARENTS)

# SMPL-H's kinematic tree as its model files hold it (kintree_table[0] of SMPLH_*.pkl, root -1)
SMPLH_TREE = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
              20, 22, 23, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35,
              21, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50)


def test_names_are_smplx_order() -> None:
    """smplx's SMPL-X names minus jaw and eyes (22-24) are SMPL-H's 52, in order."""
    from smplx.joint_names import JOINT_NAMES

    assert SMPLH_JOINT_NAMES == tuple(JOINT_NAMES[:22]) + tuple(JOINT_NAMES[25:55])
    assert NUM_SMPLH_JOINTS == 52 and NUM_FINGER_JOINTS == 15
    assert SMPLH_JOINT_NAMES[:22] == SMPL_JOINT_NAMES[:22]


def test_parents_and_hands() -> None:
    assert SMPLH_PARENTS == SMPLH_TREE
    assert HAND_WRIST_JOINTS == (20, 21) and HAND_SMPL_JOINTS == (22, 23)
    for hand, side in enumerate(("left", "right")):
        joints = HAND_FINGER_JOINTS[hand]
        assert [SMPLH_JOINT_NAMES[j] for j in joints[:3]] == [f"{side}_index{k}" for k in (1, 2, 3)]
        assert SMPLH_JOINT_NAMES[joints[-1]] == f"{side}_thumb3"
        assert SMPLH_JOINT_INDEX[f"{side}_ring1"] == joints[9]

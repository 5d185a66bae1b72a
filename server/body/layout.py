"""SMPL's 24-joint layout (names, order, parents), SMPL-H's 52-joint one (SMPL + fingers) and BlazePose's 33
landmark names.

Pure constants; no numpy. SMPL's canonical body frame: y up, x toward the body's left, z toward the front.
"""
from __future__ import annotations

from typing import Dict, Tuple

SMPL_JOINT_NAMES: Tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
SMPL_PARENTS: Tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
NUM_JOINTS = len(SMPL_JOINT_NAMES)
JOINT_INDEX: Dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

BLAZEPOSE_NAMES: Tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
NUM_LANDMARKS = len(BLAZEPOSE_NAMES)
LANDMARK_INDEX: Dict[str, int] = {name: i for i, name in enumerate(BLAZEPOSE_NAMES)}

# BlazePose landmarks that sit at a joint centre, and that joint: a posed body's landmark IS its posed joint.
# (A vertex combination cannot stand in for them: the built-in body's joint regressor averages vertices as far
# away as the shoulder and the wrist for the elbow -- exact at rest, on the shoulder-wrist line once the arm bends.)
JOINT_LANDMARKS: Tuple[Tuple[int, int], ...] = tuple(
    (LANDMARK_INDEX[f"{side}_{part}"], JOINT_INDEX[f"{side}_{joint}"])
    for side in ("left", "right")
    for part, joint in (("shoulder", "shoulder"), ("elbow", "elbow"), ("wrist", "wrist"), ("hip", "hip"),
                        ("knee", "knee"), ("ankle", "ankle")))

# SMPL-H (SMPL + MANO hands, 52 joints; the order of smplx's SMPLH and of MANO): SMPL's first 22 joints (pelvis ..
# right_wrist), then 15 finger joints of the left hand and 15 of the right. Per hand the fingers come in this
# order, each with 3 joints from the knuckle out (1 = MCP, 2 = PIP, 3 = DIP; the thumb's 1 = CMC, 2 = MCP, 3 = IP);
# each finger's joint 1 hangs from the wrist. SMPL-H has no 'hand' joints: SMPL's left_hand / right_hand (22 / 23)
# stand for the whole hand, which SMPL-H splits into the fingers.
FINGER_NAMES: Tuple[str, ...] = ("index", "middle", "pinky", "ring", "thumb")
JOINTS_PER_FINGER = 3
NUM_FINGER_JOINTS = len(FINGER_NAMES) * JOINTS_PER_FINGER  # 15 per hand
NUM_SMPLH_BODY_JOINTS = 22  # SMPL's joints 0..21, shared by SMPL-H
HAND_SIDES: Tuple[str, ...] = ("left", "right")  # hand 0, hand 1 in every per-hand array
# per hand (left, right): SMPL's wrist joint and SMPL's 24-layout hand joint that the SMPL-H hand corresponds to
HAND_WRIST_JOINTS: Tuple[int, ...] = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
HAND_SMPL_JOINTS: Tuple[int, ...] = (JOINT_INDEX["left_hand"], JOINT_INDEX["right_hand"])

# per hand: its 15 finger joints' indices in the 52-joint layout (SMPL-H order)
HAND_FINGER_JOINTS: Tuple[Tuple[int, ...], ...] = tuple(
    tuple(range(first, first + NUM_FINGER_JOINTS))
    for first in (NUM_SMPLH_BODY_JOINTS + hand * NUM_FINGER_JOINTS for hand in range(len(HAND_SIDES))))
SMPLH_JOINT_NAMES: Tuple[str, ...] = SMPL_JOINT_NAMES[:NUM_SMPLH_BODY_JOINTS] + tuple(
    f"{side}_{finger}{k}" for side in HAND_SIDES for finger in FINGER_NAMES for k in range(1, JOINTS_PER_FINGER + 1))
SMPLH_PARENTS: Tuple[int, ...] = SMPL_PARENTS[:NUM_SMPLH_BODY_JOINTS] + tuple(
    wrist if j % JOINTS_PER_FINGER == 0 else joints[j - 1]
    for wrist, joints in zip(HAND_WRIST_JOINTS, HAND_FINGER_JOINTS) for j in range(NUM_FINGER_JOINTS))
NUM_SMPLH_JOINTS = len(SMPLH_JOINT_NAMES)  # 52
SMPLH_JOINT_INDEX: Dict[str, int] = {name: i for i, name in enumerate(SMPLH_JOINT_NAMES)}

# A capture with fingers (54 joints): SMPL's 24, then SMPL-H's 15 finger joints of the left hand and 15 of the right,
# each finger's joint 1 hanging from SMPL's hand joint of its side (kept at rest: with it the rig is SMPL-H's).
FINGERED_JOINT_NAMES: Tuple[str, ...] = SMPL_JOINT_NAMES + SMPLH_JOINT_NAMES[NUM_SMPLH_BODY_JOINTS:]
FINGERED_PARENTS: Tuple[int, ...] = SMPL_PARENTS + tuple(
    HAND_SMPL_JOINTS[hand] if k % JOINTS_PER_FINGER == 0 else NUM_JOINTS + hand * NUM_FINGER_JOINTS + k - 1
    for hand in range(len(HAND_SIDES)) for k in range(NUM_FINGER_JOINTS))
NUM_FINGERED_JOINTS = len(FINGERED_JOINT_NAMES)  # 54

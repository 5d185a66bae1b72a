"""SMPL's 24-joint layout (names, order, parents) and BlazePose's 33 landmark names.

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

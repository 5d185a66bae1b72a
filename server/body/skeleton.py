"""The rest skeleton measured from a clip, and the forward model from SMPL joints to BlazePose landmarks.

Canonical frame (SMPL's): y up, x toward the body's left, z toward the body's front; metres; pelvis joint at the
origin. The rest pose is a T-pose with straight legs and horizontal arms, palms down, feet pointing forward.

Body proportions (stated average adult of about 1.70 m; every length can be overridden by a measurement):

* BlazePose hips, knees, ankles, shoulders, elbows and wrists sit exactly on SMPL's joints of the same name.
* Pelvis joint 0.09 x torso-scale above the hip midpoint; spine1/2/3 at 0.11, 0.245, 0.30 and the neck at 0.49
  (x torso-scale) above the pelvis; shoulders at the hip midpoint + torso length. Collars at 0.405 x torso-scale,
  0.44 of the way out to the shoulders. Torso-scale = measured torso / 0.52 m.
* Head joint 9 cm above and 2 cm in front of the neck, face landmarks around it; all x head-scale
  (measured ear-to-ear width / 0.15 m).
* Foot: heel 7 cm below and 5.5 cm behind the ankle, toe tip (foot_index) 7 cm below and 19.5 cm in front,
  SMPL's foot joint (ball) 5 cm below and 12 cm in front; sole 7.5 cm below the ankle; x foot-scale
  (measured heel-to-toe / 0.25 m).
* Hand: index and pinky knuckles 8.8 / 8.2 cm out from the wrist, 3 cm in front / behind; thumb 3.5 cm out and
  4 cm in front; SMPL's hand joint at their midpoint distance (8.5 cm); x hand-scale (measured / 0.085 m).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Dict, List, Tuple

import numpy as np

from .layout import JOINT_INDEX, LANDMARK_INDEX, NUM_JOINTS, NUM_LANDMARKS, SMPL_PARENTS
from .rotations import forward_kinematics

log = logging.getLogger(__name__)

# Landmarks whose visibility must reach this in a frame for a length measured from them to count.
MEASURE_MIN_VISIBILITY = 0.5
# A measured length outside [low, high] x the template value is treated as a detector failure.
MEASURE_SANE_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class BodyMeasurements:
    """Segment lengths in metres; the defaults are the stated average adult (about 1.70 m tall)."""

    hip_width: float = 0.14        # left hip - right hip
    thigh: float = 0.38            # hip - knee
    shin: float = 0.42             # knee - ankle
    torso: float = 0.52            # hip midpoint - shoulder midpoint
    shoulder_width: float = 0.34   # left shoulder - right shoulder
    upper_arm: float = 0.27        # shoulder - elbow
    forearm: float = 0.25          # elbow - wrist
    hand: float = 0.085            # wrist - midpoint of index and pinky knuckles
    foot: float = 0.25             # heel - toe tip (foot_index)
    head_width: float = 0.15       # left ear - right ear


TEMPLATE = BodyMeasurements()

# Offsets of the left-side / midline landmarks in their parent joint's rest frame, at scale 1 (metres).
_FACE = {  # parent: head
    "nose": (0.0, 0.01, 0.11), "left_eye_inner": (0.015, 0.04, 0.095), "left_eye": (0.032, 0.042, 0.09),
    "left_eye_outer": (0.048, 0.04, 0.08), "left_ear": (0.075, 0.03, 0.0), "mouth_left": (0.025, -0.035, 0.095),
}
_HAND = {"index": (0.088, 0.0, 0.03), "pinky": (0.082, 0.0, -0.03), "thumb": (0.035, -0.01, 0.04)}  # parent: wrist
_FOOT = {"heel": (0.0, -0.07, -0.055), "foot_index": (0.0, -0.07, 0.195)}  # parent: ankle
_FOOT_JOINT = np.array([0.0, -0.05, 0.12])   # SMPL foot (ball) joint from the ankle
_HEAD_JOINT = np.array([0.0, 0.09, 0.02])    # SMPL head joint from the neck
_SOLE_BELOW_ANKLE = 0.075

# (measurement field, landmark pairs: one pair per side or one midline pair); midpoints use two names joined by "+".
MEASURED_SEGMENTS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "hip_width": (("left_hip", "right_hip"),),
    "thigh": (("left_hip", "left_knee"), ("right_hip", "right_knee")),
    "shin": (("left_knee", "left_ankle"), ("right_knee", "right_ankle")),
    "torso": (("left_hip+right_hip", "left_shoulder+right_shoulder"),),
    "shoulder_width": (("left_shoulder", "right_shoulder"),),
    "upper_arm": (("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")),
    "forearm": (("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")),
    "hand": (("left_wrist", "left_index+left_pinky"), ("right_wrist", "right_index+right_pinky")),
    "foot": (("left_heel", "left_foot_index"), ("right_heel", "right_foot_index")),
    "head_width": (("left_ear", "right_ear"),),
}


def _point(world_landmarks: np.ndarray, spec: str) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 33, 4), 'name' or 'a+b' -> positions (N, 3) (midpoint for 'a+b'), visibility (N,) (the minimum)."""
    idx = [LANDMARK_INDEX[name] for name in spec.split("+")]
    pts = world_landmarks[:, idx, :]
    return pts[..., :3].mean(axis=1), pts[..., 3].min(axis=1)


def measure_body(world_landmarks: np.ndarray) -> BodyMeasurements:
    """(N, 33, 4) world landmarks of one clip -> segment lengths: per segment the median over frames where its
    landmarks are visible (>= MEASURE_MIN_VISIBILITY) and the length is sane; left and right sides pooled
    (bodies are symmetric, and pooling halves the noise). Segments never seen keep the template value."""
    lm = np.asarray(world_landmarks, dtype=np.float64)
    values = {}
    for f in fields(BodyMeasurements):
        template = getattr(TEMPLATE, f.name)
        samples: List[np.ndarray] = []
        for a, b in MEASURED_SEGMENTS[f.name]:
            pa, va = _point(lm, a)
            pb, vb = _point(lm, b)
            length = np.linalg.norm(pb - pa, axis=-1)
            ok = (np.minimum(va, vb) >= MEASURE_MIN_VISIBILITY) & np.isfinite(length)
            ok &= (length >= MEASURE_SANE_RANGE[0] * template) & (length <= MEASURE_SANE_RANGE[1] * template)
            samples.append(length[ok])
        pooled = np.concatenate(samples)
        if pooled.size:
            values[f.name] = float(np.median(pooled))
        else:
            log.info("%s never visible in the clip; using the template's %.3f m", f.name, template)
    return replace(TEMPLATE, **values)


def build_rest_skeleton(m: BodyMeasurements = TEMPLATE) -> np.ndarray:
    """Measurements -> (24, 3) float32 rest joints in SMPL order and canonical frame (see the module doc)."""
    t = m.torso / TEMPLATE.torso
    head = m.head_width / TEMPLATE.head_width
    foot = m.foot / TEMPLATE.foot
    j = np.zeros((NUM_JOINTS, 3))
    hip_mid = np.array([0.0, -0.09 * t, 0.0])
    for side, sx in (("left", 1.0), ("right", -1.0)):
        hip = hip_mid + [sx * m.hip_width / 2, 0.0, 0.0]
        j[JOINT_INDEX[f"{side}_hip"]] = hip
        j[JOINT_INDEX[f"{side}_knee"]] = hip + [0.0, -m.thigh, 0.0]
        ankle = hip + [0.0, -m.thigh - m.shin, 0.0]
        j[JOINT_INDEX[f"{side}_ankle"]] = ankle
        j[JOINT_INDEX[f"{side}_foot"]] = ankle + foot * _FOOT_JOINT
        shoulder = hip_mid + [sx * m.shoulder_width / 2, m.torso, 0.0]
        j[JOINT_INDEX[f"{side}_collar"]] = [sx * 0.44 * m.shoulder_width / 2, 0.405 * t, 0.0]
        j[JOINT_INDEX[f"{side}_shoulder"]] = shoulder
        j[JOINT_INDEX[f"{side}_elbow"]] = shoulder + [sx * m.upper_arm, 0.0, 0.0]
        wrist = shoulder + [sx * (m.upper_arm + m.forearm), 0.0, 0.0]
        j[JOINT_INDEX[f"{side}_wrist"]] = wrist
        j[JOINT_INDEX[f"{side}_hand"]] = wrist + [sx * m.hand, 0.0, 0.0]
    for name, height in (("spine1", 0.11), ("spine2", 0.245), ("spine3", 0.30), ("neck", 0.49)):
        j[JOINT_INDEX[name]] = [0.0, height * t, 0.0]
    j[JOINT_INDEX["head"]] = j[JOINT_INDEX["neck"]] + head * _HEAD_JOINT
    return j.astype(np.float32)


def rest_skeleton(world_landmarks: np.ndarray) -> np.ndarray:
    """(N, 33, 4) BlazePose world landmarks (x, y, z metres, visibility) of one clip -> (24, 3) float32 rest joints
    in SMPL's canonical frame (y up, x = body's left, z = body's front), T-pose with horizontal arms.

    Bone lengths are robust medians over well-visible frames (:func:`measure_body`); joints without a BlazePose
    counterpart are placed by the proportions in the module doc; unseen bones keep the ~1.70 m template.
    """
    m = measure_body(world_landmarks)
    log.info("rest skeleton measurements: %s", ", ".join(f"{f.name}={getattr(m, f.name):.3f}" for f in fields(m)))
    return build_rest_skeleton(m)


def _scales(rest: np.ndarray) -> Dict[str, float]:
    """(24, 3) rest joints -> head, per-side foot and hand scales, recovered from the joints they placed."""
    r = np.asarray(rest, dtype=np.float64)
    out = {"head": float(np.linalg.norm(r[JOINT_INDEX["head"]] - r[JOINT_INDEX["neck"]]) / np.linalg.norm(_HEAD_JOINT))}
    for side in ("left", "right"):
        foot = r[JOINT_INDEX[f"{side}_foot"]] - r[JOINT_INDEX[f"{side}_ankle"]]
        hand = r[JOINT_INDEX[f"{side}_hand"]] - r[JOINT_INDEX[f"{side}_wrist"]]
        out[f"{side}_foot"] = float(np.linalg.norm(foot) / np.linalg.norm(_FOOT_JOINT))
        out[f"{side}_hand"] = float(np.linalg.norm(hand) / TEMPLATE.hand)
    return out


def landmark_attachments(rest_joints: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(24, 3) rest joints -> (33,) int parent SMPL joint of each BlazePose landmark and (33, 3) offsets from that
    joint in the rest (canonical) frame. Right-side offsets mirror the left ones (x negated)."""
    s = _scales(rest_joints)
    parent = np.zeros(NUM_LANDMARKS, dtype=np.int64)
    offset = np.zeros((NUM_LANDMARKS, 3))
    for name in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
        for side in ("left", "right"):
            parent[LANDMARK_INDEX[f"{side}_{name}"]] = JOINT_INDEX[f"{side}_{name}"]
    for name, off in _FACE.items():
        for side, sx in (("left", 1.0), ("right", -1.0)):
            target = name.replace("left", side)
            parent[LANDMARK_INDEX[target]] = JOINT_INDEX["head"]
            offset[LANDMARK_INDEX[target]] = s["head"] * np.array([sx * off[0], off[1], off[2]])
    for side, sx in (("left", 1.0), ("right", -1.0)):
        for name, off in _HAND.items():
            parent[LANDMARK_INDEX[f"{side}_{name}"]] = JOINT_INDEX[f"{side}_wrist"]
            offset[LANDMARK_INDEX[f"{side}_{name}"]] = s[f"{side}_hand"] * np.array([sx * off[0], off[1], off[2]])
        for name, off in _FOOT.items():
            parent[LANDMARK_INDEX[f"{side}_{name}"]] = JOINT_INDEX[f"{side}_ankle"]
            offset[LANDMARK_INDEX[f"{side}_{name}"]] = s[f"{side}_foot"] * np.array(off)
    return parent, offset


def rest_landmarks(rest_joints: np.ndarray) -> np.ndarray:
    """(24, 3) rest joints -> (33, 3) BlazePose landmark positions of the rest pose (canonical frame)."""
    parent, offset = landmark_attachments(rest_joints)
    return np.asarray(rest_joints, dtype=np.float64)[parent] + offset


def sole_height(rest_joints: np.ndarray) -> float:
    """(24, 3) rest joints -> y of the soles in the rest pose (below the lowest joint, the foot/ball joints)."""
    r = np.asarray(rest_joints, dtype=np.float64)
    s = _scales(r)
    return float(min(r[JOINT_INDEX[f"{side}_ankle"], 1] - s[f"{side}_foot"] * _SOLE_BELOW_ANKLE
                     for side in ("left", "right")))


def landmarks_from_joints(joints: np.ndarray, global_rotmats: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Forward model: posed SMPL joints (N, 24, 3) and their global rotations (N, 24, 3, 3) from
    :func:`~server.body.rotations.forward_kinematics` -> (N, 33, 3) BlazePose-like landmark positions, in the same
    frame as the joints. Each landmark rides rigidly on one joint (see :func:`landmark_attachments`)."""
    parent, offset = landmark_attachments(rest_joints)
    j = np.asarray(joints, dtype=np.float64)
    g = np.asarray(global_rotmats, dtype=np.float64)
    return j[:, parent] + np.einsum("nlab,lb->nla", g[:, parent], offset)


def world_landmarks_from_poses(poses_rotvec: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """(N, 24, 3) SMPL axis-angle poses (global orientation into the camera frame) and (24, 3) rest joints ->
    (N, 33, 4) synthetic BlazePose world landmarks: camera-aligned axes, origin at the hip midpoint, visibility 1."""
    joints, glob = forward_kinematics(poses_rotvec, rest_joints, SMPL_PARENTS)
    lm = landmarks_from_joints(joints, glob, rest_joints)
    hip_mid = 0.5 * (lm[:, LANDMARK_INDEX["left_hip"]] + lm[:, LANDMARK_INDEX["right_hip"]])
    lm = lm - hip_mid[:, None]
    return np.concatenate([lm, np.ones(lm.shape[:2] + (1,))], axis=-1).astype(np.float32)

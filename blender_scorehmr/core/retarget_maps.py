"""Bone maps for retargeting the SMPL armature onto an animator's rig (pure Python, no bpy).

A map is ``{SMPL joint name: target bone name}``. Not every SMPL joint needs a target: joints left out
(the SMPL hand joints when the rig has fingers instead, an extra spine joint) simply drive nothing, and the
target bones between mapped ones keep their rest relation to their parent.

Presets:

``RIGIFY``
    The rig *generated* by Rigify from the human metarig. We drive the **FK controls** (``torso``,
    ``spine_fk.001``..``spine_fk.003``, ``neck``, ``head``, ``thigh_fk.L``, ``shin_fk.L``, ``foot_fk.L``,
    ``toe_fk.L``, ``shoulder.L``, ``upper_arm_fk.L``, ``forearm_fk.L``, ``hand_fk.L`` and their ``.R`` twins)
    and not the ``DEF-`` bones: the deform bones are driven by constraints from the ORG/tweak chain, so keys on
    them would be overridden on every evaluation, and FK controls are what an animator keys and edits afterwards.
    The retarget sets and keys the rig's switches (:data:`SWITCHES`): limbs to FK (``IK_FK`` 1), FK limbs,
    neck and head following the torso (``FK_limb_follow`` 0, ``neck_follow`` and ``head_follow`` 1).
    ``torso`` carries the root motion (it moves hips, spine and legs together), the SMPL pelvis's rotation and
    location go on it.
``MIXAMO``
    Mixamo's skeleton (``mixamorig:Hips``, ``mixamorig:LeftUpLeg`` ...). The names are given without prefix; the
    prefix is found from the rig's ``...Hips`` bone, so ``mixamorig:``, ``mixamorig1:`` and prefix-less rigs all
    resolve (:func:`resolve`).
``METARIG``
    Blender's human metarig itself (``spine`` .. ``spine.006``, ``thigh.L``, ``upper_arm.L`` ...), for rigs built
    on the metarig without Rigify generation.

SMPL has three spine joints above the pelvis; Rigify and Mixamo have three spine controls, the metarig four
(``spine.001``..``spine.003`` take them; its upper neck ``spine.005`` stays at rest and the head goes on
``spine.006``). The SMPL ``left_hand``/``right_hand`` joints (a rigid palm extension) are not mapped.

Fingers (a capture with fingers: SMPL-H's joints ``left_index1`` .. ``right_thumb3``): every preset maps them
(Rigify and the metarig ``f_index.01.L`` .. ``thumb.03.L``, Mixamo ``LeftHandIndex1`` .. ``LeftHandThumb3``). A finger
joint that either armature lacks is left out of the map (:func:`usable`: a capture without fingers, a rig without
finger bones), so one preset serves rigs and captures with and without fingers; the body's joints stay required.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

from ..server.body.layout import (FINGER_NAMES, FINGERED_JOINT_NAMES, FINGERED_PARENTS, JOINTS_PER_FINGER,
                                  NUM_JOINTS, SMPL_JOINT_NAMES)

SMPL_JOINTS: Tuple[str, ...] = tuple(SMPL_JOINT_NAMES)
ALL_JOINTS: Tuple[str, ...] = tuple(FINGERED_JOINT_NAMES)   # SMPL's 24, then the 30 finger joints
ALL_PARENTS: Tuple[int, ...] = tuple(FINGERED_PARENTS)
FINGER_JOINTS: Tuple[str, ...] = ALL_JOINTS[NUM_JOINTS:]
ROOT_JOINT = "pelvis"


def _sided(central: Mapping[str, str], sided: Mapping[str, str], left: str, right: str) -> Dict[str, str]:
    """``central`` plus every ``sided`` entry twice: ``left_x -> fmt % L`` and ``right_x -> fmt % R``."""
    out = dict(central)
    for joint, pattern in sided.items():
        out[f"left_{joint}"] = pattern.format(side=left)
        out[f"right_{joint}"] = pattern.format(side=right)
    return out


def _fingers(pattern: Dict[str, str], left: str, right: str) -> Dict[str, str]:
    """Every finger joint (``{side}_{finger}{k}``) -> ``pattern[finger]`` formatted with the side, the finger's name
    as the pattern wants it and ``k``."""
    out = {}
    for side, name in (("left", left), ("right", right)):
        for finger in FINGER_NAMES:
            for k in range(1, JOINTS_PER_FINGER + 1):
                out[f"{side}_{finger}{k}"] = pattern[finger].format(side=name, k=k, Finger=finger.capitalize())
    return out


_METARIG_FINGERS = {"thumb": "thumb.0{k}.{side}", **{f: f"f_{f}.0{{k}}.{{side}}"
                                                     for f in ("index", "middle", "ring", "pinky")}}

RIGIFY: Dict[str, str] = _sided(
    {"pelvis": "torso", "spine1": "spine_fk.001", "spine2": "spine_fk.002", "spine3": "spine_fk.003",
     "neck": "neck", "head": "head"},
    {"hip": "thigh_fk.{side}", "knee": "shin_fk.{side}", "ankle": "foot_fk.{side}", "foot": "toe_fk.{side}",
     "collar": "shoulder.{side}", "shoulder": "upper_arm_fk.{side}", "elbow": "forearm_fk.{side}",
     "wrist": "hand_fk.{side}"},
    "L", "R")
RIGIFY.update(_fingers(_METARIG_FINGERS, "L", "R"))

MIXAMO: Dict[str, str] = _sided(
    {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head"},
    {"hip": "{side}UpLeg", "knee": "{side}Leg", "ankle": "{side}Foot", "foot": "{side}ToeBase",
     "collar": "{side}Shoulder", "shoulder": "{side}Arm", "elbow": "{side}ForeArm", "wrist": "{side}Hand"},
    "Left", "Right")
MIXAMO.update(_fingers({f: "{side}Hand{Finger}{k}" for f in FINGER_NAMES}, "Left", "Right"))

METARIG: Dict[str, str] = _sided(
    {"pelvis": "spine", "spine1": "spine.001", "spine2": "spine.002", "spine3": "spine.003", "neck": "spine.004",
     "head": "spine.006"},
    {"hip": "thigh.{side}", "knee": "shin.{side}", "ankle": "foot.{side}", "foot": "toe.{side}",
     "collar": "shoulder.{side}", "shoulder": "upper_arm.{side}", "elbow": "forearm.{side}",
     "wrist": "hand.{side}"},
    "L", "R")
METARIG.update(_fingers(_METARIG_FINGERS, "L", "R"))

PRESETS: Dict[str, Dict[str, str]] = {"RIGIFY": RIGIFY, "MIXAMO": MIXAMO, "METARIG": METARIG}
PRESET_ITEMS: Tuple[Tuple[str, str, str], ...] = (
    ("RIGIFY", "Rigify", "A rig generated by Rigify from the human metarig (FK controls; IK/FK switched to FK)"),
    ("MIXAMO", "Mixamo", "Mixamo skeleton (mixamorig:Hips ...; any or no name prefix)"),
    ("METARIG", "Metarig", "Blender's human metarig bones (spine, thigh.L, upper_arm.L ...)"),
    ("CUSTOM", "Custom", "Your own map, edited in the panel"),
)
# Rigify's switches the retarget sets and keys on the target (when its pose bones have them): limbs to FK
# (IK_FK 1), FK limbs following the torso (FK_limb_follow 0; 1 isolates them to the root), neck and head
# following it too (neck_follow / head_follow 1; 0 isolates them), so the baked FK controls alone reproduce the
# motion and the rig solves in closed form.
SWITCHES: Dict[str, float] = {"IK_FK": 1.0, "FK_limb_follow": 0.0, "neck_follow": 1.0, "head_follow": 1.0}


def mixamo_prefix(bone_names: Sequence[str]) -> str:
    """The name prefix of a Mixamo rig (``mixamorig:``, ``mixamorig1:``, ``""``), found from its ``...Hips`` bone;
    ``"mixamorig:"`` when the rig has none."""
    hips = sorted((n for n in bone_names if n.endswith("Hips")), key=len)
    return hips[0][:-len("Hips")] if hips else "mixamorig:"


def resolve(preset: str, bone_names: Sequence[str]) -> Dict[str, str]:
    """The preset ``preset`` (a key of :data:`PRESETS`) with its bone names as the target rig spells them
    (Mixamo's prefix added). Raises KeyError for an unknown preset."""
    mapping = PRESETS[preset]
    if preset == "MIXAMO":
        prefix = mixamo_prefix(bone_names)
        return {joint: prefix + bone for joint, bone in mapping.items()}
    return dict(mapping)


def clean_mapping(rows: Sequence[Tuple[str, str]]) -> Dict[str, str]:
    """A custom map from editor rows ``(smpl joint, target bone)``: rows with an empty target are dropped,
    names are stripped; a later row for the same joint wins."""
    out: Dict[str, str] = {}
    for joint, bone in rows:
        joint, bone = joint.strip(), bone.strip()
        if joint and bone:
            out[joint] = bone
    return out


def missing_bones(mapping: Mapping[str, str], target_bone_names: Sequence[str]) -> List[str]:
    """Target bones named by ``mapping`` that the target rig does not have, in SMPL joint order (unknown
    joints last), without duplicates."""
    present = set(target_bone_names)
    order = {name: i for i, name in enumerate(ALL_JOINTS)}
    out: List[str] = []
    for joint in sorted(mapping, key=lambda j: (order.get(j, len(order)), j)):
        bone = mapping[joint]
        if bone not in present and bone not in out:
            out.append(bone)
    return out


def usable(mapping: Mapping[str, str], source_bone_names: Sequence[str],
           target_bone_names: Sequence[str]) -> Dict[str, str]:
    """``mapping`` without the finger joints that the source armature (bones named after the joints) or the target
    rig (the mapped bone) lacks; body joints are kept whatever the rigs have."""
    source, target = set(source_bone_names), set(target_bone_names)
    return {joint: bone for joint, bone in mapping.items()
            if joint not in FINGER_JOINTS or (joint in source and bone in target)}


def unknown_joints(mapping: Mapping[str, str], source_bone_names: Sequence[str]) -> List[str]:
    """Joints of ``mapping`` the source armature lacks (a custom map naming a joint that is not there)."""
    present = set(source_bone_names)
    return [joint for joint in mapping if joint not in present]

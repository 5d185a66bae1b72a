"""Per-source retarget settings: which source joint drives each SMPL joint, rest pose, frame rate, frames to skip.

Joint maps name, for SMPL joint j, the source joint whose GLOBAL orientation drives j; the source joints in
between (twist bones, CMU's zero-length hip/neck/wrist joints, a second chest bone) are absorbed into the SMPL
local rotations automatically. The bone direction used for the rest-pose correction of j runs from j's source
joint to the source joint of j's first mapped SMPL descendant along the main chain (``ends`` names it where that
descendant is unmapped, e.g. the ankle -> toe tip when the source has no toe joint).

SMPL joints a source lacks (documented per source below):
- ``shares``: an unmapped joint between two mapped ones takes that fraction of the rotation from its parent to
  its first mapped descendant (e.g. spine2 = half of the turn from spine1 to spine3 for a two-bone Daz spine).
- everything else unmapped (hands everywhere, toes/collars/head where absent) keeps an identity local
  rotation, i.e. moves rigidly with its parent.
Up/forward axes and units need no setting: the retarget reads the up axis, the facing and the body size from the
rest pose itself (see :mod:`.retarget`); ``metres_per_unit`` is documentation and a sanity check in the logs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from .skeleton_motion import Skeleton


@dataclass(frozen=True)
class SourceConfig:
    """How one source skeleton retargets to SMPL.

    joint_map: SMPL joint name -> source joint name (global orientation transfer).
    ends: SMPL joint name -> source joint ending its bone where the SMPL child is unmapped.
    shares: unmapped SMPL joint -> fraction of the turn toward its first mapped descendant.
    rest: "zero" (all channels zero is an upright T-pose or a known pose) or "reference" (frame 0 of
        ``rest_reference``, a file relative to the source folder holding the rig's bind T-pose).
    fps: the true frame rate when a header is wrong (None: trust Frame Time); skip_frames: leading frames to drop
    (prepended T-poses). root_units_from_tpose: the root position channels use other units than the offsets; the
    factor is read from the prepended T-pose (frame 0) standing on the floor, y up. left_hip/right_hip mapping sources also give the hip line for facing and translation.
    """

    name: str
    joint_map: Dict[str, str]
    ends: Dict[str, str] = field(default_factory=dict)
    shares: Dict[str, float] = field(default_factory=dict)
    rest: str = "zero"
    rest_reference: Optional[str] = None
    fps: Optional[float] = None
    skip_frames: int = 0
    metres_per_unit: float = 0.01
    root_units_from_tpose: bool = False


def _sided(pattern: Dict[str, str], left: Dict[str, str], right: Dict[str, str]) -> Dict[str, str]:
    """Expands a map written once for both sides: '{side}' in SMPL names becomes left/right, and each
    '{key}' in source names is filled from that side's substitutions (e.g. {"s": "l", "S": "Left"})."""
    out: Dict[str, str] = {}
    for smpl, src in pattern.items():
        if "{side}" in smpl:
            out[smpl.format(side="left")] = src.format(**left)
            out[smpl.format(side="right")] = src.format(**right)
        else:
            out[smpl] = src
    return out


# Per-side substitutions for the name patterns below.
_L, _R = {"s": "L", "c": "L"}, {"s": "R", "c": "R"}
_l, _r = {"s": "l", "S": "left", "c": "l"}, {"s": "r", "S": "right", "c": "r"}
_MAX_L, _MAX_R = {"s": "l", "S": "Left", "c": "L"}, {"s": "r", "S": "Right", "c": "R"}
_left, _right = {"s": "left"}, {"s": "right"}

# iClone / Character Creator CC_Base (cmu_iclone_dragonforged). Bone-local frames, so the zero pose is not a
# T-pose: the rest is the rig's bind T-pose, frame 0 of subject 7's files (identical in all of them). Frame 0 of
# every file is prepended (a T-pose or a copy of frame 1), so it is skipped. Spine Waist/Spine01/Spine02 ->
# spine1/2/3; NeckTwist01 -> neck; twist and share bones are absorbed. Hands identity.
ICLONE = SourceConfig(
    name="iclone_cc_base",
    joint_map=_sided({
        "pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01",
        "spine3": "CC_Base_Spine02", "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head",
        "{side}_hip": "CC_Base_{s}_Thigh", "{side}_knee": "CC_Base_{s}_Calf", "{side}_ankle": "CC_Base_{s}_Foot",
        "{side}_foot": "CC_Base_{s}_ToeBase", "{side}_collar": "CC_Base_{s}_Clavicle",
        "{side}_shoulder": "CC_Base_{s}_Upperarm", "{side}_elbow": "CC_Base_{s}_Forearm", "{side}_wrist": "CC_Base_{s}_Hand",
    }, _L, _R),
    ends=_sided({"{side}_wrist": "CC_Base_{s}_Mid1"}, _L, _R),
    rest="reference", rest_reference="All_BVH/subjects/007/007_01.bvh", skip_frames=1,
)

# Daz-friendly cgspeed CMU, root 'hip' (cmu_acrnn_papagina; also the MocapNET rig's body, see below). The zero
# pose is a T-pose; frame 0 is a prepended T-pose followed by a 7-frame ease into the first captured pose (joint
# steps of ~2.5 deg/frame, then ~0.05): 8 frames skipped. One abdomen + one chest bone: spine2 shares half of the turn
# from spine1 (abdomen) to spine3 (chest). Buttock bones absorbed; no toe joint (foot -> toe tip end site).
DAZ_CMU = SourceConfig(
    name="daz_cmu_hip",
    joint_map=_sided({
        "pelvis": "hip", "spine1": "abdomen", "spine3": "chest", "neck": "neck", "head": "head",
        "{side}_hip": "{s}Thigh", "{side}_knee": "{s}Shin", "{side}_ankle": "{s}Foot", "{side}_collar": "{s}Collar",
        "{side}_shoulder": "{s}Shldr", "{side}_elbow": "{s}ForeArm", "{side}_wrist": "{s}Hand",
    }, _l, _r),
    ends=_sided({"{side}_ankle": "{s}Foot_end", "{side}_wrist": "{s}Mid1"}, _l, _r),
    shares={"spine2": 0.5}, skip_frames=8,
)

# cgspeed 3dsMax-friendly CMU, root 'Hips' (cmu_bvh11_koyama). Zero pose: arms hanging down, legs splayed 20
# degrees (CMU's ASF rest), corrected per bone. lowerback/Chest/Chest2 -> spine1/2/3, Neck (upper neck) -> neck;
# zero-length LHipJoint/lowerneck/LeftWrist absorbed; the wrist is driven by lhand. No prepended T-pose.
CGSPEED_MAX = SourceConfig(
    name="cgspeed_3dsmax_hips",
    joint_map=_sided({
        "pelvis": "Hips", "spine1": "lowerback", "spine2": "Chest", "spine3": "Chest2", "neck": "Neck",
        "head": "Head", "{side}_hip": "{S}Hip", "{side}_knee": "{S}Knee", "{side}_ankle": "{S}Ankle", "{side}_foot": "{S}Toe",
        "{side}_collar": "{S}Collar", "{side}_shoulder": "{S}Shoulder", "{side}_elbow": "{S}Elbow", "{side}_wrist": "{s}hand",
    }, _MAX_L, _MAX_R),
    ends=_sided({"{side}_wrist": "{c}Fingers"}, _MAX_L, _MAX_R),
    metres_per_unit=0.056,
)

# cgspeed Daz-style 31-joint CMU variant, lower-case names (cmu_rgbdacq_ammarkov 102_01cc). Zero pose: T-pose
# arms, legs splayed (CMU rest); frame 0 is a prepended T-pose. abdomen/chest -> spine1/spine3, spine2 shared;
# neck1 -> neck. Its root positions are ~10x smaller than its offsets (ASF-like units): rescaled from frame 0.
DAZ_CMU31 = SourceConfig(
    name="daz_cmu31_hip",
    joint_map=_sided({
        "pelvis": "hip", "spine1": "abdomen", "spine3": "chest", "neck": "neck1", "head": "head",
        "{side}_hip": "{s}hip", "{side}_knee": "{s}knee", "{side}_ankle": "{s}foot", "{side}_foot": "{S}toebase",
        "{side}_collar": "{s}collar", "{side}_shoulder": "{s}shoulder", "{side}_elbow": "{s}elbow", "{side}_wrist": "{s}hand",
    }, _l, _r),
    ends=_sided({"{side}_wrist": "{S}handindex1"}, _l, _r),
    shares={"spine2": 0.5}, skip_frames=1, root_units_from_tpose=True,
)

# MocapNET 165-joint rig (Daz body + face/hands/toes), root 'hip' (cmu_rgbdacq_ammarkov 02_03/05_01/49_04).
# Zero pose T-pose; frame 0 prepended T-pose plus an ease-in like the Daz files (8 frames skipped); 25 fps. Only 02_03 is in the archive and it duplicates the iClone
# take, so the dataset skips it; the map is kept (and checked in the report) for 49_04-style files.
MOCAPNET = SourceConfig(
    name="mocapnet_hip",
    joint_map=_sided({
        "pelvis": "hip", "spine1": "abdomen", "spine3": "chest", "neck": "neck", "head": "head",
        "{side}_hip": "{s}hip", "{side}_knee": "{s}knee", "{side}_ankle": "{s}foot", "{side}_collar": "{s}collar",
        "{side}_shoulder": "{s}shoulder", "{side}_elbow": "{s}elbow", "{side}_wrist": "{s}hand",
    }, _l, _r),
    ends=_sided({"{side}_ankle": "toe3-1.{c}", "{side}_wrist": "__metacarpal3.{c}"}, _l, _r),
    shares={"spine2": 0.5}, skip_frames=8,
)

# ReActIdle 19 joints, root 'pelvis' (reactidle_mit), metres, y up. Zero pose: T-pose. spine (lumbar) -> spine1,
# spine.001 (chest) -> spine3, spine2 shared; neck -> neck, face -> head; shoulder.X (clavicle) -> collar. No
# hands or toes (foot -> end site). Root position channels are relative to the root OFFSET (see bvh.py).
REACTIDLE = SourceConfig(
    name="reactidle_pelvis",
    joint_map=_sided({
        "pelvis": "pelvis", "spine1": "spine", "spine3": "spine.001", "neck": "neck", "head": "face",
        "{side}_hip": "thigh.{c}", "{side}_knee": "shin.{c}", "{side}_ankle": "foot.{c}", "{side}_collar": "shoulder.{c}",
        "{side}_shoulder": "upper_arm.{c}", "{side}_elbow": "forearm.{c}",
    }, _L, _R),
    ends=_sided({"{side}_ankle": "foot.{c}_end", "{side}_elbow": "forearm.{c}_end"}, _L, _R),
    shares={"spine2": 0.5}, metres_per_unit=1.0,
)

# DeepMimic humanoid3d (cmu_jump_arpspoof), metres, y up, facing +x. Zero pose: arms down, legs straight. root
# -> pelvis; chest -> spine3 with spine1 and spine2 sharing the turn (1/3 each); neck -> neck (the head rides on
# it); 1-DoF knees/elbows; wrists fixed. No collars, hands or toes. Virtual end sites added by the reader.
DEEPMIMIC = SourceConfig(
    name="deepmimic_humanoid3d",
    joint_map=_sided({
        "pelvis": "root", "spine3": "chest", "neck": "neck", "{side}_hip": "{s}_hip", "{side}_knee": "{s}_knee",
        "{side}_ankle": "{s}_ankle", "{side}_shoulder": "{s}_shoulder", "{side}_elbow": "{s}_elbow",
    }, _left, _right),
    ends=_sided({"{side}_ankle": "{s}_ankle_end", "{side}_elbow": "{s}_wrist"}, _left, _right),
    shares={"spine1": 1.0 / 3.0, "spine2": 0.5}, metres_per_unit=1.0,
)

CONFIGS: Tuple[SourceConfig, ...] = (ICLONE, DAZ_CMU, CGSPEED_MAX, DAZ_CMU31, MOCAPNET, REACTIDLE, DEEPMIMIC)


def config_for_skeleton(skeleton: Skeleton) -> SourceConfig:
    """The config whose joint map the skeleton satisfies (first match in :data:`CONFIGS`); ValueError if none."""
    names = set(skeleton.names)
    for cfg in CONFIGS:
        needed = set(cfg.joint_map.values()) | set(cfg.ends.values())
        if needed <= names:
            return cfg
    raise ValueError(f"no retarget config matches a skeleton rooted at {skeleton.names[0]!r} "
                     f"with {len(skeleton.names)} joints; add one to server/data/skeletons.py")

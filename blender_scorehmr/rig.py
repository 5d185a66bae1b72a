"""The SMPL armature: 24 bones named after SMPL's joints, rest pose from the result's ``joints_rest``."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

import bpy

RIG_MARK = "scorehmr_rig"
NAMES_KEY = "scorehmr_joint_names"
REST_KEY = "scorehmr_joints_rest"
MIN_BONE = 0.03  # metres; shortest bone drawn


def bone_tails(heads: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Tails ``(J, 3)`` for heads ``(J, 3)``: toward the most central child (smallest |x|), else along the parent."""
    tails = np.empty_like(heads)
    for j in range(len(heads)):
        children = [c for c in range(len(heads)) if parents[c] == j]
        if children:
            child = min(children, key=lambda c: abs(heads[c][0] - heads[j][0]) + 1e-3 * c)
            vec = heads[child] - heads[j]
        elif parents[j] >= 0:
            parent_vec = heads[j] - heads[parents[j]]
            vec = 0.5 * parent_vec
        else:
            vec = np.array([0.0, 0.0, 0.1])
        length = np.linalg.norm(vec)
        if length < MIN_BONE:
            vec = (vec / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])) * MIN_BONE
        tails[j] = heads[j] + vec
    return tails


def is_scorehmr_rig(obj: Optional[bpy.types.Object]) -> bool:
    return obj is not None and obj.type == "ARMATURE" and bool(obj.get(RIG_MARK))


def rig_matches(obj: bpy.types.Object, joint_names: Sequence[str], joints_rest: np.ndarray) -> bool:
    """Whether ``obj`` was built for the same joints (names and rest positions within 0.1 mm)."""
    if not is_scorehmr_rig(obj) or str(obj.get(NAMES_KEY, "")) != ",".join(joint_names):
        return False
    rest = np.asarray(list(obj.get(REST_KEY, [])), dtype=np.float64)
    if rest.size != np.asarray(joints_rest).size:
        return False
    if any(name not in obj.data.bones for name in joint_names):
        return False
    return bool(np.allclose(rest.reshape(-1, 3), joints_rest, atol=1e-4))


def create_armature(context: bpy.types.Context, name: str, joint_names: Sequence[str], parents: Sequence[int],
                    heads: np.ndarray, joints_rest: np.ndarray) -> bpy.types.Object:
    """Make a new armature object in the active collection; the caller removes it if a later step fails."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    context.collection.objects.link(obj)
    try:
        _build_bones(context, obj, joint_names, parents, heads, joints_rest)
    except Exception:  # leave nothing half-built behind; the caller reports the error
        remove_armature(obj)
        raise
    return obj


def _build_bones(context: bpy.types.Context, obj: bpy.types.Object, joint_names: Sequence[str],
                 parents: Sequence[int], heads: np.ndarray, joints_rest: np.ndarray) -> None:
    """Mark ``obj`` as a ScoreHMR rig and add its bones in edit mode (back in object mode afterwards)."""
    data = obj.data
    obj[RIG_MARK] = 1
    obj[NAMES_KEY] = ",".join(joint_names)
    obj[REST_KEY] = [float(v) for v in np.asarray(joints_rest, dtype=np.float64).ravel()]
    if context.view_layer.objects.active is not None and context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        tails = bone_tails(heads, parents)
        bones = []
        for j, bone_name in enumerate(joint_names):
            bone = data.edit_bones.new(bone_name)
            bone.head, bone.tail, bone.roll = heads[j].tolist(), tails[j].tolist(), 0.0
            bones.append(bone)
        for j, parent in enumerate(parents):
            if parent >= 0:
                bones[j].parent = bones[parent]
                bones[j].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    data.display_type = "STICK"
    obj.show_in_front = True  # the bones stay visible inside the body mesh


def remove_armature(obj: bpy.types.Object) -> None:
    """Delete an armature object made by :func:`create_armature` together with its data."""
    data = obj.data
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0:
        bpy.data.armatures.remove(data)


def rest_frames(obj: bpy.types.Object, joint_names: Sequence[str]) -> tuple:
    """Bone rest rotations ``(J, 3, 3)`` and heads ``(J, 3)`` in armature space, read back from Blender."""
    bones = obj.data.bones
    rot = np.array([np.array(bones[n].matrix_local)[:3, :3] for n in joint_names], dtype=np.float64)
    heads = np.array([tuple(bones[n].head_local) for n in joint_names], dtype=np.float64)
    return rot, heads

"""Bake the SMPL armature's motion onto another armature (the animator's rig) through a bone map.

Rotations: every mapped target bone turns in world space as its SMPL bone turns away from its rest pose::

    delta(f)        = R_src_world(f) @ R_src_world_rest^-1
    R_tgt_world(f)  = delta(f) @ A @ R_tgt_world_rest

where ``A`` (``rest_alignment``) first turns each target limb segment onto the SMPL segment's rest direction
(identity when the rest poses agree). So bones that point along other axes or have other rolls are handled (only
the change from rest is transferred) and so are other rest poses (an A-posed rig follows a T-posed capture with
its arms where the capture's are). Root: the target root bone (the one mapped to the pelvis) also moves::

    p_tgt(f) = p_tgt_rest + s * (p_src(f) - p_src_rest),   s = target hip height / SMPL hip height

(hip height = rest root head above the rig's lowest bone head), so a taller or shorter rig keeps its feet on the
ground and its stride in proportion.

Solving pose-basis values: the desired world matrices are computed for all frames at once with numpy, and so is
a closed-form first guess of every bone's ``matrix_basis`` (``rest_relative_bases``: the bones between a mapped
bone and its nearest mapped ancestor keep their rest relation, following bones that copy another bone's
transforms, as Rigify's ORG bones do). One ``view_layer.update`` per frame checks the guess against the
*evaluated* rig. Where a rig's constraints break the guess, that frame is solved against the evaluated parents:
level by level in SMPL tree depth (pelvis, hips/spine1, ... wrists; eight updates) with ``Object.convert_space``
(pose -> local, honouring inherit flags), repeated up to ``MAX_PASSES`` times if the rig's dependencies do not
follow the body tree. Measured: 300 frames onto a generated Rigify rig about 2 s (closed form on every frame, with
the switches of ``retarget_maps.SWITCHES``), onto a Mixamo rig about 1 s. The result is keyed in one bulk write per
F-Curve into a new action ``<target>_<source action>_retarget``; the target's previous action keeps a fake user.
On any error everything made is removed and the target's action, pose and switches are restored.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

import bpy
from mathutils import Matrix

from . import action_io, keyframes
from .core import action_math as am
from .core import retarget_maps as maps
from .core.panel_errors import ScoreHMRError

log = logging.getLogger(__name__)

MAX_PASSES = 3
SOLVE_TOLERANCE = 1e-4   # radians-ish (max abs difference of rotation matrix entries) accepted per frame


@dataclass(frozen=True)
class BonePair:
    """One mapped joint: SMPL joint name, the source bone's name, the target bone's name, SMPL tree depth."""

    joint: str
    source: str
    target: str
    depth: int


def _depth(joint_index: int) -> int:
    depth, j = 0, joint_index
    while maps.ALL_PARENTS[j] >= 0:
        j, depth = maps.ALL_PARENTS[j], depth + 1
    return depth


def check_rigs(source_obj: bpy.types.Object, target_obj: bpy.types.Object,
               mapping: Mapping[str, str]) -> List[BonePair]:
    """The mapped bone pairs in SMPL order; raise ScoreHMRError (nothing changed) when the rigs cannot be used:
    not armatures, the same object, linked, no SMPL bones on the source, mapped bones missing on the target."""
    for obj, role in ((source_obj, "source (SMPL)"), (target_obj, "target")):
        if obj is None or obj.type != "ARMATURE":
            raise ScoreHMRError(f"The {role} is not an armature.", "Pick an armature in the Retarget panel",
                                "no_armature")
        if obj.library is not None:
            raise ScoreHMRError(f"{obj.name} is linked from a library and cannot be changed.",
                                "Make it local (Object > Relations > Make Local)", "linked")
    if source_obj == target_obj:
        raise ScoreHMRError("The source and the target are the same armature.",
                            "Pick your own rig as the target", "same_rig")
    source_bones = [b.name for b in source_obj.data.bones]
    src_names = action_io.smpl_bones(source_bones)
    by_joint = dict(zip(maps.SMPL_JOINTS, src_names))
    by_joint.update({joint: joint for joint in maps.FINGER_JOINTS if joint in source_bones})
    mapping = maps.usable(mapping, source_bones, [b.name for b in target_obj.data.bones])
    unknown = maps.unknown_joints(mapping, list(by_joint))
    if unknown:
        raise ScoreHMRError(f"The bone map names joints SMPL does not have: {', '.join(unknown)}.",
                            "Use SMPL joint names (pelvis, left_hip ...) in the map", "bad_map")
    if not mapping:
        raise ScoreHMRError("The bone map is empty.", "Pick a preset or fill the custom map", "bad_map")
    missing = maps.missing_bones(mapping, [b.name for b in target_obj.data.bones])
    if missing:
        raise ScoreHMRError(f"{target_obj.name} lacks {len(missing)} mapped bones: {', '.join(missing)}.",
                            "Pick the preset that fits the rig, or map these joints to existing bones "
                            "(Custom map)", "missing_bones")
    targets = [mapping[j] for j in mapping]
    if len(set(targets)) != len(targets):
        twice = sorted({t for t in targets if targets.count(t) > 1})
        raise ScoreHMRError(f"Several joints are mapped to the same bone: {', '.join(twice)}.",
                            "Map each joint to its own bone", "bad_map")
    return [BonePair(joint, by_joint[joint], mapping[joint], _depth(maps.ALL_JOINTS.index(joint)))
            for joint in maps.ALL_JOINTS if joint in mapping]


def _rotation(m: np.ndarray) -> np.ndarray:
    """The rotation part of ``(..., 4, 4)`` or ``(..., 3, 3)`` matrices (columns normalised: scale removed)."""
    r = np.asarray(m, dtype=np.float64)[..., :3, :3]
    return r / np.linalg.norm(r, axis=-2, keepdims=True)


def sample_world(context: bpy.types.Context, obj: bpy.types.Object, bones: Sequence[str],
                 frames: Sequence[int]) -> np.ndarray:
    """World matrices ``(F, K, 4, 4)`` of ``bones`` of ``obj`` at ``frames`` (the scene's frame is changed; the
    caller restores it)."""
    scene = context.scene
    out = np.empty((len(frames), len(bones), 4, 4))
    pose_bones = [obj.pose.bones[n] for n in bones]
    for i, frame in enumerate(frames):
        scene.frame_set(int(frame))
        world = np.array(obj.matrix_world)
        out[i] = world @ np.array([np.array(pb.matrix) for pb in pose_bones])
    return out


def _rest_world(obj: bpy.types.Object, bones: Sequence[str]) -> np.ndarray:
    world = np.array(obj.matrix_world)
    return world @ np.array([np.array(obj.data.bones[n].matrix_local) for n in bones])


def _ground_height(obj: bpy.types.Object, root: str) -> float:
    """World height of ``root``'s rest head above the rig's lowest rest bone head."""
    world = np.array(obj.matrix_world)
    heads = np.array([tuple(b.head_local) + (1.0,) for b in obj.data.bones]) @ world.T
    root_head = world @ np.array(tuple(obj.data.bones[root].head_local) + (1.0,))
    return float(root_head[2] - heads[:, 2].min())


def root_scale(source_obj: bpy.types.Object, target_obj: bpy.types.Object, pairs: Sequence[BonePair]) -> float:
    """Target hip height / SMPL hip height (1 when either is degenerate or the pelvis is not mapped)."""
    root = next((p for p in pairs if p.joint == maps.ROOT_JOINT), None)
    if root is None:
        return 1.0
    src, tgt = _ground_height(source_obj, root.source), _ground_height(target_obj, root.target)
    return tgt / src if src > 1e-3 and tgt > 1e-3 else 1.0


def _turn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation ``(3, 3)`` turning direction ``a`` onto direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: half a turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


def rest_alignment(src_rest: np.ndarray, tgt_rest: np.ndarray, pairs: Sequence[BonePair]) -> np.ndarray:
    """World rotations ``(K, 3, 3)`` that turn each target bone's rest *segment* (its head toward the head of the
    next mapped bone down the SMPL tree; the most central child where there are several) onto the SMPL
    segment's rest direction, so an A-posed rig and the T-posed SMPL rig reach the same poses. Bones with no
    mapped child (hands, toes, head) take their parent's alignment; identical rest poses give identities."""
    index = {p.joint: k for k, p in enumerate(pairs)}
    out = np.empty((len(pairs), 3, 3))
    for k, pair in enumerate(pairs):  # SMPL order: parents first
        j = maps.ALL_JOINTS.index(pair.joint)
        children = [index[maps.ALL_JOINTS[c]] for c in range(len(maps.ALL_PARENTS))
                    if maps.ALL_PARENTS[c] == j and maps.ALL_JOINTS[c] in index]
        if children:
            child = min(children, key=lambda c: abs(src_rest[c, 0, 3] - src_rest[k, 0, 3]))
            seg_src = src_rest[child, :3, 3] - src_rest[k, :3, 3]
            seg_tgt = tgt_rest[child, :3, 3] - tgt_rest[k, :3, 3]
            if np.linalg.norm(seg_src) > 1e-6 and np.linalg.norm(seg_tgt) > 1e-6:
                out[k] = _turn(seg_tgt, seg_src)
                continue
        parent = maps.ALL_PARENTS[j]
        out[k] = out[index[maps.ALL_JOINTS[parent]]] if parent >= 0 and maps.ALL_JOINTS[parent] in index \
            else np.eye(3)
    return out


def desired_world(src_world: np.ndarray, src_rest: np.ndarray, tgt_rest: np.ndarray, pairs: Sequence[BonePair],
                  scale: float, align_rest: bool = True) -> np.ndarray:
    """Target world matrices ``(F, K, 4, 4)``: rotations ``delta @ A @ R_tgt_rest`` (``A`` from
    :func:`rest_alignment`, identity without ``align_rest``); translations = the target's rest heads, the root's
    moved by ``scale`` times the SMPL pelvis's displacement (other bones' translations are ignored by the solver:
    they follow their parents)."""
    delta = _rotation(src_world) @ np.swapaxes(_rotation(src_rest), -1, -2)[None]
    align = rest_alignment(src_rest, tgt_rest, pairs) if align_rest else np.broadcast_to(np.eye(3), delta.shape[1:])
    out = np.broadcast_to(np.eye(4), src_world.shape).copy()
    out[..., :3, :3] = delta @ (align @ _rotation(tgt_rest))[None]
    out[..., :3, 3] = tgt_rest[None, :, :3, 3]
    for k, pair in enumerate(pairs):
        if pair.joint == maps.ROOT_JOINT:
            out[:, k, :3, 3] = tgt_rest[k, :3, 3] + scale * (src_world[:, k, :3, 3] - src_rest[k, :3, 3])
    return out


@dataclass
class _Saved:
    """What the retarget changes on the target, to put back on error."""

    action: object
    slot: object
    basis: Dict[str, Matrix]
    switches: Dict[Tuple[str, str], float]
    frame: int


def _save(context: bpy.types.Context, obj: bpy.types.Object) -> _Saved:
    anim = obj.animation_data
    return _Saved(action=anim.action if anim else None, slot=getattr(anim, "action_slot", None) if anim else None,
                  basis={pb.name: pb.matrix_basis.copy() for pb in obj.pose.bones},
                  switches={(pb.name, prop): float(pb[prop]) for pb, prop in switch_properties(obj)},
                  frame=context.scene.frame_current)


def _restore(context: bpy.types.Context, obj: bpy.types.Object, saved: _Saved) -> None:
    anim = obj.animation_data
    if anim is not None:
        anim.action = saved.action
        if saved.slot is not None and saved.action is not None:
            anim.action_slot = saved.slot
    for name, basis in saved.basis.items():
        obj.pose.bones[name].matrix_basis = basis
    for (name, prop), value in saved.switches.items():
        obj.pose.bones[name][prop] = value
    context.scene.frame_set(saved.frame)


def switch_properties(obj: bpy.types.Object) -> List[Tuple[bpy.types.PoseBone, str]]:
    """``(pose bone, property)`` of every numeric Rigify switch of :data:`retarget_maps.SWITCHES` on ``obj``."""
    return [(pb, prop) for pb in obj.pose.bones for prop in maps.SWITCHES
            if prop in pb.keys() and isinstance(pb[prop], (int, float)) and not isinstance(pb[prop], bool)]


def rest_relative_bases(obj: bpy.types.Object, pairs: Sequence[BonePair],
                        local: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """First guess of the pose bases, all frames at once: rotations ``(F, K, 3, 3)`` and root locations ``(F, 3)``
    for armature-space targets ``local`` ``(F, K, 4, 4)``, assuming the bones between a mapped bone and its nearest
    mapped ancestor keep their rest relation (exact for plain rigs: Mixamo, the metarig; and for Rigify with the
    switches of ``retarget_maps.SWITCHES``)::

        B_k = Rest_k^-1 @ Rest_a @ M_a^-1 @ M_k        (a: nearest mapped ancestor; none: B_k = Rest_k^-1 @ M_k)
    """
    names = [p.target for p in pairs]
    rest = np.array([np.array(obj.data.bones[n].matrix_local) for n in names])
    basis = np.linalg.inv(rest)[None] @ local
    for k, name in enumerate(names):
        ancestor = _mapped_ancestor(obj, name, names)
        if ancestor is not None:
            basis[:, k] = np.linalg.inv(rest[k]) @ rest[ancestor] @ np.linalg.inv(local[:, ancestor]) @ local[:, k]
    roots = [k for k, p in enumerate(pairs) if p.joint == maps.ROOT_JOINT]
    loc = basis[:, roots[0], :3, 3].copy() if roots else np.zeros((local.shape[0], 3))
    return _rotation(basis), loc


def _mapped_ancestor(obj: bpy.types.Object, name: str, names: Sequence[str]):
    """Index in ``names`` of the nearest mapped bone that moves bone ``name``: up the parent chain, jumping from a
    bone fully copying another bone's transforms (Rigify's ORG bones follow their controls) to that bone."""
    bone, seen = obj.pose.bones[name].parent, set()
    while bone is not None and bone.name not in seen:
        seen.add(bone.name)
        if bone.name in names:
            return names.index(bone.name)
        copy = next((c for c in bone.constraints if c.type == "COPY_TRANSFORMS" and not c.mute
                     and c.influence == 1.0 and c.target == obj and c.subtarget in obj.pose.bones), None)
        bone = obj.pose.bones[copy.subtarget] if copy is not None else bone.parent
    return None


def _set_basis(pose_bone: bpy.types.PoseBone, rot: np.ndarray, loc: np.ndarray) -> None:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, loc
    pose_bone.matrix_basis = Matrix(m.tolist())


def solve_bases(context: bpy.types.Context, obj: bpy.types.Object, pairs: Sequence[BonePair],
                desired: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """Pose-basis rotations ``(F, K, 3, 3)`` and root locations ``(F, 3)`` that put the mapped bones of ``obj``
    at ``desired`` world matrices ``(F, K, 4, 4)``, and the largest remaining rotation error (see module doc).
    Leaves the pose of the last frame on ``obj``."""
    view_layer = context.view_layer
    to_armature = np.linalg.inv(np.array(obj.matrix_world))
    local = to_armature[None, None] @ desired
    levels = sorted({p.depth for p in pairs})
    by_level = [[k for k, p in enumerate(pairs) if p.depth == d] for d in levels]
    pose_bones = [obj.pose.bones[p.target] for p in pairs]
    roots = [k for k, p in enumerate(pairs) if p.joint == maps.ROOT_JOINT]
    rot, loc = rest_relative_bases(obj, pairs, local)
    zero = np.zeros(3)
    worst, fallbacks = 0.0, 0
    for i in range(desired.shape[0]):
        for k, pb in enumerate(pose_bones):   # the closed-form guess: one update to check it
            _set_basis(pb, rot[i, k], loc[i] if k in roots else zero)
        view_layer.update()
        error = _frame_error(pose_bones, local[i], roots)
        if error >= SOLVE_TOLERANCE:
            fallbacks += 1
            for _attempt in range(MAX_PASSES):
                for ks in by_level:
                    view_layer.update()
                    for k in ks:
                        basis = np.array(obj.convert_space(pose_bone=pose_bones[k],
                                                           matrix=Matrix(local[i, k].tolist()),
                                                           from_space="POSE", to_space="LOCAL"))
                        rot[i, k] = _rotation(basis)
                        if k in roots:
                            loc[i] = basis[:3, 3]
                        _set_basis(pose_bones[k], rot[i, k], loc[i] if k in roots else zero)
                view_layer.update()
                error = _frame_error(pose_bones, local[i], roots)
                if error < SOLVE_TOLERANCE:
                    break
        worst = max(worst, error)
    log.debug("solve: %d of %d frames needed the per-level solve", fallbacks, desired.shape[0])
    return rot, loc, worst


def _frame_error(pose_bones: Sequence[bpy.types.PoseBone], local: np.ndarray, roots: Sequence[int]) -> float:
    """Largest difference between the evaluated and wanted armature-space matrices ``(K, 4, 4)`` of a frame:
    rotation entries of every bone, and the root's head position (metres in armature space)."""
    got = np.array([np.array(pb.matrix) for pb in pose_bones])
    error = float(np.abs(_rotation(got) - _rotation(local)).max())
    for k in roots:
        error = max(error, float(np.abs(got[k, :3, 3] - local[k, :3, 3]).max()))
    return error


def retarget(context: bpy.types.Context, source_obj: bpy.types.Object, target_obj: bpy.types.Object,
             mapping: Mapping[str, str], frames: Sequence[int], align_rest: bool = True) -> bpy.types.Action:
    """Bake ``source_obj``'s (the SMPL armature's) motion at ``frames`` onto ``target_obj`` through ``mapping``
    ``{SMPL joint: target bone}``; return the new action, assigned to the target. ``align_rest``: match the
    limbs' rest directions first (A-pose rigs follow a T-posed capture), else transfer only the change from rest.

    Raises ScoreHMRError with nothing changed for unusable rigs (missing mapped bones are listed); any later error
    removes the new action and restores the target's action, pose and switches. Rigify's switches
    (``retarget_maps.SWITCHES``: IK/FK to FK, limbs, neck and head following) are set and keyed.
    """
    frames = np.asarray(sorted({int(f) for f in frames}), dtype=np.int64)
    if frames.size == 0:
        raise ScoreHMRError("No frames to retarget.", "Key the SMPL armature first", "bad_range")
    pairs = check_rigs(source_obj, target_obj, mapping)
    if context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    saved = _save(context, target_obj)
    src_action = source_obj.animation_data.action if source_obj.animation_data else None
    new = None
    try:
        src_names = [p.source for p in pairs]
        tgt_names = [p.target for p in pairs]
        src_world = sample_world(context, source_obj, src_names, frames)
        if target_obj.animation_data is not None:
            target_obj.animation_data.action = None
        for pb in target_obj.pose.bones:
            pb.matrix_basis = Matrix.Identity(4)
        switches = switch_properties(target_obj)
        for pb, prop in switches:
            pb[prop] = type(pb[prop])(maps.SWITCHES[prop])
        scale = root_scale(source_obj, target_obj, pairs)
        desired = desired_world(src_world, _rest_world(source_obj, src_names), _rest_world(target_obj, tgt_names),
                                pairs, scale, align_rest)
        rot, loc, worst = solve_bases(context, target_obj, pairs, desired)
        if worst > 1e-2:
            log.warning("retarget: rotations off by up to %.3g after %d passes (rig dependencies)", worst,
                        MAX_PASSES)
        base = f"{target_obj.name}_{src_action.name if src_action else 'pose'}_retarget"
        new = bpy.data.actions.new(action_io.unique_action_name(base))
        _write(target_obj, new, pairs, frames, rot, loc, switches)
        log.info("retargeted %d frames of %s onto %s (%d bones, root scale %.3f, worst %.2g)", len(frames),
                 source_obj.name, target_obj.name, len(pairs), scale, worst)
    except Exception:  # anything (a bpy error, bad values): undo our changes, then let it propagate unchanged
        log.exception("retarget failed; restoring %s", target_obj.name)
        if new is not None:
            bpy.data.actions.remove(new)
        _restore(context, target_obj, saved)
        raise
    if saved.action is not None:
        saved.action.use_fake_user = True
    context.scene.frame_set(saved.frame)
    return new


def _write(obj: bpy.types.Object, action: bpy.types.Action, pairs: Sequence[BonePair], frames: np.ndarray,
           rot: np.ndarray, loc: np.ndarray, switches: Sequence[Tuple[bpy.types.PoseBone, str]]) -> None:
    """Assign ``action`` to ``obj`` and key the bones in their own rotation modes, the root's location and the
    IK/FK switches (bulk writes)."""
    new_fcurve = keyframes.assign_action(obj, action)
    for k, pair in enumerate(pairs):
        mode = obj.pose.bones[pair.target].rotation_mode
        values = am.rotmat_to_values(rot[:, k], mode)
        path = action_io.bone_path(pair.target, am.rotation_property(mode))
        for c in range(values.shape[1]):
            keyframes.write_curve(new_fcurve(path, c, pair.target), frames, values[:, c])
        if pair.joint == maps.ROOT_JOINT:
            path = action_io.bone_path(pair.target, "location")
            for c in range(3):
                keyframes.write_curve(new_fcurve(path, c, pair.target), frames, loc[:, c])
    for pb, prop in switches:
        path = f'pose.bones["{bpy.utils.escape_identifier(pb.name)}"]["{prop}"]'
        keyframes.write_curve(new_fcurve(path, 0, pb.name), frames[:1], np.array([maps.SWITCHES[prop]]))


def action_frames(obj: bpy.types.Object) -> np.ndarray:
    """Whole frames of ``obj``'s action's range; raise ScoreHMRError when it has no action."""
    action = obj.animation_data.action if obj is not None and obj.animation_data else None
    if action is None:
        raise ScoreHMRError(f"{obj.name if obj else 'The source'} has no action to retarget.",
                            "Capture or key the SMPL armature first", "no_action")
    start, end = action.frame_range
    return np.arange(int(round(start)), int(round(end)) + 1)

"""Reading an armature's action as SMPL motion and writing the cleaned motion as a new action (motion cleanup).

Reading evaluates the action's F-Curves directly at every frame of the range (any keyframe spacing, modifiers
included); a channel without a curve takes the pose bone's current value. Bones may be keyed in quaternion,
axis-angle or any Euler order. The new action is a copy of the original in which only the 24 SMPL bones' rotation
channels (in each bone's own rotation mode) and the root bone's location are re-keyed on every frame of the range;
every other curve and every key outside the range are kept. Works with layered actions (Blender 4.4+, the
object's slot) and legacy ``action.fcurves``. The maths lives in :mod:`action_math`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import bpy

from . import rig
from .core import action_math as am
from .core.panel_errors import ScoreHMRError
from .server.body.layout import SMPL_JOINT_NAMES

log = logging.getLogger(__name__)

# Bone names of other SMPL tools (Meshcapade's add-on, the SMPL FBX/Unity rigs), in SMPL joint order.
ALIASES: Tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
    "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand",
)
PREFIXES: Tuple[str, ...] = ("", "m_avg_", "f_avg_")
CurveMap = Dict[Tuple[str, int], "bpy.types.FCurve"]


@dataclass(frozen=True)
class MotionSample:
    """An action sampled per frame. poses (N, 24, 3) SMPL axis-angle (root in the camera convention), transl
    (N, 3) camera frame, confidence (N, 24) (0 where a key evaluated to NaN; such values are replaced by the rest
    rotation / the interpolated translation), bones: the armature's bone per SMPL joint, modes: their rotation
    modes, nan_keys: how many (frame, bone) values were NaN."""

    frames: np.ndarray
    poses: np.ndarray
    transl: np.ndarray
    confidence: np.ndarray
    bones: Tuple[str, ...]
    modes: Tuple[str, ...]
    nan_keys: int


def candidate_names(joint: int) -> List[str]:
    """Bone names accepted for SMPL joint ``joint``: ours, then the other tools' (with their prefixes)."""
    return [SMPL_JOINT_NAMES[joint]] + [prefix + ALIASES[joint] for prefix in PREFIXES]


def smpl_bones(bone_names: Sequence[str]) -> Tuple[str, ...]:
    """The armature's bone name for each of the 24 SMPL joints (exact names first, then case-insensitive);
    raise :class:`ScoreHMRError` listing the joints that have no bone."""
    exact = set(bone_names)
    lower = {name.lower(): name for name in bone_names}
    found, missing = [], []
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        names = candidate_names(j)
        match = next((n for n in names if n in exact), None) or next((lower[n.lower()] for n in names
                                                                      if n.lower() in lower), None)
        (found if match else missing).append(match or joint)
    if missing:
        raise ScoreHMRError(f"The armature lacks SMPL bones: {', '.join(missing)}.",
                            "Clean up works on SMPL armatures (a ScoreHMR capture, or bones named like "
                            "SMPL's joints: pelvis / Pelvis / m_avg_Pelvis ...)", "no_smpl_bones")
    return tuple(found)


def action_curves(obj: bpy.types.Object, action: bpy.types.Action) -> CurveMap:
    """``(data_path, index) -> F-Curve`` of ``action`` as it animates ``obj`` (its slot on layered actions)."""
    return {(fc.data_path, fc.array_index): fc for fc in _fcurves(obj, action)}


def _slot(obj: bpy.types.Object, action: bpy.types.Action):
    anim = obj.animation_data
    slot = getattr(anim, "action_slot", None) if anim is not None and anim.action == action else None
    if slot is None and hasattr(action, "slots") and len(action.slots):
        slot = next((s for s in action.slots if s.target_id_type == "OBJECT"), action.slots[0])
    return slot


def _channelbag(action: bpy.types.Action, slot, ensure: bool = False):
    """The channelbag of ``slot`` on the action's first keyframe strip, or None."""
    from bpy_extras import anim_utils
    if ensure:
        return anim_utils.action_ensure_channelbag_for_slot(action, slot)
    return anim_utils.action_get_channelbag_for_slot(action, slot)


def _fcurves(obj: bpy.types.Object, action: bpy.types.Action) -> list:
    if hasattr(action, "layers") and len(action.layers):
        slot = _slot(obj, action)
        bag = _channelbag(action, slot) if slot is not None else None
        return list(bag.fcurves) if bag is not None else []
    return list(getattr(action, "fcurves", []))


def bone_path(bone: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'


def _channels(curves: CurveMap, path: str, count: int, current: Sequence[float],
              frames: np.ndarray) -> np.ndarray:
    """(N, count) values of ``path`` at ``frames``: the curve's value, else the property's current value."""
    out = np.empty((len(frames), count))
    for i in range(count):
        fc = curves.get((path, i))
        out[:, i] = [fc.evaluate(float(f)) for f in frames] if fc is not None else current[i]
    return out


def has_keys(obj: bpy.types.Object, action: bpy.types.Action, bones: Sequence[str]) -> bool:
    """Whether any rotation or location channel of the SMPL bones has at least one key."""
    prefixes = tuple(bone_path(b, "") for b in bones)
    return any(fc.data_path.startswith(prefixes) and len(fc.keyframe_points)
               for fc in _fcurves(obj, action))


def rest_pelvis(obj: bpy.types.Object, head0: np.ndarray) -> np.ndarray:
    """The body's rest pelvis J0 in SMPL's canonical frame: from a ScoreHMR rig's stored rest joints, else the
    root bone's head mapped back from armature space."""
    rest = np.asarray(list(obj.get(rig.REST_KEY, [])), dtype=np.float64)
    if rest.size == 24 * 3:
        return rest.reshape(24, 3)[0]
    return am.SMPL_TO_ARMATURE.T @ head0


def sample_motion(obj: bpy.types.Object, action: bpy.types.Action, frames: Sequence[int],
                  bones: Optional[Sequence[str]] = None) -> MotionSample:
    """Evaluate ``action`` on ``obj``'s SMPL bones at every frame -> :class:`MotionSample` (nothing is changed)."""
    bones = tuple(bones or smpl_bones([b.name for b in obj.data.bones]))
    frames = np.asarray(frames, dtype=np.float64)
    curves = action_curves(obj, action)
    rest_rot, heads = rig.rest_frames(obj, bones)
    n = len(frames)
    basis = np.empty((n, len(bones), 3, 3))
    bad = np.zeros((n, len(bones)), dtype=bool)
    modes = []
    for j, name in enumerate(bones):
        pose_bone = obj.pose.bones[name]
        mode = pose_bone.rotation_mode
        prop = am.rotation_property(mode)
        values = _channels(curves, bone_path(name, prop), am.channel_count(mode), getattr(pose_bone, prop), frames)
        bad[:, j] = ~np.isfinite(values).all(-1)
        basis[:, j] = am.values_to_rotmat(np.where(bad[:, j, None], am.identity_values(mode), values), mode)
        modes.append(mode)
    location = _channels(curves, bone_path(bones[0], "location"), 3, obj.pose.bones[bones[0]].location, frames)
    bad_loc = ~np.isfinite(location).all(-1)
    if bad_loc.all() or bad.all():
        raise ScoreHMRError(f"Every frame of {action.name} has NaN keys in {frames[0]:g}..{frames[-1]:g}.",
                            "Key the motion, or pick a range with valid keys", "nan_keys")
    if bad_loc.any():
        good = np.flatnonzero(~bad_loc)
        location = np.stack([np.interp(np.arange(n), good, location[good, c]) for c in range(3)], -1)
    poses = am.smpl_from_basis(basis, rest_rot)
    transl = am.transl_from_location(location, heads[0], rest_rot[0], rest_pelvis(obj, heads[0]))
    confidence = np.where(bad | bad_loc[:, None], 0.0, 1.0)
    return MotionSample(frames=frames, poses=poses, transl=transl, confidence=confidence, bones=bones,
                        modes=tuple(modes), nan_keys=int(bad.sum() + bad_loc.sum()))


def unique_action_name(base: str) -> str:
    """``base``, or ``base.001``, ``base.002`` ... whichever no action has yet."""
    name, k = base, 0
    while name in bpy.data.actions:
        k += 1
        name = f"{base}.{k:03d}"
    return name


def write_clean_action(obj: bpy.types.Object, original: bpy.types.Action, sample: MotionSample,
                       poses: np.ndarray, transl: np.ndarray, name: str = "", keep_root: bool = False,
                       curves: Optional[Dict[str, np.ndarray]] = None) -> bpy.types.Action:
    """A copy of ``original`` named ``<original>_clean`` (or ``name``) with the SMPL bones re-keyed from ``poses``
    (N, 24, 3) and ``transl`` (N, 3) on ``sample.frames``, assigned to ``obj``; ``original`` gets a fake user
    and is not modified. ``keep_root``: the root bone's rotation and location curves are left as they are.
    ``curves``: custom properties of ``obj`` (name -> (N,) values) to key on the new action at ``sample.frames``
    with constant interpolation (the properties are created at 0.0 when missing).
    On any error the copy is removed, the original assignment and the object's custom properties restored."""
    anim = obj.animation_data
    old_action = anim.action if anim is not None else None
    old_slot = getattr(anim, "action_slot", None) if anim is not None else None
    slot_id = _slot(obj, original).identifier if hasattr(original, "slots") and len(original.slots) else ""
    old_props = {key: obj[key] if key in obj else None for key in (curves or {})}
    new = original.copy()
    try:
        new.name = unique_action_name(name or f"{original.name}_clean")
        new.use_fake_user = False
        factory = _assign(obj, new, slot_id)
        _rekey(obj, new, factory, sample, poses, transl, keep_root)
        if curves:
            _key_properties(obj, new, factory, sample.frames, curves)
    except Exception:  # anything (a bpy error, bad values): undo our changes, then let it propagate unchanged
        log.exception("writing the cleaned action failed; restoring %s", original.name)
        if obj.animation_data is not None:
            obj.animation_data.action = old_action
            if old_slot is not None:
                obj.animation_data.action_slot = old_slot
        bpy.data.actions.remove(new)
        for key, value in old_props.items():
            if value is not None:
                obj[key] = value
            elif key in obj:
                del obj[key]
        raise
    original.use_fake_user = True
    return new


def _assign(obj: bpy.types.Object, action: bpy.types.Action, slot_id: str):
    """Assign ``action`` on the slot with identifier ``slot_id`` (layered) -> ``new_fcurve(path, index, group)``
    and the curve map of that slot."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = action
    if hasattr(action, "slots") and slot_id:
        slot = next(s for s in action.slots if s.identifier == slot_id)
        anim.action_slot = slot
        bag = _channelbag(action, slot, ensure=True)
        return lambda path, index, group: bag.fcurves.new(path, index=index, group_name=group)
    return lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)


def _rekey(obj: bpy.types.Object, action: bpy.types.Action, new_fcurve, sample: MotionSample, poses: np.ndarray,
           transl: np.ndarray, keep_root: bool = False) -> None:
    """Replace the SMPL bones' rotation keys (own modes) and the root location keys inside the range (the root's
    curves stay untouched with ``keep_root``)."""
    curves = action_curves(obj, action)
    rest_rot, heads = rig.rest_frames(obj, sample.bones)
    basis = am.basis_from_smpl(poses, rest_rot)
    for j, name in enumerate(sample.bones):
        if keep_root and j == 0:
            continue
        mode = obj.pose.bones[name].rotation_mode
        values = am.rotmat_to_values(basis[:, j], mode)
        path = bone_path(name, am.rotation_property(mode))
        for i in range(values.shape[1]):
            _replace_keys(curves.get((path, i)) or new_fcurve(path, i, name), sample.frames, values[:, i])
    if keep_root:
        return
    location = am.location_from_transl(transl, heads[0], rest_rot[0], rest_pelvis(obj, heads[0]))
    path = bone_path(sample.bones[0], "location")
    for i in range(3):
        _replace_keys(curves.get((path, i)) or new_fcurve(path, i, sample.bones[0]), sample.frames, location[:, i])


def _key_properties(obj: bpy.types.Object, action: bpy.types.Action, new_fcurve, frames: np.ndarray,
                    values: Dict[str, np.ndarray]) -> None:
    """Key each custom property ``name`` of ``obj`` with ``values[name]`` (N,) at ``frames``, constant
    interpolation, in the group "ScoreHMR"; keys outside the range are kept."""
    curves = action_curves(obj, action)
    for key, series in values.items():
        series = np.asarray(series, dtype=np.float64).reshape(-1)
        if series.shape != frames.shape:
            raise ValueError(f"{key}: {series.shape[0]} values for {len(frames)} frames")
        obj[key] = 0.0
        path = f'["{bpy.utils.escape_identifier(key)}"]'
        fcurve = curves.get((path, 0)) or new_fcurve(path, 0, "ScoreHMR")
        _replace_keys(fcurve, frames, series)
        for point in fcurve.keyframe_points:
            if frames[0] - 1e-3 <= point.co[0] <= frames[-1] + 1e-3:
                point.interpolation = "CONSTANT"


def _replace_keys(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Remove ``fcurve``'s keys within [frames[0], frames[-1]] and key ``values`` at ``frames`` (bulk)."""
    points = fcurve.keyframe_points
    lo, hi = frames[0] - 1e-3, frames[-1] + 1e-3
    count = len(points)
    co = np.empty(2 * count, dtype=np.float32)
    points.foreach_get("co", co)
    inside = (co[0::2] >= lo) & (co[0::2] <= hi)
    if inside.all():
        points.clear()
    else:
        for index in np.flatnonzero(inside)[::-1]:
            points.remove(points[int(index)], fast=True)
    kept = len(points)
    points.add(len(frames))
    co = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", co)
    co[2 * kept::2], co[2 * kept + 1::2] = frames, values
    points.foreach_set("co", co)
    fcurve.update()

"""Body Shape on a captured armature: gender, height, weight and muscle sliders, live on the mesh and the bones.

A capture with the built-in body carries its sliders (``core.body_shape``). The import gives the body mesh one
shape key per slider (``ScoreHMR Gender`` ..., each at 0 for the captured body: an offset per unit of the slider)
and stores on the armature what moving the bones needs (the captured values, the rest joints and their change per
unit). The sliders are the armature's ``scorehmr_shape`` properties: changing one sets the shape keys and moves
every bone's head and tail by its joint's change (edit mode, briefly; each bone keeps its direction, so the keyed
rotations mean the same and the mesh skins exactly as the worker's body of that shape would). The lowest joint stays
at z = 0, so the feet stay on the ground. A property change is one undo step, as in any Blender panel.
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

import bpy
from bpy.props import FloatProperty

from . import body_mesh, rig
from .core import body_shape
from .core.body_shape import ShapeSliders

log = logging.getLogger(__name__)

NAMES_KEY = "scorehmr_shape_sliders"       # "gender,height,weight,muscle"
VALUES_KEY = "scorehmr_shape_captured"     # (S,) the capture's values
DIRS_KEY = "scorehmr_shape_joint_dirs"     # (S * J * 3,) rest joints' change per unit, SMPL canonical
REST_KEY = "scorehmr_shape_rest"           # (J * 3,) the captured rest joints, SMPL canonical
LOWEST_KEY = "scorehmr_shape_lowest"       # the joint kept at z = 0
KEY_PREFIX = "ScoreHMR "
_quiet = False   # set while the import or a reset writes the properties: no bone moves then


def key_name(slider: str) -> str:
    return KEY_PREFIX + body_shape.LABELS[slider]


def attach(rig_obj: bpy.types.Object, body: bpy.types.Object, sliders: ShapeSliders,
           joints_rest: np.ndarray) -> None:
    """Give a newly made ``body`` its slider shape keys and ``rig_obj`` the sliders at the capture's values."""
    global _quiet
    lowest = body_shape.lowest_joint(joints_rest)
    offsets = body_shape.armature_directions(sliders, lowest)
    if body.data.shape_keys is None:
        body.shape_key_add(name="Basis", from_mix=False)
    basis = np.empty(len(body.data.vertices) * 3)
    body.data.shape_keys.key_blocks[0].data.foreach_get("co", basis)
    for name, offset in zip(sliders.names, offsets):
        key = body.shape_key_add(name=key_name(name), from_mix=False)
        key.slider_min, key.slider_max = -10.0, 10.0
        key.data.foreach_set("co", basis + offset.ravel())
        key.value = 0.0
    rig_obj[NAMES_KEY] = ",".join(sliders.names)
    rig_obj[VALUES_KEY] = [float(v) for v in sliders.values]
    rig_obj[DIRS_KEY] = [float(v) for v in sliders.joint_dirs.ravel()]
    rig_obj[REST_KEY] = [float(v) for v in np.asarray(joints_rest, np.float64).ravel()]
    rig_obj[LOWEST_KEY] = lowest
    _quiet = True
    try:
        for name, value in zip(sliders.names, sliders.values):
            setattr(rig_obj.scorehmr_shape, name, float(value))
    finally:
        _quiet = False


def stored(rig_obj: bpy.types.Object) -> Optional[Tuple[ShapeSliders, np.ndarray, int]]:
    """The sliders, the captured rest joints (J, 3) and the lowest joint stored on ``rig_obj``, or None."""
    if not rig_obj.get(NAMES_KEY):
        return None
    names = tuple(str(rig_obj[NAMES_KEY]).split(","))
    rest = np.asarray(list(rig_obj[REST_KEY]), np.float64).reshape(-1, 3)
    dirs = np.asarray(list(rig_obj[DIRS_KEY]), np.float64).reshape(len(names), len(rest), 3)
    values = np.asarray(list(rig_obj[VALUES_KEY]), np.float64)
    return ShapeSliders(names, values, np.zeros((len(names), 0, 3)), dirs), rest, int(rig_obj[LOWEST_KEY])


def shaped_rig(context: bpy.types.Context) -> Optional[bpy.types.Object]:
    """The captured armature the Body Shape panel works on: the active object, or the armature of an active body."""
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and obj.get(body_mesh.BODY_MARK) and obj.parent is not None:
        obj = obj.parent
    return obj if rig.is_scorehmr_rig(obj) else None


def current_values(rig_obj: bpy.types.Object, names: Tuple[str, ...]) -> np.ndarray:
    return np.array([getattr(rig_obj.scorehmr_shape, name) for name in names], np.float64)


def apply_sliders(context: bpy.types.Context, rig_obj: bpy.types.Object) -> None:
    """Set the body's shape keys and the bones to the armature's slider values."""
    data = stored(rig_obj)
    if data is None:
        return
    sliders, rest, lowest = data
    values = current_values(rig_obj, sliders.names)
    body = body_mesh.find_body(rig_obj)
    keys = body.data.shape_keys.key_blocks if body is not None and body.data.shape_keys is not None else {}
    for name, value, captured in zip(sliders.names, values, sliders.values):
        if key_name(name) in keys:
            keys[key_name(name)].value = float(value - captured)
    joint_names = str(rig_obj.get(rig.NAMES_KEY, "")).split(",")
    if len(joint_names) == len(rest):
        _move_bones(context, rig_obj, joint_names, body_shape.shaped_rest(rest, sliders, values, lowest))
        rig_obj[rig.REST_KEY] = [float(v) for v in body_shape.shaped_joints(rest, sliders, values).ravel()]


def _move_bones(context: bpy.types.Context, rig_obj: bpy.types.Object, joint_names, heads: np.ndarray) -> None:
    """Move each bone (head and tail together: its direction kept) so its head is at ``heads`` (J, 3)."""
    was_editing = rig_obj.mode == "EDIT"
    mode = rig_obj.mode
    if not was_editing:
        if context.mode != "OBJECT" and context.active_object is not rig_obj:
            log.warning("another object is being edited: the bones of %s follow the shape at the next change made "
                        "outside it", rig_obj.name)
            return
        try:
            with context.temp_override(active_object=rig_obj, object=rig_obj, selected_objects=[rig_obj],
                                       selected_editable_objects=[rig_obj]):
                bpy.ops.object.mode_set(mode="EDIT")
        except RuntimeError as exc:   # hidden, not in the view layer, or linked from a library
            log.warning("the bones of %s cannot be edited (%s): only the mesh follows the shape", rig_obj.name, exc)
            return
    try:
        bones = rig_obj.data.edit_bones
        for name, head in zip(joint_names, heads):
            bone = bones.get(name)
            if bone is None:
                continue
            delta = head - np.asarray(bone.head)
            bone.head = (np.asarray(bone.head) + delta).tolist()
            bone.tail = (np.asarray(bone.tail) + delta).tolist()
    finally:
        if not was_editing:
            with context.temp_override(active_object=rig_obj, object=rig_obj, selected_objects=[rig_obj],
                                       selected_editable_objects=[rig_obj]):
                bpy.ops.object.mode_set(mode=mode)


def _changed(group: "SCOREHMR_PG_body_shape", context: bpy.types.Context) -> None:
    if not _quiet:
        apply_sliders(context, group.id_data)


def reset(context: bpy.types.Context, rig_obj: bpy.types.Object) -> None:
    """The sliders back at the capture's values (the captured body and bones)."""
    global _quiet
    data = stored(rig_obj)
    if data is None:
        return
    _quiet = True
    try:
        for name, value in zip(data[0].names, data[0].values):
            setattr(rig_obj.scorehmr_shape, name, float(value))
    finally:
        _quiet = False
    apply_sliders(context, rig_obj)


class SCOREHMR_PG_body_shape(bpy.types.PropertyGroup):
    """A captured armature's body: Anny's gender, weight and muscle (0..1) and the stature in metres."""

    gender: FloatProperty(name="Gender", description="0 = male, 1 = female (the built-in body's Anny scale)",
                          default=0.5, min=-1.0, max=2.0, soft_min=0.0, soft_max=1.0, update=_changed)
    height: FloatProperty(name="Height", description="Stature, top of the head to the soles; the build is kept",
                          default=1.7, min=1.0, max=2.5, unit="LENGTH", subtype="DISTANCE", update=_changed)
    weight: FloatProperty(name="Weight", description="0 = slight, 1 = heavy (Anny's scale)", default=0.5, min=-1.0,
                          max=2.0, soft_min=0.0, soft_max=1.0, update=_changed)
    muscle: FloatProperty(name="Muscle", description="0 = little, 1 = much (Anny's scale)", default=0.5, min=-1.0,
                          max=2.0, soft_min=0.0, soft_max=1.0, update=_changed)


class SCOREHMR_OT_body_shape_reset(bpy.types.Operator):
    """Put the body's gender, height, weight and muscle back as the capture estimated them"""

    bl_idname = "scorehmr.body_shape_reset"
    bl_label = "Reset to Capture"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        found = shaped_rig(context)
        return found is not None and stored(found) is not None

    def execute(self, context: bpy.types.Context):
        reset(context, shaped_rig(context))
        return {"FINISHED"}


SHAPE_CLASSES = (SCOREHMR_PG_body_shape, SCOREHMR_OT_body_shape_reset)


def attach_property() -> None:
    bpy.types.Object.scorehmr_shape = bpy.props.PointerProperty(type=SCOREHMR_PG_body_shape)


def detach_property() -> None:
    del bpy.types.Object.scorehmr_shape

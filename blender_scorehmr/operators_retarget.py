"""Operators: retarget the SMPL armature's motion onto the animator's rig, edit the custom bone map, and export
an armature's motion as BVH or FBX through Blender's own exporters.

Errors are ScoreHMRErrors: reported, shown in the panel (status error + hint), and the scene is left unchanged.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Set

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from . import action_io, bridge, retarget
from .core import retarget_maps
from .core.panel_errors import ScoreHMRError
from .rig import is_scorehmr_rig

log = logging.getLogger(__name__)

PRESET_ONLY = tuple(item for item in retarget_maps.PRESET_ITEMS if item[0] != "CUSTOM")


def retarget_source(context: bpy.types.Context) -> Optional[bpy.types.Object]:
    """The panel's SMPL armature, else the active object when it is a ScoreHMR (or SMPL-named) armature."""
    settings = context.scene.scorehmr
    if settings.retarget_source is not None:
        return settings.retarget_source
    active = context.view_layer.objects.active if context.view_layer else None
    if active is None or active.type != "ARMATURE" or active == settings.retarget_target:
        return None
    if is_scorehmr_rig(active):
        return active
    try:
        action_io.smpl_bones([b.name for b in active.data.bones])
    except ScoreHMRError:
        return None
    return active


def bone_map(context: bpy.types.Context, target: bpy.types.Object) -> Dict[str, str]:
    """The bone map the panel asks for: a preset resolved against the target's bone names, or the custom rows."""
    settings = context.scene.scorehmr
    if settings.retarget_preset == "CUSTOM":
        return retarget_maps.clean_mapping([(row.joint, row.bone) for row in settings.retarget_map])
    return retarget_maps.resolve(settings.retarget_preset, [b.name for b in target.data.bones])


class SCOREHMR_OT_retarget(bpy.types.Operator):
    """Bake the SMPL armature's motion onto your rig through the bone map (a new action on the rig; its previous
    action is kept)"""

    bl_idname = "scorehmr.retarget"
    bl_label = "Retarget onto Rig"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> Set[str]:
        settings = context.scene.scorehmr
        try:
            source, target = retarget_source(context), settings.retarget_target
            if source is None:
                raise ScoreHMRError("No SMPL armature to retarget from.",
                                    "Pick the ScoreHMR armature in the panel or make it active", "no_armature")
            if target is None:
                raise ScoreHMRError("No target rig.", "Pick your rig as Target Rig in the panel", "no_armature")
            mapping = bone_map(context, target)
            frames = retarget.action_frames(source)
            action = retarget.retarget(context, source, target, mapping, frames, settings.retarget_align_rest)
        except ScoreHMRError as exc:
            bridge.show_error(exc, context, panel="retarget")
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        text = f"Retargeted {len(frames)} frames onto {target.name} as {action.name}"
        bridge.show_done(text, context, panel="retarget", subject=target.name)
        self.report({"INFO"}, text)
        return {"FINISHED"}


class SCOREHMR_OT_retarget_load_preset(bpy.types.Operator):
    """Fill the custom bone map with a preset (one row per SMPL joint, and per finger joint when both armatures have
    fingers; edit the rows for your rig)"""

    bl_idname = "scorehmr.retarget_load_preset"
    bl_label = "Load Preset into Custom Map"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Preset", items=PRESET_ONLY, default="RIGIFY")

    def execute(self, context: bpy.types.Context) -> Set[str]:
        settings = context.scene.scorehmr
        target = settings.retarget_target
        names = [b.name for b in target.data.bones] if target is not None else []
        mapping = retarget_maps.resolve(self.preset, names)
        settings.retarget_map.clear()
        source = retarget_source(context)
        fingers = retarget_maps.usable({j: mapping[j] for j in retarget_maps.FINGER_JOINTS if j in mapping},
                                       [b.name for b in source.data.bones] if source is not None else [], names)
        joints = retarget_maps.ALL_JOINTS if fingers else retarget_maps.SMPL_JOINTS   # finger rows: both have them
        for joint in joints:
            row = settings.retarget_map.add()
            row.joint, row.bone = joint, mapping.get(joint, "")
        settings.retarget_preset = "CUSTOM"
        return {"FINISHED"}


class SCOREHMR_UL_bone_map(bpy.types.UIList):
    """Rows of the custom bone map: the SMPL joint and a search field over the target rig's bones."""

    bl_idname = "SCOREHMR_UL_bone_map"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):  # noqa: D102
        target = context.scene.scorehmr.retarget_target
        row = layout.row(align=True)
        row.label(text=item.joint)
        if target is not None and target.type == "ARMATURE":
            row.prop_search(item, "bone", target.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


FORMATS = (("BVH", "BVH", "Biovision hierarchy (.bvh): the armature's motion, Blender's BVH exporter"),
           ("FBX", "FBX", "Autodesk FBX (.fbx): the armature with its baked action, Blender's FBX exporter"))


def export_armature(context: bpy.types.Context) -> bpy.types.Object:
    """The armature to export: the active armature, else the panel's target rig."""
    active = context.view_layer.objects.active if context.view_layer else None
    obj = active if active is not None and active.type == "ARMATURE" else context.scene.scorehmr.retarget_target
    if obj is None or obj.type != "ARMATURE":
        raise ScoreHMRError("No armature to export.", "Make the armature active (or pick a Target Rig)",
                            "no_armature")
    if obj.animation_data is None or obj.animation_data.action is None:
        raise ScoreHMRError(f"{obj.name} has no action to export.", "Retarget or key it first", "no_action")
    return obj


def export_file_name(name: str, fmt: str) -> str:
    """``<name>.bvh`` / ``<name>.fbx`` for format ``fmt``: the armature's name made safe as a file name."""
    return f"{bpy.path.clean_name(name) or 'motion'}.{fmt.lower()}"


def default_export_path(context: bpy.types.Context, current: str, fmt: str) -> str:
    """The path the export dialog offers: the armature to export's name (:func:`export_file_name`) in the folder of
    ``current`` (the last export's path), else beside the saved .blend file; ``current`` unchanged when there is
    no armature to export (the operator then says why)."""
    try:
        obj = export_armature(context)
    except ScoreHMRError:
        return current
    if current:
        folder = os.path.dirname(bpy.path.abspath(current))
    else:
        folder = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
    return os.path.join(folder, export_file_name(obj.name, fmt))


def export_motion(context: bpy.types.Context, obj: bpy.types.Object, filepath: str, fmt: str,
                  bvh_scale: float = 1.0) -> None:
    """Write ``obj``'s action over its frame range at the scene's frame rate.

    BVH: ``export_anim.bvh`` with ``global_scale = bvh_scale`` (1 = metres, 100 = centimetres).
    FBX: ``export_scene.fbx`` of the armature only, baked animation of the active action, ``apply_unit_scale``
    with the default "FBX Units Scale = None" option: 1 Blender unit (1 m) is written as 100 FBX units
    (centimetres, FBX's unit, UnitScaleFactor 1), so it imports as 1 m in Unity, Unreal and Maya.
    The selection, active object and scene frame range are restored afterwards.
    """
    scene, view_layer = context.scene, context.view_layer
    start, end = (int(round(v)) for v in obj.animation_data.action.frame_range)
    selected = [o for o in view_layer.objects if o.select_get()]
    active, old_range = view_layer.objects.active, (scene.frame_start, scene.frame_end)
    try:
        if context.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        for o in selected:
            o.select_set(False)
        obj.select_set(True)
        view_layer.objects.active = obj
        scene.frame_start, scene.frame_end = start, end
        if fmt == "BVH":
            result = bpy.ops.export_anim.bvh(filepath=filepath, check_existing=False, frame_start=start,
                                             frame_end=end, global_scale=bvh_scale, rotate_mode="NATIVE",
                                             root_transform_only=False)
        else:
            result = bpy.ops.export_scene.fbx(filepath=filepath, check_existing=False, use_selection=True,
                                              object_types={"ARMATURE"}, apply_unit_scale=True, global_scale=1.0,
                                              apply_scale_options="FBX_SCALE_NONE", add_leaf_bones=False,
                                              bake_anim=True, bake_anim_use_all_actions=False,
                                              bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True)
        if result != {"FINISHED"}:
            raise ScoreHMRError(f"Blender's {fmt} exporter returned {sorted(result)}.", "See the system console",
                                "export_failed")
    finally:
        scene.frame_start, scene.frame_end = old_range
        obj.select_set(False)
        for o in selected:
            o.select_set(True)
        view_layer.objects.active = active
    log.info("exported %s frames %d-%d of %s to %s", fmt, start, end, obj.name, filepath)


class SCOREHMR_OT_export_motion(bpy.types.Operator, ExportHelper):
    """Export the active armature's (or the target rig's) motion as BVH or FBX with the scene's frame rate"""

    bl_idname = "scorehmr.export_motion"
    bl_label = "Export Motion"
    bl_options = {"REGISTER"}

    filename_ext = ".bvh"
    format: EnumProperty(name="Format", items=FORMATS, default="BVH")
    filter_glob: StringProperty(default="*.bvh;*.fbx", options={"HIDDEN"})
    bvh_scale: FloatProperty(name="BVH Scale", description="BVH units per metre (1 = metres, 100 = centimetres)",
                             default=1.0, min=0.001, max=1000.0)

    def check(self, context: bpy.types.Context) -> bool:
        self.filename_ext = "." + self.format.lower()
        return ExportHelper.check(self, context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        self.filename_ext = "." + self.format.lower()
        self.filepath = default_export_path(context, self.filepath, self.format)   # named after the armature
        return ExportHelper.invoke(self, context, event)

    def execute(self, context: bpy.types.Context) -> Set[str]:
        try:
            obj = export_armature(context)
            if not os.path.basename(self.filepath):
                raise ScoreHMRError("No file to export to.", "Pick a file name in the export dialog", "export_failed")
            path = bpy.path.ensure_ext(self.filepath, "." + self.format.lower())
            export_motion(context, obj, path, self.format, self.bvh_scale)
        except ScoreHMRError as exc:
            bridge.show_error(exc, context, panel="retarget")
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {obj.name} to {path}")
        return {"FINISHED"}


RETARGET_CLASSES = (SCOREHMR_OT_retarget, SCOREHMR_OT_retarget_load_preset, SCOREHMR_UL_bone_map,
                    SCOREHMR_OT_export_motion)

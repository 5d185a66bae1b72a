"""The ScoreHMR tab in the 3D viewport's sidebar."""
from __future__ import annotations

import bpy


class _SidebarPanel:
    """Where every ScoreHMR panel lives: the 3D viewport's sidebar, ScoreHMR tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ScoreHMR"


class SCOREHMR_PT_capture(_SidebarPanel, bpy.types.Panel):
    """Footage, frame range, Capture motion, progress, Cancel and the last error."""

    bl_idname = "SCOREHMR_PT_capture"
    bl_label = "Motion Capture"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.scorehmr
        st = context.window_manager.scorehmr_status
        col = layout.column()
        col.enabled = not st.running
        col.prop(settings, "source", expand=True)
        col.prop(settings, "filepath" if settings.source == "FILE" else "clip")
        col.prop(settings, "use_whole_clip")
        sub = col.column(align=True)
        sub.enabled = not settings.use_whole_clip
        sub.prop(settings, "video_start")
        sub.prop(settings, "video_end")
        col.prop(settings, "scene_start")
        col.prop(settings, "match_scene_fps")
        col.prop(settings, "fit_scene_range")
        col.prop(settings, "body_mesh")
        col.prop(settings, "match_camera")
        _draw_fit(col, settings)
        if st.running:
            layout.progress(factor=st.progress, type="BAR", text=st.stage or "Working")
            if st.message:
                layout.label(text=st.message)
            layout.operator("scorehmr.cancel", icon="CANCEL")
        else:
            layout.operator("scorehmr.capture", icon="ARMATURE_DATA")
            if st.stage:
                layout.label(text=st.stage, icon="CHECKMARK")
        if st.error:
            _draw_error(layout, st)


class SCOREHMR_PT_motion(_SidebarPanel, bpy.types.Panel):
    """Clean up the active armature's motion with the prior; import SMPL/AMASS motion files."""

    bl_idname = "SCOREHMR_PT_motion"
    bl_label = "Clean up Motion"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.scorehmr
        st = context.window_manager.scorehmr_status
        col = layout.column()
        col.enabled = not st.running
        col.prop(settings, "cleanup_strength")
        col.prop(settings, "cleanup_use_scene_range")
        sub = col.column(align=True)
        sub.enabled = not settings.cleanup_use_scene_range
        sub.prop(settings, "cleanup_start")
        sub.prop(settings, "cleanup_end")
        col.prop(settings, "cleanup_keep_root")
        col.prop(settings, "cleanup_lock_feet")
        col.prop(settings, "cleanup_mask_selected")
        col.operator("scorehmr.cleanup", icon="MOD_SMOOTH")
        col.separator()
        col.operator("scorehmr.import_motion", text="Import Motion (.npz)", icon="IMPORT")


class SCOREHMR_PT_retarget(_SidebarPanel, bpy.types.Panel):
    """Retarget the SMPL armature's motion onto the animator's rig; export motion as BVH / FBX."""

    bl_idname = "SCOREHMR_PT_retarget"
    bl_label = "Retarget & Export"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.scorehmr
        col = layout.column()
        col.enabled = not context.window_manager.scorehmr_status.running
        col.prop(settings, "retarget_source")
        col.prop(settings, "retarget_target")
        col.prop(settings, "retarget_preset")
        col.prop(settings, "retarget_align_rest")
        if settings.retarget_preset == "CUSTOM":
            col.template_list("SCOREHMR_UL_bone_map", "", settings, "retarget_map", settings,
                              "retarget_map_index", rows=6)
        col.operator_menu_enum("scorehmr.retarget_load_preset", "preset", text="Load Preset into Custom Map",
                               icon="PRESET")
        col.operator("scorehmr.retarget", icon="ARMATURE_DATA")
        col.separator()
        row = col.row(align=True)
        row.operator("scorehmr.export_motion", text="Export BVH", icon="EXPORT").format = "BVH"
        row.operator("scorehmr.export_motion", text="Export FBX", icon="EXPORT").format = "FBX"


def _draw_fit(layout: bpy.types.UILayout, settings) -> None:
    """Refinement options and the multi-view clips."""
    box = layout.box()
    box.prop(settings, "refine")
    sub = box.column(align=True)
    sub.enabled = settings.refine
    sub.prop(settings, "iterations")
    sub.prop(settings, "temporal")
    sub.prop(settings, "alternatives")
    box.prop(settings, "use_views")
    if settings.use_views:
        for index, view in enumerate(settings.views):
            row = box.row(align=True)
            row.prop(view, "filepath", text=f"Camera {index + 2}")
            row.operator("scorehmr.view_remove", text="", icon="X").index = index
        box.operator("scorehmr.view_add", icon="ADD")


def _draw_error(layout: bpy.types.UILayout, st) -> None:
    box = layout.box()
    row = box.row()
    row.label(text=st.error, icon="ERROR")
    row.operator("scorehmr.clear_error", text="", icon="X", emboss=False)
    if st.hint:
        box.label(text=st.hint, icon="INFO")


PANEL_CLASSES = (SCOREHMR_PT_capture, SCOREHMR_PT_motion, SCOREHMR_PT_retarget)

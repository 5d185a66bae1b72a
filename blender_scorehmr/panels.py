"""The ScoreHMR tab in the 3D viewport's sidebar.

Each panel shows its own jobs' state (``status.panel``): the capture panel captures and Find People, Clean up
Motion its clean-ups and motion imports, Retarget & Export its retargets and exports. While a panel's job runs it
shows one forward-only bar, the stage, and Cancel (also in the panel's header, so a collapsed panel still shows
them); afterwards the outcome, wrapped to the sidebar's width.
"""
from __future__ import annotations

import bpy

from . import body_sliders, bridge, preferences
from .core.panel_state import CANCELLING, chars_per_line, wrap_status
from .server.options import CaptureOptions, CleanupOptions, Options, PeopleOptions, options_of

DEFAULT_REGION_WIDTH = 250   # pixels of the sidebar at UI scale 1, for a draw without a region (background mode)
BOX_CHARS = 3      # characters of room a box's margins take
BUTTON_CHARS = 4   # characters of room an icon-only button beside a label takes
PANEL_LABEL = {"capture": "Motion Capture", "motion": "Clean up Motion", "retarget": "Retarget & Export"}
# The declared options each panel lays out itself (by option name); any other option of the kind is drawn under
# the panel's Advanced section, so a newly declared option shows up without a change here.
LAID_OUT = {CaptureOptions: ("initial", "refine", "iterations", "temporal", "hypotheses", "place", "lock_feet",
                             "foot_strength", "camera", "hands", "height", "gender", "weight", "muscle"),
            CleanupOptions: ("strength", "keep_root", "lock_feet")}


class _SidebarPanel:
    """Where every ScoreHMR panel lives: the 3D viewport's sidebar, ScoreHMR tab."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ScoreHMR"


def _settings_column(layout: bpy.types.UILayout, context: bpy.types.Context):
    """(the scene's settings, a column of ``layout`` that is greyed out while a job runs)."""
    col = layout.column()
    col.enabled = not context.window_manager.scorehmr_status.running
    return context.scene.scorehmr, col


class SCOREHMR_PT_capture(_SidebarPanel, bpy.types.Panel):
    """Footage, frame range, Capture Motion, progress, Cancel and the last error."""

    bl_idname = "SCOREHMR_PT_capture"
    bl_label = "Motion Capture"

    def draw(self, context: bpy.types.Context) -> None:
        layout, st = self.layout, context.window_manager.scorehmr_status
        settings, col = _settings_column(self.layout, context)
        col.prop(settings, "source", expand=True)
        col.prop(settings, "filepath" if settings.source == "FILE" else "clip")
        col.prop(settings, "use_whole_clip")
        sub = col.column(align=True)
        sub.enabled = not settings.use_whole_clip
        sub.prop(settings, "video_start")
        sub.prop(settings, "video_end")
        _draw_people(col, settings)
        col.prop(settings, "scene_start")
        col.prop(settings, "match_scene_fps")
        col.prop(settings, "fit_scene_range")
        col.prop(settings, "body_mesh")
        col.prop(settings, "fingers")
        if settings.fingers and preferences.get_prefs(context).smpl_model.strip():
            col.label(text="An SMPL file has no fingers (SMPL-H has)", icon="INFO")
        col.prop(settings, "match_camera")
        col.prop(settings, "camera")
        col.prop(settings, "place_on_ground")
        feet = col.row(align=True)
        feet.enabled = settings.place_on_ground
        feet.prop(settings, "lock_feet")
        sub = feet.row(align=True)
        sub.enabled = settings.lock_feet
        sub.prop(settings, "foot_strength", text="Strength")
        _draw_fit(col, settings)
        draw_advanced(col, settings, CaptureOptions)
        if not (st.running and st.panel == "capture"):
            layout.operator("scorehmr.capture", icon="ARMATURE_DATA")
            layout.operator("scorehmr.import_results", text="Import Capture Results", icon="IMPORT")
        draw_job_state(layout, context, "capture")

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        draw_job_header(self.layout, context, "capture")


class SCOREHMR_PT_body(_SidebarPanel, bpy.types.Panel):
    """The captured body's gender, height, weight and muscle (live on the mesh and bones; each change undoable), and
    the height the next capture makes the body."""

    bl_idname = "SCOREHMR_PT_body"
    bl_label = "Body Shape"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        found = body_sliders.shaped_rig(context)
        col = layout.column()
        if found is None:
            col.label(text="Select a captured armature or body", icon="INFO")
        elif body_sliders.stored(found) is None:
            col.label(text="This capture has no shape sliders", icon="INFO")
            col.label(text="(the built-in body, captured with the Body Mesh, has)")
        else:
            col.label(text=found.name, icon="ARMATURE_DATA")
            for name in body_sliders.stored(found)[0].names:
                col.prop(found.scorehmr_shape, name, slider=name != "height")
            col.operator("scorehmr.body_shape_reset", icon="LOOP_BACK")
        settings, sub = _settings_column(layout, context)
        sub.separator()
        sub.prop(settings, "body_height", text="Next Capture's Height")


class SCOREHMR_PT_motion(_SidebarPanel, bpy.types.Panel):
    """Clean up the active armature's motion with the prior; import SMPL/AMASS motion files."""

    bl_idname = "SCOREHMR_PT_motion"
    bl_label = "Clean up Motion"

    def draw(self, context: bpy.types.Context) -> None:
        settings, col = _settings_column(self.layout, context)
        st = context.window_manager.scorehmr_status
        col.prop(settings, "cleanup_strength")
        col.prop(settings, "cleanup_use_scene_range")
        sub = col.column(align=True)
        sub.enabled = not settings.cleanup_use_scene_range
        sub.prop(settings, "cleanup_start")
        sub.prop(settings, "cleanup_end")
        col.prop(settings, "cleanup_keep_root")
        col.prop(settings, "cleanup_lock_feet")
        col.prop(settings, "cleanup_mask_selected")
        draw_advanced(col, settings, CleanupOptions)
        if not (st.running and st.panel == "motion"):
            col.operator("scorehmr.cleanup", icon="MOD_SMOOTH")
            col.separator()
            col.operator("scorehmr.import_motion", text="Import Motion (.npz)", icon="IMPORT")
        draw_job_state(self.layout, context, "motion")

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        draw_job_header(self.layout, context, "motion")


class SCOREHMR_PT_retarget(_SidebarPanel, bpy.types.Panel):
    """Retarget the SMPL armature's motion onto the animator's rig; export motion as BVH / FBX."""

    bl_idname = "SCOREHMR_PT_retarget"
    bl_label = "Retarget & Export"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings, col = _settings_column(self.layout, context)
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
        draw_job_state(self.layout, context, "retarget")

    def draw_header_preset(self, context: bpy.types.Context) -> None:
        draw_job_header(self.layout, context, "retarget")


class SCOREHMR_UL_people(bpy.types.UIList):
    """The people Find People listed: number, frames (1-based, as the frame range), how often seen."""

    bl_idname = "SCOREHMR_UL_people"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        layout.label(text=person_label(item), icon="ERROR" if item.crossing else "USER")


def person_label(item) -> str:
    """'Person 1: frames 1-230, seen 96%' (video frames 1-based)."""
    return f"Person {item.track_id}: frames {item.first_frame + 1}-{item.last_frame + 1}, seen {item.seen:.0%}"


def _draw_people(layout: bpy.types.UILayout, settings) -> None:
    """Find People (and its options) and, when it found several in this footage and range, the list to pick the one
    to capture."""
    layout.operator("scorehmr.find_people", icon="COMMUNITY")
    for spec in options_of(PeopleOptions):
        layout.prop(settings, spec.panel_name)
    if not len(settings.people):
        return
    if not bridge.people_current(settings):
        layout.label(text="Footage or range changed: Find People again", icon="INFO")
        return
    if len(settings.people) == 1:
        layout.label(text=person_label(settings.people[0]), icon="USER")
        return
    layout.template_list("SCOREHMR_UL_people", "", settings, "people", settings, "people_index",
                         rows=min(len(settings.people), 4))
    if 0 <= settings.people_index < len(settings.people) and settings.people[settings.people_index].crossing:
        layout.label(text=settings.people[settings.people_index].crossing, icon="ERROR")


def _draw_fit(layout: bpy.types.UILayout, settings) -> None:
    """Refinement options and the multi-view clips."""
    box = layout.box()
    box.prop(settings, "initial")
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
        box.prop(settings, "calibration")


def draw_advanced(layout: bpy.types.UILayout, settings, options_class: type[Options]) -> None:
    """A collapsible Advanced section (closed at first) with the options of ``options_class`` that the panel does not
    lay out itself (:data:`LAID_OUT`)."""
    rest = [spec for spec in options_of(options_class) if spec.name not in LAID_OUT.get(options_class, ())]
    if not rest:
        return
    header, body = layout.panel(f"scorehmr_{options_class.KIND}_advanced", default_closed=True)
    header.label(text="Advanced")
    for spec in rest if body is not None else ():
        body.prop(settings, spec.panel_name)


def text_width(context: bpy.types.Context) -> int:
    """Characters of label text per line in the sidebar being drawn (its width and the UI scale)."""
    prefs = getattr(context, "preferences", None)
    scale = 1.0
    if prefs is not None:   # system.ui_scale: the effective scale (display and setting; 0 in background mode)
        scale = prefs.system.ui_scale or prefs.view.ui_scale or 1.0
    region = getattr(context, "region", None)
    width = region.width if region is not None and region.width > 1 else DEFAULT_REGION_WIDTH * scale
    return chars_per_line(width, scale)


def _draw_lines(layout: bpy.types.UILayout, text: str, width: int, icon: str = "NONE") -> None:
    """``text`` wrapped to ``width`` characters, one label per line; lines after the first keep the icon's indent."""
    col = layout.column(align=True)
    for index, line in enumerate(wrap_status(text, width)):
        col.label(text=line, icon=icon if index == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


def draw_job_state(layout: bpy.types.UILayout, context: bpy.types.Context, panel: str) -> None:
    """``panel``'s state: its last error (or cancel); progress, stage and Cancel while its job runs, a note while
    another panel's job runs; else what its last job did (unless the object that line names is gone)."""
    st, width = context.window_manager.scorehmr_status, text_width(context)
    has_error = bool(st.error) and st.error_panel == panel
    if has_error:
        _draw_error(layout, st, width)
    if st.running and st.panel == panel:
        layout.progress(factor=st.progress, type="BAR", text=CANCELLING if st.cancelling else st.stage or "Working")
        if st.cancelling:
            _draw_lines(layout, "Stopping the worker: nothing will change", width, "INFO")
            return
        if st.message:
            _draw_lines(layout, st.message, width)
        layout.operator("scorehmr.cancel", icon="CANCEL")
    elif st.running:
        label = bridge.BUSY_TEXT.get(getattr(bridge.active_job(), "kind", ""), "A job")
        _draw_lines(layout, f"{label} is running (see {PANEL_LABEL.get(st.panel, 'its panel')})", width, "INFO")
    elif st.panel == panel and st.stage and not has_error and (not st.subject or st.subject in bpy.data.objects):
        _draw_lines(layout, st.stage, width, "CHECKMARK")


def draw_job_header(layout: bpy.types.UILayout, context: bpy.types.Context, panel: str) -> None:
    """The panel header's share: the job's percentage and Cancel while it runs, an error icon after a failure."""
    st = context.window_manager.scorehmr_status
    if st.running and st.panel == panel:
        layout.label(text=CANCELLING if st.cancelling else f"{st.progress:.0%}")
        if not st.cancelling:
            layout.operator("scorehmr.cancel", text="", icon="CANCEL", emboss=False)
    elif st.error and st.error_panel == panel and st.error_code != "cancelled":
        layout.label(text="", icon="ERROR")


def _draw_error(layout: bpy.types.UILayout, st, width: int) -> None:
    """The last error (a cancel is information, not an error), its hint and a button to dismiss it."""
    col = layout.box().column(align=True)
    lines = wrap_status(st.error, max(1, width - BOX_CHARS - BUTTON_CHARS))
    row = col.row()
    row.label(text=lines[0] if lines else "", icon="INFO" if st.error_code == "cancelled" else "ERROR")
    row.operator("scorehmr.clear_error", text="", icon="X", emboss=False)
    for line in lines[1:]:
        col.label(text=line, icon="BLANK1")
    if st.hint:
        _draw_lines(col, st.hint, width - BOX_CHARS, "INFO")


PANEL_CLASSES = (SCOREHMR_UL_people, SCOREHMR_PT_capture, SCOREHMR_PT_body, SCOREHMR_PT_motion,
                 SCOREHMR_PT_retarget)

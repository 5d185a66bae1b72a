"""Property groups: capture settings on the Scene (saved with the file) and the job status on the
WindowManager (runtime only: never saved, never part of undo, so a failed job leaves the scene unchanged)."""
from __future__ import annotations

from typing import Any, Dict

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from . import footage_info
from .core.retarget_maps import PRESET_ITEMS
from .server.options import CaptureOptions, CleanupOptions, Option, PeopleOptions, options_of




class SCOREHMR_PG_view(bpy.types.PropertyGroup):
    """A further camera of a multi-view capture: a clip synchronised frame for frame with the main footage."""

    filepath: StringProperty(name="Video", description="Another clip of the same performance, starting on the "
                             "same moment as the main footage", subtype="FILE_PATH")


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class SCOREHMR_PG_bone_pair(bpy.types.PropertyGroup):
    """One row of the custom retarget map: an SMPL joint and the target rig's bone that follows it."""

    joint: StringProperty(name="SMPL Joint", description="SMPL joint (pelvis, left_hip ...)")
    bone: StringProperty(name="Bone", description="The target rig's bone that follows this joint (empty: none)")


class SCOREHMR_PG_person(bpy.types.PropertyGroup):
    """One person found by Find People (a track of the worker's ``people`` job; frames 0-based, sampled)."""

    track_id: IntProperty(name="Person", description="The person's number in the listing (1 = most visible)")
    first_frame: IntProperty(name="First Frame", description="First video frame the person was seen in (0-based)")
    last_frame: IntProperty(name="Last Frame", description="Last video frame the person was seen in (0-based)")
    seen: FloatProperty(name="Seen", description="Share of the looked-at frames of their span they were found in",
                        subtype="FACTOR", min=0.0, max=1.0)
    boxes: StringProperty(name="Boxes", description="JSON rows [frame, x0, y0, x1, y1]: where the capture looks "
                          "for this person", options={"HIDDEN"})
    crossing: StringProperty(name="Crossing", description="Where this person crosses another one (empty: never)")


class SCOREHMR_PG_settings(bpy.types.PropertyGroup):
    """What to capture and where the keys go; beside these, a property per declared option of the capture, the
    clean-up and Find People (:func:`option_property`, added by :func:`_add_option_properties`)."""

    source: EnumProperty(
        name="Footage", description="Where the reference footage comes from",
        items=(("FILE", "File", "A video file on disk"), ("CLIP", "Movie Clip", "A Movie Clip in this file")),
        default="FILE",
    )
    filepath: StringProperty(name="Video", description="Reference footage (a video file)", subtype="FILE_PATH",
                             update=footage_info.on_video_picked)
    clip: PointerProperty(name="Clip", description="Movie Clip to capture", type=bpy.types.MovieClip,
                          update=footage_info.on_clip_picked)
    use_whole_clip: BoolProperty(name="Whole Clip", description="Capture every frame of the footage", default=True)
    video_start: IntProperty(name="First Frame", description="First video frame to capture (1 = first)",
                             default=1, min=1)
    video_end: IntProperty(name="Last Frame", description="Last video frame to capture (inclusive)",
                           default=250, min=1)
    scene_start: IntProperty(name="Scene Start", description="Scene frame where the first captured frame lands",
                             default=1)
    match_scene_fps: BoolProperty(name="Match Frame Rate",
                                  description="Set the scene's frame rate to the footage's (else keys are retimed)",
                                  default=True)
    fit_scene_range: BoolProperty(name="Fit Scene Range",
                                  description="Set the scene's frame range to the captured frames", default=True)
    body_mesh: BoolProperty(name="Body Mesh",
                            description="Give the armature the captured body's skinned mesh, shaped like the "
                                        "person (off: the armature only)", default=True)
    match_camera: BoolProperty(name="Match Camera",
                               description="Add a camera matching the footage (resolution, focal length, position) "
                                           "with the footage as its background, and make it the scene camera: in "
                                           "camera view the body overlays the video", default=True)
    use_views: BoolProperty(name="Multi-View", description="Also use other cameras' clips of the same performance: "
                            "they share the body, each keeps its own camera; the result is in the main camera's view",
                            default=False)
    views: CollectionProperty(type=SCOREHMR_PG_view)
    calibration: StringProperty(name="Calibration", description="Optional: the cameras' calibration (Pose2Sim or "
                                "Caliscope .toml, Qualisys .qca.txt), one camera per clip, matched by name "
                                "(cam01.mp4 for cam01) or in order. With it the cameras are fixed and the body is "
                                "fitted in one world frame", subtype="FILE_PATH")
    people: CollectionProperty(type=SCOREHMR_PG_person)
    people_index: IntProperty(name="Person", description="The person to capture", default=0, min=0)
    people_key: StringProperty(name="Listed For", description="Footage and frame range the people were listed for "
                               "(another footage or range ignores the list)", options={"HIDDEN"})
    cleanup_use_scene_range: BoolProperty(name="Scene Range", description="Clean up the scene's frame range "
                                          "(off: the frames below)", default=True)
    cleanup_start: IntProperty(name="Start", description="First frame to clean up", default=1)
    cleanup_end: IntProperty(name="End", description="Last frame to clean up (inclusive)", default=250)
    cleanup_mask_selected: BoolProperty(name="Selected Bones Unreliable",
                                        description="Treat the selected pose bones as unknown on every frame: the "
                                        "prior completes them from the rest of the body", default=False)
    retarget_source: PointerProperty(name="SMPL Armature", type=bpy.types.Object, poll=_is_armature,
                                     description="The ScoreHMR (SMPL) armature whose motion is retargeted "
                                     "(empty: the active armature)")
    retarget_target: PointerProperty(name="Target Rig", type=bpy.types.Object, poll=_is_armature,
                                     description="Your rig: its bones are keyed to follow the SMPL armature")
    retarget_preset: EnumProperty(name="Bone Map", description="How SMPL joints map onto the target rig's bones",
                                  items=PRESET_ITEMS, default="RIGIFY")
    retarget_align_rest: BoolProperty(name="Match Rest Pose", description="Turn the rig's limbs onto the SMPL "
                                      "rest directions first (an A-posed rig follows a T-posed capture); off: "
                                      "only the change from each rest pose is transferred", default=True)
    retarget_map: CollectionProperty(type=SCOREHMR_PG_bone_pair)
    retarget_map_index: IntProperty(name="Row", default=0)


def option_property(spec: Option) -> Any:
    """The panel's property of a declared option (:mod:`server.options`): its label, help, default and range."""
    common: Dict[str, Any] = {"name": spec.label, "description": spec.help, "default": spec.default}
    if spec.kind is bool:
        return BoolProperty(**common)
    if spec.choices:
        return EnumProperty(items=spec.choices, **common)
    bounds = {key: value for key, value in (("min", spec.low), ("max", spec.high)) if value is not None}
    if spec.kind is int:
        return IntProperty(**common, **bounds)
    return FloatProperty(**common, **bounds, step=10)


def _add_option_properties(group: type) -> None:
    """Give ``group`` a property per declared option of every job kind, named by the declaration."""
    for options_class in (CaptureOptions, CleanupOptions, PeopleOptions):
        for spec in options_of(options_class):
            group.__annotations__[spec.panel_name] = option_property(spec)


_add_option_properties(SCOREHMR_PG_settings)


class SCOREHMR_PG_status(bpy.types.PropertyGroup):
    """State of the running or last job, shown by the panel named in ``panel`` (capture, motion or retarget), and
    the last error, shown by ``error_panel``; ``subject`` is the object the outcome line names (the panel hides the
    line once that object is gone)."""

    running: BoolProperty(name="Running", default=False)
    cancelling: BoolProperty(name="Cancelling", default=False)
    panel: StringProperty(name="Panel", default="capture")
    error_panel: StringProperty(name="Error Panel", default="capture")
    subject: StringProperty(name="Subject", default="")
    stage: StringProperty(name="Stage", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(name="Message", default="")
    error: StringProperty(name="Error", default="")
    hint: StringProperty(name="Hint", default="")
    error_code: StringProperty(name="Error Code", default="")
    details: StringProperty(name="Details", default="")


PROPERTY_CLASSES = (SCOREHMR_PG_view, SCOREHMR_PG_bone_pair, SCOREHMR_PG_person, SCOREHMR_PG_settings,
                    SCOREHMR_PG_status)


def attach() -> None:
    """Add the pointers (after the classes are registered)."""
    bpy.types.Scene.scorehmr = PointerProperty(type=SCOREHMR_PG_settings)
    bpy.types.WindowManager.scorehmr_status = PointerProperty(type=SCOREHMR_PG_status)


def detach() -> None:
    """Remove the pointers (before the classes are unregistered)."""
    del bpy.types.WindowManager.scorehmr_status
    del bpy.types.Scene.scorehmr

"""Property groups: capture settings on the Scene (saved with the file) and the job status on the
WindowManager (runtime only: never saved, never part of undo, so a failed job leaves the scene unchanged)."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty


class SCOREHMR_PG_settings(bpy.types.PropertyGroup):
    """What to capture and where the keys go."""

    source: EnumProperty(
        name="Footage", description="Where the reference footage comes from",
        items=(("FILE", "File", "A video file on disk"), ("CLIP", "Movie Clip", "A Movie Clip in this file")),
        default="FILE",
    )
    filepath: StringProperty(name="Video", description="Reference footage (a video file)", subtype="FILE_PATH")
    clip: PointerProperty(name="Clip", description="Movie Clip to capture", type=bpy.types.MovieClip)
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


class SCOREHMR_PG_status(bpy.types.PropertyGroup):
    """State of the running or last job, shown by the panel."""

    running: BoolProperty(name="Running", default=False)
    stage: StringProperty(name="Stage", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(name="Message", default="")
    error: StringProperty(name="Error", default="")
    hint: StringProperty(name="Hint", default="")
    error_code: StringProperty(name="Error Code", default="")
    details: StringProperty(name="Details", default="")


PROPERTY_CLASSES = (SCOREHMR_PG_settings, SCOREHMR_PG_status)


def attach() -> None:
    """Add the pointers (after the classes are registered)."""
    bpy.types.Scene.scorehmr = PointerProperty(type=SCOREHMR_PG_settings)
    bpy.types.WindowManager.scorehmr_status = PointerProperty(type=SCOREHMR_PG_status)


def detach() -> None:
    """Remove the pointers (before the classes are unregistered)."""
    del bpy.types.WindowManager.scorehmr_status
    del bpy.types.Scene.scorehmr

"""Import Capture Results: result files made outside Blender (the CLI, a batch on Ray) keyed onto SMPL armatures.

Takes a result ``.npz``, a batch's ``batch.json`` or its output folder (:mod:`batch_results`) and makes one armature
per clip, or one action per clip on one armature (the active ScoreHMR armature, else one made from the first
clip). Every file is read and checked before the scene changes; the whole import is one undo step, and a failure
midway removes what the import had added and puts back the armature's action and the scene's timing and camera.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Dict, List, Set, Tuple

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import body_mesh, bridge, rig
from .apply import ApplyRequest, apply_result, check_writable_target
from .core import capture_result
from .core.batch_results import PICK_HINT, ResultEntry, find_results
from .core.panel_errors import ScoreHMRError
from .core.panel_state import join_status
from .server.options import CaptureOptions

log = logging.getLogger(__name__)

# bpy.data collections an import may add to (objects first: they use the others' data).
_ADDED = ("objects", "actions", "cameras", "movieclips", "meshes", "armatures", "materials")


class _SceneGuard:
    """What an import may change, remembered so a failure can put it back: new data-blocks, the target's action
    (and slot and fake user) and the scene's frame rate, range and camera."""

    def __init__(self, context: bpy.types.Context, target: "bpy.types.Object | None") -> None:
        scene = context.scene
        self._before = {name: {item.as_pointer() for item in getattr(bpy.data, name)} for name in _ADDED}
        self._target = target
        data = target.animation_data if target is not None else None
        self._action = data.action if data is not None else None
        self._slot = getattr(data, "action_slot", None) if self._action is not None else None
        self._fake = self._action.use_fake_user if self._action is not None else False
        self._scene = (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.camera,
                       scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage)

    def restore(self, context: bpy.types.Context) -> None:
        scene = context.scene
        (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end, scene.camera,
         scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) = self._scene
        if self._target is not None and self._target.animation_data is not None:
            self._target.animation_data.action = self._action
            if self._slot is not None:
                self._target.animation_data.action_slot = self._slot
            if self._action is not None:
                self._action.use_fake_user = self._fake
        for name in _ADDED:
            collection = getattr(bpy.data, name)
            for item in [i for i in collection if i.as_pointer() not in self._before[name]]:
                collection.remove(item)


def import_results(context: bpy.types.Context, entries: List[ResultEntry], options: Dict[str, object]
                   ) -> Tuple[List[bpy.types.Object], List[str]]:
    """Key every entry (all or nothing); ``options``: ``mode`` (``ARMATURES`` / ``ACTIONS``), ``body_mesh``,
    ``match_camera``, ``place``, ``scene_start``, ``match_scene_fps``, ``fit_scene_range``. Returns the armatures
    keyed and notes (footage not found, frame rates that differ)."""
    loaded = []
    for entry in entries:   # read and check every file before anything in the scene changes
        try:
            loaded.append((entry, capture_result.load_result(entry.path)))
        except ScoreHMRError as exc:
            raise ScoreHMRError(f"{entry.path.name} cannot be imported: {exc.message}", PICK_HINT, exc.code) from exc
    active = context.view_layer.objects.active if context.view_layer else None
    target = active.name if options["mode"] == "ACTIONS" and rig.is_scorehmr_rig(active) else ""
    check_writable_target(target)
    guard = _SceneGuard(context, bpy.data.objects.get(target) if target else None)
    keyed, notes, frames = [], [], []
    finished = False
    try:
        for entry, result in loaded:
            request = _request(entry, result, target, options)
            if options["match_camera"] and not request.match_camera:
                notes.append(f"{entry.name}: footage not found, no camera")
            obj = apply_result(context, request, entry.path, _onto_target(result, target))
            keyed.append(obj)
            frames.append(capture_result.scene_frames(result.frame_indices, request.start, request.scene_start,
                                                      result.fps, _scene_fps(context)))
            if options["mode"] == "ACTIONS":
                target = obj.name
        finished = True
    finally:   # whatever stopped the loop (a bpy error, a bug) propagates; what the import added goes first
        if not finished:
            log.error("importing the results failed; removing what the import added")
            guard.restore(context)
    if len({round(r.fps, 3) for _, r in loaded}) > 1 and options["match_scene_fps"]:
        notes.append(f"the clips' frame rates differ: the scene runs at the last one's ({_scene_fps(context):g})")
    if options["fit_scene_range"]:
        context.scene.frame_start = int(math.floor(min(float(f[0]) for f in frames)))
        context.scene.frame_end = max(context.scene.frame_start, int(math.ceil(max(float(f[-1]) for f in frames))))
    return keyed, notes


def _request(entry: ResultEntry, result: capture_result.CaptureResult, target: str,
             options: Dict[str, object]) -> ApplyRequest:
    """How ``apply_result`` keys one entry: the captured range's first frame on Scene Start, the camera matched only
    when the footage is found, the action and a new armature named after the take."""
    footage = entry.clip or result.source_video
    found = bool(footage) and Path(footage).is_file()
    start = result.frame_range[0] if result.frame_range is not None else 0
    return ApplyRequest(job_id="", video=footage or entry.name, start=start, end=-1,
                        scene_start=int(options["scene_start"]), match_scene_fps=bool(options["match_scene_fps"]),
                        fit_scene_range=False, target_name=target, job_dir="", body_mesh=bool(options["body_mesh"]),
                        match_camera=bool(options["match_camera"]) and found,
                        options=CaptureOptions(place=bool(options["place"])), take=entry.name)


def _onto_target(result: capture_result.CaptureResult, target: str) -> capture_result.CaptureResult:
    """``result`` moved onto ``target``'s skeleton when it is a ScoreHMR armature of the same joints (another take
    of another estimated body shape still becomes an action of that armature), else unchanged."""
    obj = bpy.data.objects.get(target) if target else None
    if obj is None or not rig.is_scorehmr_rig(obj) or str(obj.get(rig.NAMES_KEY, "")) != ",".join(result.joint_names):
        return result
    rest = list(obj.get(rig.REST_KEY, []))
    if len(rest) != result.joints_rest.size:
        return result
    betas = obj.get(body_mesh.BETAS_KEY)
    return capture_result.onto_rest(result, rest, None if betas is None else list(betas))


def _scene_fps(context: bpy.types.Context) -> float:
    return context.scene.render.fps / context.scene.render.fps_base


class SCOREHMR_OT_import_results(bpy.types.Operator, ImportHelper):
    """Import capture results made outside Blender: a result .npz, or a batch's batch.json or output folder"""

    bl_idname = "scorehmr.import_results"
    bl_label = "Import Capture Results"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz;*.json", options={"HIDDEN"})
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})
    mode: EnumProperty(name="Clips", items=(
        ("ARMATURES", "One Armature per Clip", "Each clip keys its own new armature"),
        ("ACTIONS", "Actions on One Armature", "Each clip becomes an action of the active ScoreHMR armature (or of "
                                               "one made from the first clip); the last one stays assigned")),
        default="ARMATURES")
    body_mesh: BoolProperty(name="Body Mesh", description="Give new armatures the captured body's skinned mesh",
                            default=True)
    match_camera: BoolProperty(name="Match Camera", description="Add a camera matching each clip's footage, with "
                               "the footage behind it, when the footage is found", default=True)
    place_on_ground: BoolProperty(name="Place on Ground", description="Stand the bodies on the ground the capture "
                                  "found (off: the camera is taken to be level)", default=True)
    scene_start: IntProperty(name="Scene Start", description="Scene frame where each clip's first frame lands",
                             default=1)
    match_scene_fps: BoolProperty(name="Match Frame Rate", description="Set the scene's frame rate to the "
                                  "footage's", default=True)
    fit_scene_range: BoolProperty(name="Fit Scene Range", description="Set the scene's frame range to the "
                                  "imported frames", default=True)

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        settings = context.scene.scorehmr   # the panel's choices are the defaults
        self.body_mesh, self.match_camera = settings.body_mesh, settings.match_camera
        self.place_on_ground, self.scene_start = settings.place_on_ground, settings.scene_start
        self.match_scene_fps, self.fit_scene_range = settings.match_scene_fps, settings.fit_scene_range
        return ImportHelper.invoke(self, context, event)

    def execute(self, context: bpy.types.Context) -> Set[str]:
        options = {"mode": self.mode, "body_mesh": self.body_mesh, "match_camera": self.match_camera,
                   "place": self.place_on_ground, "scene_start": self.scene_start,
                   "match_scene_fps": self.match_scene_fps, "fit_scene_range": self.fit_scene_range}
        try:
            entries, notes = find_results(Path(bpy.path.abspath(self.filepath or self.directory)))
            keyed, more = import_results(context, entries, options)
        except ScoreHMRError as exc:
            bridge.show_error(exc, context)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:   # a bpy failure while keying: import_results put the scene back
            error = ScoreHMRError(f"Importing the results failed: {exc}", "See the system console", "internal")
            bridge.show_error(error, context)
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        names = sorted({obj.name for obj in keyed})
        text = f"Imported {len(entries)} clip{'s' * (len(entries) != 1)} onto {', '.join(names)}"
        text = join_status([text] + notes + more)
        bridge.show_done(text, context, subject=names[0] if len(names) == 1 else "")
        self.report({"WARNING"} if notes or more else {"INFO"}, text)
        return {"FINISHED"}


def menu_import_results(self, context: bpy.types.Context) -> None:
    """File > Import entry."""
    self.layout.operator(SCOREHMR_OT_import_results.bl_idname, text="ScoreHMR Capture Results (.npz, batch)")


IMPORT_CLASSES = (SCOREHMR_OT_import_results,)

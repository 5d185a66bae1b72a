"""Turn a result file into an armature action, all or nothing (the capture, motion import and result import
operators)."""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import bpy
import numpy as np

from . import body_mesh, body_sliders, camera_match, keyframes, rig
from .core import capture_result
from .core.panel_errors import ScoreHMRError
from .server.options import CaptureOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyRequest:
    """How a result is applied to the scene, snapshotted from the panel when the job started, with the capture
    options it was made with (``options.place``: use the ground the worker found)."""

    job_id: str
    video: str
    start: int          # 0-based first source frame
    end: int            # exclusive, -1 = to the end
    scene_start: int    # scene frame where source frame ``start`` lands
    match_scene_fps: bool
    fit_scene_range: bool
    target_name: str    # active ScoreHMR armature when pressed, or ""
    job_dir: str
    body_mesh: bool = True  # add the skinned body mesh when the result has one
    views: Tuple[str, ...] = ()   # further synchronised clips (multi-view capture)
    calibration: str = ""         # multi-view: the cameras' calibration file (absolute), or ""
    match_camera: bool = False    # make a camera matching the footage, the footage behind it (footage only)
    options: CaptureOptions = CaptureOptions()
    take: str = ""                # names the new armature and action (``ScoreHMR_<take>``, ``<armature>_<take>``)

    @property
    def place(self) -> bool:
        """The worker stood the body on the ground it found (Z up, floor at z = 0): key it so."""
        return self.options.place


def apply_result(context: bpy.types.Context, request: ApplyRequest, result_path: Path,
                 result: Optional[capture_result.CaptureResult] = None) -> bpy.types.Object:
    """Key the target armature (or a new one) from ``result_path`` (or its already loaded ``result``); on error the
    scene is left unchanged. Without ``request.place`` the result's ground placement is not used (level camera)."""
    if result is None:
        result = capture_result.load_result(result_path)   # validates before anything in the scene changes
    if not request.place:
        result = dataclasses.replace(result, world_rotation=None, camera_height=None)
    heads = capture_result.rest_heads_armature(result.joints_rest)
    scene = context.scene
    video_fps = result.fps
    scene_fps = video_fps if request.match_scene_fps else scene.render.fps / scene.render.fps_base
    frames = capture_result.scene_frames(result.frame_indices, request.start, request.scene_start, video_fps, scene_fps)
    target = bpy.data.objects.get(request.target_name) if request.target_name else None
    reuse = target is not None and rig.rig_matches(target, result.joint_names, result.joints_rest)
    created: List[bpy.types.ID] = []
    old_action = target.animation_data.action if reuse and target.animation_data else None
    old_slot = getattr(target.animation_data, "action_slot", None) if old_action is not None else None
    old_camera = (scene.camera, scene.render.resolution_x, scene.render.resolution_y,
                  scene.render.resolution_percentage, scene.render.pixel_aspect_x, scene.render.pixel_aspect_y)
    try:
        if not reuse:
            stem = request.take or Path(request.video).stem or "capture"
            target = rig.create_armature(context, f"ScoreHMR_{stem}", result.joint_names, result.parents,
                                         heads, result.joints_rest)
            created.append(target)
        if request.body_mesh:
            created += _ensure_body(context, target, result)
        rest_rot, rest_heads = rig.rest_frames(target, result.joint_names)
        result, root_loc = _place_root(context, request, target, result, rest_rot, rest_heads, created, frames)
        quats = capture_result.pose_basis_quaternions(result.poses, rest_rot, result.camera_to_world)
        action = bpy.data.actions.new(f"{target.name}_{request.take or 'capture'}")
        created.append(action)
        new_fcurve = keyframes.assign_action(target, action)
        keyframes.write_pose_keys(new_fcurve, result.joint_names, frames, quats, root_loc)
        if result.hypotheses is not None:
            created += _key_alternatives(target, action.name, result, rest_rot, frames, root_loc, new_fcurve)
        if result.foot_contacts is not None:
            key_contacts(target, new_fcurve, frames, result.foot_contacts)
        if result.hand_confidence is not None:
            key_finger_confidence(target, new_fcurve, frames, result.hand_confidence)
    except Exception:  # undo our own additions, then let the operator report the error
        log.exception("applying the capture failed; removing what was added")
        _rollback(created, target if reuse else None, old_action, old_slot)
        (scene.camera, scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage,
         scene.render.pixel_aspect_x, scene.render.pixel_aspect_y) = old_camera
        raise
    if old_action is not None:
        old_action.use_fake_user = True  # the previous take (and the user's edits in it) stays in the file
    body_mesh.set_shape_properties(target, result.betas, result.body_model)
    _update_scene(scene, request, video_fps, frames)
    log.info("keyed %s: %d frames, action %s", target.name, len(frames), action.name)
    return target


def _place_root(context: bpy.types.Context, request: ApplyRequest, target: bpy.types.Object,
                result: capture_result.CaptureResult, rest_rot: np.ndarray, rest_heads: np.ndarray,
                created: List[bpy.types.ID], frames: np.ndarray) -> Tuple[capture_result.CaptureResult, np.ndarray]:
    """The matched camera (made or reused, :func:`_match_camera`; a turning camera keyed on the scene ``frames``)
    and the root location keys ``(N, 3)``; through a reused camera the result comes back with that camera's
    rotation onto ``target``'s space as its own, so the root rotations are keyed in the same world (the camera's,
    on its ground) as the root path."""
    shared = _match_camera(context, request, target, result, rest_heads[0], created, frames) \
        if request.match_camera else None
    if shared is None:
        return result, capture_result.root_locations(result, rest_heads, rest_rot[0])
    result = dataclasses.replace(result, world_rotation=shared[0], camera_height=None)
    pelvis = camera_match.pelvis_through_camera(result.transl, result.joints_rest[0], *shared)
    return result, (pelvis - rest_heads[0]) @ rest_rot[0]


AMBIGUITY_PROPERTY = "scorehmr_ambiguity"


def _key_alternatives(target: bpy.types.Object, name: str, result: capture_result.CaptureResult, rest_rot, frames,
                      root_loc, new_fcurve: keyframes.FCurveFactory) -> List[bpy.types.ID]:
    """One action per hypothesis, ``<name>_alt<k>``, kept with a fake user and not assigned (pick one in the
    Action editor), and the per-frame ambiguity (metres of joint spread across them) keyed on the armature's
    ``scorehmr_ambiguity`` property in the main action, so the Graph editor shows where the takes disagree."""
    made = []
    for k, poses in enumerate(result.hypotheses, start=1):
        alt = bpy.data.actions.new(f"{name}_alt{k}")
        made.append(alt)
        alt.use_fake_user = True
        quaternions = capture_result.pose_basis_quaternions(poses, rest_rot, result.camera_to_world)
        keyframes.write_pose_keys(keyframes.unassigned_action(target, alt), result.joint_names, frames, quaternions,
                                  root_loc)
    target[AMBIGUITY_PROPERTY] = 0.0
    keyframes.write_curve(new_fcurve(f'["{AMBIGUITY_PROPERTY}"]', 0, "ScoreHMR"), frames, result.ambiguity)
    return made


def key_contacts(target: bpy.types.Object, new_fcurve: keyframes.FCurveFactory, frames,
                 contacts: np.ndarray) -> None:
    """The foot contacts (N, 4) keyed 0/1 (constant interpolation) on the armature's
    :data:`capture_result.CONTACT_PROPS` in the action of ``new_fcurve``: the Graph editor shows when each heel and toe
    touches the ground."""
    for k, name in enumerate(capture_result.CONTACT_PROPS):
        target[name] = 0.0
        fcurve = new_fcurve(f'["{name}"]', 0, "ScoreHMR")
        keyframes.write_curve(fcurve, frames, np.asarray(contacts[:, k], dtype=np.float64))
        for point in fcurve.keyframe_points:
            point.interpolation = "CONSTANT"


def key_finger_confidence(target: bpy.types.Object, new_fcurve: keyframes.FCurveFactory, frames,
                          confidence: np.ndarray) -> None:
    """How far each hand's fingers were seen (N, 2), 0..1, keyed on the armature's
    :data:`capture_result.HAND_PROPS` in the action of ``new_fcurve``: the Graph editor shows where the fingers are the
    footage's (high), filled between neighbours (low) or at rest (0)."""
    for k, name in enumerate(capture_result.HAND_PROPS):
        target[name] = 0.0
        fcurve = new_fcurve(f'["{name}"]', 0, "ScoreHMR")
        keyframes.write_curve(fcurve, frames, np.asarray(confidence[:, k], dtype=np.float64))


def _ensure_body(context: bpy.types.Context, target: bpy.types.Object,
                 result: capture_result.CaptureResult) -> List[bpy.types.ID]:
    """The rig's skinned body: kept if it already has one of the same vertex count, else made (and returned).

    A body the user deleted is made again; untick Body Mesh to capture onto the bare skeleton.
    """
    if result.mesh is None:
        log.info("the result has no body mesh (schema 1 or the worker left it out): armature only")
        return []
    existing = body_mesh.find_body(target)
    if existing is not None and body_mesh.body_matches(existing, result.mesh):
        return []
    vertices = capture_result.rest_to_armature(result.mesh.vertices, result.joints_rest)
    created = body_mesh.create_body(context, target, result.mesh, vertices, result.joint_names,
                                    result.betas, result.body_model)
    if result.shape is not None:   # the Body Shape sliders (built-in body): shape keys, the values on the armature
        body_sliders.attach(target, created[0], result.shape, result.joints_rest)
    return created


def _match_camera(context: bpy.types.Context, request: ApplyRequest, target: bpy.types.Object,
                  result: capture_result.CaptureResult, rest_pelvis,
                  created: List[bpy.types.ID], frames: np.ndarray) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The camera of the footage (the main view) with the footage behind it, added to ``created``; a result without
    a camera is logged and skipped. The body, keyed in ``target``'s space, overlays the footage through it.

    When an earlier capture of the same footage (same clip timing) already made that camera, it is reused instead
    and returned as :func:`camera_match.camera_to_armature`'s ``(rotation, translation)`` for keying the body
    through it; None when a camera was made (or none could be)."""
    if result.image_size is None:
        log.warning("the result has no camera (image_size / camera_intrinsics): no matched camera")
        return None
    if not request.match_scene_fps and abs(context.scene.render.fps / context.scene.render.fps_base
                                           - result.fps) > 1e-3:
        log.warning("the scene's frame rate differs from the footage's: the background plays at the scene's rate "
                    "and drifts from the retimed keys (tick Match Frame Rate)")
    existing = camera_match.find_footage_camera(context.scene, result, request.video, request.start,
                                                request.scene_start)
    if existing is not None:
        width, height = (int(v) for v in camera_match.result_camera_arrays(result)[0])
        camera_match.use_footage_camera(context.scene, existing, width, height)
        log.info("footage camera %s reused: %s is keyed through it, on its ground", existing.name, target.name)
        return camera_match.camera_to_armature(camera_match.first_frame_matrix(existing),
                                               np.array(target.matrix_world))
    offset = capture_result.recentre_offset(result.transl, result.joints_rest, rest_pelvis, result.camera_to_world,
                                    result.camera_height)
    camera_match.create_footage_camera(context, result, offset, request.video, f"{target.name}_Camera",
                                       video_start=request.start, scene_start=request.scene_start,
                                       parent_matrix=np.array(target.matrix_world), created=created, frames=frames)
    return None


def _rollback(created: List[bpy.types.ID], reused: "bpy.types.Object | None", old_action, old_slot) -> None:
    if reused is not None and reused.animation_data is not None:
        reused.animation_data.action = old_action
        if old_slot is not None:  # layered actions (4.4+): back onto the slot it used
            reused.animation_data.action_slot = old_slot
    objects = [item for item in reversed(created) if isinstance(item, bpy.types.Object)]
    for obj in objects:  # objects before the data they use: the body mesh, then the armature
        if obj.type == "ARMATURE":
            rig.remove_armature(obj)
        else:
            bpy.data.objects.remove(obj)
    for item in reversed(created):
        if isinstance(item, bpy.types.Action):
            bpy.data.actions.remove(item)
        elif isinstance(item, bpy.types.Camera):
            bpy.data.cameras.remove(item)
        elif isinstance(item, bpy.types.MovieClip):
            bpy.data.movieclips.remove(item)
        elif not isinstance(item, bpy.types.Object):
            body_mesh.remove_created([item])


def _update_scene(scene: bpy.types.Scene, request: ApplyRequest, video_fps: float, frames) -> None:
    if request.match_scene_fps:
        scene.render.fps, scene.render.fps_base = capture_result.scene_fps_settings(video_fps)
    if request.fit_scene_range:
        scene.frame_start = int(math.floor(float(frames[0])))
        scene.frame_end = max(scene.frame_start, int(math.ceil(float(frames[-1]))))


def check_writable_target(target_name: str) -> None:
    """Raise if the target armature cannot take a new action (linked from a library)."""
    obj = bpy.data.objects.get(target_name) if target_name else None
    if obj is not None and obj.library is not None:
        raise ScoreHMRError(f"{obj.name} is linked from a library and cannot be keyed.",
                            "Make it local (Object > Relations > Make Local) or select nothing")

"""Operators on existing motion: clean up the active armature's action with the diffusion prior, and import an
SMPL / AMASS motion file. Both run one worker job like capture (modal, progress, Cancel, one undo step)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from . import action_io, body_mesh, bridge
from .apply import ApplyRequest, apply_result
from .core.capture_result import CONTACT_PROPS
from .core.panel_errors import ScoreHMRError
from .operators import WorkerJobOperator
from .server import protocol
from .server.options import CleanupOptions

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class CleanupJob:
    """What the cleanup operator needs when the result comes back."""

    object_name: str
    action_name: str
    sample: action_io.MotionSample
    masked: Tuple[str, ...]
    keep_root: bool = False
    lock_feet: bool = False


def cleanup_frames(context: bpy.types.Context) -> np.ndarray:
    """The frames to clean (the scene range or the panel's); raise ScoreHMRError for fewer than 2."""
    settings, scene = context.scene.scorehmr, context.scene
    start, end = ((scene.frame_start, scene.frame_end) if settings.cleanup_use_scene_range
                  else (settings.cleanup_start, settings.cleanup_end))
    if end - start + 1 < 2:
        raise ScoreHMRError(f"The frame range {start}..{end} has fewer than 2 frames.",
                            "Clean up works on motion: pick a range of at least 2 frames", "bad_range")
    return np.arange(start, end + 1)


def cleanup_target(context: bpy.types.Context) -> Tuple[bpy.types.Object, bpy.types.Action, Tuple[str, ...]]:
    """The active armature, its action and its SMPL bones; raise ScoreHMRError when they cannot be cleaned."""
    obj = context.view_layer.objects.active if context.view_layer else None
    if obj is None or obj.type != "ARMATURE":
        raise ScoreHMRError("The active object is not an armature.", "Select the SMPL armature to clean up",
                            "no_armature")
    bones = action_io.smpl_bones([b.name for b in obj.data.bones])
    action = obj.animation_data.action if obj.animation_data else None
    if action is None:
        raise ScoreHMRError(f"{obj.name} has no action.", "Key the armature (or capture) first", "no_action")
    if obj.library is not None or action.library is not None:
        raise ScoreHMRError(f"{obj.name} or its action is linked from a library and cannot be changed.",
                            "Make it local (Object > Relations > Make Local)", "linked")
    if not action_io.has_keys(obj, action, bones):
        raise ScoreHMRError(f"The action {action.name} has no keys on the SMPL bones.",
                            "Key the armature (or capture) first", "empty_action")
    return obj, action, bones


def selected_bones(obj: bpy.types.Object, bones: Tuple[str, ...]) -> List[int]:
    """Indices (SMPL order) of the selected pose bones among ``bones``."""
    def selected(name: str) -> bool:
        pose_bone = obj.pose.bones[name]
        value = getattr(pose_bone, "select", None)
        return bool(pose_bone.bone.select if value is None else value)
    return [j for j, name in enumerate(bones) if selected(name)]


def write_motion_file(path: Path, obj: bpy.types.Object, sample: action_io.MotionSample, fps: float) -> None:
    """The worker's motion file (docs/protocol.md, the motion file): poses, transl, betas, fps, confidence and
    root_frame."""
    betas = np.zeros(10, dtype=np.float32)
    stored = np.asarray(list(obj.get(body_mesh.BETAS_KEY, [])), dtype=np.float32)[:10]
    betas[:len(stored)] = stored
    np.savez(str(path), poses=sample.poses.astype(np.float32), transl=sample.transl.astype(np.float32),
             betas=betas, fps=np.float32(fps), confidence=sample.confidence.astype(np.float32),
             root_frame=np.array("camera"))


def load_cleaned(path: Path, frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """The cleaned poses (N, 24, 3) and transl (N, 3) of the worker's result; raise ScoreHMRError."""
    try:
        with np.load(str(path), allow_pickle=False) as data:
            poses = np.asarray(data["poses"], dtype=np.float64)
            transl = np.asarray(data["transl"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise ScoreHMRError(f"The worker's result is invalid: cannot read {path}: {exc}",
                            "Reinstall the extension", "bad_result") from exc
    if poses.shape != (frames, 24, 3) or transl.shape != (frames, 3) or not (
            np.isfinite(poses).all() and np.isfinite(transl).all()):
        raise ScoreHMRError(f"The worker's result is invalid: poses {poses.shape}, transl {transl.shape} for "
                            f"{frames} frames", "Reinstall the extension", "bad_result")
    return poses, transl


def load_contacts(path: Path, frames: int) -> Optional[Dict[str, np.ndarray]]:
    """The result's foot contacts as ``{CONTACT_PROPS[k]: (N,) 0/1}``, or None when it has none (no Lock Feet);
    raise ScoreHMRError when they are malformed."""
    try:
        with np.load(str(path), allow_pickle=False) as data:
            if "foot_contacts" not in data.files:
                return None
            contacts = np.asarray(data["foot_contacts"])
    except (OSError, ValueError) as exc:
        raise ScoreHMRError(f"The worker's result is invalid: cannot read {path}: {exc}",
                            "Reinstall the extension", "bad_result") from exc
    if contacts.shape != (frames, len(CONTACT_PROPS)):
        raise ScoreHMRError(f"The worker's result is invalid: foot_contacts {contacts.shape} for {frames} frames",
                            "Reinstall the extension", "bad_result")
    return {name: (contacts[:, k] > 0).astype(np.float64) for k, name in enumerate(CONTACT_PROPS)}


class SCOREHMR_OT_cleanup(WorkerJobOperator, bpy.types.Operator):
    """Denoise the active SMPL armature's motion with the diffusion prior (selected bones can be marked
    unreliable and completed); writes a new action and keeps the original"""

    bl_idname = "scorehmr.cleanup"
    bl_label = "Clean up Motion"
    bl_options = {"REGISTER", "UNDO"}
    panel = "motion"

    def _begin(self, context: bpy.types.Context) -> bridge.WorkerJob:
        bridge.check_idle()
        obj, action, bones = cleanup_target(context)
        frames = cleanup_frames(context)
        sample = action_io.sample_motion(obj, action, frames, bones)
        masked: Tuple[str, ...] = ()
        if context.scene.scorehmr.cleanup_mask_selected:
            picked = selected_bones(obj, bones)
            sample.confidence[:, picked] = 0.0
            masked = tuple(bones[j] for j in picked)
        options = bridge.panel_options(context.scene.scorehmr, CleanupOptions)
        job_id, job_dir = bridge.new_job_dir()
        job_dir.mkdir(parents=True, exist_ok=True)
        motion = job_dir / "motion.npz"
        render = context.scene.render
        write_motion_file(motion, obj, sample, render.fps / render.fps_base)
        return bridge.start_motion_job(context, "cleanup", motion, job_id, job_dir, options,
                                       payload=CleanupJob(obj.name, action.name, sample, masked, options.keep_root,
                                                          options.lock_feet))

    def _apply(self, context: bpy.types.Context, job: bridge.WorkerJob, result: protocol.Result) -> str:
        info = job.payload
        assert isinstance(info, CleanupJob), "a clean-up job carries its CleanupJob"
        obj, original = bpy.data.objects.get(info.object_name), bpy.data.actions.get(info.action_name)
        if obj is None or original is None:
            raise ScoreHMRError("The armature or its action was removed while cleaning up.",
                                "Run Clean up motion again", "target_gone")
        poses, transl = load_cleaned(Path(result.path), len(info.sample.frames))
        contacts = load_contacts(Path(result.path), len(info.sample.frames))
        new = action_io.write_clean_action(obj, original, info.sample, poses, transl, keep_root=info.keep_root,
                                           curves=contacts)
        job.subject = obj.name
        frames = info.sample.frames
        text = f"Cleaned {len(frames)} frames ({frames[0]:g}-{frames[-1]:g}) into {new.name}"
        if info.sample.nan_keys:
            text += f"; {info.sample.nan_keys} NaN keys completed"
        if info.masked:
            text += f"; {len(info.masked)} selected bones completed"
        if contacts is not None:   # the share of frames on which any heel or toe touches the ground
            share = float(np.mean(np.max(np.stack(list(contacts.values())), axis=0)))
            text += f"; feet locked ({share:.0%} contact)"
        log.info("%s (original %s kept)", text, original.name)
        return text


class SCOREHMR_OT_import_motion(WorkerJobOperator, bpy.types.Operator, ImportHelper):
    """Import an SMPL / AMASS motion file (.npz) onto a new SMPL armature"""

    bl_idname = "scorehmr.import_motion"
    bl_label = "Import SMPL/AMASS Motion (.npz)"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})
    panel = "motion"

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Set[str]:
        if not self.filepath and context.window is not None and not bpy.app.background:
            return ImportHelper.invoke(self, context, event)   # the file browser, then execute
        return WorkerJobOperator.invoke(self, context, event)

    def _begin(self, context: bpy.types.Context) -> bridge.WorkerJob:
        bridge.check_idle()
        path = Path(bpy.path.abspath(self.filepath)).resolve() if self.filepath else None
        if path is None or not path.is_file():
            raise ScoreHMRError(f"The motion file {path or '(none)'} does not exist.",
                                "Pick an SMPL/AMASS .npz file", "file_missing")
        settings = context.scene.scorehmr
        job_id, job_dir = bridge.new_job_dir()
        request = ApplyRequest(job_id=job_id, video=str(path), start=0, end=-1, scene_start=settings.scene_start,
                               match_scene_fps=settings.match_scene_fps, fit_scene_range=settings.fit_scene_range,
                               target_name="", job_dir=str(job_dir), body_mesh=settings.body_mesh,
                               match_camera=False)  # a motion file has no footage to match
        return bridge.start_motion_job(context, "import_motion", path, job_id, job_dir, request=request)

    def _apply(self, context: bpy.types.Context, job: bridge.WorkerJob, result: protocol.Result) -> str:
        obj = apply_result(context, job.request, Path(result.path))
        job.subject = obj.name
        return f"Imported {result.frames} frames onto {obj.name}"


def menu_import(self, context: bpy.types.Context) -> None:
    """File > Import entry."""
    self.layout.operator(SCOREHMR_OT_import_motion.bl_idname, text="SMPL/AMASS Motion (.npz)")


MOTION_OPERATOR_CLASSES = (SCOREHMR_OT_cleanup, SCOREHMR_OT_import_motion)

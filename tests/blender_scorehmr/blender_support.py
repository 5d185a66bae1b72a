"""Helpers to drive the add-on inside bpy (tests, demo, the real-worker end-to-end test).

Usage::

    bl = start_blender(tmp / "user", stage_repo(tmp / "repo"))   # before anything else imports bpy
    obj = bl.capture(worker_python="/path/to/python", video="/path/clip.mp4")
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Optional

ROOT = Path(__file__).resolve().parents[2]
REPO_MODULE = "scorehmr_test"


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scorehmr_build", ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_repo(repo_dir: Path) -> Path:
    """Stage the add-on (build.stage) into ``repo_dir/blender_scorehmr``; return ``repo_dir``."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    _build_module().stage(repo_dir / "blender_scorehmr")
    return repo_dir


@dataclass
class Blender:
    """bpy plus the enabled add-on's module name and package."""

    bpy: Any
    module: str          # bl_ext.<repo>.blender_scorehmr
    package: ModuleType  # the imported add-on package

    def sub(self, name: str) -> ModuleType:
        """An add-on submodule, e.g. ``sub("capture_result")``."""
        return importlib.import_module(f"{self.module}.{name}")

    def prefs(self):
        return self.bpy.context.preferences.addons[self.module].preferences

    def status(self):
        return self.bpy.context.window_manager.scorehmr_status

    def last_report(self) -> Dict[str, Any]:
        """Figures of the last successful capture (see ``bridge.last_report``)."""
        return self.sub("bridge").last_report()

    def configure(self, worker_python: str, video: str, start: Optional[int] = None, end: Optional[int] = None,
                  scene_start: int = 1, hang_timeout: float = 60.0) -> None:
        """Set the preferences and the panel settings for a capture (frames 1-based, inclusive)."""
        self.prefs().worker_python = str(worker_python)
        self.prefs().hang_timeout = hang_timeout
        settings = self.bpy.context.scene.scorehmr
        settings.source, settings.filepath = "FILE", str(video)
        settings.use_whole_clip = start is None and end is None
        if start is not None:
            settings.video_start = start
        if end is not None:
            settings.video_end = end
        settings.scene_start = scene_start

    def capture(self, worker_python: str, video: str, **kwargs: Any):
        """Run ``bpy.ops.scorehmr.capture()`` headless (blocking); return the keyed armature object.

        Raises RuntimeError (Blender's report of the operator's error) when the capture fails.
        """
        self.configure(worker_python, video, **kwargs)
        result = self.bpy.ops.scorehmr.capture()
        if result != {"FINISHED"}:
            raise RuntimeError(f"capture returned {result}: {self.status().error} ({self.status().hint})")
        return self.bpy.context.view_layer.objects.active


def start_blender(user_dir: Path, repo_dir: Path) -> Blender:
    """Import bpy with private user folders and enable the staged add-on from a local extensions repo.

    Blender's cache moves into ``user_dir``; the project's own cache (the sample footage) stays where it was
    by pinning ``SCOREHMR_CACHE`` first (build.py and tests/conftest.py honour it).
    """
    old_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ.setdefault("SCOREHMR_CACHE", os.path.join(old_cache, "blender_scorehmr"))
    os.environ["BLENDER_USER_RESOURCES"] = str(user_dir / "resources")
    os.environ["XDG_CACHE_HOME"] = str(user_dir / "cache")
    import bpy
    import addon_utils
    repos = bpy.context.preferences.extensions.repos
    if not any(r.module == REPO_MODULE for r in repos):
        repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(repo_dir), source="USER")
    module = f"bl_ext.{REPO_MODULE}.blender_scorehmr"
    package = addon_utils.enable(module, default_set=True, handle_error=_raise)
    if package is None:
        raise RuntimeError(f"{module} could not be enabled")
    return Blender(bpy=bpy, module=module, package=package)


def _raise(exc: BaseException) -> None:
    raise exc


def scene_snapshot(bpy: Any) -> Dict[str, Any]:
    """Counts of data-blocks, object names, meshes and materials, scene timing and every key of every action."""
    keys = {}
    for action in bpy.data.actions:
        for fcurve in _action_fcurves(action):
            keys[(action.name, fcurve.data_path, fcurve.array_index)] = [tuple(k.co) for k in fcurve.keyframe_points]
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "armatures": len(bpy.data.armatures),
        "meshes": sorted(m.name for m in bpy.data.meshes),
        "materials": sorted(m.name for m in bpy.data.materials),
        "actions": sorted(a.name for a in bpy.data.actions),
        "timing": (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end),
        "cameras": sorted(c.name for c in bpy.data.cameras),
        "movieclips": sorted(c.name for c in bpy.data.movieclips),
        "scene_camera": (scene.camera.name if scene.camera else "", scene.render.resolution_x,
                         scene.render.resolution_y, scene.render.resolution_percentage),
        "keys": keys,
    }


def _action_fcurves(action: Any):
    """Every F-Curve of an action, layered (4.4+) or legacy."""
    if hasattr(action, "layers") and len(action.layers):
        for layer in action.layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    yield from bag.fcurves
    elif hasattr(action, "fcurves"):
        yield from action.fcurves


def import_fingered(bl: Any, folder: Path, frames=range(0, 12), fps: float = 24.0) -> Any:
    """A capture with fingers (tests/fakes/fake_result.py ``with_fingers``) imported by Import Capture Results at
    scene frame 1, no camera: the armature ``ScoreHMR_hands``."""
    import numpy as np
    import fake_result

    path = folder / "hands.npz"
    np.savez(path, **fake_result.with_fingers(fake_result.make_result(frames, fps=fps)))
    assert bl.bpy.ops.scorehmr.import_results(filepath=str(path), match_camera=False, scene_start=1) == {"FINISHED"}
    return bl.bpy.data.objects["ScoreHMR_hands"]

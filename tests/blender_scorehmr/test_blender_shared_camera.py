"""Captures of one footage share one camera in bpy: two people of the same clip (each result with its own ground
estimate and re-centring) land on one camera, each body where that camera saw it.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import fake_result
import numpy as np
import pytest

from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]

SHARED_TOL = 1e-4   # metres: Blender's float32 matrices and keys (measured below 1e-5)


def _person(path: Path, footage: Path, seed: int, shift, pitch_deg: float, height: float) -> Path:
    """A result of ``footage`` frames 0-9: a person ``shift`` metres off the fake one in the camera frame, with the
    place stage's keys of a camera ``height`` m up looking ``pitch_deg`` down (each capture finds its own)."""
    arrays = fake_result.make_result(range(10), fps=24.0, source_video=str(footage), seed=seed)
    arrays["transl"] = (arrays["transl"] + np.asarray(shift, np.float32)).astype(np.float32)
    arrays["frame_range"] = np.array([0, 10], np.int32)
    arrays.update(fake_result.placed_keys(10, pitch_deg=pitch_deg, height=height))
    np.savez(path, **arrays)
    return path


def _camera_frame_joints(motion, result, i: int) -> np.ndarray:
    """The result's own joints (J, 3) at frame ``i`` in its camera frame: pelvis = transl + J_0, child = parent +
    G_parent (J_child - J_parent); no Blender frame maths."""
    glob = motion.global_rotations(result.poses, result.parents)
    joints = np.empty((len(result.joint_names), 3))
    joints[0] = result.transl[i] + result.joints_rest[0]
    for j in range(1, len(joints)):
        p = result.parents[j]
        joints[j] = joints[p] + glob[i, p] @ (result.joints_rest[j] - result.joints_rest[p])
    return joints


def test_two_people_of_one_clip_share_one_camera(bl, tmp_path, fake_video):
    b = bl.bpy
    motion, cm = bl.sub("core.capture_result"), bl.sub("camera_match")
    first = _person(tmp_path / "man.npz", fake_video, 1, (0.0, 0.0, 0.0), 12.0, 1.5)
    second = _person(tmp_path / "woman.npz", fake_video, 2, (1.6, 0.1, 2.5), 8.0, 1.35)
    for path in (first, second):
        assert b.ops.scorehmr.import_results(filepath=str(path), match_camera=True) == {"FINISHED"}
    cameras = [o for o in b.data.objects if o.type == "CAMERA"]
    assert len(cameras) == 1 and b.context.scene.camera == cameras[0], [c.name for c in cameras]
    camera = cameras[0]
    assert camera.matrix_world.translation.z == pytest.approx(1.5, abs=1e-5)   # the first capture's ground
    cam_from_world = np.linalg.inv(cm.opencv_world_from_camera(np.array(camera.matrix_world)))
    worst = 0.0
    for name, path in (("ScoreHMR_man", first), ("ScoreHMR_woman", second)):
        obj, result = b.data.objects[name], motion.load_result(path)
        for i in (0, 5, 9):
            b.context.scene.frame_set(i + 1)
            evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
            world = np.array([tuple(evaluated.matrix_world @ evaluated.pose.bones[n].head)
                              for n in result.joint_names])
            got = (cam_from_world[:3, :3] @ world.T).T + cam_from_world[:3, 3]
            worst = max(worst, float(np.abs(got - _camera_frame_joints(motion, result, i)).max()))
    print(f"worst joint error in the shared camera's frame: {worst:.2e} m")
    assert worst < SHARED_TOL, worst

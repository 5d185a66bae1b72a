"""Import Capture Results in bpy: a result file, a batch folder / batch.json (one armature per clip or one action per
clip on one armature), the panel's options, and all-or-nothing on a bad file.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import fake_result
import numpy as np
import pytest

from blender_support import _action_fcurves, import_fingered, scene_snapshot
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)
from test_blender_cleanup import _call

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def write(path: Path, frames, start: int, footage: str = "", seed: int = 0, placed: bool = False,
          joints_scale: float = 1.0) -> Path:
    arrays = fake_result.make_result(frames, fps=24.0, source_video=footage, seed=seed)
    arrays["frame_range"] = np.array([start, max(frames) + 1], np.int32)
    arrays["joints_rest"] = (arrays["joints_rest"] * joints_scale).astype(np.float32)
    if placed:
        arrays.update(fake_result.placed_keys(len(frames)))
    np.savez(path, **arrays)
    return path


def batch(folder: Path, footage: str = "") -> Path:
    """A batch output folder: two done clips (one with a range), one failed, its batch.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "walk.npz", range(0, 10), 0, footage, seed=1)
    write(folder / "jump_20-32.npz", range(22, 32), 20, footage, seed=2, joints_scale=1.05)
    clips = [{"name": "walk", "output": "walk.npz", "status": "done", "clip": footage},
             {"name": "jump_20-32", "output": "jump_20-32.npz", "status": "done", "clip": footage},
             {"name": "bad", "output": "bad.npz", "status": "failed", "clip": "/x/bad.mp4",
              "error": {"code": "video_unreadable", "message": "The file could not be decoded"}}]
    (folder / "batch.json").write_text(json.dumps({"version": 1, "settings": {}, "clips": clips}))
    return folder


def keyed_frames(action) -> list:
    curve = next(f for f in _action_fcurves(action) if f.data_path == 'pose.bones["pelvis"].location')
    return [k.co[0] for k in curve.keyframe_points]


def test_one_result_file_keys_a_new_armature_at_scene_start(bl, tmp_path):
    b = bl.bpy
    b.context.scene.scorehmr.scene_start = 101
    path = write(tmp_path / "take.npz", range(5, 17), 3)
    assert b.ops.scorehmr.import_results(filepath=str(path), match_camera=False, scene_start=101) == {"FINISHED"}
    obj = b.data.objects["ScoreHMR_take"]
    assert obj.type == "ARMATURE" and obj.animation_data.action.name == "ScoreHMR_take_take"
    assert keyed_frames(obj.animation_data.action)[0] == 103.0   # source frame 5, range from 3 -> 101 + 2
    assert any(child.type == "MESH" for child in obj.children)   # body mesh on by default
    assert (b.context.scene.frame_start, b.context.scene.frame_end) == (103, 114)
    assert "UserEmpty" in b.data.objects and b.data.objects["UserEmpty"].animation_data.action is not None


def test_batch_folder_makes_one_armature_per_done_clip(bl, tmp_path, fake_video):
    b = bl.bpy
    folder = batch(tmp_path / "out", footage=str(fake_video))
    assert b.ops.scorehmr.import_results(filepath=str(folder) + "/", match_camera=True) == {"FINISHED"}
    rigs = sorted(o.name for o in b.data.objects if o.type == "ARMATURE")
    assert rigs == ["ScoreHMR_jump_20-32", "ScoreHMR_walk"]
    assert sorted(c.name for c in b.data.cameras) == ["ScoreHMR_jump_20-32_Camera", "ScoreHMR_walk_Camera"]
    stage = bl.status().stage
    assert "Imported 2 clips" in stage and "bad (failed: The file could not be decoded)" in stage
    assert keyed_frames(b.data.objects["ScoreHMR_jump_20-32"].animation_data.action)[0] == 3.0  # 22 - 20 + 1


def test_batch_json_as_actions_on_the_active_armature(bl, tmp_path):
    b = bl.bpy
    folder = batch(tmp_path / "out")
    first = write(tmp_path / "base.npz", range(0, 10), 0, seed=5)
    assert b.ops.scorehmr.import_results(filepath=str(first), match_camera=False) == {"FINISHED"}
    rig = b.data.objects["ScoreHMR_base"]
    b.context.view_layer.objects.active = rig
    before = rig.animation_data.action
    assert b.ops.scorehmr.import_results(filepath=str(folder / "batch.json"), mode="ACTIONS",
                                         match_camera=False) == {"FINISHED"}
    assert [o.name for o in b.data.objects if o.type == "ARMATURE"] == ["ScoreHMR_base"]
    names = {a.name for a in b.data.actions}
    assert {"ScoreHMR_base_walk", "ScoreHMR_base_jump_20-32"} <= names   # the 5% larger skeleton keys it too
    assert rig.animation_data.action.name == "ScoreHMR_base_jump_20-32" and before.use_fake_user
    assert b.data.actions["ScoreHMR_base_walk"].use_fake_user


def test_place_on_ground_uses_the_results_ground(bl, tmp_path):
    b = bl.bpy
    path = write(tmp_path / "placed.npz", range(0, 6), 0, placed=True)
    heights = {}
    for place in (True, False):
        assert b.ops.scorehmr.import_results(filepath=str(path), match_camera=False, place_on_ground=place,
                                             body_mesh=False) == {"FINISHED"}
        obj = b.context.view_layer.objects.active
        b.context.scene.frame_set(1)
        heights[place] = obj.pose.bones["pelvis"].matrix.translation.z
        assert obj.pose.bones["pelvis"].rotation_quaternion is not None
        obj.name = f"done_{place}"
    assert abs(heights[True] - heights[False]) > 0.05   # the pitched, 1.5 m camera vs the level one


def test_a_bad_file_in_the_batch_changes_nothing(bl, tmp_path):
    b = bl.bpy
    folder = batch(tmp_path / "out")
    (folder / "jump_20-32.npz").write_bytes(b"PK not a result")
    before = scene_snapshot(b)
    assert _call(b.ops.scorehmr.import_results, filepath=str(folder), match_camera=False) == {"CANCELLED"}
    assert scene_snapshot(b) == before
    assert "jump_20-32.npz" in bl.status().error


@pytest.mark.parametrize("mode", ["ARMATURES", "ACTIONS"])
def test_failure_midway_removes_what_the_import_added(bl, tmp_path, monkeypatch, mode):
    b = bl.bpy
    folder = batch(tmp_path / "out")
    if mode == "ACTIONS":   # onto an armature of the user's, whose action must come back as it was
        assert b.ops.scorehmr.import_results(filepath=str(write(tmp_path / "base.npz", range(4), 0)),
                                             match_camera=False) == {"FINISHED"}
        own = b.context.view_layer.objects.active
        own.animation_data.action.use_fake_user = False
        action = own.animation_data.action
    importer = bl.sub("operators_import")
    real, calls = importer.apply_result, []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("keying failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "apply_result", second_fails)
    before = scene_snapshot(b)
    assert _call(b.ops.scorehmr.import_results, filepath=str(folder), match_camera=False,
                 mode=mode) == {"CANCELLED"}
    assert len(calls) == 2 and scene_snapshot(b) == before
    if mode == "ACTIONS":
        assert own.animation_data.action == action and not action.use_fake_user
    assert "keying failed" in bl.status().error


def test_reachable_from_the_panel_and_file_import(bl):
    b = bl.bpy
    assert "UNDO" in b.types.SCOREHMR_OT_import_results.bl_options
    assert bl.sub("operators_import").menu_import_results in b.types.TOPBAR_MT_file_import._dyn_ui_initialize()
    drawn = []

    class Layout:   # records the operators the capture panel draws
        def panel(self, *args, **kwargs):   # a collapsible section, drawn open
            return Layout(), Layout()

        def __getattr__(self, name):
            return lambda *args, **kwargs: (drawn.append(args[0]) if name == "operator" else None, Layout())[1]

    panel = b.types.SCOREHMR_PT_capture
    panel.draw(type("Panel", (), {"layout": Layout()})(), b.context)
    assert "scorehmr.import_results" in drawn and "scorehmr.capture" in drawn


def test_a_result_with_fingers_keys_the_finger_bones_and_skins_them(bl, tmp_path):
    """A 54-joint capture: the armature gains 30 finger bones under the hand bones, each keyed, the body mesh has a
    vertex group per finger bone, and each hand's confidence is keyed on the armature."""
    b = bl.bpy
    obj = import_fingered(bl, tmp_path)
    bones = obj.data.bones
    assert len(bones) == 54 and bones["left_index1"].parent.name == "left_hand"
    assert bones["right_thumb3"].parent.name == "right_thumb2"
    paths = {f.data_path for f in _action_fcurves(obj.animation_data.action)}
    assert 'pose.bones["left_pinky2"].rotation_quaternion' in paths
    b.context.scene.frame_set(4)
    assert abs(obj.pose.bones["left_index2"].rotation_quaternion[0]) < 0.9999     # bent, not at rest
    mesh = next(o for o in b.data.objects if o.type == "MESH" and o.parent == obj)
    assert {"left_index1", "right_thumb3"} <= {g.name for g in mesh.vertex_groups}
    props = bl.sub("core.capture_result").HAND_PROPS
    assert {f'["{name}"]' for name in props} <= paths        # how far each hand was seen, keyed per frame
    assert abs(obj[props[0]] - 0.8) < 1e-6                 # (the fake result's hand_confidence)

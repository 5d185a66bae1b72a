"""The add-on inside bpy (5.0.1 from PyPI), registered from a local extensions repository like Blender does.

bpy is imported once per process: every bpy test module (this one, test_blender_body_mesh.py,
test_blender_real_worker.py) shares the session's ``blender`` fixture and this module's clean-scene ``bl`` fixture.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blender_support import scene_snapshot

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


@pytest.fixture
def bl(blender, monkeypatch):
    """A clean scene with one user object carrying keys, and a cleared status, for every test."""
    b = blender.bpy
    monkeypatch.delenv("SCOREHMR_WORKER_PYTHON", raising=False)
    for obj in list(b.data.objects):
        b.data.objects.remove(obj)
    for coll in (b.data.actions, b.data.armatures, b.data.meshes, b.data.materials, b.data.cameras,
                 b.data.movieclips):
        for item in list(coll):
            coll.remove(item)
    scene = b.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end = 30, 1.0, 1, 100
    scene.scorehmr.body_mesh = scene.scorehmr.match_camera = True
    scene.camera = None
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1920, 1080, 50
    empty = b.data.objects.new("UserEmpty", None)
    scene.collection.objects.link(empty)
    empty.location = (1.0, 2.0, 3.0)
    empty.keyframe_insert("location", frame=1)
    empty.keyframe_insert("location", frame=10)
    b.context.view_layer.objects.active = empty
    blender.prefs().worker_python = ""
    st = blender.status()
    st.error = st.hint = st.error_code = st.stage = ""
    return blender


def test_registered_classes(bl):
    b = bl.bpy
    assert hasattr(b.types, "SCOREHMR_PT_capture")
    assert b.types.SCOREHMR_PT_capture.bl_category == "ScoreHMR"
    assert b.types.SCOREHMR_PT_capture.bl_space_type == "VIEW_3D"
    for op in ("capture", "cancel", "setup_worker", "clear_error"):
        assert hasattr(b.ops.scorehmr, op)
    assert "UNDO" in b.types.SCOREHMR_OT_capture.bl_options
    assert bl.module.startswith("bl_ext.") and bl.prefs().hang_timeout == 60.0
    assert hasattr(b.context.scene, "scorehmr") and hasattr(b.context.window_manager, "scorehmr_status")


def test_unregister_and_register_again(bl):
    import addon_utils
    b = bl.bpy
    addon_utils.disable(bl.module, default_set=True)
    try:
        assert not hasattr(b.types, "SCOREHMR_PT_capture")
        assert not hasattr(b.types.Scene, "scorehmr")
    finally:
        assert addon_utils.enable(bl.module, default_set=True) is not None
    assert hasattr(b.types, "SCOREHMR_PT_capture") and hasattr(b.types.Scene, "scorehmr")


def test_capture_creates_keyed_armature(bl, fake_pythons, fake_video):
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video, start=3, end=11, scene_start=101)
    assert obj.type == "ARMATURE" and obj.name.startswith("ScoreHMR_jump")
    names = [bone.name for bone in obj.data.bones]
    import fake_result
    assert sorted(names) == sorted(fake_result.JOINT_NAMES) and obj.data.bones[0].name == "pelvis"
    assert obj.data.bones["left_knee"].parent.name == "left_hip"
    action = obj.animation_data.action
    from blender_support import _action_fcurves
    curves = list(_action_fcurves(action))
    assert len(curves) == 24 * 4 + 3
    # video frames 2..10 (0-based, end exclusive), frame 4 has no person: keys exactly there, video frame 2 at scene 101
    expected = [101, 102, 104, 105, 106, 107, 108, 109]
    for fc in curves:
        assert [round(k.co[0]) for k in fc.keyframe_points] == expected
    scene = b.context.scene
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (24, 101, 109)
    assert bl.status().error == "" and not bl.status().running
    assert "UserEmpty" in b.data.objects and len(b.data.objects) == 4  # + the body mesh and the matched camera
    report = bl.last_report()
    assert report["object"] == obj.name and Path(report["result_path"]).is_file()
    assert report["keyframe_seconds"] < 5 and report["action"] == action.name


def test_pose_matches_forward_kinematics(bl, fake_pythons, fake_video):
    """Depsgraph-evaluated bone heads == numpy FK of the same SMPL parameters mapped into Blender (1e-4 m)."""
    b = bl.bpy
    motion = bl.sub("core.capture_result")
    obj = bl.capture(fake_pythons("ok"), fake_video)
    result = motion.load_result(Path(bl.last_report()["result_path"]))
    rest_rot, heads = bl.sub("rig").rest_frames(obj, result.joint_names)
    np.testing.assert_allclose(heads, motion.rest_heads_armature(result.joints_rest), atol=1e-6)
    expected = motion.world_joints(result, heads)
    glob = motion.global_rotations(result.poses, result.parents)
    rot = bl.sub("core.blender_frames")
    for i in (0, 3, len(result.frame_indices) - 1):
        b.context.scene.frame_set(int(result.frame_indices[i]) + 1)
        evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
        got = np.array([tuple(evaluated.matrix_world @ evaluated.pose.bones[n].head) for n in result.joint_names])
        np.testing.assert_allclose(got, expected[i], atol=1e-4)
        for j, name in enumerate(result.joint_names):  # A_j M_j: the posed bone frame
            a_j = rot.CAMERA_TO_WORLD @ glob[i, j] @ rot.SMPL_TO_ARMATURE.T
            pose_rot = np.array(evaluated.pose.bones[name].matrix)[:3, :3]
            np.testing.assert_allclose(pose_rot, a_j @ rest_rot[j], atol=1e-4)


def test_second_capture_makes_a_new_action(bl, fake_pythons, fake_video):
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    first = obj.animation_data.action
    from blender_support import _action_fcurves
    curve = next(fc for fc in _action_fcurves(first) if fc.data_path.endswith("location"))
    curve.keyframe_points[0].co[1] = 42.0  # the user's edit
    b.context.view_layer.objects.active = obj
    again = bl.capture(fake_pythons("ok"), fake_video)
    assert again == obj and len([o for o in b.data.objects if o.type == "ARMATURE"]) == 1
    second = obj.animation_data.action
    assert second != first and first.use_fake_user
    curve = next(fc for fc in _action_fcurves(first) if fc.data_path.endswith("location"))
    assert curve.keyframe_points[0].co[1] == 42.0


FAILURES = [
    # (fake mode, video kind, expected error code)
    ("ok", "missing", "video_missing"),
    ("ok", "unreadable", "video_unreadable"),
    ("no_person", "good", "no_person"),
    ("missing_package", "good", "missing_package"),
    ("crash", "good", "worker_crashed"),
    ("garbage", "good", "worker_garbage"),
    ("hang", "good", "worker_hung"),
    ("bad_result", "good", "bad_result"),
    ("bad_mesh", "good", "bad_result"),
]


@pytest.mark.parametrize("mode,video,code", FAILURES)
def test_failures_leave_the_scene_unchanged(bl, fake_pythons, fake_video, tmp_path, mode, video, code):
    b = bl.bpy
    paths = {"good": fake_video, "missing": tmp_path / "missing.mp4", "unreadable": tmp_path / "bad.mp4"}
    paths["unreadable"].write_bytes(b"\x00 not a video")
    before = scene_snapshot(b)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError):
        bl.capture(fake_pythons(mode), paths[video], hang_timeout=1.0)
    st = bl.status()
    assert st.error_code == code and st.error and st.hint, (st.error_code, st.error, st.hint)
    assert not st.running and bl.sub("bridge").active_job() is None
    assert scene_snapshot(b) == before
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("reuse", [False, True])
def test_failure_while_keying_rolls_back(bl, fake_pythons, fake_video, monkeypatch, reuse):
    """A bpy error half-way through keying removes what was added and restores the previous action."""
    b = bl.bpy
    if reuse:
        obj = bl.capture(fake_pythons("ok"), fake_video)
        b.context.view_layer.objects.active = obj
    before = scene_snapshot(b)
    keyframes = bl.sub("keyframes")

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while keying")

    monkeypatch.setattr(keyframes, "write_pose_keys", broken)
    with pytest.raises(RuntimeError, match="simulated failure"):
        bl.capture(fake_pythons("ok"), fake_video)
    assert bl.status().error_code == "internal" and bl.status().hint
    assert scene_snapshot(b) == before and bl.sub("bridge").active_job() is None
    if reuse:
        assert obj.animation_data.action.name == before["actions"][0]
        assert getattr(obj.animation_data, "action_slot", True)
        b.context.scene.frame_set(5)  # the old keys still drive the pose
        assert obj.pose.bones["pelvis"].rotation_quaternion[0] != 1.0


def test_no_worker_configured(bl, fake_video):
    b = bl.bpy
    shutil.rmtree(b.utils.extension_path_user(bl.module, path="worker_env"), ignore_errors=True)
    before = scene_snapshot(b)
    with pytest.raises(RuntimeError, match="not set up"):
        bl.capture("", fake_video)
    assert "Set up worker" in bl.status().hint and bl.status().error_code == "worker_not_found"
    assert scene_snapshot(b) == before


def test_bad_settings(bl, fake_pythons, fake_video):
    before = scene_snapshot(bl.bpy)
    with pytest.raises(RuntimeError):
        bl.capture(fake_pythons("ok"), fake_video, start=10, end=5)
    assert bl.status().error_code == "bad_range" and bl.status().hint
    bl.bpy.context.scene.scorehmr.source = "CLIP"
    bl.bpy.context.scene.scorehmr.clip = None
    with pytest.raises(RuntimeError):
        bl.bpy.ops.scorehmr.capture()
    assert bl.status().error_code == "no_footage"
    assert scene_snapshot(bl.bpy) == before


def test_cancel_mid_job(bl, fake_pythons, fake_video):
    """What the modal operator does on Cancel: the job ends cancelled and nothing changes."""
    b = bl.bpy
    bridge = bl.sub("bridge")
    bl.configure(fake_pythons("ok", delay=0.05), fake_video)
    before = scene_snapshot(b)
    job = bridge.start_capture(b.context)
    assert b.ops.scorehmr.cancel.poll() and not b.ops.scorehmr.capture.poll()
    deadline = time.monotonic() + 10
    while bl.status().progress == 0.0 and time.monotonic() < deadline:
        bridge.pump(job)
        time.sleep(0.02)
    assert bl.status().stage and bl.status().running
    assert b.ops.scorehmr.cancel() == {"FINISHED"}
    while (outcome := bridge.pump(job)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcome.code == "cancelled"
    bridge.end_job(job, b.context, bridge.as_error(outcome))
    assert bl.status().error == "Capture cancelled." and not bl.status().running
    assert scene_snapshot(b) == before and bridge.active_job() is None


def test_setup_worker_creates_an_environment(bl, tmp_path):
    b = bl.bpy
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing to install in the test\n")
    assert b.ops.scorehmr.setup_worker(requirements=str(requirements)) == {"FINISHED"}
    env_dir = Path(b.utils.extension_path_user(bl.module, path="worker_env"))
    assert str(env_dir).startswith(os.environ["BLENDER_USER_RESOURCES"])
    python = bl.sub("preferences").worker_python()
    assert Path(python).is_file() and Path(python).parent.parent == env_dir
    state = bl.sub("preferences").current_setup().state
    assert state.done and state.fraction == 1.0 and not state.error


class _Layout:
    """Stands in for UILayout in background mode: checks that drawn properties and operators exist."""

    def __init__(self, bpy, calls):
        self._bpy, self.calls = bpy, calls

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, name
        self.calls.append(("prop", name))

    def operator(self, idname, **kwargs):
        module, name = idname.split(".")
        assert hasattr(getattr(self._bpy.ops, module), name), idname
        self.calls.append(("operator", idname))
        return type("OperatorProperties", (), {})()

    def progress(self, **kwargs):
        self.calls.append(("progress", kwargs.get("text")))

    def label(self, **kwargs):
        self.calls.append(("label", kwargs.get("text")))

    def panel(self, idname, **kwargs):   # a collapsible section, drawn open
        return self, self

    def __getattr__(self, name):  # row(), column(), box() ...
        return lambda *args, **kwargs: self


@pytest.mark.parametrize("state", ["idle", "running", "error"])
def test_panel_and_preferences_draw(bl, state):
    b = bl.bpy
    st = bl.status()
    st.running, st.stage = state == "running", "Detecting the person 3/10"
    st.error, st.hint = ("Boom.", "Do this") if state == "error" else ("", "")
    calls = []
    panel = type("P", (), {"layout": _Layout(b, calls)})()
    b.types.SCOREHMR_PT_capture.draw(panel, b.context)
    ops = [c[1] for c in calls if c[0] == "operator"]
    assert ("scorehmr.cancel" in ops) == (state == "running") and ("scorehmr.capture" in ops) != (state == "running")
    assert (("label", "Do this") in calls) == (state == "error")
    assert any(c[0] == "progress" for c in calls) == (state == "running")
    assert ("prop", "body_mesh") in calls and ("prop", "refine") in calls and ("prop", "iterations") in calls
    settings = b.context.scene.scorehmr
    settings.use_views = True
    b.ops.scorehmr.view_add()
    calls.clear()
    b.types.SCOREHMR_PT_capture.draw(panel, b.context)
    assert ("operator", "scorehmr.view_remove") in calls and ("operator", "scorehmr.view_add") in calls
    settings.views.clear()
    settings.use_views = False
    prefs_calls = []
    prefs = bl.prefs()
    draw = type(prefs).draw
    draw(type("Q", (), {"layout": _Layout(b, prefs_calls), "worker_python": "", "hang_timeout": 1.0,
                        "bl_rna": prefs.bl_rna})(), b.context)
    assert ("operator", "scorehmr.setup_worker") in prefs_calls
    st.running = False


def test_fit_settings_and_views_reach_the_request(bl, fake_video, tmp_path):
    b = bl.bpy
    bridge = bl.sub("bridge")
    settings = b.context.scene.scorehmr
    settings.source, settings.filepath = "FILE", str(fake_video)
    settings.refine, settings.iterations, settings.temporal = False, 7, 0.5
    request = bridge.make_request(b.context, tmp_path, "job")
    options = request.options
    assert (options.refine, options.iterations, options.temporal, request.views) == (False, 7, 0.5, ())
    assert options.initial == "temporal" and request.calibration == ""
    settings.initial = "learned"
    assert bridge.make_request(b.context, tmp_path, "job").options.initial == "learned"
    settings.initial = "temporal"
    settings.use_views = True
    try:
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError, match="no other camera"):
            bridge.make_request(b.context, tmp_path, "job")
        assert b.ops.scorehmr.view_add() == {"FINISHED"}
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError, match="has no video"):
            bridge.make_request(b.context, tmp_path, "job")
        settings.views[0].filepath = str(fake_video)
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError, match="repeats a clip"):
            bridge.make_request(b.context, tmp_path, "job")
        settings.views[0].filepath = str(tmp_path / "missing.mp4")
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError, match="does not exist"):
            bridge.make_request(b.context, tmp_path, "job")
        other = tmp_path / "cam2.mp4"
        shutil.copy(fake_video, other)
        settings.views[0].filepath = str(other)
        assert bridge.make_request(b.context, tmp_path, "job").views == (str(other.resolve()),)
        assert bridge.make_request(b.context, tmp_path, "job").calibration == ""
        settings.calibration = str(tmp_path / "missing.toml")
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError, match="calibration file .* does not exist"):
            bridge.make_request(b.context, tmp_path, "job")
        calib = tmp_path / "Calib.toml"
        calib.write_text("[cam01]\n")
        settings.calibration = str(calib)
        assert bridge.make_request(b.context, tmp_path, "job").calibration == str(calib.resolve())
        assert b.ops.scorehmr.view_remove(index=0) == {"FINISHED"} and len(settings.views) == 0
        assert b.ops.scorehmr.view_remove(index=0) == {"CANCELLED"}
    finally:
        settings.views.clear()
        settings.use_views, settings.refine, settings.iterations, settings.temporal = False, True, 2, 1.0
        settings.calibration = ""


def test_alternative_takes(bl, fake_pythons, fake_video):
    """Alternatives: one extra action per hypothesis (fake user, not assigned) and the ambiguity curve."""
    b = bl.bpy
    settings = b.context.scene.scorehmr
    settings.alternatives = 2
    try:
        armature = bl.capture(fake_pythons("ok"), fake_video)
    finally:
        settings.alternatives = 0
    main = armature.animation_data.action
    alts = [b.data.actions[f"{main.name}_alt{k}"] for k in (1, 2)]
    assert all(a.use_fake_user and a.users == 1 for a in alts)
    assert armature["scorehmr_ambiguity"] is not None
    curves = {fc.data_path for fc in _fcurves(main)}
    assert '["scorehmr_ambiguity"]' in curves
    root = 'pose.bones["pelvis"].rotation_quaternion'
    main_w = [fc for fc in _fcurves(main) if fc.data_path == root and fc.array_index == 3][0]
    alt_w = [fc for fc in _fcurves(alts[1]) if fc.data_path == root and fc.array_index == 3][0]
    assert len(alt_w.keyframe_points) == len(main_w.keyframe_points)
    assert any(abs(p.co[1] - q.co[1]) > 1e-3 for p, q in zip(main_w.keyframe_points, alt_w.keyframe_points))


def _fcurves(action):
    if hasattr(action, "layers") and len(action.layers):
        return [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves]
    return list(action.fcurves)

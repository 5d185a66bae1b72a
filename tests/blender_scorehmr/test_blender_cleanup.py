"""Clean up motion and SMPL/AMASS import inside bpy, with the fake worker (cleanup = poses * 0.9)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fake_result
from blender_support import _action_fcurves, import_fingered, scene_snapshot
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]

MODES = {"left_knee": "ZYX", "right_knee": "XYZ", "spine2": "AXIS_ANGLE", "left_elbow": "YXZ", "head": "ZXY",
         "right_wrist": "AXIS_ANGLE", "pelvis": "QUATERNION", "neck": "XZY", "left_hip": "YZX"}


def make_rig(bl, names=fake_result.JOINT_NAMES, modes=MODES, frames=(1, 4, 7, 10), seed=0):
    """An SMPL armature (our rig builder) keyed every 3 frames in mixed rotation modes; returns it, active."""
    b = bl.bpy
    rig, motion = bl.sub("rig"), bl.sub("core.capture_result")
    heads = motion.rest_heads_armature(fake_result.JOINTS_REST)
    obj = rig.create_armature(b.context, "Actor", names, fake_result.PARENTS, heads, fake_result.JOINTS_REST)
    rng = np.random.default_rng(seed)
    for name in names:
        pb = obj.pose.bones[name]
        pb.rotation_mode = modes.get(name, "QUATERNION")
        for frame in frames:
            if pb.rotation_mode == "QUATERNION":
                q = np.r_[1.0, rng.normal(0, 0.3, 3)]
                pb.rotation_quaternion = q / np.linalg.norm(q)
                pb.keyframe_insert("rotation_quaternion", frame=frame)
            elif pb.rotation_mode == "AXIS_ANGLE":
                axis = rng.normal(size=3)
                pb.rotation_axis_angle = [rng.uniform(0.1, 1.2), *(axis / np.linalg.norm(axis))]
                pb.keyframe_insert("rotation_axis_angle", frame=frame)
            else:
                pb.rotation_euler = rng.normal(0, 0.5, 3)
                pb.keyframe_insert("rotation_euler", frame=frame)
            if name == names[0]:
                pb.location = rng.normal(0, 0.2, 3)
                pb.keyframe_insert("location", frame=frame)
    obj.animation_data.action.name = "Walk"
    b.context.view_layer.objects.active = obj
    scene = b.context.scene
    scene.frame_start, scene.frame_end = 1, 10
    return obj


def pose_matrices(bl, obj, frames):
    """(F, 24, 4, 4) armature-space pose bone matrices after frame_set."""
    out = []
    for frame in frames:
        bl.bpy.context.scene.frame_set(int(frame))
        out.append([np.array(obj.pose.bones[n].matrix) for n in fake_result.JOINT_NAMES])
    return np.array(out)


def action_keys(action):
    return {(fc.data_path, fc.array_index): [tuple(k.co) + tuple(k.handle_left) + tuple(k.handle_right)
                                             for k in fc.keyframe_points] for fc in _action_fcurves(action)}


def run_cleanup(bl, fake_pythons, mode="ok", **settings):
    bl.prefs().worker_python = str(fake_pythons(mode))
    bl.prefs().hang_timeout = 5.0
    for key, value in settings.items():
        setattr(bl.bpy.context.scene.scorehmr, key, value)
    return _call(bl.bpy.ops.scorehmr.cleanup)


def _call(op, **kwargs):
    """Run an operator; an ERROR report (RuntimeError in background mode) counts as CANCELLED."""
    try:
        return op(**kwargs)
    except RuntimeError:
        return {"CANCELLED"}


@pytest.fixture
def clean_settings(bl):
    yield
    s = bl.bpy.context.scene.scorehmr
    s.cleanup_strength, s.cleanup_use_scene_range, s.cleanup_mask_selected = 1.0, True, False
    s.cleanup_keep_root = s.cleanup_lock_feet = False


def test_round_trip_reproduces_the_pose(bl):
    """Keys read then written with the same poses give the same pose (quaternion, Euler, axis-angle bones)."""
    io = bl.sub("action_io")
    obj = make_rig(bl)
    original = obj.animation_data.action
    keys_before = action_keys(original)
    frames = np.arange(1, 11)
    expected = pose_matrices(bl, obj, frames)
    sample = io.sample_motion(obj, original, frames)
    assert sample.poses.shape == (10, 24, 3) and sample.confidence.min() == 1.0 and sample.nan_keys == 0
    assert sample.modes[fake_result.JOINT_NAMES.index("left_knee")] == "ZYX"
    new = io.write_clean_action(obj, original, sample, sample.poses, sample.transl)
    assert new.name == "Walk_clean" and obj.animation_data.action == new and original.use_fake_user
    assert action_keys(original) == keys_before
    np.testing.assert_allclose(pose_matrices(bl, obj, frames), expected, atol=1e-4)
    curves = {(fc.data_path, fc.array_index): fc for fc in _action_fcurves(new)}
    knee = curves[('pose.bones["left_knee"].rotation_euler', 0)]
    assert [k.co[0] for k in knee.keyframe_points] == list(range(1, 11))
    assert ('pose.bones["left_knee"].rotation_quaternion', 0) not in curves
    again = io.write_clean_action(obj, original, sample, sample.poses, sample.transl)
    assert again.name == "Walk_clean.001"


def test_only_the_range_is_rekeyed(bl):
    io = bl.sub("action_io")
    obj = make_rig(bl, frames=(1, 4, 7, 10, 13))
    original = obj.animation_data.action
    sample = io.sample_motion(obj, original, np.arange(4, 8))
    new = io.write_clean_action(obj, original, sample, sample.poses * 0.5, sample.transl)
    curves = {(fc.data_path, fc.array_index): fc for fc in _action_fcurves(new)}
    frames = [k.co[0] for k in curves[('pose.bones["pelvis"].location', 0)].keyframe_points]
    assert frames == [1, 4, 5, 6, 7, 10, 13]
    before = {(fc.data_path, fc.array_index): fc for fc in _action_fcurves(original)}
    for key in (('pose.bones["head"].rotation_euler', 2), ('pose.bones["pelvis"].location', 1)):
        old, now = before[key].keyframe_points, curves[key].keyframe_points
        assert tuple(old[0].co) == tuple(now[0].co) and tuple(old[-1].co) == tuple(now[-1].co)


def test_aliases_and_missing_bones(bl):
    io = bl.sub("action_io")
    errors = bl.sub("core.panel_errors")
    aliases = ["m_avg_" + a for a in io.ALIASES]
    assert io.smpl_bones(aliases) == tuple(aliases)
    assert io.smpl_bones([a.upper() for a in fake_result.JOINT_NAMES])[0] == "PELVIS"
    with pytest.raises(errors.ScoreHMRError, match="left_hand, right_hand") as info:
        io.smpl_bones(list(fake_result.JOINT_NAMES[:22]) + ["Bone"])
    assert info.value.hint


def test_cleanup_happy_path(bl, fake_pythons, clean_settings):
    b = bl.bpy
    obj = make_rig(bl)
    original = obj.animation_data.action
    keys_before = action_keys(original)
    assert "UNDO" in b.types.SCOREHMR_OT_cleanup.bl_options
    assert run_cleanup(bl, fake_pythons, cleanup_strength=0.5) == {"FINISHED"}
    new = obj.animation_data.action
    assert new.name == "Walk_clean" and original.use_fake_user and action_keys(original) == keys_before
    assert "Cleaned 10 frames" in bl.status().stage and "Walk_clean" in bl.status().stage
    assert bl.status().error == "" and bl.sub("bridge").active_job() is None
    job_dir = Path(bl.sub("preferences").jobs_dir())
    motion = max(job_dir.glob("*/motion.npz"), key=lambda p: p.stat().st_mtime)
    with np.load(motion) as sent:
        assert sent["poses"].shape == (10, 24, 3) and str(sent["root_frame"]) == "camera"
        assert float(sent["fps"]) == 30.0 and sent["confidence"].min() == 1.0
        sent_poses = sent["poses"].astype(np.float64)
    io = bl.sub("action_io")
    got = io.sample_motion(obj, new, np.arange(1, 11))
    rot = bl.sub("core.blender_frames")
    np.testing.assert_allclose(rot.rotvec_to_rotmat(got.poses), rot.rotvec_to_rotmat(0.9 * sent_poses), atol=1e-4)


def test_cleanup_keep_root_leaves_the_root_curves_alone(bl, fake_pythons, clean_settings):
    obj = make_rig(bl)
    root = fake_result.JOINT_NAMES[0]
    before = {k: v for k, v in action_keys(obj.animation_data.action).items() if f'["{root}"]' in k[0]}
    assert before and run_cleanup(bl, fake_pythons, cleanup_keep_root=True) == {"FINISHED"}
    after = action_keys(obj.animation_data.action)
    assert {k: v for k, v in after.items() if f'["{root}"]' in k[0]} == before      # same keys and handles
    job_dir = Path(bl.sub("preferences").jobs_dir())
    result = max(job_dir.glob("*/result.npz"), key=lambda p: p.stat().st_mtime)
    assert "keep_root True" in str(np.load(result)["method"])                      # the worker was told
    elbow = fake_result.JOINT_NAMES.index("left_elbow")
    assert any(f'["{fake_result.JOINT_NAMES[elbow]}"]' in k[0] and v != before.get(k) for k, v in after.items())


def test_cleanup_lock_feet_keys_the_contacts(bl, fake_pythons, clean_settings):
    obj = make_rig(bl)
    original = obj.animation_data.action
    keys_before = action_keys(original)
    assert run_cleanup(bl, fake_pythons, cleanup_lock_feet=True) == {"FINISHED"}
    new = obj.animation_data.action
    assert new != original and action_keys(original) == keys_before
    job_dir = Path(bl.sub("preferences").jobs_dir())
    result = max(job_dir.glob("*/result.npz"), key=lambda p: p.stat().st_mtime)
    with np.load(result) as data:
        sent = data["foot_contacts"]
    curves = {fc.data_path: fc for fc in _action_fcurves(new)}
    names = bl.sub("operators_motion").CONTACT_PROPS
    assert names[0] == "scorehmr_contact_left_heel" and names[3] == "scorehmr_contact_right_toe"
    for k, name in enumerate(names):
        fc = curves[f'["{name}"]']
        assert [p.co[0] for p in fc.keyframe_points] == list(range(1, 11))
        assert [p.co[1] for p in fc.keyframe_points] == sent[:, k].tolist()
        assert {p.interpolation for p in fc.keyframe_points} == {"CONSTANT"} and name in obj.keys()
    assert not any(fc.data_path.startswith('["scorehmr_contact') for fc in _action_fcurves(original))
    assert "feet locked (100% contact)" in bl.status().stage, bl.status().stage


def test_clean_action_curves_roll_back(bl):
    """A bad custom property series: the new action and the properties go, the old value comes back."""
    io = bl.sub("action_io")
    obj = make_rig(bl)
    original = obj.animation_data.action
    obj["scorehmr_contact_left_heel"] = 0.5
    sample = io.sample_motion(obj, original, np.arange(1, 11))
    actions = set(bl.bpy.data.actions.keys())
    with pytest.raises(ValueError):
        io.write_clean_action(obj, original, sample, sample.poses, sample.transl,
                              curves={"scorehmr_contact_left_heel": np.ones(10), "scorehmr_contact_left_toe":
                                      np.ones(3)})
    assert obj.animation_data.action == original and set(bl.bpy.data.actions.keys()) == actions
    assert obj["scorehmr_contact_left_heel"] == 0.5 and "scorehmr_contact_left_toe" not in obj.keys()


def test_cleanup_marks_selected_bones_and_completes_nan_keys(bl, fake_pythons, clean_settings):
    obj = make_rig(bl)
    curves = {(fc.data_path, fc.array_index): fc for fc in _action_fcurves(obj.animation_data.action)}
    curves[('pose.bones["head"].rotation_euler', 1)].keyframe_points[1].co[1] = float("nan")
    for name in fake_result.JOINT_NAMES:
        obj.pose.bones[name].select = name == "left_wrist"
    assert run_cleanup(bl, fake_pythons, cleanup_mask_selected=True) == {"FINISHED"}
    assert "NaN keys completed" in bl.status().stage and "1 selected bones" in bl.status().stage
    job_dir = Path(bl.sub("preferences").jobs_dir())
    motion = max(job_dir.glob("*/motion.npz"), key=lambda p: p.stat().st_mtime)
    with np.load(motion) as sent:
        conf = sent["confidence"]
        assert np.isfinite(sent["poses"]).all()
    wrist, head = fake_result.JOINT_NAMES.index("left_wrist"), fake_result.JOINT_NAMES.index("head")
    assert (conf[:, wrist] == 0).all() and conf[:, head].min() == 0.0 and conf[:, 0].min() == 1.0
    new = obj.animation_data.action
    assert all(np.isfinite(k.co[1]) for fc in _action_fcurves(new) if "head" in fc.data_path
               for k in fc.keyframe_points)


@pytest.mark.parametrize("case", ["no_armature", "no_smpl_bones", "no_action", "empty_action", "one_frame",
                                  "linked", "busy"])
def test_cleanup_bad_input_changes_nothing(bl, fake_pythons, clean_settings, case, monkeypatch):
    b = bl.bpy
    if case == "no_smpl_bones":
        names = list(fake_result.JOINT_NAMES)
        names[names.index("left_knee")], names[names.index("head")] = "knee.L", "Head.001"
        make_rig(bl, names=names)
    elif case != "no_armature":
        obj = make_rig(bl)
        if case == "no_action":
            obj.animation_data.action = None
        elif case == "empty_action":
            obj.animation_data.action = b.data.actions.new("Empty")
        elif case == "one_frame":
            b.context.scene.scorehmr.cleanup_use_scene_range = False
            b.context.scene.scorehmr.cleanup_start = b.context.scene.scorehmr.cleanup_end = 5
        elif case == "linked":
            monkeypatch.setattr(bl.sub("operators_motion"), "cleanup_target", _linked(bl))
        elif case == "busy":
            monkeypatch.setattr(bl.sub("bridge"), "_active", type("J", (), {"kind": "capture"})())
    before = scene_snapshot(b)
    assert run_cleanup(bl, fake_pythons) == {"CANCELLED"}
    if case == "busy":  # the button is greyed out, and the check behind it says why
        assert not b.ops.scorehmr.cleanup.poll()
        with pytest.raises(bl.sub("core.panel_errors").ScoreHMRError) as info:
            bl.sub("bridge").check_idle()
        bl.sub("bridge").show_error(info.value)
    st = bl.status()
    expected = {"no_armature": "not an armature", "no_smpl_bones": "left_knee, head", "no_action": "no action",
                "empty_action": "no keys", "one_frame": "fewer than 2", "linked": "linked",
                "busy": "already running"}[case]
    assert expected in st.error and st.hint, (st.error, st.hint)
    assert scene_snapshot(b) == before


def _linked(bl):
    def raise_linked(context):
        raise bl.sub("core.panel_errors").ScoreHMRError(
            "Actor or its action is linked from a library and cannot be changed.", "Make it local", "linked")
    return raise_linked


def test_cleanup_cancel_mid_job_changes_nothing(bl, fake_pythons, clean_settings):
    b = bl.bpy
    bridge, ops = bl.sub("bridge"), bl.sub("operators_motion")
    obj = make_rig(bl, frames=tuple(range(1, 41, 3)))
    b.context.scene.frame_end = 40
    bl.prefs().worker_python = str(fake_pythons("ok", delay=0.05))
    before = scene_snapshot(b)
    op = ops.SCOREHMR_OT_cleanup._begin(type("Op", (), {})(), b.context)
    deadline = time.monotonic() + 10
    while "Cleaning up" not in bl.status().stage and time.monotonic() < deadline:
        assert bridge.pump(op) is None
        time.sleep(0.02)
    assert b.ops.scorehmr.cancel() == {"FINISHED"}
    while (outcome := bridge.pump(op)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcome.code == "cancelled"
    bridge.end_job(op, b.context, bridge.as_error(outcome, op.kind))
    assert bl.status().error == "Clean up cancelled." and not bl.status().running
    assert scene_snapshot(b) == before and obj.animation_data.action.name == "Walk"


def test_cleanup_worker_failure_changes_nothing(bl, fake_pythons, clean_settings):
    make_rig(bl)
    before = scene_snapshot(bl.bpy)
    assert run_cleanup(bl, fake_pythons, mode="crash") == {"CANCELLED"}
    assert bl.status().error_code == "worker_crashed"
    assert scene_snapshot(bl.bpy) == before


def test_import_motion(bl, fake_pythons, tmp_path):
    b = bl.bpy
    src = tmp_path / "dance.npz"
    np.savez(src, poses=np.zeros((6, 156)), trans=np.zeros((6, 3)), mocap_framerate=np.array(24.0))
    bl.prefs().worker_python = str(fake_pythons("ok"))
    assert b.ops.scorehmr.import_motion(filepath=str(src)) == {"FINISHED"}
    obj = b.context.view_layer.objects.active
    assert obj.type == "ARMATURE" and obj.name.startswith("ScoreHMR_dance")
    assert "Imported 6 frames" in bl.status().stage
    assert b.context.scene.render.fps == 24 and (b.context.scene.frame_start, b.context.scene.frame_end) == (1, 6)
    assert len(list(_action_fcurves(obj.animation_data.action))) == 24 * 4 + 3
    assert b.context.scene.scorehmr.match_camera and not [o for o in b.data.objects if o.type == "CAMERA"]


@pytest.mark.parametrize("bad", ["missing", "not_npz"])
def test_import_bad_file_changes_nothing(bl, fake_pythons, tmp_path, bad):
    b = bl.bpy
    path = tmp_path / "clip.npz"
    if bad == "not_npz":
        path.write_text("hello")
    bl.prefs().worker_python = str(fake_pythons("ok"))
    before = scene_snapshot(b)
    assert _call(b.ops.scorehmr.import_motion, filepath=str(path)) == {"CANCELLED"}
    assert bl.status().error and bl.status().hint
    assert scene_snapshot(b) == before


def test_motion_panel_draws(bl):
    from test_blender_addon import _Layout
    b = bl.bpy
    calls = []
    b.types.SCOREHMR_PT_motion.draw(type("P", (), {"layout": _Layout(b, calls)})(), b.context)
    assert ("operator", "scorehmr.cleanup") in calls and ("operator", "scorehmr.import_motion") in calls
    assert ("prop", "cleanup_strength") in calls and ("prop", "cleanup_mask_selected") in calls
    assert ("prop", "cleanup_lock_feet") in calls


def test_cleanup_of_a_rig_with_fingers_keeps_the_finger_keys(bl, fake_pythons, clean_settings, tmp_path):
    """Clean up Motion on a capture with fingers: the body is sent and cleaned, the 30 finger bones keep their keys."""
    b = bl.bpy
    obj = import_fingered(bl, tmp_path, frames=range(0, 10), fps=30.0)
    b.context.view_layer.objects.active = obj
    fingers = {key: keys for key, keys in action_keys(obj.animation_data.action).items() if "_index" in key[0]
               or "_thumb" in key[0] or "_pinky" in key[0]}
    assert len(fingers) >= 3 * 2 * 4
    assert run_cleanup(bl, fake_pythons, cleanup_strength=0.5) == {"FINISHED"}
    cleaned = action_keys(obj.animation_data.action)
    assert obj.animation_data.action.name.endswith("_clean")
    assert all(cleaned[key] == keys for key, keys in fingers.items())

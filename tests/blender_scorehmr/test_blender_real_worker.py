"""The add-on with the real worker (``python -m server`` from the staged add-on), in the same bpy process.

Uses the shared fixtures of tests/conftest.py: ``worker_python`` (the project's .venv), ``sample_video``
(fetched by ``build.py setup``), ``empty_video`` and ``corrupt_video``.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blender_support import _action_fcurves, scene_snapshot
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = pytest.mark.slow   # bpy and the real worker


def test_real_capture_of_the_sample_clip(bl, worker_python, sample_video):
    b = bl.bpy
    obj = bl.capture(worker_python, sample_video)
    motion = bl.sub("core.capture_result")
    result = motion.load_result(Path(bl.last_report()["result_path"]))
    assert len(obj.data.bones) == 54 and len(result.frame_indices) > 100             # with the fingers (the default)
    assert obj.data.bones["left_index1"].parent.name == "left_hand"
    curves = list(_action_fcurves(obj.animation_data.action))
    contact_paths = {f'["{name}"]' for name in motion.CONTACT_PROPS}
    assert result.foot_contacts is not None and result.camera_height is not None   # Place on Ground, Lock Feet
    assert len(curves) == 54 * 4 + 3 + 4 + 2 and contact_paths <= {fc.data_path for fc in curves}   # + fingers seen
    assert all(len(fc.keyframe_points) == len(result.frame_indices) for fc in curves)
    assert b.context.scene.render.fps == round(result.fps)
    assert re.search(r"camera \d+\.\d\d m (above|below) the ground", bl.status().stage), bl.status().stage
    rest_rot, heads = bl.sub("rig").rest_frames(obj, result.joint_names)
    expected = motion.world_joints(result, heads)
    names = list(result.joint_names)
    for i in np.linspace(0, len(result.frame_indices) - 1, 4).round().astype(int):
        b.context.scene.frame_set(int(result.frame_indices[i]) + 1)
        evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
        got = np.array([tuple(evaluated.pose.bones[n].head) for n in names])
        np.testing.assert_allclose(got, expected[i], atol=1e-4)
        # an upright person: head above pelvis above ankles
        z = got[:, 2]
        assert z[names.index("head")] > z[0] > z[names.index("left_ankle")]
    # on the roof (the ground found): a resting foot's lowest joint stands a few cm above the floor z = 0
    touching = np.flatnonzero(result.foot_contacts.any(1))
    feet = motion.world_joints(result, heads)[touching][:, [names.index(n) for n in ("left_foot", "right_foot")], 2]
    assert abs(float(np.median(feet.min(1)))) < 0.08, np.median(feet.min(1))


@pytest.mark.parametrize("video_fixture,code", [("corrupt_video", "video_unreadable"),
                                                ("empty_video", "no_person")])
def test_real_worker_bad_footage(bl, worker_python, request, video_fixture, code):
    before = scene_snapshot(bl.bpy)
    with pytest.raises(RuntimeError):
        bl.capture(worker_python, request.getfixturevalue(video_fixture))
    assert bl.status().error_code == code and bl.status().hint
    assert scene_snapshot(bl.bpy) == before


def test_real_worker_missing_video(bl, worker_python, tmp_path):
    before = scene_snapshot(bl.bpy)
    with pytest.raises(RuntimeError):
        bl.capture(worker_python, tmp_path / "gone.mp4")
    assert bl.status().error_code == "video_missing" and bl.status().hint
    assert scene_snapshot(bl.bpy) == before


def test_real_worker_without_its_packages(bl, sample_video, tmp_path):
    """A bare venv (no numpy, no mediapipe) stands in for a worker environment that was never set up."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    before = scene_snapshot(bl.bpy)
    with pytest.raises(RuntimeError):
        bl.capture(tmp_path / "bare" / "bin" / "python", sample_video)
    assert bl.status().error_code == "missing_package"
    assert "Set up worker" in bl.status().hint
    assert scene_snapshot(bl.bpy) == before


def test_real_worker_cancel_mid_job(bl, worker_python, sample_video):
    b = bl.bpy
    bridge = bl.sub("bridge")
    bl.configure(worker_python, sample_video)
    before = scene_snapshot(b)
    job = bridge.start_capture(b.context)
    deadline = time.monotonic() + 60
    while "Detecting" not in bl.status().stage and time.monotonic() < deadline:
        assert bridge.pump(job) is None
        time.sleep(0.02)
    bridge.request_cancel()
    cancelled_at = time.monotonic()
    while (outcome := bridge.pump(job)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcome.code == "cancelled" and time.monotonic() - cancelled_at < 3
    bridge.end_job(job, b.context, bridge.as_error(outcome))
    assert bl.status().error == "Capture cancelled." and scene_snapshot(b) == before
    # The worker answered the cancel itself (the outcome above); its exit then gets the client's 0.5 s grace, after
    # which the client terminates it (its detector processes die with it): either way nothing is left running.
    assert job.client.returncode in (0, -signal.SIGTERM)


def test_smpl_model_file_that_does_not_exist(bl, worker_python, sample_video, tmp_path):
    """Checked before any worker starts: a clear error, nothing changed."""
    before = scene_snapshot(bl.bpy)
    bl.prefs().smpl_model = str(tmp_path / "basicModel_neutral.pkl")
    try:
        with pytest.raises(RuntimeError):
            bl.capture(worker_python, sample_video)
        assert bl.status().error_code == "bad_body_model" and "SMPL Model File" in bl.status().hint
    finally:
        bl.prefs().smpl_model = ""
    assert scene_snapshot(bl.bpy) == before


def test_smpl_model_file_that_is_not_a_model(bl, worker_python, sample_video, tmp_path):
    """The real worker rejects a file that is not an SMPL model before detecting anything."""
    bogus = tmp_path / "basicModel_neutral.pkl"
    bogus.write_text("definitely not a body model")
    before = scene_snapshot(bl.bpy)
    bl.prefs().smpl_model = str(bogus)
    try:
        started = time.monotonic()
        with pytest.raises(RuntimeError):
            bl.capture(worker_python, sample_video)
        assert time.monotonic() - started < 20, "a bad model must fail before the clip is processed"
        assert bl.status().error_code == "bad_body_model" and bl.status().hint
    finally:
        bl.prefs().smpl_model = ""
    assert scene_snapshot(bl.bpy) == before


def test_real_worker_cleanup_of_an_action(bl, worker_python):
    """One real cleanup (the trained prior, CPU) of a 20-frame action keyed every 3 frames."""
    from test_blender_cleanup import make_rig
    b = bl.bpy
    obj = make_rig(bl, frames=tuple(range(1, 21, 3)))
    b.context.scene.frame_end = 20
    original = obj.animation_data.action
    keys = {(fc.data_path, fc.array_index): [tuple(k.co) for k in fc.keyframe_points]
            for fc in _action_fcurves(original)}
    bl.prefs().worker_python = str(worker_python)
    bl.prefs().hang_timeout = 120.0
    assert b.ops.scorehmr.cleanup() == {"FINISHED"}, bl.status().error
    new = obj.animation_data.action
    assert new.name == "Walk_clean" and original.use_fake_user
    assert keys == {(fc.data_path, fc.array_index): [tuple(k.co) for k in fc.keyframe_points]
                    for fc in _action_fcurves(original)}
    sample = bl.sub("action_io").sample_motion(obj, new, np.arange(1, 21))
    assert np.isfinite(sample.poses).all() and np.isfinite(sample.transl).all()
    assert bl.status().error == "" and "Cleaned 20 frames" in bl.status().stage


def test_real_worker_cleanup_reduces_jitter(bl, worker_python):
    """Keys on every frame that jump at random (jitter, no motion): the real cleanup smooths them (the local
    rotations' second differences shrink at least threefold) and the root translation too."""
    from test_blender_cleanup import make_rig
    b = bl.bpy
    obj = make_rig(bl, frames=tuple(range(1, 31)), seed=3)
    b.context.scene.frame_end = 30
    bl.prefs().worker_python = str(worker_python)
    bl.prefs().hang_timeout = 120.0
    io = bl.sub("action_io")
    before = io.sample_motion(obj, obj.animation_data.action, np.arange(1, 31))
    assert b.ops.scorehmr.cleanup() == {"FINISHED"}, bl.status().error
    after = io.sample_motion(obj, obj.animation_data.action, np.arange(1, 31))

    def jitter(values: np.ndarray) -> float:
        return float(np.linalg.norm(values[:-2] - 2 * values[1:-1] + values[2:], axis=-1).mean())

    assert jitter(after.poses[:, 1:]) < jitter(before.poses[:, 1:]) / 3
    assert jitter(after.transl) < jitter(before.transl) / 3



def _standing_rig(bl, worker_python, step: float):
    """The rest pose held for 30 frames while the root slides ``step`` metres per frame; Lock Feet on."""
    import fake_result
    from test_blender_cleanup import make_rig
    b = bl.bpy
    obj = make_rig(bl, frames=(1,))
    for name in fake_result.JOINT_NAMES:
        pb = obj.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        pb.keyframe_insert("rotation_quaternion", frame=1)
    root = obj.pose.bones[fake_result.JOINT_NAMES[0]]
    for frame in range(1, 31):
        root.location = (step * (frame - 1), 0.0, 0.0)
        root.keyframe_insert("location", frame=frame)
    b.context.scene.frame_end = 30
    bl.prefs().worker_python = str(worker_python)
    bl.prefs().hang_timeout = 120.0
    b.context.scene.scorehmr.cleanup_lock_feet = True
    return obj


def test_real_worker_cleanup_lock_feet(bl, worker_python):
    """A still standing rig drifting 2 mm per frame (foot sliding): with Lock Feet the real worker finds the
    ground and the contacts, and the new action carries the four contact curves."""
    b = bl.bpy
    obj = _standing_rig(bl, worker_python, 0.002)
    original = obj.animation_data.action
    try:
        assert b.ops.scorehmr.cleanup() == {"FINISHED"}, bl.status().error
    finally:
        b.context.scene.scorehmr.cleanup_lock_feet = False
    new = obj.animation_data.action
    assert new != original and "feet locked" in bl.status().stage, bl.status().stage
    curves = {fc.data_path: fc for fc in _action_fcurves(new)}
    values = np.array([[p.co[1] for p in curves[f'["{name}"]'].keyframe_points]
                       for name in bl.sub("operators_motion").CONTACT_PROPS])
    assert values.shape == (4, 30) and set(np.unique(values)) <= {0.0, 1.0} and values.max() == 1.0
    assert not any(fc.data_path.startswith('["scorehmr_contact') for fc in _action_fcurves(original))


def test_real_worker_lock_feet_without_contact(bl, worker_python):
    """Sliding 10 cm per frame, no foot ever rests: a clear error and nothing changed."""
    b = bl.bpy
    _standing_rig(bl, worker_python, 0.1)
    before = scene_snapshot(b)
    try:
        with pytest.raises(RuntimeError):
            b.ops.scorehmr.cleanup()
    finally:
        b.context.scene.scorehmr.cleanup_lock_feet = False
    assert "No ground contact was found" in bl.status().error and bl.status().hint
    assert scene_snapshot(b) == before

"""Match Camera in bpy: the camera's settings, the projection of the posed body through it onto the result's own
pixels, the footage background (a real movie, and the fake footage Blender cannot read), rollback and the option off.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from blender_support import _action_fcurves, scene_snapshot
from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def _cameras(b):
    return [o for o in b.data.objects if o.type == "CAMERA"]


def _result(bl):
    motion = bl.sub("core.capture_result")
    return motion.load_result(Path(bl.last_report()["result_path"]))


def _pixels(b, camera, points_world) -> np.ndarray:
    """Blender's projection (world_to_camera_view: x right, y up, 0..1) as pixels from the top-left."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    scene = b.context.scene
    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = []
    for p in points_world:
        ndc = world_to_camera_view(scene, camera, Vector(tuple(p)))
        out.append((ndc.x * w, (1.0 - ndc.y) * h))
    return np.array(out)


def test_matched_camera_settings(bl, fake_pythons, fake_video, caplog):
    b = bl.bpy
    with caplog.at_level("WARNING"):
        obj = bl.capture(fake_pythons("ok"), fake_video)
    cameras = _cameras(b)
    assert len(cameras) == 1
    camera = cameras[0]
    scene = b.context.scene
    result = _result(bl)
    w, h = (int(v) for v in result.image_size)
    assert scene.camera == camera and camera.name == f"{obj.name}_Camera"
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) == (w, h, 100)
    assert camera.data.sensor_fit == "HORIZONTAL" and camera.data.shift_x == camera.data.shift_y == 0.0
    f_px = camera.data.lens / camera.data.sensor_width * max(w, h)
    assert f_px == pytest.approx(result.camera_intrinsics[0, 0], rel=1e-5)
    # the fake footage is a text file: the camera is there, the background skipped with a warning
    assert len(camera.data.background_images) == 0 and len(b.data.movieclips) == 0
    assert any("cannot read" in r.getMessage() for r in caplog.records)


def _worst_projection_error(bl, obj) -> float:
    """Every joint of the posed armature, seen through the scene camera, against the pixel where the result's own
    camera-frame joints project with K (OpenCV pinhole); the worst error over three frames, pixels. The camera-frame
    joints are computed here without any Blender frame maths: pelvis = transl + J_0, child = parent + G_parent
    (J_child - J_parent)."""
    b = bl.bpy
    camera = b.context.scene.camera
    result = _result(bl)
    motion, cm = bl.sub("core.capture_result"), bl.sub("camera_match")
    glob = motion.global_rotations(result.poses, result.parents)
    worst = 0.0
    for i in (0, 4, len(result.frame_indices) - 1):
        joints = np.empty((len(result.joint_names), 3))
        joints[0] = result.transl[i] + result.joints_rest[0]
        for j in range(1, len(joints)):
            p = result.parents[j]
            joints[j] = joints[p] + glob[i, p] @ (result.joints_rest[j] - result.joints_rest[p])
        expected = cm.project_camera_points(joints, result.camera_intrinsics)
        b.context.scene.frame_set(int(result.frame_indices[i]) + 1)  # whole clip, scene start 1
        evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
        world = [evaluated.matrix_world @ evaluated.pose.bones[n].head for n in result.joint_names]
        got = _pixels(b, camera, world)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def test_posed_body_projects_onto_the_result_pixels(bl, fake_pythons, fake_video):
    obj = bl.capture(fake_pythons("ok"), fake_video)
    worst = _worst_projection_error(bl, obj)
    print(f"worst joint projection error through the matched camera: {worst:.2e} px")
    assert worst < 0.05, worst  # pixels; the bone heads already match the FK to 1e-4 m


def test_placed_capture_stands_on_the_floor_under_a_pitched_camera(bl, fake_pythons, fake_video):
    """A result with the place stage's keys: the camera is camera_height above the floor (z = 0), looking down by
    the found pitch, the overlay still exact, and the foot contacts keyed as constant 0/1 curves."""
    import fake_result
    b = bl.bpy
    obj = bl.capture(fake_pythons("placed"), fake_video)
    camera = b.context.scene.camera
    assert camera.matrix_world.translation.z == pytest.approx(fake_result.PLACED_CAMERA_HEIGHT, abs=1e-5)
    looking = np.array(camera.matrix_world.to_3x3()) @ np.array([0.0, 0.0, -1.0])
    assert np.degrees(np.arcsin(-looking[2])) == pytest.approx(fake_result.PLACED_PITCH_DEG, abs=1e-3)
    worst = _worst_projection_error(bl, obj)
    assert worst < 0.05, worst
    result = _result(bl)
    curves = {fc.data_path: fc for fc in _action_fcurves(obj.animation_data.action)}
    for k, name in enumerate(bl.sub("core.capture_result").CONTACT_PROPS):
        fc = curves[f'["{name}"]']
        assert [p.co[1] for p in fc.keyframe_points] == result.foot_contacts[:, k].astype(float).tolist()
        assert {p.interpolation for p in fc.keyframe_points} == {"CONSTANT"}
    assert "camera 1.50 m above the ground" in bl.status().stage, bl.status().stage


def test_moved_armature_keeps_the_overlay(bl, fake_pythons, fake_video):
    """Re-capturing the same footage onto a rig the animator moved: the footage's camera is reused (one camera per
    footage) and the new take is keyed through it, so the body still overlays the footage."""
    b = bl.bpy
    obj = bl.capture(fake_pythons("ok"), fake_video)
    obj.location = (2.0, -1.0, 0.5)
    obj.rotation_euler = (0.0, 0.0, 0.7)
    b.context.view_layer.objects.active = obj
    b.context.view_layer.update()
    bl.capture(fake_pythons("ok"), fake_video)
    camera = b.context.scene.camera
    assert camera.name == f"{obj.name}_Camera" and len(_cameras(b)) == 1
    result = _result(bl)
    b.context.scene.frame_set(int(result.frame_indices[0]) + 1)
    evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
    got = _pixels(b, camera, [evaluated.matrix_world @ evaluated.pose.bones["pelvis"].head])
    expected = bl.sub("camera_match").project_camera_points(result.transl[0] + result.joints_rest[0],
                                                           result.camera_intrinsics)
    np.testing.assert_allclose(got[0], expected, atol=0.05)


def test_match_camera_off_makes_none(bl, fake_pythons, fake_video):
    b = bl.bpy
    b.context.scene.scorehmr.match_camera = False
    bl.capture(fake_pythons("ok"), fake_video)
    assert _cameras(b) == [] and b.context.scene.camera is None
    assert b.context.scene.render.resolution_x == 1920


def test_failure_after_the_camera_rolls_it_back(bl, fake_pythons, fake_video, monkeypatch):
    b = bl.bpy
    before = scene_snapshot(b)
    made = []
    cm = bl.sub("camera_match")
    original = cm.create_footage_camera

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs).name)
        return b.data.objects[made[-1]]

    monkeypatch.setattr(cm, "create_footage_camera", spy)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while keying")

    monkeypatch.setattr(bl.sub("keyframes"), "write_pose_keys", broken)
    with pytest.raises(RuntimeError, match="simulated failure"):
        bl.capture(fake_pythons("ok"), fake_video)
    assert made and made[0] not in b.data.objects  # the camera was made, then removed
    assert scene_snapshot(b) == before and b.context.scene.camera is None


def _write_movie(path: Path, frames: int = 6, size=(160, 120)) -> Path:
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, dtype=np.uint8))
    writer.release()
    return path


def test_real_footage_becomes_the_background(bl, tmp_path):
    """A movie Blender can read: a MOVIE_CLIP background, video frame ``start`` on scene frame ``scene_start``;
    a portrait clip fits the sensor vertically."""
    pytest.importorskip("cv2")
    b = bl.bpy
    cm = bl.sub("camera_match")
    movie = _write_movie(tmp_path / "clip.mp4", size=(120, 160))
    result = {"image_size": np.array([120, 160]),
              "camera_intrinsics": np.array([[150.0, 0, 60], [0, 150.0, 80], [0, 0, 1]])}
    created = []
    camera = cm.create_footage_camera(b.context, result, np.array([0.0, 3.0, -1.0]), str(movie), "Footage",
                                      video_start=2, scene_start=10, created=created)
    background = camera.data.background_images[0]
    assert camera.data.show_background_images and background.source == "MOVIE_CLIP"
    assert Path(background.clip.filepath).name == "clip.mp4" and background.alpha == pytest.approx(0.8)
    assert background.clip.frame_start == 8 and background.clip in created and camera in created
    assert camera.data.sensor_fit == "VERTICAL"
    assert camera.data.lens / camera.data.sensor_height * 160 == pytest.approx(150.0)
    np.testing.assert_allclose(np.array(camera.matrix_world.translation), [0.0, -3.0, 1.0], atol=1e-6)
    # a second camera for the same footage reuses the clip and never renames the first camera
    again = cm.create_footage_camera(b.context, result, np.zeros(3), str(movie), "Footage")
    assert again.name == "Footage.001" and camera.name == "Footage" and len(b.data.movieclips) == 1


def test_turning_camera_is_keyed_and_the_footage_still_lines_up(bl, fake_pythons, fake_video):
    """A result whose camera panned (camera_rotation; the root in the first frame's camera frame): the matched camera
    is keyed turning with the footage's camera, and on every frame the posed body, seen through it, lands on the
    pixels where the camera of that frame saw it (``K R_t p``)."""
    import fake_result
    b = bl.bpy
    obj = bl.capture(fake_pythons("turning"), fake_video)
    camera = b.context.scene.camera
    result = _result(bl)
    assert result.camera_rotation is not None and camera.rotation_mode == "QUATERNION"
    curves = {(fc.data_path, fc.array_index) for fc in _action_fcurves(camera.animation_data.action)}
    assert curves == {("rotation_quaternion", k) for k in range(4)}
    cm = bl.sub("camera_match")
    headings = []
    for i in (0, len(result.frame_indices) // 2, len(result.frame_indices) - 1):
        b.context.scene.frame_set(int(result.frame_indices[i]) + 1)
        evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
        got = _pixels(b, camera, [evaluated.matrix_world @ evaluated.pose.bones["pelvis"].head])
        pelvis = result.camera_rotation[i] @ (result.transl[i] + result.joints_rest[0])
        np.testing.assert_allclose(got[0], cm.project_camera_points(pelvis, result.camera_intrinsics), atol=0.05)
        headings.append(np.array(camera.matrix_world.to_3x3()) @ np.array([0.0, 0.0, -1.0]))
    turned = np.degrees(np.arccos(np.clip(headings[0] @ headings[-1], -1.0, 1.0)))
    assert turned == pytest.approx(np.degrees(np.arccos(np.trace(result.camera_rotation[-1]) / 2 - 0.5)), abs=0.05)
    assert turned > 0.5 * fake_result.TURNING_PAN_DEG


def test_a_turning_capture_does_not_reuse_a_still_camera(bl, fake_pythons, fake_video):
    """A still capture of the footage, then one that followed the camera's turn: two cameras (the turning one keyed,
    the still one left as it was); a second turning capture reuses the turning camera, keyed through its first
    frame."""
    b = bl.bpy
    bl.capture(fake_pythons("ok"), fake_video)
    still = b.context.scene.camera
    still_matrix = np.array(still.matrix_world)
    obj = bl.capture(fake_pythons("turning"), fake_video)
    turning = b.context.scene.camera
    assert turning != still and len(_cameras(b)) == 2 and still.animation_data is None
    np.testing.assert_allclose(np.array(still.matrix_world), still_matrix)
    b.context.view_layer.objects.active = obj
    b.context.scene.frame_set(40)   # the reused camera is turned here: the new take keys through its first frame
    bl.capture(fake_pythons("turning"), fake_video)
    assert b.context.scene.camera == turning and len(_cameras(b)) == 2
    result = _result(bl)
    i = len(result.frame_indices) - 1
    b.context.scene.frame_set(int(result.frame_indices[i]) + 1)
    evaluated = obj.evaluated_get(b.context.evaluated_depsgraph_get())
    got = _pixels(b, turning, [evaluated.matrix_world @ evaluated.pose.bones["pelvis"].head])
    pelvis = result.camera_rotation[i] @ (result.transl[i] + result.joints_rest[0])
    np.testing.assert_allclose(got[0], bl.sub("camera_match").project_camera_points(pelvis, result.camera_intrinsics),
                               atol=0.05)

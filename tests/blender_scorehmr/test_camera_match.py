"""Camera match maths without bpy: the shared camera of captures of one footage (tags, and keying a new capture
through an existing camera so its body keeps its pose relative to the camera)."""
from __future__ import annotations

from importlib import import_module

import numpy as np
import pytest


@pytest.fixture(scope="module")
def cm(addon):
    return import_module(f"{addon.__name__}.camera_match")


def _rotation(axis, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _rigid(rotation, translation) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, translation
    return out


def _placed_rotation(pitch_deg: float) -> np.ndarray:
    """Camera -> Z-up world of a camera pitched ``pitch_deg`` down (the place stage's ``world_rotation``)."""
    level = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    return _rotation([1, 0, 0], -np.radians(pitch_deg)) @ level


def test_a_matched_camera_maps_its_opencv_frame_onto_the_capture_world(cm):
    """The camera made for a capture sees camera-frame point p at the capture's world position R p - offset."""
    rotation, offset = _placed_rotation(12.0), np.array([0.3, 4.1, -1.5])
    spec = cm.footage_camera((640, 480), np.array([[640, 0, 320], [0, 640, 240], [0, 0, 1.0]]), offset, rotation)
    world_from_cam = cm.opencv_world_from_camera(spec.matrix_world())
    p = np.array([0.4, -0.2, 5.0])
    np.testing.assert_allclose((world_from_cam @ np.r_[p, 1.0])[:3], rotation @ p - offset, atol=1e-12)


def test_keying_through_the_existing_camera_is_the_composed_correction(cm):
    """``camera_to_armature`` = world_existing_from_camera @ inverse(world_new_from_camera) applied to the new
    capture's own world path (both captures level or pitched differently, different re-centring), in the space of
    a moved armature; its rotation is a proper rotation."""
    k = np.array([[640, 0, 320], [0, 640, 240], [0, 0, 1.0]])
    existing = cm.footage_camera((640, 480), k, np.array([0.1, 3.9, -1.5]), _placed_rotation(12.0)).matrix_world()
    new_rotation, new_offset = _placed_rotation(9.0), np.array([-1.2, 5.0, -1.45])
    world_new = _rigid(new_rotation, -new_offset)                      # p_cam -> the new capture's own world
    armature = _rigid(_rotation([0, 0, 1], 0.7), [2.0, -1.0, 0.5])
    rotation, translation = cm.camera_to_armature(existing, armature)
    path_cam = np.array([[0.3, 0.05, 4.0], [0.5, 0.1, 4.4], [-0.2, 0.0, 6.0]])
    new_world = (world_new @ np.c_[path_cam, np.ones(3)].T).T            # where the new capture alone puts it
    correction = cm.opencv_world_from_camera(existing) @ np.linalg.inv(world_new)
    expected_world = (correction @ new_world.T).T[:, :3]
    got_arm = cm.pelvis_through_camera(path_cam, np.zeros(3), rotation, translation)
    got_world = (armature @ np.c_[got_arm, np.ones(3)].T).T[:, :3]
    np.testing.assert_allclose(got_world, expected_world, atol=1e-9)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_pelvis_through_camera_adds_the_rest_pelvis(cm):
    transl, pelvis = np.array([[0.0, 0.0, 4.0]]), np.array([0.0, -0.22, 0.02])
    got = cm.pelvis_through_camera(transl, pelvis, np.eye(3), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got, [[1.0, 1.78, 7.02]])


def test_tags_match_one_footage_one_timing_one_lens(cm, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    (tmp_path / "sub").mkdir()
    wanted = cm.camera_tag(str(clip), 1, (640, 480), 640.0)
    assert cm.tags_match(cm.camera_tag(str(tmp_path / "sub" / ".." / "clip.mp4"), 1, np.array([640, 480]),
                                       640.0 * (1 + 1e-5)), wanted)
    for other in (cm.camera_tag(str(tmp_path / "other.mp4"), 1, (640, 480), 640.0),
                  cm.camera_tag(str(clip), -19, (640, 480), 640.0),       # another frame range mapping
                  cm.camera_tag(str(clip), 1, (480, 640), 640.0),
                  cm.camera_tag(str(clip), 1, (640, 480), 700.0)):
        assert not cm.tags_match(other, wanted)
    assert not cm.tags_match({}, wanted) and not cm.tags_match({"footage": 3, "size": "x"}, wanted)

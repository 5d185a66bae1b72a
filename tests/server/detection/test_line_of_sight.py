"""BlazePose's world landmarks turned from the line of sight onto the camera's axes."""
from __future__ import annotations

import numpy as np

from server.detection.line_of_sight import HIPS, ray_rotations, world_in_camera_axes


def test_the_ray_rotation_takes_the_forward_axis_onto_the_ray() -> None:
    pixels = np.array([[960.0, 540.0], [1500.0, 200.0], [0.0, 1080.0]])
    focal, centre = np.full(3, 1000.0), np.tile([960.0, 540.0], (3, 1))
    turns = ray_rotations(pixels, focal, centre)
    rays = np.c_[(pixels - centre) / 1000.0, np.ones(3)]
    np.testing.assert_allclose(turns @ [0.0, 0.0, 1.0], rays / np.linalg.norm(rays, axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(turns[0], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(turns @ np.transpose(turns, (0, 2, 1)), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-12)


def test_a_person_off_centre_is_turned_by_the_angle_of_its_ray() -> None:
    # the hips 30 degrees right of the centre: a body facing the camera's forward axis as the detector reports it
    # (facing along its line of sight) turns by 30 degrees about the camera's y axis
    world = np.zeros((1, 33, 4), np.float32)
    world[0, :, :3] = np.random.default_rng(0).normal(0.0, 0.3, (33, 3))
    world[0, :, 3] = 0.9
    keypoints = np.zeros((1, 33, 3), np.float32)
    keypoints[0, list(HIPS), 0] = 960.0 + 1000.0 * np.tan(np.radians(30.0))
    keypoints[0, list(HIPS), 1] = 540.0
    out = world_in_camera_axes(world, keypoints, np.array([1000.0]), np.array([[960.0, 540.0]]))
    angle = np.radians(30.0)
    about_y = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    np.testing.assert_allclose(out[0, :, :3], world[0, :, :3] @ about_y.T, atol=1e-5)
    assert out.dtype == np.float32 and np.array_equal(out[..., 3], world[..., 3])
    assert not np.shares_memory(out, world)

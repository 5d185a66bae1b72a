"""World placement: the depth smoother, the noise estimate, the camera-to-world rotation and the placement of a
synthetic walk seen by a pitched camera whose depth jitters."""
from __future__ import annotations

import numpy as np
import pytest

from server.world.feet import foot_sliding
from server.world.place import CAMERA_CONTACT_SPEED, _banded_solve, camera_to_world, depth_noise, place, whittaker
from tests.server.world.test_feet import FPS, _walk


def _second_differences(n: int) -> np.ndarray:
    return np.diff(np.eye(n), 2, axis=0)


def test_whittaker_solves_its_normal_equations() -> None:
    rng = np.random.default_rng(0)
    values, weights = rng.normal(size=80), rng.uniform(0.1, 2.0, 80)
    d2 = _second_differences(80)
    want = np.linalg.solve(np.diag(weights) + 7.0 * d2.T @ d2, weights * values)
    np.testing.assert_allclose(whittaker(values, weights, 7.0), want, atol=1e-10)
    np.testing.assert_allclose(_banded_solve(weights, 7.0, weights * values), want, atol=1e-10)  # long clips
    line = np.linspace(0.0, 3.0, 80)
    np.testing.assert_allclose(whittaker(line, np.ones(80), 1e6), line, atol=1e-8)   # a straight path stays


def test_depth_noise_is_measured_from_third_differences() -> None:
    rng = np.random.default_rng(1)
    path = 5.0 + 0.5 * np.sin(np.arange(300) / 30.0)
    assert depth_noise(path) < 0.006
    assert depth_noise(path + rng.normal(0.0, 0.05, 300)) == pytest.approx(0.05, rel=0.2)


def test_camera_to_world_levels_the_ground() -> None:
    level = camera_to_world(np.array([0.0, -1.0, 0.0]))
    np.testing.assert_allclose(level, [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-12)   # Blender's (x, z, -y)
    tilt = np.radians(15.0)
    normal = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])          # a camera looking 15 degrees down
    r = camera_to_world(normal)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ normal, [0.0, 0.0, 1.0], atol=1e-12)
    assert (r @ np.array([0.0, 0.0, 1.0]))[1] > 0.9                 # looks along world +y


def _seen_by_camera(world: np.ndarray, height: float, pitch_deg: float, distance: float) -> np.ndarray:
    """World joints (y up) -> the frame of a camera at ``height`` looking down by ``pitch_deg`` along +z from
    ``distance`` behind the origin (OpenCV axes: x right, y down, z forward)."""
    t = np.radians(pitch_deg)
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    flip = np.diag([1.0, -1.0, 1.0])
    return (world - np.array([0.0, height, -distance])) @ (pitch @ flip).T


def _walk_in_depth(frames: int = 240) -> np.ndarray:
    """The test walk turned to go away from the camera (x <-> z), so the feet cover the depth."""
    walk = _walk(np.array([0.0, 1.0, 0.0]), 0.0, frames=frames, stride=0.02)
    return walk[..., [2, 1, 0]]


def test_a_pitched_camera_is_placed_and_the_depth_steadied() -> None:
    rng = np.random.default_rng(2)
    truth = _seen_by_camera(_walk_in_depth(), height=1.4, pitch_deg=10.0, distance=5.0)
    jitter = rng.normal(0.0, 0.04, len(truth))                       # 4% of the depth, along the pelvis ray
    noisy = truth + (truth[:, 0] * jitter[:, None])[:, None]
    placement = place(noisy, FPS, lambda joints, fps: joints)
    assert placement.camera_height == pytest.approx(1.4, abs=0.05)
    assert placement.camera_pitch_deg == pytest.approx(10.0, abs=1.5)
    placed = noisy + placement.shift[:, None]
    before = np.abs(noisy[:, 0, 2] - truth[:, 0, 2]).mean()
    after = np.abs(placed[:, 0, 2] - truth[:, 0, 2]).mean()
    assert after < 0.4 * before, (before, after)
    np.testing.assert_allclose(np.cross(placed[:, 0], noisy[:, 0]), 0.0, atol=1e-9)   # the pelvis keeps its pixel
    assert placement.contacts.mean() > 0.3
    assert foot_sliding(placed, placement.contacts, placement.ground) < foot_sliding(noisy, placement.contacts,
                                                                                      placement.ground)


def test_no_resting_foot_means_no_ground() -> None:
    walk = _walk_in_depth(60)
    walk[:, :, 0] += np.arange(60)[:, None] * 3.0 * CAMERA_CONTACT_SPEED / FPS   # everything runs sideways
    with pytest.raises(ValueError):
        place(_seen_by_camera(walk, 1.4, 10.0, 5.0), FPS, lambda joints, fps: joints)


def test_the_body_up_is_read_on_both_feet_not_on_a_leaning_trunk() -> None:
    """BlazePose-layout points: legs vertical while both feet are down, the trunk leaning 30 degrees forward and
    one leg kicked up on half the frames -> support_up finds the vertical; the neck -> ankles median does not."""
    from server.world.place import BLAZEPOSE_LAYOUT, body_up, support_up
    rng = np.random.default_rng(3)
    n = 60
    points = np.zeros((n, 33, 3))
    up = np.array([0.0, -np.cos(0.4), -np.sin(0.4)])             # a camera pitched 23 degrees down
    fwd = np.cross(up, [1.0, 0.0, 0.0])
    hips = 0.9 * up
    points[:, [23, 24]] = hips + np.array([[0.1, 0, 0], [-0.1, 0, 0]])
    points[:, [27, 29, 31]] = [0.1, 0, 0]
    points[:, [28, 30, 32]] = [-0.1, 0, 0]
    lean = np.cos(np.radians(30)) * up + np.sin(np.radians(30)) * fwd
    points[:, [11, 12]] = hips + 0.5 * lean
    kick = np.arange(n) % 2 == 1                                   # the right foot up in front on odd frames
    points[np.ix_(kick, [28, 30, 32])] = np.array([-0.1, 0, 0]) + 0.4 * up + 0.4 * fwd
    points += rng.normal(0, 0.005, points.shape)
    found = support_up(points, BLAZEPOSE_LAYOUT)
    assert np.degrees(np.arccos(found @ up)) < 2.0
    neck_ankles = points[:, [11, 12]].mean(1) - points[:, [27, 28]].mean(1)
    naive = np.median(neck_ankles / np.linalg.norm(neck_ankles, axis=-1, keepdims=True), 0)
    assert np.degrees(np.arccos(naive @ up / np.linalg.norm(naive))) > 4.0
    level = np.array([0.0, -1.0, 0.0])
    np.testing.assert_allclose(body_up(np.zeros((n, 24, 3)), level, landmarks=points), found)
    lying = points[..., [0, 2, 1]] * [1, 1, -1]                       # the body turned onto its side
    np.testing.assert_allclose(body_up(np.zeros((n, 24, 3)), level, landmarks=lying), level)

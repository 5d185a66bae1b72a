"""Cleanup maths of the add-on (numpy only, no bpy): rotation modes, SMPL <-> pose basis, root location."""
from __future__ import annotations

from importlib import import_module

import numpy as np
import pytest

import fake_result


@pytest.fixture(scope="module")
def am(addon):
    return import_module(f"{addon.__name__}.core.action_math")


@pytest.fixture(scope="module")
def capture_result(addon):
    return import_module(f"{addon.__name__}.core.capture_result")


def _random_rotmats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


@pytest.mark.parametrize("mode", ["QUATERNION", "AXIS_ANGLE", "XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_rotation_modes_round_trip(am, mode):
    m = _random_rotmats(50)
    values = am.rotmat_to_values(m, mode)
    assert values.shape == (50, am.channel_count(mode))
    np.testing.assert_allclose(am.values_to_rotmat(values, mode), m, atol=1e-9)


def test_euler_matches_blender_convention(am):
    """Order "XYZ" applies X first: Rz @ Ry @ Rx; "ZYX" applies Z first: Rx @ Ry @ Rz."""
    rx, ry, rz = (am.euler_to_rotmat_blender(np.eye(3)[k] * a, "XYZ") for k, a in enumerate((0.3, -0.7, 1.1)))
    angles = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(am.euler_to_rotmat_blender(angles, "XYZ"), rz @ ry @ rx, atol=1e-12)
    np.testing.assert_allclose(am.euler_to_rotmat_blender(angles, "ZYX"), rx @ ry @ rz, atol=1e-12)


def test_euler_continuity_and_gimbal_lock(am):
    t = np.linspace(0, 4 * np.pi, 200)
    angles = np.stack([t, 0.3 * np.sin(t), np.zeros_like(t)], -1)   # X winds twice round
    m = am.euler_to_rotmat_blender(angles, "ZYX")
    out = am.rotmat_to_euler_blender(m, "ZYX")
    assert np.abs(np.diff(out, axis=0)).max() < 0.2
    np.testing.assert_allclose(am.euler_to_rotmat_blender(out, "ZYX"), m, atol=1e-9)
    locked = am.euler_to_rotmat_blender(np.array([[0.4, np.pi / 2, 0.2]]), "XYZ")
    np.testing.assert_allclose(am.euler_to_rotmat_blender(am.rotmat_to_euler_blender(locked, "XYZ"), "XYZ"),
                               locked, atol=1e-6)


def test_axis_angle_continuity(am):
    t = np.linspace(0, 2 * np.pi - 0.1, 100)
    m = am.axis_angle_to_rotmat(np.stack([t, np.zeros_like(t), np.ones_like(t), np.zeros_like(t)], -1))
    values = am.rotmat_to_axis_angle(m)
    np.testing.assert_allclose(values[:, 0], t, atol=1e-6)
    np.testing.assert_allclose(am.axis_angle_to_rotmat(np.array([0.0, 0.0, 0.0, 0.0])), np.eye(3))


def test_smpl_basis_round_trip_and_agrees_with_capture(am, capture_result):
    result = fake_result.make_result(list(range(6)))
    rest_rot = _random_rotmats(24, seed=3)
    basis = am.basis_from_smpl(result["poses"], rest_rot)
    quats = capture_result.pose_basis_quaternions(result["poses"].astype(np.float64), rest_rot)
    np.testing.assert_allclose(am.values_to_rotmat(quats, "QUATERNION"), basis, atol=1e-6)
    back = am.smpl_from_basis(basis, rest_rot)
    rot = import_module(am.__name__.rsplit(".", 1)[0] + ".blender_frames")
    np.testing.assert_allclose(rot.rotvec_to_rotmat(back), rot.rotvec_to_rotmat(result["poses"]), atol=1e-6)


def test_root_location_round_trip(am):
    rng = np.random.default_rng(0)
    transl = rng.normal(size=(10, 3))
    head0, rest0, j0 = rng.normal(size=3), _random_rotmats(1)[0], rng.normal(size=3)
    loc = am.location_from_transl(transl, head0, rest0, j0)
    np.testing.assert_allclose(am.transl_from_location(loc, head0, rest0, j0), transl, atol=1e-12)
    # the pelvis lands at D (transl + J0) in world
    np.testing.assert_allclose(head0 + loc @ rest0.T, (transl + j0) @ am.CAMERA_TO_WORLD.T, atol=1e-12)

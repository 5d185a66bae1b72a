"""Rotation helpers: round trips (incl. angles at 0 and pi), minimal swings, frames, FK."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.layout import SMPL_PARENTS
from server.body.rotations import (angle_between_vectors, forward_kinematics, frame_from_two_vectors,
                                   quat_wxyz_to_rotmat, quat_wxyz_to_rotvec, rotation_between_vectors,
                                   rotmat_from_axes, rotmat_to_quat_wxyz, rotmat_to_rotvec, rotvec_to_quat_wxyz,
                                   rotvec_to_rotmat, scale_rotmat)


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _is_rotation(r: np.ndarray) -> bool:
    eye = np.broadcast_to(np.eye(3), r.shape)
    return np.allclose(np.swapaxes(r, -1, -2) @ r, eye, atol=1e-9) and np.allclose(np.linalg.det(r), 1.0)


@pytest.mark.parametrize("angles", [
    np.array([0.0, 1e-12, 1e-8, 1e-5, 1e-3]),
    np.array([0.3, 1.0, 2.0, 3.0]),
    np.pi - np.array([0.0, 1e-12, 1e-8, 1e-5, 1e-3]),
])
def test_rotvec_rotmat_round_trip(angles: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    rv = _random_axes(rng, len(angles)) * angles[:, None]
    r = rotvec_to_rotmat(rv)
    assert _is_rotation(r)
    back = rotmat_to_rotvec(r)
    near_pi = angles > np.pi - 1e-3
    # At pi, axis and -axis are the same rotation; compare matrices there, vectors elsewhere.
    assert np.allclose(back[~near_pi], rv[~near_pi], atol=1e-7)
    assert np.allclose(rotvec_to_rotmat(back), r, atol=1e-7)
    assert np.all(np.linalg.norm(back, axis=-1) <= np.pi + 1e-9)


def test_rotmat_to_rotvec_exact_pi_and_identity() -> None:
    r = np.stack([np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])])
    rv = rotmat_to_rotvec(r)
    assert np.allclose(rv[0], 0.0)
    assert np.allclose(np.abs(rv[1:]), np.pi * np.eye(3))


def test_quaternion_round_trip_and_continuity() -> None:
    rng = np.random.default_rng(1)
    rv = _random_axes(rng, 200) * rng.uniform(0, np.pi, (200, 1))
    q = rotvec_to_quat_wxyz(rv)
    assert np.allclose(np.linalg.norm(q, axis=-1), 1.0)
    assert np.allclose(quat_wxyz_to_rotmat(q), rotvec_to_rotmat(rv), atol=1e-9)
    assert np.allclose(rotmat_to_quat_wxyz(quat_wxyz_to_rotmat(q)), q * np.sign(q[:, :1]), atol=1e-9)
    assert np.allclose(quat_wxyz_to_rotvec(-q), rv, atol=1e-7)
    # A rotation about z sweeping through pi: the continuous quaternions never jump.
    sweep = np.zeros((50, 1, 3))
    sweep[:, 0, 2] = np.linspace(2.5, 3.8, 50)
    sweep[:, 0] = rotmat_to_rotvec(rotvec_to_rotmat(sweep[:, 0]))
    qs = rotvec_to_quat_wxyz(sweep, continuous_axis=0)
    assert np.all(np.sum(qs[1:] * qs[:-1], axis=-1) > 0.99)


def test_rotation_between_vectors_is_minimal_swing() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    r = rotation_between_vectors(a, b)
    assert _is_rotation(r)
    ra = np.einsum("nij,nj->ni", r, a)
    assert np.allclose(np.cross(ra, b), 0.0, atol=1e-9) and np.all(np.sum(ra * b, -1) > 0)
    assert np.allclose(np.linalg.norm(rotmat_to_rotvec(r), axis=-1), angle_between_vectors(a, b), atol=1e-7)


def test_rotation_between_degenerate_vectors_is_finite() -> None:
    a = np.array([[1.0, 0, 0], [0, 0, 0], [0, 2.0, 0], [1e-20, 0, 0]])
    b = np.array([[-3.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 1.0, 0]])
    r = rotation_between_vectors(a, b)
    assert np.all(np.isfinite(r)) and _is_rotation(r)
    assert np.allclose(r[0] @ [1.0, 0, 0], [-1.0, 0, 0])
    assert np.allclose(r[1], np.eye(3)) and np.allclose(r[2], np.eye(3))


def test_frames_are_rotations_even_when_degenerate() -> None:
    rng = np.random.default_rng(3)
    p, s = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    f = frame_from_two_vectors(p, s)
    assert _is_rotation(f)
    assert np.allclose(f[:, :, 0], p / np.linalg.norm(p, axis=-1, keepdims=True))
    bad = frame_from_two_vectors(np.array([[0.0, 0, 0], [1, 0, 0], [1, 0, 0]]),
                                 np.array([[0.0, 1, 0], [2, 0, 0], [0, 0, 0]]))
    assert np.all(np.isfinite(bad)) and _is_rotation(bad)
    r = rotmat_from_axes(p, s, primary_axis=1, secondary_axis=0)
    assert _is_rotation(r) and np.allclose(r[:, :, 1], f[:, :, 0])
    with pytest.raises(ValueError):
        rotmat_from_axes(p, s, 2, 2)


def test_scale_rotmat_splits_a_rotation() -> None:
    rng = np.random.default_rng(4)
    r = rotvec_to_rotmat(_random_axes(rng, 20) * rng.uniform(0, 3.0, (20, 1)))
    third = scale_rotmat(r, np.full(20, 1.0 / 3.0))
    assert np.allclose(third @ third @ third, r, atol=1e-9)
    assert np.allclose(scale_rotmat(r, np.zeros(20)), np.eye(3))


def test_forward_kinematics_matches_a_hand_built_chain() -> None:
    rest = np.random.default_rng(5).normal(size=(24, 3))
    poses = np.zeros((1, 24, 3))
    poses[0, 0] = [0.0, 0.0, np.pi / 2]      # pelvis: +x -> +y
    poses[0, 1] = [np.pi / 2, 0.0, 0.0]      # left hip about its local x
    joints, glob = forward_kinematics(poses, rest, SMPL_PARENTS)
    r0, r1 = rotvec_to_rotmat(poses[0, 0]), rotvec_to_rotmat(poses[0, 1])
    assert np.allclose(joints[0, 0], rest[0])
    assert np.allclose(joints[0, 1], rest[0] + r0 @ (rest[1] - rest[0]))
    assert np.allclose(joints[0, 4], joints[0, 1] + r0 @ r1 @ (rest[4] - rest[1]))
    assert np.allclose(glob[0, 4], r0 @ r1)

"""Ground plane, contacts and the foot figures on hand-made joints."""
from __future__ import annotations

import numpy as np
import pytest

from server.world.feet import FOOT_JOINTS, Ground, _clean_runs, fit_ground, foot_contacts, foot_sliding, ground_penetration
from server.world.lock import WORLD_UP

FPS = 30.0


def _walk(normal: np.ndarray, offset: float, frames: int = 90, stride: float = 0.02, lift: bool = True) -> np.ndarray:
    """(frames, 24, 3) joints: a body whose foot points step along x on the plane n . p + d = 0 (y up), each foot
    resting for 15 frames then swinging 0.2 m above the plane for 15, the two feet out of phase."""
    joints = np.zeros((frames, 24, 3))
    joints[:, :, 1] = 1.0                                                   # everything else 1 m up
    joints[:, 12, 1] = 1.5                                                  # neck above the pelvis
    for k, j in enumerate(FOOT_JOINTS):
        phase = (np.arange(frames) // 15 + (k % 2)) % 2                    # left / right out of phase
        x = np.cumsum(np.where(phase == 1, 2 * stride, 0.0))                # moves only while swinging
        z = 0.2 * (k % 2) + 0.1 * (k >= 2)
        y = np.where((phase == 1) & lift, 0.2, 0.0)
        p = np.stack([x, np.zeros(frames), np.full(frames, z)], -1)
        p = p - ((p @ normal + offset)[:, None]) * normal                   # onto the plane
        joints[:, j] = p + y[:, None] * normal
    return joints


def test_ground_follows_the_up_direction_and_finds_its_height() -> None:
    joints = _walk(np.array([0.0, 1.0, 0.0]), 0.3)
    ground = fit_ground(joints, FPS, WORLD_UP)
    np.testing.assert_allclose(ground.normal, [0.0, 1.0, 0.0], atol=1e-6)
    assert abs(ground.offset - 0.3) < 0.01


def test_a_sloped_floor_is_fitted_when_the_feet_cover_it() -> None:
    tilt = np.radians(10.0)
    normal = np.array([-np.sin(tilt), np.cos(tilt), 0.0])
    joints = _walk(normal, 0.0, frames=300, stride=0.03)
    ground = fit_ground(joints, FPS, WORLD_UP)
    assert np.degrees(np.arccos(ground.normal @ normal)) < 1.0


def test_contacts_are_the_resting_phases() -> None:
    joints = _walk(np.array([0.0, 1.0, 0.0]), 0.0)
    ground = fit_ground(joints, FPS, WORLD_UP)
    contacts = foot_contacts(joints, ground, FPS)
    truth = np.stack([(np.arange(90) // 15 + (k % 2)) % 2 == 0 for k in range(4)], -1)
    assert (contacts == truth).mean() > 0.9


def test_short_blips_and_gaps_are_cleaned() -> None:
    raw = np.array([1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1], bool)
    want = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], bool)
    np.testing.assert_array_equal(_clean_runs(raw, 3), want)               # a 1-frame gap closed, a 1-frame blip gone


def test_sliding_and_penetration_figures() -> None:
    ground = Ground(np.array([0.0, 1.0, 0.0]), 0.0, np.ones(10, bool))
    joints = np.zeros((10, 24, 3))
    joints[:, FOOT_JOINTS[0], 0] = np.arange(10) * 0.01                       # 1 cm per frame
    joints[:, FOOT_JOINTS[1], 1] = -0.02                                       # 2 cm under the floor
    contacts = np.zeros((10, 4), bool)
    contacts[:, 0] = True
    assert foot_sliding(joints, contacts, ground) == pytest.approx(1.0)
    depth, share = ground_penetration(joints, ground)
    assert depth == pytest.approx(2.0) and share == pytest.approx(0.25)

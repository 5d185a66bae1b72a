"""Finger joint angles from 21 hand landmarks."""
from __future__ import annotations

import numpy as np

from server.hands.angles import FINGER_CHAINS, joint_angles


def _flat_hand() -> np.ndarray:
    """(21, 3) a flat hand: every finger a straight line out of the wrist."""
    points = np.zeros((21, 3))
    for spread, chain in zip((-0.2, 0.0, 0.4, 0.2, -0.6), FINGER_CHAINS):
        direction = np.array([np.sin(spread), np.cos(spread), 0.0])
        for k, landmark in enumerate(chain[1:], start=1):
            points[landmark] = 0.03 * k * direction
    return points


def test_a_straight_hand_has_no_bend_and_a_fist_knuckle_bends_ninety():
    hand = _flat_hand()
    assert np.allclose(joint_angles(hand), 0.0, atol=1e-6)
    bent = hand.copy()
    index = FINGER_CHAINS[0]                     # index: bend 90 degrees at its middle joint (PIP)
    bone = hand[index[3]] - hand[index[2]]
    bent[index[3]] = hand[index[2]] + np.linalg.norm(bone) * np.array([0.0, 0.0, 1.0])
    bent[index[4]] = bent[index[3]] + np.array([0.0, 0.0, 0.03])
    angles = joint_angles(bent)
    assert abs(angles[1] - 90.0) < 1e-6
    assert np.allclose(np.delete(angles, 1), 0.0, atol=1e-6)


def test_angles_ignore_where_the_hand_points_and_its_size():
    hand = _flat_hand()
    hand[list(FINGER_CHAINS[1][2:])] += np.array([0.0, 0.0, 0.01])
    turn = np.array([[0.0, -1.0, 0.0], [0.6, 0.0, -0.8], [0.8, 0.0, 0.6]])
    assert np.allclose(joint_angles(3.0 * hand @ turn.T + 5.0), joint_angles(hand), atol=1e-6)


def test_missing_or_collapsed_points_give_nan_not_numbers():
    hand = _flat_hand()
    hand[FINGER_CHAINS[0][2]] = hand[FINGER_CHAINS[0][1]]       # a bone of no length
    hand[FINGER_CHAINS[4][4]] = np.nan
    angles = joint_angles(hand)
    assert np.isnan(angles[[0, 1]]).all() and np.isnan(angles[14])
    assert np.isfinite(angles[3:14]).all()

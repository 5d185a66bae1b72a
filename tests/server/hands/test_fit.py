"""The finger fit: landmarks -> clamped flexion and spread -> SMPL-H finger rotations, over time."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.model import default_body_model_path, load_body_model
from server.body.rotations import rotvec_to_rotmat
from server.hands.angles import joint_angles
from server.hands.fit import (JOINT_LIMITS, angles_to_rotvecs, clamp_angles, finger_angles, fit_hands,
                              plausible_angles, posed_hand, smooth_hand)
from server.hands.rest import rest_hand_landmarks


@pytest.fixture(scope="module")
def rests() -> np.ndarray:
    model = load_body_model(default_body_model_path())
    return np.stack([rest_hand_landmarks(model, side) for side in ("left", "right")])


def _random_angles(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flex = rng.uniform(JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1], size=(count, 5, 3))
    spread = rng.uniform(-JOINT_LIMITS[..., 2], JOINT_LIMITS[..., 2], size=(count, 5, 3))
    return np.stack([flex, spread], axis=-1)


def _seen(points: np.ndarray, seed: int) -> np.ndarray:
    """(N, 21, 3) hands turned and moved anywhere, as a camera would see them."""
    rng = np.random.default_rng(seed)
    turn = rotvec_to_rotmat(rng.normal(size=(len(points), 3)))
    return np.einsum("nij,nkj->nki", turn, points) + rng.normal(size=(len(points), 1, 3))


@pytest.mark.parametrize("hand, side", [(0, "left"), (1, "right")])
def test_a_posed_hand_is_fitted_back_to_its_angles_wherever_it_is(rests, hand, side):
    angles = _random_angles(40, seed=hand)
    points = _seen(posed_hand(angles_to_rotvecs(angles, rests[hand], side), rests[hand]), seed=5 + hand)
    assert np.abs(finger_angles(points, rests[hand], side) - angles).max() < 1e-6
    assert np.abs(plausible_angles(points, rests[hand], side) - angles).max() < 1e-6
    assert np.allclose(finger_angles(rests[hand][None], rests[hand], side), 0.0, atol=1e-9)


def test_a_hand_mirrored_in_depth_is_read_as_the_hand_that_bends_forward(rests):
    angles = _random_angles(20, seed=3)
    angles[..., 1:, 0] = np.abs(angles[..., 1:, 0]) + 20.0          # a clearly curled hand
    points = posed_hand(angles_to_rotvecs(clamp_angles(angles), rests[0], "left"), rests[0])
    mirrored = points * np.array([1.0, 1.0, -1.0])
    assert (finger_angles(mirrored, rests[0], "left")[:, :4, 1:, 0].sum((-1, -2)) < 0).all()   # read as is: backwards
    fitted = plausible_angles(mirrored, rests[0], "left")
    assert (fitted[:, :4, 1:, 0].sum((-1, -2)) > 0).all()
    assert np.allclose(joint_angles(posed_hand(angles_to_rotvecs(fitted, rests[0], "left"), rests[0])),
                       joint_angles(points), atol=1e-6)


def test_clamping_keeps_fingers_within_their_range():
    wild = np.full((1, 5, 3, 2), 170.0)
    wild[..., 1] = -80.0
    clamped = clamp_angles(wild)
    assert (clamped[..., 0] <= JOINT_LIMITS[..., 1]).all() and (clamped[..., 1] >= -JOINT_LIMITS[..., 2]).all()
    assert (clamped[0, :4, 1:, 1] == 0).all()        # the fingers' middle and last joints never spread


def test_gaps_are_filled_short_ones_between_neighbours_and_the_ends_fade_to_rest():
    fps = 30.0                                  # fill up to 15 frames, fade over 7.5
    angles = np.zeros((60, 5, 3, 2))
    confidence = np.zeros(60)
    seen = [15, 16, 17, 25, 26, 45]
    angles[seen] = 30.0
    confidence[seen] = 0.9
    out, conf = smooth_hand(angles, confidence, fps)
    assert np.allclose(out[seen], 30.0, atol=0.5) and (conf[seen] == 0.9).all()
    assert np.allclose(out[21], 30.0, atol=0.5) and 0 < conf[21] < 0.5        # an 8-frame gap: filled
    assert conf[35] == 0 and np.allclose(out[35], 0.0)                          # a 19-frame gap: rest in between
    assert 0 < out[48].min() < 30 and conf[48] == 0                             # fading back to rest
    assert np.allclose(out[[0, 59]], 0.0) and not conf[[0, 59]].any()          # far from any seen frame: rest
    empty, none = smooth_hand(angles, np.zeros(60), fps)
    assert not empty.any() and not none.any()


def test_frames_not_looked_at_are_interpolated_not_missed(rests):
    """Hands looked for on every 2nd frame: the frames between get the fitted fingers and the confidence of the
    frames around them (not the lower confidence of a frame where the hand was missed)."""
    angles = _random_angles(1, seed=9)
    world = np.zeros((9, 2, 21, 3))
    world[:, 0] = posed_hand(angles_to_rotvecs(angles, rests[0], "left"), rests[0])[0]
    looked = np.arange(9) % 2 == 0
    confidence = np.zeros((9, 2))
    confidence[looked, 0] = 0.8
    poses, conf = fit_hands(world, confidence, rests, fps=30.0, looked=looked)
    assert np.allclose(conf[:, 0], 0.8) and not conf[:, 1].any()
    refit = finger_angles(posed_hand(poses[:, 0], rests[0]), rests[0], "left")
    assert np.abs(refit - angles).max() < 1e-6


def test_fit_hands_gives_rotations_per_hand_and_rest_where_nothing_was_seen(rests):
    angles = _random_angles(12, seed=7)
    world = np.zeros((12, 2, 21, 3))
    world[:, 0] = _seen(posed_hand(angles_to_rotvecs(angles, rests[0], "left"), rests[0]), seed=8)
    confidence = np.zeros((12, 2))
    confidence[:, 0] = 0.8
    poses, conf = fit_hands(world, confidence, rests, fps=1.0)   # frames a second apart: no smoothing
    assert poses.shape == (12, 2, 15, 3) and conf.shape == (12, 2)
    assert np.allclose(conf[:, 0], 0.8) and not conf[:, 1].any() and not poses[:, 1].any()
    refit = finger_angles(posed_hand(poses[:, 0], rests[0]), rests[0], "left")
    assert np.abs(refit - plausible_angles(world[:, 0], rests[0], "left")).max() < 1e-6

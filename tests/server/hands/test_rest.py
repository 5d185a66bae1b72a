"""The built-in body's rest hand as hand landmarks."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.model import default_body_model_path, load_body_model
from server.hands.angles import FINGER_CHAINS
from server.hands.rest import fingertip_vertices, rest_hand_landmarks


@pytest.fixture(scope="module")
def model():
    return load_body_model(default_body_model_path())


def test_rest_hands_are_mirror_images_with_fingers_running_out_from_the_wrist(model):
    left, right = rest_hand_landmarks(model, "left"), rest_hand_landmarks(model, "right")
    assert np.allclose(left * np.array([-1.0, 1.0, 1.0]), right, atol=2e-3)
    for chain in FINGER_CHAINS:
        reach = np.linalg.norm(left[list(chain)] - left[0], axis=1)
        assert (np.diff(reach) > 0).all()                   # each point farther from the wrist than the one before
    assert 0.15 < np.linalg.norm(left[12] - left[0]) < 0.25   # wrist to middle fingertip, metres
    assert len(set(fingertip_vertices(model, "left").tolist())) == 5


def test_a_body_without_fingers_is_refused_clearly(model):
    from dataclasses import replace
    with pytest.raises(ValueError, match="no fingers"):
        rest_hand_landmarks(replace(model, hands=None), "left")

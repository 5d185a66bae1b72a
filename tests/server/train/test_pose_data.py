"""Training poses: source-balanced sampling weights and mirroring."""
from __future__ import annotations

import numpy as np

from server.train.pose_data import load_training_set, source_balanced_weights


def test_each_source_gets_a_share_proportional_to_sqrt_frames() -> None:
    sources = np.array(["idle"] * 900 + ["dance"] * 100)
    weights = source_balanced_weights(sources)
    assert np.isclose(weights.sum(), 1.0)
    idle, dance = weights[sources == "idle"].sum(), weights[sources == "dance"].sum()
    assert np.isclose(idle / dance, np.sqrt(900 / 100))


def test_training_set_is_mirrored_with_weights(pose_dataset) -> None:
    train, val, weights = load_training_set(pose_dataset, mirror=True)
    assert len(weights) == len(train) and np.isclose(float(weights.sum()), 1.0)
    half = len(train) // 2
    assert np.allclose(weights[:half].numpy(), weights[half:].numpy())
    assert len(val) > 0

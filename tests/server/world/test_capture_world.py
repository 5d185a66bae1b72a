"""The capture's place stage on the real capture (the session's Sports2D result) and on a clip without ground."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.cleanup.sequence import make_sequence
from server.world.capture_world import place_capture
from server.world.lock import sequence_joints
from tests.server.cleanup.conftest import FAST, smooth_clip


@pytest.fixture(scope="module")
def body():
    return load_body_model(default_body_model_path())


def _pixels(arrays: dict, skinning: LandmarkSkinning) -> np.ndarray:
    seq = make_sequence(arrays["poses"], arrays["transl"], arrays["betas"], float(arrays["fps"]))
    uvw = sequence_joints(skinning, seq) @ arrays["camera_intrinsics"].astype(np.float64).T
    return uvw[..., :2] / uvw[..., 2:]


def test_locking_the_feet_of_a_real_capture(captured: dict, body) -> None:
    """The place stage runs before the fingers are added: it sees SMPL's 24 joints."""
    arrays = {**captured["data"], "poses": captured["data"]["poses"][:, :24]}
    out, report = place_capture(arrays, body, lock=True, settings=replace(FAST, steps=60))
    assert report.note == "" and report.placement is not None
    assert report.sliding_after < 0.5 * report.sliding_before, (report.sliding_before, report.sliding_after)
    skinning = LandmarkSkinning(body)
    moved = np.linalg.norm(_pixels(out, skinning) - _pixels(arrays, skinning), axis=-1)
    assert np.median(moved) < 3.0, "the body stays on the person in the image"
    assert out["poses"].shape == arrays["poses"].shape and out["poses"].dtype == np.float32


def test_a_clip_without_ground_keeps_its_arrays_and_says_so(body) -> None:
    seq = smooth_clip(30, seed=2)
    run = np.stack([np.arange(30) * 0.15, np.zeros(30), np.full(30, 6.0)], -1)     # 4.5 m/s sideways
    arrays = {"poses": seq.poses, "transl": (seq.transl + run).astype(np.float32), "betas": seq.betas,
              "fps": np.float32(30.0)}
    out, report = place_capture(arrays, body, lock=True, settings=FAST)
    assert report.placement is None and "ground was not found" in report.note
    assert out is arrays and "ground" not in out


def test_a_clip_too_short_for_a_ground_keeps_its_arrays(body) -> None:
    seq = smooth_clip(5, seed=3)
    arrays = {"poses": seq.poses, "transl": (seq.transl + np.array([0.0, 0.0, 5.0])).astype(np.float32),
              "betas": seq.betas, "fps": np.float32(30.0)}
    out, report = place_capture(arrays, body, lock=True, settings=FAST)
    assert report.placement is None and "too short (5 frames)" in report.note
    assert out is arrays

"""The hands stage: crops from the body's wrist, index and pinky; the hand's ownership check; the model on real
footage (a hand found where the body's wrist is, none in a blank crop, none taken from beside the wrist)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from server.body.layout import LANDMARK_INDEX, NUM_LANDMARKS
from server.detection.hands import (HAND_SIDES, NUM_HAND_LANDMARKS, HandConfig, HandsFrame, HandTrack,
                                    belongs_to_body, hand_roi, hand_step)

SAMPLE_FRAME = 12   # the Sports2D clip's man with both arms out, hands open and sharp


def _body(wrist, index, pinky, side="left", visibility=0.9) -> np.ndarray:
    """(33, 3) landmarks with one side's wrist, index and pinky placed (pixels), everything else at the origin."""
    body = np.zeros((NUM_LANDMARKS, 3), np.float32)
    body[LANDMARK_INDEX[f"{side}_wrist"]] = (*wrist, visibility)
    body[LANDMARK_INDEX[f"{side}_index"]] = (*index, visibility)
    body[LANDMARK_INDEX[f"{side}_pinky"]] = (*pinky, visibility)
    return body


def test_crop_centres_on_the_knuckles_and_turns_with_the_hand():
    config = HandConfig(crop_scale=3.0)
    up = hand_roi(_body((100, 200), (110, 170), (80, 170)), "left", config)
    assert up is not None
    knuckles = (2 * np.array([110, 170]) + np.array([80, 170])) / 3
    assert np.allclose(up.centre, knuckles)
    assert up.reach == pytest.approx(math.hypot(*(knuckles - (100, 200))))
    assert up.side == pytest.approx(3.0 * up.reach)
    assert abs(up.rotation - math.atan2(knuckles[0] - 100, 30)) < 1e-9 and abs(up.rotation) < 0.2
    right = hand_roi(_body((100, 200), (130, 210), (130, 190)), "left", config)
    down = hand_roi(_body((100, 200), (90, 230), (110, 230)), "left", config)
    assert right is not None and down is not None
    assert right.rotation == pytest.approx(math.pi / 2, abs=0.2)
    assert abs(abs(down.rotation) - math.pi) < 0.2


def test_no_crop_for_an_unseen_or_broken_wrist():
    assert hand_roi(_body((100, 200), (110, 170), (80, 170), visibility=0.2), "left") is None
    assert hand_roi(_body((100, 200), (110, 170), (80, 170)), "right") is None   # the right side was not placed
    assert hand_roi(_body((np.nan, 200), (110, 170), (80, 170)), "left") is None
    assert hand_roi(_body((100, 200), (100, 200), (100, 200)), "left") is None   # no wrist-to-knuckles length


def _hand(wrist, length) -> np.ndarray:
    """(21, 3) a straight hand pointing up from ``wrist``, ``length`` pixels from the wrist to the middle knuckle."""
    hand = np.zeros((NUM_HAND_LANDMARKS, 3), np.float32)
    hand[:, 0], hand[:, 1] = wrist[0], wrist[1] - np.linspace(0, 2 * length, NUM_HAND_LANDMARKS)
    hand[9, :2] = (wrist[0], wrist[1] - length)
    return hand


def test_a_hand_belongs_to_the_body_only_at_its_wrist_and_at_its_size():
    body = _body((100, 200), (110, 170), (80, 170))
    roi = hand_roi(body, "left")
    assert roi is not None
    assert belongs_to_body(_hand((103, 198), roi.reach), body, "left", roi)
    assert not belongs_to_body(_hand((100 + roi.side / 2, 200), roi.reach), body, "left", roi)   # someone else's
    assert not belongs_to_body(_hand((100, 200), 0.2 * roi.reach), body, "left", roi)             # too small
    assert not belongs_to_body(_hand((100, 200), 4.0 * roi.reach), body, "left", roi)             # too big


def test_hand_tracks_keep_rows_and_join_in_order():
    frames = [HandsFrame.empty() for _ in range(3)]
    for k, frame in enumerate(frames):
        frame.confidence[:] = k
    track = HandTrack.of(frames)
    assert track.image.shape == (3, 2, NUM_HAND_LANDMARKS, 3) and track.confidence.shape == (3, 2)
    assert track.looked.all() and HandTrack.of([frames[0], None]).looked.tolist() == [True, False]
    assert HandTrack.of([]).image.shape == (0, 2, NUM_HAND_LANDMARKS, 3)
    kept = track.rows(np.array([True, False, True]))
    assert kept.confidence[:, 0].tolist() == [0, 2]
    assert HandTrack.joined([kept, track]).confidence[:, 0].tolist() == [0, 2, 0, 1, 2]


def test_hands_are_looked_for_about_fifteen_times_a_second():
    assert [hand_step(fps) for fps in (24.0, 25.0, 30.0, 60.0, 120.0, 10.0, 0.0)] == [2, 2, 2, 4, 8, 1, 1]


@pytest.fixture(scope="module")
def sample_frame(sample_video):
    """(rgb, (33, 3) body landmarks) of :data:`SAMPLE_FRAME` of the Sports2D clip."""
    from server import video
    from server.detection.blazepose import BlazePoseDetector

    with BlazePoseDetector(static=True) as pose:
        for index, rgb in video.iter_frames(str(sample_video), SAMPLE_FRAME, SAMPLE_FRAME + 1):
            found = pose.detect(rgb)
            assert found is not None, "BlazePose lost the sample frame's person"
            return rgb, found.image
    raise AssertionError("the sample clip is too short")


def test_a_hand_not_kept_is_looked_for_again_in_the_larger_crop(monkeypatch):
    """The first crop finds nothing kept: the same hand is looked for in the retry crop, which keeps it; a hand
    kept at once is looked for once; no retry crop, one look."""
    from dataclasses import replace

    from server.detection.hands import HandLandmarker, HandSighting

    body = _body((100.0, 100.0), (100.0, 70.0), (110.0, 72.0))
    right = _body((300.0, 100.0), (300.0, 70.0), (290.0, 72.0), side="right")
    body[[LANDMARK_INDEX[f"right_{p}"] for p in ("wrist", "index", "pinky")]] = \
        right[[LANDMARK_INDEX[f"right_{p}"] for p in ("wrist", "index", "pinky")]]
    wrists = body[[LANDMARK_INDEX["left_wrist"], LANDMARK_INDEX["right_wrist"]], :2]
    looks = []

    def detect(self, rgb, roi):
        looks.append(roi.side / roi.reach)
        if self.first_misses and looks[-1] == pytest.approx(HandConfig().crop_scale):   # the first crop: nothing
            return None
        hand = np.zeros((NUM_HAND_LANDMARKS, 3), np.float32)
        hand[:, :2] = wrists[np.argmin(np.linalg.norm(wrists - roi.centre, axis=1))]   # the hand at the body's wrist
        hand[9, 1] -= roi.reach                                                          # its middle knuckle
        return HandSighting(image=hand, world=np.zeros((NUM_HAND_LANDMARKS, 3), np.float32), presence=0.9)

    monkeypatch.setattr(HandLandmarker, "detect", detect)
    model = object.__new__(HandLandmarker)
    frame = np.zeros((8, 8, 3), np.uint8)
    model.first_misses = True
    assert (model.hands(frame, body).confidence == np.float32(0.9)).all()
    assert looks == pytest.approx([3.4, 4.0, 3.4, 4.0])
    looks.clear()
    model.first_misses = False
    model.hands(frame, body)
    assert looks == pytest.approx([3.4, 3.4])
    looks.clear()
    model.first_misses = True
    assert not model.hands(frame, body, replace(HandConfig(), retry_crop_scale=0.0)).confidence.any()
    assert looks == pytest.approx([3.4, 3.4])


@pytest.mark.slow
def test_both_hands_are_found_at_the_body_s_wrists(sample_frame):
    from server.detection.hands import HandLandmarker

    rgb, body = sample_frame
    with HandLandmarker() as model:
        hands = model.hands(rgb, body)
    assert (hands.confidence >= HandConfig().min_presence).all()
    for slot, side in enumerate(HAND_SIDES):
        wrist = body[LANDMARK_INDEX[f"{side}_wrist"], :2]
        other = body[LANDMARK_INDEX[f"{HAND_SIDES[1 - slot]}_wrist"], :2]
        found = hands.image[slot, 0, :2]
        assert np.linalg.norm(found - wrist) < 0.5 * np.linalg.norm(found - other)
        extent = np.ptp(hands.world[slot], axis=0).max()
        assert 0.05 < extent < 0.3   # metres: a hand, not a point and not a body


@pytest.mark.slow
def test_no_hand_in_a_blank_crop_nor_from_beside_the_wrist(sample_frame):
    from server.detection.hands import HandLandmarker

    rgb, body = sample_frame
    blank = np.full_like(rgb, 128)
    moved = body.copy()
    for side in HAND_SIDES:   # the body's wrist, index and pinky a crop's width away from the real hand
        roi = hand_roi(body, side)
        assert roi is not None
        for part in ("wrist", "index", "pinky"):
            moved[LANDMARK_INDEX[f"{side}_{part}"], 1] += 0.6 * roi.side
    with HandLandmarker() as model:
        assert not model.hands(blank, body).confidence.any()
        assert not model.hands(rgb, moved).confidence.any()


@pytest.mark.slow
def test_a_chunk_finds_hands_on_its_kept_frames(sample_video):
    """A detector's chunk asked for hands: one row per frame with the person, none looked for on warm-up frames."""
    from server.detection.chunk_job import detect_chunk
    from server.detection.chunks import ChunkTask

    task = ChunkTask(view=0, index=1, path=str(sample_video), start=4, keep=8, stop=SAMPLE_FRAME + 2, hands=True,
                     hands_step=2)
    found = detect_chunk(task, lambda done: None)
    assert found.hands is not None and len(found.hands.confidence) == len(found.frames) > 0
    warm = found.frames < task.keep
    assert not found.hands.confidence[warm].any() and not found.hands.looked[warm].any()
    assert found.hands.looked[~warm].tolist() == [f % 2 == 0 for f in found.frames[~warm]]
    assert (found.hands.confidence[~warm] >= HandConfig().min_presence).any()
    assert found.hands_seconds > 0

"""The capture's camera stage (server.camera_motion.follow): the switch, the person's boxes, a cut refused with its
frame, bad footage (a zoom, motion blur, a person filling the frame) followed or reported, and the body moved into
the first frame's camera frame exactly."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
import pytest

from server.body.rotations import euler_to_rotmat, rotmat_to_rotvec, rotvec_to_rotmat
from server.camera_motion.matching import rotation_angle
from server.camera_motion.follow import (LOW_CONFIDENCE, CameraLost, camera_motion, follow_frames, person_boxes,
                                         plan_camera, points_to_first_frame, to_first_frame)
from server.camera_motion.virtual import camera_path, virtual_view, warp_frame

from .test_estimate import HEIGHT, WIDTH, footage, scene


def _stage(mode: str, frames: list, k: np.ndarray, looked: list):
    """The stage as the capture runs it: the plan (the cheap check decodes single frames), then, for a turning
    camera, every frame chained in one piece; -> (plan, motion or None)."""
    def frame_at(index: int):
        looked.append(index)
        return frames[index] if 0 <= index < len(frames) else None
    plan = plan_camera(mode, frame_at, 0, len(frames), k)
    return plan, follow_frames(plan, enumerate(frames))


def test_static_looks_at_nothing() -> None:
    frames, _, k = footage("pan", 24, 10.0)
    looked: list = []
    plan, motion = _stage("static", frames, k, looked)
    assert plan.mode == "static" and plan.looks is None and plan.check is None and motion is None and looked == []


def test_auto_on_a_still_camera_stops_after_the_cheap_check() -> None:
    frames, _, k = footage("static", 40, 0.0)
    looked: list = []
    plan, motion = _stage("auto", frames, k, looked)
    assert plan.mode == "static" and plan.looks is None and motion is None and len(looked) == 5
    assert plan.check is not None and not plan.check.moves and plan.notes == ()


@pytest.mark.parametrize("mode", ["auto", "moving"])
def test_a_turning_camera_is_followed(mode: str) -> None:
    frames, truth, k = footage("pan", 40, 12.0, person=True)
    plan, motion = _stage(mode, frames, k, [])
    assert plan.mode == "moving" and plan.looks is not None and plan.looks.anchor is not None
    assert motion is not None and rotation_angle(motion.rotations, truth).mean() < 0.3


def test_a_bare_wall_is_taken_as_still_with_a_note() -> None:
    blank = np.full((405, 768, 3), 128, np.uint8)
    plan, motion = _stage("auto", [blank] * 20, np.array([[900.0, 0, 384], [0, 900.0, 202], [0, 0, 1]]), [])
    assert plan.mode == "static" and motion is None and "too little texture" in plan.notes[0]


def test_a_cut_is_refused_naming_its_frame() -> None:
    frames, _, k = footage("pan", 40, 6.0)
    other = scene(seed=7)[:frames[0].shape[0], :frames[0].shape[1]]
    cut = frames[:21] + [np.ascontiguousarray(np.roll(other, 13 * t, axis=1)) for t in range(19)]
    with pytest.raises(CameraLost) as raised:
        _stage("moving", cut, k, [])
    assert 21 <= raised.value.frame <= 24


def _followed(frames: list, k: np.ndarray, boxes: Optional[list] = None):
    """The stage on a turning camera in one piece -> (motion, notes); raises CameraLost."""
    plan = plan_camera("moving", lambda i: frames[i], 0, len(frames), k)
    assert plan.looks is not None
    chain = plan.looks.chain(0, 0)
    for index, frame in enumerate(frames):
        chain.feed(index, frame, boxes[index] if boxes is not None else None)
    return camera_motion([chain.piece()], plan.looks)


def _right_or_reported(motion, notes: tuple, truth: np.ndarray) -> None:
    """Every frame's rotation within a degree of the truth, or its low confidence named in a note."""
    wrong = rotation_angle(motion.rotations, truth) > 1.0
    assert not (wrong & (motion.confidence >= LOW_CONFIDENCE)).any()
    assert not (motion.confidence < LOW_CONFIDENCE).any() or "low confidence" in notes[0]


@pytest.mark.parametrize("length", [9, 41, 81])
def test_motion_blur_is_followed_or_reported_never_a_silent_spin(length: int) -> None:
    """A pan whose middle third is smeared by motion blur (a ``length``-pixel streak along the pan, a hand-held
    phone in dim light): every frame's rotation is either right or reported, by a low-confidence note or by the
    capture refusing the clip at a frame inside the blur."""
    frames, truth, k = footage("pan", 60, 12.0)
    streak = np.full((1, length), 1.0 / length, np.float32)
    blurred = [cv2.filter2D(f, -1, streak) if 20 <= i < 40 else f for i, f in enumerate(frames)]
    try:
        motion, notes = _followed(blurred, k)
    except CameraLost as lost:
        assert 20 <= lost.frame <= 40
        return
    _right_or_reported(motion, notes, truth)


def test_a_person_filling_the_frame_is_reported_never_a_silent_spin() -> None:
    """A person (a textured block, their box given as the detector would) covering 90% of the view's width and
    all its height walks across a pan: the background left is a sliver, so every frame is either right or
    reported (a low-confidence note, or the clip refused naming a frame)."""
    frames, truth, k = footage("pan", 48, 12.0, person=True, share=(0.9, 1.0))
    height, width = frames[0].shape[:2]
    block = int(width * 0.9)
    boxes = [(t / 48 * (width - block), 0.0, t / 48 * (width - block) + block, float(height)) for t in range(48)]
    try:
        motion, notes = _followed(frames, k, boxes)
    except CameraLost:
        return
    _right_or_reported(motion, notes, truth)


def test_chunks_looked_at_side_by_side_join_into_the_whole_clip() -> None:
    """The capture's detectors chain their own chunks (each from a warm-up before its first kept frame, closing
    loops on the first frame's look); joined, they give the rotations one chain over the clip gives."""
    frames, truth, k = footage("whip", 72, 14.0)
    plan = plan_camera("moving", lambda i: frames[i], 0, len(frames), k)
    assert plan.looks is not None
    whole = follow_frames(plan, enumerate(frames))
    pieces = []
    for first, keep, stop in ((0, 0, 30), (18, 30, 55), (43, 55, 72)):      # 12 frames of warm-up
        chain = plan.looks.chain(first, keep)
        for index in range(first, stop):
            chain.feed(index, frames[index])
        pieces.append(chain.piece())
    joined, _ = camera_motion(pieces, plan.looks)
    assert whole is not None and rotation_angle(joined.rotations, truth).mean() < 0.3
    assert rotation_angle(joined.rotations, whole.rotations).max() < 0.3


def test_person_boxes_hold_the_nearest_detection() -> None:
    keypoints = np.zeros((2, 33, 3), np.float32)
    keypoints[0, :, :2] = np.linspace([100, 200], [140, 400], 33)
    keypoints[0, :, 2] = 1.0
    keypoints[1, :, :2] = keypoints[0, :, :2] + 50
    keypoints[1, :, 2] = 1.0
    keypoints[1, 0, 2] = 0.0       # an unsure landmark does not make the box
    keypoints[1, 0, :2] = -999
    boxes = person_boxes(keypoints, [1, 4], 6)
    assert boxes[0] == boxes[1] and boxes[4] == boxes[5] and boxes[2] == boxes[1] and boxes[3] == boxes[4]
    x0, y0, x1, y1 = boxes[1]
    assert x0 < 100 < 140 < x1 and y0 < 200 - 16 and y1 > 400
    assert boxes[4][0] > 0
    assert person_boxes(np.zeros((0, 33, 3)), [], 3) == [None, None, None]


def test_to_first_frame_undoes_the_camera_turn() -> None:
    rng = np.random.default_rng(0)
    n = 12
    poses = rng.normal(0.0, 0.4, (n, 24, 3)).astype(np.float32)
    first_root = rotvec_to_rotmat(poses[:, 0].astype(np.float64))
    pelvis_first = rng.normal(0.0, 1.0, (n, 3)) + [0.0, 0.0, 5.0]
    rest_pelvis = np.array([0.0, -0.2, 0.02])
    turns = camera_path("shake", n, 6.0) @ euler_to_rotmat(np.array([[0.1, 0.3, 0.0]]), "xyz")
    seen = poses.copy()          # what each frame's camera saw
    seen[:, 0] = rotmat_to_rotvec(turns @ first_root)
    transl = np.einsum("nab,nb->na", turns, pelvis_first) - rest_pelvis
    back_poses, back_transl = to_first_frame(seen, transl.astype(np.float32), rest_pelvis, turns)
    assert back_poses.dtype == np.float32 and back_transl.dtype == np.float32
    np.testing.assert_allclose(rotvec_to_rotmat(back_poses[:, 0].astype(np.float64)), first_root, atol=1e-5)
    np.testing.assert_array_equal(back_poses[:, 1:], poses[:, 1:])
    np.testing.assert_allclose(back_transl + rest_pelvis, pelvis_first, atol=1e-5)
    points = rng.normal(0.0, 1.0, (n, 33, 4)).astype(np.float32)
    turned = points.copy()
    turned[..., :3] = np.einsum("nab,nlb->nla", turns, points[..., :3])
    np.testing.assert_allclose(points_to_first_frame(turned, turns), points, atol=1e-5)


def test_a_zoom_is_reported_not_turned_into_a_spin() -> None:
    """A zoom (1.5x over the clip) is no rotation: the estimate stays near still and says where it read the
    turn with low confidence."""
    background = scene()
    k_in, k_out, size = virtual_view(WIDTH, HEIGHT, 0.8)
    frames = []
    for t in range(64):
        zoomed = k_out.copy()
        zoomed[:2, :2] *= 1.0 + 0.5 * t / 63
        frames.append(warp_frame(background, np.eye(3), k_in, zoomed, size))
    motion, notes = _followed(frames, k_out)
    assert rotation_angle(motion.rotations, np.eye(3)).max() < 1.5
    assert notes and "low confidence" in notes[0] and "zoom" in notes[0]

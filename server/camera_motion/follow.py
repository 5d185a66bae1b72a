"""The capture's camera stage: whether the camera turned, its rotation per frame, and the body moved into the first
frame's world (numpy + OpenCV; the maths in pure functions).

Before detection, :func:`plan_camera`: ``static`` plans nothing (the capture is what it always was); ``auto`` runs
the cheap check (:func:`.estimate.camera_moves`, five frames against the first, about 0.2 s) and plans nothing for
a still camera; ``moving`` (or a check that saw a turn) plans :class:`CameraLooks`: the detector processes, which
decode every frame anyway, chain their chunk's frames (:class:`.estimate.Chain`, the person's box from their own
detection masked out) beside BlazePose, so following the camera costs no second decoding of the clip. After
detection, :func:`camera_motion` joins the chunks' pieces (:func:`.estimate.assemble`); a frame that could not be
placed (no overlap with the frames before it: a cut, a whip too fast, a bare view) ends the capture with
:class:`CameraLost` naming it, never a silently spinning body.

:func:`to_first_frame` then expresses each frame's root (orientation and translation) in the first frame's camera
frame: a pan no longer turns or slides the performer, and the place stage finds the ground in that frame as for a
still camera. The camera turns about its own centre (a phone in the hand); a camera that walks is not modelled.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..body.rotations import rotmat_to_rotvec, rotvec_to_rotmat
from .estimate import CameraMotion, Chain, MotionCheck, Piece, assemble, camera_moves
from .matching import Box, Look, MotionConfig, look_at, orb_for, rotation_angle, sized

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.3     # a frame placed by fewer than this share of its matches is reported
BOX_PAD = 0.08           # the person's keypoint box grows by this share of its height (hair, hands, loose clothes)
MIN_VISIBLE = 0.3        # keypoints seen at least this sure make the person's box

FrameAt = Callable[[int], Optional[np.ndarray]]


class CameraLost(ValueError):
    """The estimate lost the camera at ``frame`` (0-based, in the captured range)."""

    def __init__(self, frame: int) -> None:
        super().__init__(f"the camera could not be followed at frame {frame}")
        self.frame = frame


@dataclass(frozen=True)
class CameraLooks:
    """What a detector needs to follow the camera through its chunk (sent to the detector processes): ``origin``
    the captured range's first video frame (frame 0 of the estimate), ``count`` its frames, ``k`` (3, 3) the
    intrinsics, ``anchor`` the first frame's look (the loop closure of every chunk)."""

    origin: int
    count: int
    k: np.ndarray
    anchor: Optional[Look]
    config: MotionConfig = MotionConfig()

    def chain(self, first: int, keep: int) -> Chain:
        """The :class:`.estimate.Chain` of a chunk decoding video frames from ``first``, keeping those from
        ``keep``; feed it frame ``index - origin``."""
        return Chain(self.count, self.k, self.config, first=first - self.origin, keep=keep - self.origin,
                     anchor=self.anchor)


@dataclass(frozen=True)
class CameraPlan:
    """What :func:`plan_camera` settled on: ``mode`` "static" or "moving", the cheap ``check``'s reading (None when
    it did not run), the ``looks`` of a moving camera and ``notes`` for the user."""

    mode: str
    check: Optional[MotionCheck] = None
    looks: Optional[CameraLooks] = None
    notes: Tuple[str, ...] = ()


def plan_camera(mode: str, frame_at: FrameAt, origin: int, count: int, k: np.ndarray,
                config: MotionConfig = MotionConfig()) -> CameraPlan:
    """The stage's plan for a range of ``count`` frames from video frame ``origin``: ``mode`` auto | static |
    moving; ``frame_at(index)`` decodes frame ``origin + index`` (None when it cannot); ``k`` (3, 3) the
    intrinsics."""
    if mode == "static":
        return CameraPlan("static")
    config = sized(config, k)
    check = None
    if mode == "auto":
        check = camera_moves(frame_at, count, k, None, config)
        log.info("camera check: moves %s, %.2f degrees, confidence %.2f", check.moves, check.degrees,
                 check.confidence)
        if not check.moves:
            notes = ("The background has too little texture to tell whether the camera turns; it was taken to "
                     "stand still (set Camera to Moving to follow it anyway).",) if check.confidence == 0.0 else ()
            return CameraPlan("static", check, None, notes)
    anchor = check.first if check is not None else None
    if anchor is None:
        frame = frame_at(0)
        anchor = None if frame is None else look_at(0, frame, orb_for(config), config, None)
    if anchor is not None:    # what the detectors match against: the features, not the images
        anchor = replace(anchor, small=None, mask=None)
    return CameraPlan("moving", check, CameraLooks(origin, count, np.asarray(k, np.float64), anchor, config))


def camera_motion(pieces: Sequence[Piece], looks: CameraLooks) -> Tuple[CameraMotion, Tuple[str, ...]]:
    """The rotation of every frame of the range from the chunks' ``pieces`` and notes for the user; raises
    :class:`CameraLost` at the first sampled frame that could not be placed."""
    motion = assemble(pieces, looks.count, looks.config)
    lost = [i for i in motion.sampled[1:] if motion.confidence[i] == 0.0]
    if lost:
        raise CameraLost(int(lost[0]))
    notes: List[str] = []
    weak = np.flatnonzero(motion.confidence < LOW_CONFIDENCE)
    if len(weak):
        notes.append(f"The camera's turn was read with low confidence on {len(weak)} frames (from frame "
                     f"{int(weak[0]) + 1}): little background, blur or a zoom; check the body's heading there.")
    log.info("camera turned up to %.1f degrees from the first frame (%d frames looked at)",
             float(rotation_angle(motion.rotations, np.eye(3)).max()), len(motion.sampled))
    return motion, tuple(notes)


def follow_frames(plan: CameraPlan, frames: Iterable[Tuple[int, np.ndarray]],
                  boxes: Optional[Sequence[Optional[Box]]] = None) -> Optional[CameraMotion]:
    """A plan carried out in one piece over ``frames`` ((index in the range, image) in order; the person's ``boxes``
    per frame): None for a still camera. Raises :class:`CameraLost`."""
    if plan.looks is None:
        return None
    chain = plan.looks.chain(plan.looks.origin, plan.looks.origin)
    for index, frame in frames:
        chain.feed(index, frame, boxes[index] if boxes is not None else None)
    return camera_motion([chain.piece()], plan.looks)[0]


def person_boxes(keypoints: np.ndarray, rows: Sequence[int], count: int) -> List[Optional[Box]]:
    """The person's box (x0, y0, x1, y1) pixels on each of ``count`` frames of the range from the keypoints
    (N, 33, 3) found on frames ``rows`` (N,) (0-based in the range); a frame without a detection takes the nearest
    detected frame's box (None when nothing was detected)."""
    boxes: List[Optional[Box]] = [None] * count
    for row, frame in enumerate(rows):
        seen = keypoints[row, keypoints[row, :, 2] >= MIN_VISIBLE, :2]
        if len(seen) < 2:
            continue
        (x0, y0), (x1, y1) = seen.min(0), seen.max(0)
        pad = BOX_PAD * (y1 - y0)
        boxes[frame] = (float(x0 - pad), float(y0 - 2.0 * pad), float(x1 + pad), float(y1 + pad))
    known = [i for i, box in enumerate(boxes) if box is not None]
    if not known:
        return boxes
    nearest = np.array(known)[np.abs(np.arange(count)[:, None] - np.array(known)[None]).argmin(1)]
    return [boxes[int(i)] for i in nearest]


def to_first_frame(poses: np.ndarray, transl: np.ndarray, root: np.ndarray,
                   rotations: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Poses (N, J, 3) axis-angle whose root is in each frame's camera frame, translation (N, 3) (the pelvis at
    ``transl + root``, ``root`` (3,) the rest pelvis), the camera's rotations (N, 3, 3) of the same frames
    (``x_t = R_t x_0``) -> poses and translation in the first frame's camera frame (dtypes kept)."""
    turn_back = np.transpose(rotations, (0, 2, 1)).astype(np.float64)
    out = np.array(poses, copy=True)
    out[:, 0] = rotmat_to_rotvec(turn_back @ rotvec_to_rotmat(np.asarray(poses[:, 0], np.float64)))
    pelvis = np.einsum("nab,nb->na", turn_back, np.asarray(transl, np.float64) + root)
    return out, (pelvis - root).astype(np.asarray(transl).dtype)


def points_to_first_frame(points: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Points (N, L, C >= 3) in each frame's camera axes -> the first frame's axes (further channels kept)."""
    out = np.array(points, copy=True)
    out[..., :3] = np.einsum("nba,nlb->nla", rotations, np.asarray(points[..., :3], np.float64)).astype(out.dtype)
    return out

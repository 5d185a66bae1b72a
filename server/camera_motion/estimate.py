"""The camera's rotation per frame, relative to the first frame, from background features (OpenCV + numpy).

Sampled frames (every ``step``-th and the last) are looked at in grey at ``scale`` of their size (the matching of
two looked-at frames is :mod:`.matching`). Between two of
them ORB features (the person's box and black borders masked out) are matched (Hamming, Lowe's ratio test). For a
camera that turns in place the background's matches are the same rays turned by ``R_ab`` (``x_b = R_ab x_a``):
RANSAC on rotations (two matches fix one) finds consensus sets one after another on what the last left, each
refitted by least squares on its unit rays (Kabsch; the rotation read off a fitted homography measured 10-50 times
the error, its perspective terms soak up noise). The background is the set spread over enough of the image whose
rotation is nearest to the camera turning on as it did (a person or a car walking across can have more matches,
but not over the whole view, and they move their own way).
Each sampled frame is matched with the one before (the chain) and with the first frame (the anchor); where the
anchor still shares enough of the view its rotation is taken directly, so the chain's error does not build up
(a loop closed on the first frame), else the chain carries on from the last frame with a rotation. Where the camera
turned fast between two sampled frames, swerved from turning on as before, or no rotation was found, every second
frame between them is followed by pyramidal Lucas-Kanade optical flow (the last look's points, started where the
predicted turn puts them; features matched instead where the flow loses them), and the sampled frame is placed
again through them. Other frames between sampled ones get the geodesic interpolation (slerp) of their neighbours'
rotations. The work is cut into :class:`Chain` s over stretches of the clip (the capture's detector chunks) that
:func:`assemble` joins. Confidence per frame: the
RANSAC inlier share of the match that placed it (interpolated frames: the lower of their two neighbours'), 0 where
no rotation could be found (the previous rotation is kept there).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..body.rotations import quat_wxyz_slerp, quat_wxyz_to_rotmat, rotmat_to_quat_wxyz
from .matching import (RETRACK_SHARE, Box, Look, MotionConfig, flow_match, look_at, match, orb_for, pick,
                       rotation_angle, sized, small_grey)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CameraMotion:
    """Per frame N: ``rotations`` (N, 3, 3) with ``x_t = R_t x_0``; ``confidence`` (N,) in [0, 1]; ``sampled`` the
    frames looked at."""

    rotations: np.ndarray
    confidence: np.ndarray
    sampled: Tuple[int, ...]


def sampled_frames(frames: int, step: int) -> List[int]:
    """The frames looked at: every ``step``-th and the last."""
    picked = list(range(0, frames, step))
    return picked + [frames - 1] if picked[-1] != frames - 1 else picked


@dataclass(frozen=True)
class Link:
    """How one looked-at frame was placed: ``step`` R_ab from frame ``previous`` (``x_index = step x_previous``;
    None: no rotation found, the previous one is held with no confidence), its inlier ``share``, and (sampled frames)
    the ``direct`` consensus sets with the first frame (R_0b, inliers, share, from an essential matrix) that may close
    the loop there."""

    index: int
    previous: int
    step: Optional[np.ndarray]
    share: float
    direct: Tuple[Tuple[np.ndarray, int, float, bool], ...] = ()


@dataclass(frozen=True)
class Piece:
    """One stretch of a clip looked at in order (a detector's chunk, or the whole clip): ``root`` its first frame
    looked at (its rotation comes from the piece before; the clip's first frame: the identity), ``links`` in the
    order they were made; frames before ``keep`` only lead up to the piece's own (the chunk's warm-up)."""

    root: int
    keep: int
    links: Tuple[Link, ...]


class Chain:
    """The frames of one stretch of a clip, fed in order (:meth:`feed`), chained from sampled frame to sampled frame
    into a :class:`Piece`; what it decides needs only rotations relative to its own first frame, so a clip can be
    cut into pieces looked at side by side (the capture's detector chunks) and :func:`assemble` d in order.

    Frame indices count from the clip's first frame (``0``), which is sampled; ``first`` is the first frame fed
    (the piece's root is the first sampled frame from there), ``count`` the clip's frames, ``anchor`` the first
    frame's look (None: this piece starts the clip and makes it), ``keep`` as in :class:`Piece`."""

    def __init__(self, count: int, k: np.ndarray, config: MotionConfig = MotionConfig(), first: int = 0,
                 keep: int = 0, anchor: Optional[Look] = None) -> None:
        config = sized(config, k)
        self.count, self.k, self.config, self.keep = count, k, config, keep
        self.wanted = {i for i in sampled_frames(count, config.step) if i >= first}
        self.orb = orb_for(config)
        self.anchor = anchor
        self.rotations: Dict[int, np.ndarray] = {}     # relative to the root
        self.confidence: Dict[int, float] = {}
        self.links: Dict[int, Link] = {}
        self.root: Optional[int] = None
        self.last: Optional[Look] = None
        self.before: Optional[Look] = None
        self.between: List[Tuple[int, np.ndarray, Optional[Box]]] = []   # frames since the last sampled one

    def feed(self, index: int, frame: np.ndarray, box: Optional[Box] = None) -> None:
        """The next frame (``index``, (H, W, 3) BGR or (H, W) grey) with the person's ``box`` (masked out)."""
        config = self.config
        if index not in self.wanted:
            if self.last is not None and (index - self.last.index) % config.dense_step == 0:
                self.between.append((index, frame, box))   # those a fast turn would follow (no more held)
            return
        look = look_at(index, frame, self.orb, config, box)
        if self.last is None:
            self.root, self.last = index, look
            self.rotations[index], self.confidence[index] = np.eye(3), 1.0
            if self.anchor is None and index == 0:
                self.anchor = look
            return
        last, before = self.last, self.before
        self._place(look, last, before, close=False)
        turned = rotation_angle(self.rotations[index], self.rotations[last.index])
        swerved = rotation_angle(self.rotations[index], _predicted(self.rotations, last, before, index)) \
            if before else 0.0
        lost = self.confidence[index] == 0.0      # no overlap left with the last sampled frame: too fast a turn
        if (turned > config.fast_degrees or swerved > config.swerve_degrees or lost) and self.between:
            previous, earlier = last, before   # a fast turn: follow the frames between, then this one again
            for inner, inner_frame, inner_box in self.between:
                small, mask = small_grey(inner_frame, config, inner_box)
                inner_look = Look(inner, np.zeros((0, 2)), None, small, mask)
                inner_look.points = self._place(inner_look, previous, earlier, close=False, track=True)
                previous, earlier = inner_look, previous
            self._place(look, previous, earlier, track=True)
        else:
            self._close(look)
        self.between.clear()
        self.before, self.last = last, look

    def _place(self, look: Look, previous: Look, before: Optional[Look], close: bool = True,
               track: bool = False) -> np.ndarray:
        """Link ``look`` to ``previous``: the consensus nearest to turning on as between ``before`` and ``previous``,
        from matched ORB features, or with ``track`` from ``previous``'s points followed by optical flow
        (:func:`_tracked`); with ``close``, also the consensus sets with the first frame that could close the loop
        (frames between sampled ones skip it: their sampled frame closes it). Returns the tracked background
        points in ``look`` (full-size pixels; none without ``track``)."""
        config = self.config
        start = self.rotations[previous.index]
        predicted = _predicted(self.rotations, previous, before, look.index) @ start.T
        landed = np.zeros((0, 2))
        if track:
            candidates, landed = flow_match(previous, look, self.k, config, predicted)
            first = pick(candidates, predicted, config)
            if first is not None and first.share < RETRACK_SHARE:
                # the turn changed (a whip starts or stops): follow the flow again from where the first try put it
                candidates, landed = flow_match(previous, look, self.k, config, first.rotation)
            elif first is None and previous.small is not None and look.small is not None:
                # the flow lost its points (a blur, a swerve against the prediction): match features instead
                if previous.descriptors is None:
                    previous = self._described(previous)
                if look.descriptors is None:
                    described = self._described(look)
                    look.points, look.descriptors = described.points, described.descriptors
                candidates = match(previous, look, self.k, config)
                landed = look.points
        else:
            candidates = match(previous, look, self.k, config)
        step = pick(candidates, predicted, config)
        self.links[look.index] = Link(look.index, previous.index, None if step is None else step.rotation,
                                      0.0 if step is None else step.share)
        self.rotations[look.index], self.confidence[look.index] = (start, 0.0) if step is None else \
            (step.rotation @ start, step.share)
        if close:
            self._close(look)
        return landed

    def _described(self, look: Look) -> Look:
        """``look`` with ORB features of its own (a frame between sampled ones looked at by flow only)."""
        assert look.small is not None and look.mask is not None
        keypoints, descriptors = self.orb.detectAndCompute(look.small, look.mask)
        points = np.array([kp.pt for kp in keypoints], np.float64).reshape(-1, 2) / self.config.scale
        return Look(look.index, points, descriptors, look.small, look.mask)

    def _close(self, look: Look) -> None:
        """Add to ``look``'s link the consensus sets with the first frame that could close the loop there (matched
        once its link is final)."""
        if self.anchor is None:
            return
        config = self.config
        direct = tuple((c.rotation, c.inliers, c.share, c.moved) for c in match(self.anchor, look, self.k, config)
                       if c.inliers >= config.anchor_inliers and c.cells >= config.min_cells)
        self.links[look.index] = replace(self.links[look.index], direct=direct)

    def piece(self) -> Piece:
        """What was fed, as a :class:`Piece` (links in frame order; every link's previous frame comes before)."""
        return Piece(self.root if self.root is not None else -1, self.keep,
                     tuple(self.links[i] for i in sorted(self.links)))


def assemble(pieces: Sequence[Piece], count: int, config: MotionConfig = MotionConfig()) -> CameraMotion:
    """The rotation of each of ``count`` frames from the :class:`Piece` s of a clip, in order: each frame chained
    from the one it was linked to, then replaced by the first frame's direct rotation where one agrees with it within
    ``agree_degrees`` (a loop closed: no drift); frames between looked-at ones interpolated (:func:`_interpolated`).
    A piece's root takes the rotation the pieces before gave it (identity for the clip's first frame)."""
    rotations = {0: np.eye(3)}
    confidence = {0: 1.0}
    for piece in sorted(pieces, key=lambda p: p.keep):
        if piece.root < 0:
            continue
        local = {piece.root: rotations.get(piece.root, np.eye(3))}
        for link in piece.links:
            start = local.get(link.previous, local[piece.root])
            placed, share = (start, 0.0) if link.step is None else (link.step @ start, link.share)
            agreeing = [d for d in link.direct if rotation_angle(d[0], placed) <
                        (config.moved_agree_degrees if d[3] else config.agree_degrees)]
            if agreeing:
                placed, _, share, _ = max(agreeing, key=lambda d: d[1])
            local[link.index] = placed
            if link.index >= piece.keep:
                rotations[link.index], confidence[link.index] = placed, share
    return _interpolated(rotations, confidence, count)


def estimate_rotations(frames: Iterable[Tuple[int, np.ndarray]], count: int, k: np.ndarray,
                       boxes: Optional[Sequence[Optional[Box]]] = None,
                       config: MotionConfig = MotionConfig()) -> CameraMotion:
    """The camera's rotation on each of ``count`` frames from ``frames`` ((index, (H, W, 3) BGR) pairs in order;
    the sampled ones are looked at, and those between two sampled frames only where the camera turned fast between
    them: those the flow would follow, every ``dense_step``-th since the last sampled one, are kept for that); ``k``
    (3, 3) the intrinsics at full size; ``boxes`` the person's box per frame (masked out), or None. One
    :class:`Chain` over the whole clip."""
    chain = Chain(count, k, config)
    for index, frame in frames:
        chain.feed(index, frame, boxes[index] if boxes is not None else None)
    return assemble([chain.piece()], count, config)


def _predicted(rotations: Dict[int, np.ndarray], previous: Look, before: Optional[Look],
               index: int) -> np.ndarray:
    """The rotation at frame ``index`` if the camera turned on from ``previous`` as it did from ``before`` to
    ``previous`` (still, without ``before``)."""
    start = rotations[previous.index]
    if before is None:
        return start
    velocity = start @ rotations[before.index].T
    return _scaled(velocity, (index - previous.index) / max(1, previous.index - before.index)) @ start


def _scaled(rotation: np.ndarray, fraction: float) -> np.ndarray:
    """(3, 3) -> the rotation about the same axis by ``fraction`` of its angle."""
    quat = rotmat_to_quat_wxyz(rotation)
    return quat_wxyz_to_rotmat(quat_wxyz_slerp(np.array([1.0, 0.0, 0.0, 0.0]), quat, np.array(fraction))) \
        if fraction <= 1.0 else rotation @ _scaled(rotation, fraction - 1.0)


def _interpolated(rotations: Dict[int, np.ndarray], confidence: Dict[int, float], count: int) -> CameraMotion:
    """Rotations and confidence on every frame from those of the sampled ones (slerp between neighbours)."""
    known = sorted(rotations)
    quats = np.stack([rotmat_to_quat_wxyz(rotations[i]) for i in known])
    out = np.zeros((count, 3, 3))
    conf = np.zeros(count)
    for left, right, q0, q1 in zip(known, known[1:], quats, quats[1:]):
        span = np.arange(left, right)
        fraction = (span - left) / (right - left)
        out[left:right] = quat_wxyz_to_rotmat(quat_wxyz_slerp(np.broadcast_to(q0, (len(span), 4)),
                                                              np.broadcast_to(q1, (len(span), 4)), fraction))
        conf[left:right] = min(confidence[left], confidence[right])
    out[known[-1]:] = rotations[known[-1]]
    conf[known[-1]:] = confidence[known[-1]]
    conf[known] = [confidence[i] for i in known]
    return CameraMotion(rotations=out, confidence=conf, sampled=tuple(known))


@dataclass(frozen=True)
class MotionCheck:
    """Whether the camera turns at all: the largest turn found from the first frame (degrees) and the lowest match
    confidence behind it (0: some frame shared nothing with the first, or nothing could be matched)."""

    moves: bool
    degrees: float
    confidence: float
    first: Optional[Look] = field(default=None, compare=False)   # the first frame's look (a turning camera's anchor)


def camera_moves(frame_at: Callable[[int], Optional[np.ndarray]], count: int, k: np.ndarray,
                 boxes: Optional[Sequence[Optional[Box]]] = None, config: MotionConfig = MotionConfig(),
                 looks: int = 5, still_degrees: float = 0.25) -> MotionCheck:
    """The cheap check before :func:`estimate_rotations`: ``looks`` frames spread over the clip (the first and the
    last among them; ``frame_at(index)`` decodes one, None when it cannot) matched with the first one. The camera is
    still when each of them has a consensus spread over the view that turned less than ``still_degrees`` from it
    (of its consensus sets, the one nearest to still is read: a walker's own motion must not make a still camera
    move); ``degrees`` is then the largest such turn, and for a moving camera a lower bound of its turn (``inf``
    where a frame shares nothing with the first). A clip whose frames cannot be matched at all (no texture) is taken
    as still, with confidence 0."""
    config = sized(config, k)
    orb = orb_for(config)
    indices = sorted({int(round(i)) for i in np.linspace(0, count - 1, max(2, looks))})
    seen = []
    for index in indices:
        frame = frame_at(index)
        if frame is not None:
            seen.append(look_at(index, frame, orb, config, boxes[index] if boxes is not None else None))
    first = seen[0] if seen and seen[0].index == 0 else None
    if len(seen) < 2 or len(seen[0].points) < config.min_inliers:
        return MotionCheck(moves=False, degrees=0.0, confidence=0.0, first=first)
    largest, lowest = 0.0, 1.0
    for look in seen[1:]:
        candidates = [c for c in match(seen[0], look, k, config) if c.cells >= config.min_cells]
        if not candidates:          # nothing shared with the first frame: it turned far (or the view is bare)
            if len(look.points) >= config.min_inliers:
                return MotionCheck(moves=True, degrees=float("inf"), confidence=0.0, first=first)
            lowest = 0.0
            continue
        nearest = min(candidates, key=lambda c: float(rotation_angle(c.rotation, np.eye(3))))   # the still reading
        largest = max(largest, float(rotation_angle(nearest.rotation, np.eye(3))))
        lowest = min(lowest, nearest.share)
    return MotionCheck(moves=largest > still_degrees, degrees=largest, confidence=lowest, first=first)

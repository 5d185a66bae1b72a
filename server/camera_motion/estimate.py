"""The camera's rotation per frame, relative to the first frame, from background features (OpenCV + numpy).

Sampled frames (every ``step``-th and the last) are looked at in grey at ``scale`` of their size. Between two of
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

import cv2
import numpy as np

from ..body.rotations import nearest_rotation, quat_wxyz_slerp, quat_wxyz_to_rotmat, rotmat_to_quat_wxyz

log = logging.getLogger(__name__)

Box = Tuple[float, float, float, float]
BLACK = 3    # grey levels at or below this are an empty border, not the scene
GRID = 8     # cells per side of the grid that measures how far a set of matches spreads over the image
RETRACK_SHARE = 0.8   # optical flow that this few points followed consistently is tried again from its rotation


@dataclass(frozen=True)
class MotionConfig:
    """Tuning of the estimate (pixel values at the working ``scale``)."""

    step: int = 8                 # look at every step-th frame (and the last)
    scale: float = 0.0            # work on frames scaled by this; 0: to ``work_side`` pixels on the long side (at most
    work_side: int = 720          # ... half size), so the cost does not grow with the footage's resolution
    features: int = 700           # ORB features per sampled frame
    inner_features: int = 200     # points followed through the frames between (fresh corners when too few)
    ratio: float = 0.8            # Lowe's ratio test
    ransac_px: float = 2.0        # RANSAC reprojection threshold
    ransac_iterations: int = 150  # two-match rotation hypotheses per consensus
    min_inliers: int = 25         # fewer: no rotation from this pair
    anchor_inliers: int = 60      # the first frame places a frame directly when it matches this well
    box_pad: float = 0.1          # the person's box grows by this share of its height before it is masked out
    fast_degrees: float = 4.0     # a turn larger than this between two sampled frames (or none found): the frames
    swerve_degrees: float = 3.0   # ... or one that strays this far from turning on as before (a shake): the frames
    dense_step: int = 2           # ... between are looked at too, every dense_step-th (a whip pan is followed)
    consensus_rounds: int = 3     # RANSAC models tried per pair (the background and rigid movers)
    min_cells: int = 10           # a consensus spread over fewer of the 8 x 8 grid cells is not the background
    agree_degrees: float = 1.0    # the first frame places a frame only when it agrees with the chain this well


@dataclass(frozen=True)
class CameraMotion:
    """Per frame N: ``rotations`` (N, 3, 3) with ``x_t = R_t x_0``; ``confidence`` (N,) in [0, 1]; ``sampled`` the
    frames looked at."""

    rotations: np.ndarray
    confidence: np.ndarray
    sampled: Tuple[int, ...]


@dataclass
class Look:
    """One looked-at frame: index, keypoints (K, 2) in full-size pixels, ORB descriptors (K, 32) uint8 (None: no
    feature found)."""

    index: int
    points: np.ndarray
    descriptors: Optional[np.ndarray]
    small: Optional[np.ndarray] = field(default=None, repr=False, compare=False)   # the grey image at ``scale``
    mask: Optional[np.ndarray] = field(default=None, repr=False, compare=False)    # where features may be


def bearings(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(M, 2) pixels, K (3, 3) -> (M, 3) unit rays in the camera frame."""
    rays = np.concatenate([points, np.ones((len(points), 1))], 1) @ np.linalg.inv(k).T
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def rotation_from_rays(rays_a: np.ndarray, rays_b: np.ndarray) -> np.ndarray:
    """(M, 3), (M, 3) unit rays of the same points seen from a and b -> the rotation R_ab that best turns a's onto
    b's in the least-squares sense (Kabsch: exact for a camera that turns in place, no perspective terms to leak
    noise into, unlike the rotation read off a fitted homography)."""
    return nearest_rotation(rays_b.T @ rays_a)


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3), (..., 3, 3) -> (...) degrees between the rotations."""
    trace = np.einsum("...ij,...ij->...", a, b)
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def look_at(index: int, frame: np.ndarray, orb: "cv2.ORB", config: MotionConfig, box: Optional[Box]) -> Look:
    """ORB features of ``frame`` ((H, W, 3) BGR or (H, W) grey) at ``config.scale``, the person's ``box`` (grown by
    ``box_pad``) and black borders masked out."""
    small, mask = _small(frame, config, box)
    keypoints, descriptors = orb.detectAndCompute(small, mask)
    points = np.array([kp.pt for kp in keypoints], np.float64).reshape(-1, 2) / config.scale
    return Look(index, points, descriptors, small, mask)


def _small(frame: np.ndarray, config: MotionConfig, box: Optional[Box]) -> Tuple[np.ndarray, np.ndarray]:
    """``frame`` in grey at ``config.scale`` and the mask of where features may be: not on black borders
    (letterboxing, a stabilised or warped frame's empty edge: their corners move with the image, not with the
    scene), not on the person's ``box`` (grown by ``box_pad``)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = grey.shape[:2]
    size = (max(1, int(round(width * config.scale))), max(1, int(round(height * config.scale))))
    # halved by a Gaussian pyramid step, then the last stretch linearly: INTER_AREA at a ratio like 0.41 took 4 ms
    # of a full-HD frame, this 1
    halved = cv2.pyrDown(grey) if config.scale <= 0.5 else grey
    small = cv2.resize(halved, size, interpolation=cv2.INTER_LINEAR) if halved.shape[1] != size[0] else halved
    mask = cv2.erode((small > BLACK).astype(np.uint8) * 255, np.ones((9, 9), np.uint8))
    if box is not None:
        x0, y0, x1, y1 = (v * config.scale for v in box)
        pad = (y1 - y0) * config.box_pad
        mask[max(0, int(y0 - pad)):max(0, int(y1 + pad)), max(0, int(x0 - pad)):max(0, int(x1 + pad))] = 0
    return small, mask


def _tracked(a: Look, b: Look, k: np.ndarray, config: MotionConfig,
             predicted: np.ndarray) -> Tuple[List[_Candidate], np.ndarray]:
    """The consensus sets between a looked-at frame and a near one from ``a``'s points followed into ``b``'s image
    by pyramidal Lucas-Kanade optical flow (no features detected on ``b``, no descriptors matched: the cheap way
    through the frames between sampled ones; fresh corners on ``a`` when it has too few points), and the points as
    they landed in ``b``, inside the view and off the person's box (full-size pixels, (M, 2)): the next frame
    follows them. The flow starts where ``predicted`` (R_ab, the camera turning on as before) puts each point, so a
    whip pan's tens of pixels per frame are not lost."""
    if a.small is None or b.small is None:
        return [], np.zeros((0, 2))
    start = a.points[::max(1, -(-len(a.points) // config.inner_features))] * config.scale   # at most inner_features
    if len(start) < 2 * config.min_inliers:
        corners = cv2.goodFeaturesToTrack(a.small, config.inner_features, 0.01, 7, mask=a.mask)
        start = np.zeros((0, 2)) if corners is None else corners.reshape(-1, 2).astype(np.float64)
    if len(start) < config.min_inliers:
        return [], np.zeros((0, 2))
    guess = bearings(start / config.scale, k) @ (k @ predicted).T
    guess = guess[:, :2] / np.maximum(guess[:, 2:], 1e-6) * config.scale
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a.small, b.small, start.astype(np.float32).reshape(-1, 1, 2),
                                                guess.astype(np.float32).reshape(-1, 1, 2), winSize=(15, 15),
                                                maxLevel=3, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    moved = moved.reshape(-1, 2).astype(np.float64)
    height, width = b.small.shape[:2]
    inside = (status.ravel() == 1) & (moved[:, 0] >= 0) & (moved[:, 1] >= 0) & (moved[:, 0] < width - 1) & \
        (moved[:, 1] < height - 1)
    if b.mask is not None:
        inside[inside] = b.mask[moved[inside, 1].astype(int), moved[inside, 0].astype(int)] > 0
    src, dst = start[inside] / config.scale, moved[inside] / config.scale
    if len(src) < config.min_inliers:
        return [], dst
    sets = _consensus(src, dst, k, config)
    candidates = [_Candidate(rotation_from_rays(bearings(src[keep], k), bearings(dst[keep], k)), len(keep),
                             len(keep) / len(src), cells) for keep, cells in sets]
    return candidates, dst


@dataclass(frozen=True)
class _Candidate:
    """One consensus between two looked-at frames: the rotation R_ab its matches give, how many matches, their
    share of all matches, and how many grid cells of the image they spread over."""

    rotation: np.ndarray
    inliers: int
    share: float
    cells: int


def _match(a: Look, b: Look, k: np.ndarray, config: MotionConfig) -> List[_Candidate]:
    """The consensus sets between two looked-at frames (:func:`_consensus`), each with its rotation; [] when the
    frames share too few features."""
    if a.descriptors is None or b.descriptors is None or len(a.points) < config.min_inliers or \
            len(b.points) < config.min_inliers:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio * p[1].distance]
    if len(good) < config.min_inliers:
        return []
    src = a.points[[m.queryIdx for m in good]]
    dst = b.points[[m.trainIdx for m in good]]
    return [_Candidate(rotation_from_rays(bearings(src[keep], k), bearings(dst[keep], k)), len(keep),
                       len(keep) / len(good), cells) for keep, cells in _consensus(src, dst, k, config)]


def _consensus(src: np.ndarray, dst: np.ndarray, k: np.ndarray,
               config: MotionConfig) -> List[Tuple[np.ndarray, int]]:
    """(indices, grid cells covered) of up to ``consensus_rounds`` rotation consensus sets between the matches
    (M, 2) -> (M, 2), each found by RANSAC on what the ones before left: the background and whatever else moves
    rigidly (a walker's shirt, a car) come out as separate sets, to be told apart by their spread and motion. The
    model is a rotation (two matches fix one), not a homography: a homography's eight degrees of freedom can bend
    to cover the background and a mover at once."""
    size = 2.0 * np.array([k[0, 2], k[1, 2]])
    rays_a, rays_b = bearings(src, k), bearings(dst, k)
    threshold = np.cos(np.arctan(config.ransac_px / config.scale / k[0, 0]))   # the pixel tolerance as an angle
    rng = np.random.default_rng(0)
    remaining = np.arange(len(src))
    found: List[Tuple[np.ndarray, int]] = []
    for _ in range(config.consensus_rounds):
        if len(remaining) < config.min_inliers:
            break
        n = len(remaining)
        first = rng.integers(0, n, config.ransac_iterations)
        second = (first + 1 + rng.integers(0, n - 1, config.ransac_iterations)) % n      # never the same match
        picks = remaining[np.stack([first, second], 1)]                                   # (H, 2)
        hypotheses = nearest_rotation(rays_b[picks].transpose(0, 2, 1) @ rays_a[picks])  # (H, 3, 3)
        turned = rays_a[remaining] @ hypotheses.transpose(0, 2, 1)                          # (H, M, 3)
        agree = (turned * rays_b[remaining]).sum(-1) > threshold
        best = remaining[agree[int(agree.sum(1).argmax())]]
        if len(best) < config.min_inliers:
            break
        rotation = rotation_from_rays(rays_a[best], rays_b[best])      # refit on the consensus, then take it again
        agree = np.einsum("ij,ij->i", rays_a[remaining] @ rotation.T, rays_b[remaining]) > threshold
        inliers = remaining[agree] if agree.sum() >= len(best) else best
        cells = len({(int(x), int(y)) for x, y in np.clip(dst[inliers] / size * GRID, 0, GRID - 1)})
        found.append((inliers, cells))
        remaining = np.setdiff1d(remaining, inliers)
    return found


def _pick(candidates: Sequence[_Candidate], predicted: np.ndarray, config: MotionConfig) -> Optional[_Candidate]:
    """The background among ``candidates`` (rotations R_ab): of those spread over at least ``min_cells`` grid
    cells, the one nearest the ``predicted`` R_ab (the camera keeps turning as it did), ties to the wider spread."""
    spread = [c for c in candidates if c.cells >= config.min_cells]
    if not spread:
        return None
    return min(spread, key=lambda c: (round(float(rotation_angle(c.rotation, predicted)) / config.agree_degrees),
                                      -c.cells))


def sized(config: MotionConfig, k: np.ndarray) -> MotionConfig:
    """``config`` with its working ``scale`` for footage of intrinsics ``k`` (3, 3; the principal point at the
    image's centre): ``work_side`` over the long side, at most half size, when ``scale`` is 0."""
    if config.scale > 0.0:
        return config
    long_side = 2.0 * max(float(k[0, 2]), float(k[1, 2]))
    return replace(config, scale=min(0.5, config.work_side / max(long_side, 1.0)))


def sampled_frames(frames: int, step: int) -> List[int]:
    """The frames looked at: every ``step``-th and the last."""
    picked = list(range(0, frames, step))
    return picked + [frames - 1] if picked[-1] != frames - 1 else picked


@dataclass(frozen=True)
class Link:
    """How one looked-at frame was placed: ``step`` R_ab from frame ``previous`` (``x_index = step x_previous``;
    None: no rotation found, the previous one is held with no confidence), its inlier ``share``, and (sampled frames)
    the ``direct`` consensus sets with the first frame (R_0b, inliers, share) that may close the loop there."""

    index: int
    previous: int
    step: Optional[np.ndarray]
    share: float
    direct: Tuple[Tuple[np.ndarray, int, float], ...] = ()


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
        self.orb = cv2.ORB.create(nfeatures=config.features)
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
            if self.last is not None:
                self.between.append((index, frame, box))
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
            for inner, inner_frame, inner_box in self.between[config.dense_step - 1::config.dense_step]:
                small, mask = _small(inner_frame, config, inner_box)
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
            candidates, landed = _tracked(previous, look, self.k, config, predicted)
            first = _pick(candidates, predicted, config)
            if first is not None and first.share < RETRACK_SHARE:
                # the turn changed (a whip starts or stops): follow the flow again from where the first try put it
                candidates, landed = _tracked(previous, look, self.k, config, first.rotation)
            elif first is None and previous.small is not None and look.small is not None:
                # the flow lost its points (a blur, a swerve against the prediction): match features instead
                if previous.descriptors is None:
                    previous = self._described(previous)
                if look.descriptors is None:
                    described = self._described(look)
                    look.points, look.descriptors = described.points, described.descriptors
                candidates = _match(previous, look, self.k, config)
                landed = look.points
        else:
            candidates = _match(previous, look, self.k, config)
        step = _pick(candidates, predicted, config)
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
        direct = tuple((c.rotation, c.inliers, c.share) for c in _match(self.anchor, look, self.k, config)
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
            agreeing = [d for d in link.direct if rotation_angle(d[0], placed) < config.agree_degrees]
            if agreeing:
                placed, _, share = max(agreeing, key=lambda d: d[1])
            local[link.index] = placed
            if link.index >= piece.keep:
                rotations[link.index], confidence[link.index] = placed, share
    return _interpolated(rotations, confidence, count)


def estimate_rotations(frames: Iterable[Tuple[int, np.ndarray]], count: int, k: np.ndarray,
                       boxes: Optional[Sequence[Optional[Box]]] = None,
                       config: MotionConfig = MotionConfig()) -> CameraMotion:
    """The camera's rotation on each of ``count`` frames from ``frames`` ((index, (H, W, 3) BGR) pairs in order;
    the sampled ones are looked at, and those between two sampled frames only where the camera turned fast between
    them: the last ``step`` frames are kept for that); ``k`` (3, 3) the intrinsics at full size; ``boxes`` the
    person's box per frame (masked out), or None. One :class:`Chain` over the whole clip."""
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
    orb = cv2.ORB.create(nfeatures=config.features)
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
        candidates = [c for c in _match(seen[0], look, k, config) if c.cells >= config.min_cells]
        if not candidates:          # nothing shared with the first frame: it turned far (or the view is bare)
            if len(look.points) >= config.min_inliers:
                return MotionCheck(moves=True, degrees=float("inf"), confidence=0.0, first=first)
            lowest = 0.0
            continue
        nearest = min(candidates, key=lambda c: float(rotation_angle(c.rotation, np.eye(3))))   # the still reading
        largest = max(largest, float(rotation_angle(nearest.rotation, np.eye(3))))
        lowest = min(lowest, nearest.share)
    return MotionCheck(moves=largest > still_degrees, degrees=largest, confidence=lowest, first=first)

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
(a loop closed on the first frame), else the chain carries on from the last frame with a rotation. Frames between
sampled ones get the geodesic interpolation (slerp) of their neighbours' rotations. Confidence per frame: the
RANSAC inlier share of the match that placed it (interpolated frames: the lower of their two neighbours'), 0 where
no rotation could be found (the previous rotation is kept there).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..body.rotations import nearest_rotation, quat_wxyz_slerp, quat_wxyz_to_rotmat, rotmat_to_quat_wxyz

log = logging.getLogger(__name__)

Box = Tuple[float, float, float, float]
BLACK = 3    # grey levels at or below this are an empty border, not the scene
GRID = 8     # cells per side of the grid that measures how far a set of matches spreads over the image


@dataclass(frozen=True)
class MotionConfig:
    """Tuning of the estimate (pixel values at the working ``scale``)."""

    step: int = 8                 # look at every step-th frame (and the last)
    scale: float = 0.5            # work on frames scaled by this
    features: int = 1000          # ORB features per frame
    inner_features: int = 400     # ... per frame looked at between sampled ones
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
class _Look:
    """One sampled frame: index, keypoints (K, 2) in full-size pixels, ORB descriptors (K, 32)."""

    index: int
    points: np.ndarray
    descriptors: Optional[np.ndarray]


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


def _look(index: int, frame: np.ndarray, orb: "cv2.ORB", config: MotionConfig, box: Optional[Box]) -> _Look:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    small = cv2.resize(grey, None, fx=config.scale, fy=config.scale, interpolation=cv2.INTER_AREA)
    # no features on black borders (letterboxing, a stabilised or warped frame's empty edge): their corners would
    # move with the image, not with the scene
    mask = cv2.erode((small > BLACK).astype(np.uint8) * 255, np.ones((9, 9), np.uint8))
    if box is not None:
        x0, y0, x1, y1 = (v * config.scale for v in box)
        pad = (y1 - y0) * config.box_pad
        mask[max(0, int(y0 - pad)):max(0, int(y1 + pad)), max(0, int(x0 - pad)):max(0, int(x1 + pad))] = 0
    keypoints, descriptors = orb.detectAndCompute(small, mask)
    points = np.array([kp.pt for kp in keypoints], np.float64).reshape(-1, 2) / config.scale
    return _Look(index, points, descriptors)


@dataclass(frozen=True)
class _Candidate:
    """One consensus between two looked-at frames: the rotation R_ab its matches give, how many matches, their
    share of all matches, and how many grid cells of the image they spread over."""

    rotation: np.ndarray
    inliers: int
    share: float
    cells: int


def _match(a: _Look, b: _Look, k: np.ndarray, config: MotionConfig) -> List[_Candidate]:
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


def sampled_frames(frames: int, step: int) -> List[int]:
    """The frames looked at: every ``step``-th and the last."""
    picked = list(range(0, frames, step))
    return picked + [frames - 1] if picked[-1] != frames - 1 else picked


def estimate_rotations(frames: Iterable[Tuple[int, np.ndarray]], count: int, k: np.ndarray,
                       boxes: Optional[Sequence[Optional[Box]]] = None,
                       config: MotionConfig = MotionConfig()) -> CameraMotion:
    """The camera's rotation on each of ``count`` frames from ``frames`` ((index, (H, W, 3) BGR) pairs in order;
    the sampled ones are looked at, and those between two sampled frames only where the camera turned fast between
    them: the last ``step`` frames are kept for that); ``k`` (3, 3) the intrinsics at full size; ``boxes`` the
    person's box per frame (masked out), or None."""
    wanted = set(sampled_frames(count, config.step))
    orb = cv2.ORB.create(nfeatures=config.features)
    inner_orb = cv2.ORB.create(nfeatures=config.inner_features)   # frames between: matched to a near neighbour only
    rotations = {0: np.eye(3)}
    confidence = {0: 1.0}
    anchor: Optional[_Look] = None
    last: Optional[_Look] = None
    before: Optional[_Look] = None
    between: List[Tuple[int, np.ndarray]] = []   # the frames since the last sampled one (for a fast turn)

    def place(look: _Look, previous: _Look, before: Optional[_Look], close: bool = True) -> None:
        """Rotation of ``look``: chained from ``previous`` (the consensus nearest to turning on as between
        ``before`` and ``previous``), then (``close``) replaced by the first frame's direct one where that agrees
        with it (a loop closed: no drift; frames looked at between sampled ones skip it, their sampled frame
        closes the loop)."""
        assert anchor is not None
        start = rotations[previous.index]
        predicted = _predicted(rotations, previous, before, look.index) @ start.T
        step = _pick(_match(previous, look, k, config), predicted, config)
        if step is None:   # no rotation found: hold the previous one, with no confidence
            rotations[look.index], confidence[look.index] = start, 0.0
            return
        rotations[look.index], confidence[look.index] = step.rotation @ start, step.share
        if not close:
            return
        direct = [c for c in _match(anchor, look, k, config) if c.inliers >= config.anchor_inliers
                  and c.cells >= config.min_cells]
        agreeing = [c for c in direct if rotation_angle(c.rotation, rotations[look.index]) < config.agree_degrees]
        if agreeing:
            best = max(agreeing, key=lambda c: c.inliers)
            rotations[look.index], confidence[look.index] = best.rotation, best.share

    def look_at(index: int, frame: np.ndarray, detector: "cv2.ORB" = orb) -> _Look:
        return _look(index, frame, detector, config, boxes[index] if boxes is not None else None)

    for index, frame in frames:
        if index not in wanted:
            between.append((index, frame))
            continue
        look = look_at(index, frame)
        if anchor is None or last is None:
            anchor = last = look
            between.clear()
            continue
        place(look, last, before)
        turned = rotation_angle(rotations[index], rotations[last.index])
        swerved = rotation_angle(rotations[index], _predicted(rotations, last, before, index)) if before else 0.0
        lost = confidence[index] == 0.0      # no overlap left with the last sampled frame: too fast a turn
        if (turned > config.fast_degrees or swerved > config.swerve_degrees or lost) and between:
            previous, earlier = last, before   # a fast turn: chain through the frames between, then this one again
            for inner, inner_frame in between[config.dense_step - 1::config.dense_step]:
                inner_look = look_at(inner, inner_frame, inner_orb)
                place(inner_look, previous, earlier, close=False)
                previous, earlier = inner_look, previous
            place(look, previous, earlier)
        between.clear()
        before, last = last, look
    return _interpolated(rotations, confidence, count)


def _predicted(rotations: dict, previous: _Look, before: Optional[_Look], index: int) -> np.ndarray:
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


def _interpolated(rotations: dict, confidence: dict, count: int) -> CameraMotion:
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
    orb = cv2.ORB.create(nfeatures=config.features)
    indices = sorted({int(round(i)) for i in np.linspace(0, count - 1, max(2, looks))})
    seen = []
    for index in indices:
        frame = frame_at(index)
        if frame is not None:
            seen.append(_look(index, frame, orb, config, boxes[index] if boxes is not None else None))
    if len(seen) < 2 or len(seen[0].points) < config.min_inliers:
        return MotionCheck(moves=False, degrees=0.0, confidence=0.0)
    largest, lowest = 0.0, 1.0
    for look in seen[1:]:
        candidates = [c for c in _match(seen[0], look, k, config) if c.cells >= config.min_cells]
        if not candidates:          # nothing shared with the first frame: it turned far (or the view is bare)
            if len(look.points) >= config.min_inliers:
                return MotionCheck(moves=True, degrees=float("inf"), confidence=0.0)
            lowest = 0.0
            continue
        nearest = min(candidates, key=lambda c: float(rotation_angle(c.rotation, np.eye(3))))   # the still reading
        largest = max(largest, float(rotation_angle(nearest.rotation, np.eye(3))))
        lowest = min(lowest, nearest.share)
    return MotionCheck(moves=largest > still_degrees, degrees=largest, confidence=lowest)

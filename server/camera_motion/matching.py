"""Matching two looked-at frames of a turning camera (OpenCV + numpy): ORB features at a working scale with the
person and black borders masked (:func:`look_at`), their consensus rotations (RANSAC on two-match rotations, refitted
by least squares on unit rays: :func:`match`), the same from points followed by optical flow (:func:`flow_match`),
an essential matrix's rotation where the camera also walked (:func:`parallax_rotation`), and which consensus is the
background (:func:`pick`). :mod:`.estimate` chains these into each frame's rotation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..body.rotations import nearest_rotation

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
    features: int = 500           # ORB features per sampled frame
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
    flow_window: int = 11         # Lucas-Kanade's window (pixels at ``scale``) through the frames between
    consensus_rounds: int = 3     # RANSAC models tried per pair (the background and rigid movers)
    min_cells: int = 10           # a consensus spread over fewer of the 8 x 8 grid cells is not the background
    agree_degrees: float = 1.0    # the first frame places a frame only when it agrees with the chain this well
    moved_agree_degrees: float = 5.0   # ... or this well through an essential matrix (a moving camera's chain drifts)
    # a camera that walks as it turns (:func:`candidates_of`): where the background's rotation holds less than
    # parallax_share of the matches, an essential matrix's rotation is taken when it holds parallax_gain times its
    # matches over parallax_cells times its grid cells and no one homography explains flat_share of them
    parallax_share: float = 0.75
    parallax_gain: float = 1.2
    parallax_cells: float = 1.5
    flat_share: float = 0.8


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


def two_ray_rotations(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """(H, 3) unit rays ``a1``, ``a2`` seen as ``b1``, ``b2`` -> (H, 3, 3) the rotations taking ``a1`` onto ``b1``
    exactly and the plane of ``a1``, ``a2`` onto that of ``b1``, ``b2`` (the TRIAD construction: a RANSAC
    hypothesis from two matches, four times cheaper than an SVD each). Two parallel rays give NaN (no hypothesis)."""
    def frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        normal = np.cross(x, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            normal = normal / np.linalg.norm(normal, axis=-1, keepdims=True)
        return np.stack([x, normal, np.cross(x, normal)], -1)
    return frame(b1, b2) @ np.swapaxes(frame(a1, a2), -1, -2)


def grid_cells(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(M, 2) full-size pixels of footage with intrinsics ``k`` (the principal point at the centre) -> (M,) the
    index of the ``GRID`` x ``GRID`` cell each lies in (how far a set of matches spreads over the image)."""
    size = 2.0 * np.array([k[0, 2], k[1, 2]])
    return np.clip(points / size * GRID, 0, GRID - 1).astype(int) @ np.array([1, GRID])


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3), (..., 3, 3) -> (...) degrees between the rotations."""
    trace = np.einsum("...ij,...ij->...", a, b)
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))


def orb_for(config: MotionConfig) -> "cv2.ORB":
    """The ORB detector of ``config`` (``features`` per frame)."""
    return cv2.ORB.create(nfeatures=config.features)


def look_at(index: int, frame: np.ndarray, orb: "cv2.ORB", config: MotionConfig, box: Optional[Box]) -> Look:
    """ORB features of ``frame`` ((H, W, 3) BGR or (H, W) grey) at ``config.scale``, the person's ``box`` (grown by
    ``box_pad``) and black borders masked out."""
    small, mask = small_grey(frame, config, box)
    keypoints, descriptors = orb.detectAndCompute(small, mask)
    points = np.array([kp.pt for kp in keypoints], np.float64).reshape(-1, 2) / config.scale
    return Look(index, points, descriptors, small, mask)


def small_grey(frame: np.ndarray, config: MotionConfig, box: Optional[Box]) -> Tuple[np.ndarray, np.ndarray]:
    """``frame`` ((H, W, 3) BGR, or (H, W) grey) in grey at ``config.scale`` and the mask of where features may be:
    not on black borders (letterboxing, a stabilised or warped frame's empty edge: their corners move with the image,
    not with the scene; the mask is eroded only where there are any), not on the person's ``box`` (grown by
    ``box_pad``)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = grey.shape[:2]
    size = (max(1, int(round(width * config.scale))), max(1, int(round(height * config.scale))))
    # halved by a Gaussian pyramid step, then the last stretch linearly: INTER_AREA at a ratio like 0.41 took 4 ms
    # of a full-HD frame, this 1
    halved = cv2.pyrDown(grey) if config.scale <= 0.5 else grey
    small = cv2.resize(halved, size, interpolation=cv2.INTER_LINEAR) if halved.shape[1] != size[0] else halved
    mask = np.full(small.shape, 255, np.uint8) if small.min() > BLACK else \
        cv2.erode((small > BLACK).astype(np.uint8) * 255, np.ones((9, 9), np.uint8))
    if box is not None:
        x0, y0, x1, y1 = (v * config.scale for v in box)
        pad = (y1 - y0) * config.box_pad
        mask[max(0, int(y0 - pad)):max(0, int(y1 + pad)), max(0, int(x0 - pad)):max(0, int(x1 + pad))] = 0
    return small, mask


def flow_match(a: Look, b: Look, k: np.ndarray, config: MotionConfig,
             predicted: np.ndarray) -> Tuple[List[Candidate], np.ndarray]:
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
                                                guess.astype(np.float32).reshape(-1, 1, 2),
                                                winSize=(config.flow_window, config.flow_window),
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
    return candidates_of(src, dst, k, config), dst


@dataclass(frozen=True)
class Candidate:
    """One consensus between two looked-at frames: the rotation R_ab its matches give, how many matches, their
    share of all matches, how many grid cells of the image they spread over, whether it came from an essential
    matrix (``moved``), and which matches (``indices``)."""

    rotation: np.ndarray
    inliers: int
    share: float
    cells: int
    moved: bool = False     # from an essential matrix: the camera moved as well as turned (parallax)
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)


def match(a: Look, b: Look, k: np.ndarray, config: MotionConfig) -> List[Candidate]:
    """The consensus sets between two looked-at frames (:func:`consensus`), each with its rotation; [] when the
    frames share too few features."""
    if a.descriptors is None or b.descriptors is None or len(a.points) < config.min_inliers or \
            len(b.points) < config.min_inliers:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio * p[1].distance]
    if len(good) < config.min_inliers:
        return []
    return candidates_of(a.points[[m.queryIdx for m in good]], b.points[[m.trainIdx for m in good]], k, config)


class Matches(NamedTuple):
    """M matched points seen from frame a and frame b: pixels ``src``, ``dst`` (M, 2), their unit rays ``rays_a``,
    ``rays_b`` (M, 3) and the grid cell of each in b (M,) (:func:`grid_cells`), worked out once per pair."""

    src: np.ndarray
    dst: np.ndarray
    rays_a: np.ndarray
    rays_b: np.ndarray
    cells: np.ndarray

    @classmethod
    def of(cls, src: np.ndarray, dst: np.ndarray, k: np.ndarray) -> "Matches":
        """The matches ``src`` -> ``dst`` (M, 2 full-size pixels) of footage with intrinsics ``k``."""
        return cls(src, dst, bearings(src, k), bearings(dst, k), grid_cells(dst, k))


def candidates_of(src: np.ndarray, dst: np.ndarray, k: np.ndarray, config: MotionConfig) -> List[Candidate]:
    """The consensus sets between matches (M, 2) -> (M, 2) (full-size pixels), each with its rotation
    (:func:`consensus`); where the widest of them holds less than ``parallax_share`` of the matches, the rotation
    of an essential matrix in their place when it explains more of them over more of the image
    (:func:`parallax_rotation`: the near background a walking camera slides across the far one; a mover adds
    matches in a few places only, and where no background was found none is made up) and no one homography explains
    them as well (then the scene is flat or the lens zoomed, and the essential matrix is degenerate)."""
    pairs = Matches.of(src, dst, k)
    found = [Candidate(rotation_from_rays(pairs.rays_a[keep], pairs.rays_b[keep]), len(keep), len(keep) / len(src),
                       cells, False, keep) for keep, cells in consensus(pairs, k, config)]
    spread = [c for c in found if c.cells >= config.min_cells]
    widest = max(spread, key=lambda c: c.inliers, default=None)
    if widest is None or widest.share >= config.parallax_share:
        return found        # a turn explains the background (or there is none: none is made up from what is left)
    moving = parallax_rotation(pairs, k, config, widest.inliers)
    if moving is None or moving.cells < config.parallax_cells * widest.cells:
        return found        # its extra matches gather in a few places: a mover, not the near background
    _, flat = cv2.findHomography(src, dst, cv2.RANSAC, config.ransac_px / config.scale)
    if flat is not None and flat.sum() >= config.flat_share * moving.inliers:
        return found        # one homography explains them (a zoom, a flat scene): the essential matrix is degenerate
    # the essential matrix's matches take the place of the rotation sets they hold (the background's pieces)
    return [moving] + [c for c in found if np.isin(c.indices, moving.indices).mean() < 0.5]


def parallax_rotation(pairs: "Matches", k: np.ndarray, config: MotionConfig, beaten: int) -> Optional[Candidate]:
    """The camera's rotation between two frames of a camera that moves as well as turns (a walking camera: near
    things slide across far ones, so no single rotation explains the background's matches): an essential matrix
    (five-point MAGSAC, ``cv2.findEssentialMat``) decomposed by ``cv2.recoverPose``. Taken (a :class:`Candidate`)
    only when it holds ``parallax_gain`` times the ``beaten`` matches of the best rotation, spread over at least
    ``min_cells``, most of them in front of both cameras, and its matches stray from its rotation alone by more than
    ``ransac_px`` (median): for a camera that only turns, the essential matrix is degenerate (any translation fits)
    and its rotation is not trusted."""
    src, dst = pairs.src, pairs.dst
    if len(src) < max(8, config.min_inliers):
        return None
    threshold = config.ransac_px / config.scale       # full-size pixels
    essential, mask = cv2.findEssentialMat(src, dst, k, method=cv2.USAC_MAGSAC, prob=0.999, threshold=threshold)
    if essential is None or essential.shape != (3, 3) or mask is None:
        return None
    kept, rotation, _, _ = cv2.recoverPose(essential, src, dst, k, mask=mask.copy())
    inliers = np.flatnonzero(mask.ravel() > 0)
    if len(inliers) < max(config.min_inliers, config.parallax_gain * beaten) or kept < len(inliers) / 2:
        return None      # too few, or most of them behind a camera: the decomposition is not to be trusted
    cells = len(np.unique(pairs.cells[inliers]))
    turned = pairs.rays_a[inliers] @ rotation.T
    stray = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", turned, pairs.rays_b[inliers]), -1.0, 1.0)))
    if cells < config.min_cells or np.median(stray) < np.degrees(np.arctan(threshold / k[0, 0])):
        return None
    return Candidate(np.asarray(rotation, np.float64), len(inliers), len(inliers) / len(src), cells, True, inliers)


def consensus(pairs: "Matches", k: np.ndarray, config: MotionConfig) -> List[Tuple[np.ndarray, int]]:
    """(indices, grid cells covered) of up to ``consensus_rounds`` rotation consensus sets between the M matched
    ``pairs``, each found by RANSAC on what the ones before left: the background and whatever else moves
    rigidly (a walker's shirt, a car) come out as separate sets, to be told apart by their spread and motion. The
    model is a rotation (two matches fix one), not a homography: a homography's eight degrees of freedom can bend
    to cover the background and a mover at once."""
    rays_a, rays_b, cell = pairs.rays_a, pairs.rays_b, pairs.cells
    outer = (rays_b[:, :, None] * rays_a[:, None, :]).reshape(-1, 9)   # R a . b = <R, b a^T>: one product scores all
    threshold = np.cos(np.arctan(config.ransac_px / config.scale / k[0, 0]))   # the pixel tolerance as an angle
    rng = np.random.default_rng(0)
    remaining = np.arange(len(rays_a))
    found: List[Tuple[np.ndarray, int]] = []
    for _ in range(config.consensus_rounds):
        if len(remaining) < config.min_inliers:
            break
        n = len(remaining)
        first = rng.integers(0, n, config.ransac_iterations)
        second = (first + 1 + rng.integers(0, n - 1, config.ransac_iterations)) % n      # never the same match
        first, second = remaining[first], remaining[second]
        hypotheses = two_ray_rotations(rays_a[first], rays_a[second], rays_b[first], rays_b[second])   # (H, 3, 3)
        agree = hypotheses.reshape(-1, 9) @ outer[remaining].T > threshold                  # (H, M)
        best = remaining[agree[int(agree.sum(1).argmax())]]
        if len(best) < config.min_inliers:
            break
        rotation = rotation_from_rays(rays_a[best], rays_b[best])      # refit on the consensus, then take it again
        agree_refit = outer[remaining] @ rotation.reshape(9) > threshold
        inliers = remaining[agree_refit] if agree_refit.sum() >= len(best) else best
        found.append((inliers, len(np.unique(cell[inliers]))))
        remaining = np.setdiff1d(remaining, inliers)
    return found


def pick(candidates: Sequence[Candidate], predicted: np.ndarray, config: MotionConfig) -> Optional[Candidate]:
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

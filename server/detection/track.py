"""Follow one person through a clip with a single-person detector.

BlazePose (legacy API) sees one person per image. Left alone on the full frame it jumps to whoever is
most prominent when it loses its person (a passer-by, say). The follower keeps the identity of the
first person it finds: it looks for them in a crop around their predicted box, accepts a detection only
when it is where that person could be (a gate that widens while the person is lost), and while lost it
scans crops at the person's scale within the gate's reach, on the 1st, 2nd, 4th, 8th ... lost frame. Box maths are
pure functions.

With a ``guide`` (sampled frame -> box of the chosen person, from :mod:`server.detection.people_tracks`) the follower follows that
person instead of the first one found: before and inside the guide's span it only accepts detections near the
guide's (interpolated) box, never a full-frame jump to someone else; past the span it follows as usual.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, cast

import numpy as np

log = logging.getLogger(__name__)

Box = np.ndarray  # (4,) float: x0, y0, x1, y1 in pixels
Detect = Callable[[np.ndarray], Optional["Observation"]]


@dataclass(frozen=True)
class Observation:
    """Landmarks of one person. image: (33, 3) pixels + visibility; world: (33, 4) metres + visibility."""

    image: np.ndarray
    world: np.ndarray


@dataclass(frozen=True)
class TrackConfig:
    """Tuning of the follower (pixels are relative to the person's box height unless stated)."""

    crop_scale: float = 1.8        # crop side = scale * max(box width, box height)
    min_crop_side: int = 192       # pixels
    gate_base: float = 0.6         # accept within gate_base * box height of the prediction ...
    gate_growth: float = 0.35      # ... plus this much per frame the person has been lost
    min_size_ratio: float = 0.4    # a detection's height must be within these ratios of the track's
    max_size_ratio: float = 2.5
    min_visibility: float = 0.3
    min_visible_landmarks: int = 8  # at least this many landmarks at visibility >= 0.5
    min_scan_fraction: float = 0.5  # scan windows are at least this much of the image's short side


def box_from_landmarks(image: np.ndarray, min_visibility: float = 0.3) -> Box:
    """(33, 3) landmarks -> (4,) bounding box of the visible ones (all of them if fewer than 4 are visible)."""
    visible = image[:, 2] >= min_visibility
    points = image[visible, :2] if visible.sum() >= 4 else image[:, :2]
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float64)


def box_centre(box: Box) -> np.ndarray:
    return (box[:2] + box[2:]) / 2.0


def box_height(box: Box) -> float:
    """The box's larger side, at least 1 pixel (a lying or diving person is wider than tall)."""
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def crop_window(box: Box, config: TrackConfig) -> Tuple[int, int, int]:
    """Square crop (x0, y0, side) in pixels centred on ``box``; it may reach outside the image."""
    side = int(round(max(box_height(box) * config.crop_scale, config.min_crop_side)))
    centre = box_centre(box)
    return int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2)), side


def cut_crop(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """(H, W, 3) image -> (side, side, 3) crop, black where the window leaves the image."""
    height, width = rgb.shape[:2]
    canvas = np.zeros((side, side, 3), dtype=rgb.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return canvas


def within_gate(candidate: Box, predicted: Box, frames_lost: int, config: TrackConfig) -> bool:
    """True when ``candidate`` can be the followed person, predicted at ``predicted``."""
    size = box_height(predicted)
    ratio = box_height(candidate) / size
    if not config.min_size_ratio <= ratio <= config.max_size_ratio:
        return False
    reach = (config.gate_base + config.gate_growth * frames_lost) * size
    return float(np.linalg.norm(box_centre(candidate) - box_centre(predicted))) <= reach


def scan_windows(image_size: Tuple[int, int], box: Box, config: TrackConfig,
                 reach: Optional[float] = None) -> List[Tuple[int, int, int]]:
    """Overlapping square crops at the person's scale (at least :attr:`TrackConfig.min_scan_fraction` of the short
    side, so a curled-up person does not cost a hundred windows) covering the (width, height) image; with ``reach``
    (pixels), only the windows that come within ``reach`` of the box's centre."""
    width, height = image_size
    side = int(round(max(box_height(box) * config.crop_scale, config.min_crop_side,
                         config.min_scan_fraction * min(width, height))))
    step = max(side // 2, 1)
    xs = list(range(0, max(width - side, 0) + 1, step)) or [0]
    ys = list(range(0, max(height - side, 0) + 1, step)) or [0]
    if xs[-1] + side < width:
        xs.append(width - side)
    if ys[-1] + side < height:
        ys.append(height - side)
    windows = [(x, y, side) for y in ys for x in xs]
    if reach is None:
        return windows
    cx, cy = box_centre(box)
    return [(x, y, s) for x, y, s in windows
            if np.hypot(cx - min(max(cx, x), x + s), cy - min(max(cy, y), y + s)) <= reach]


def scans_on(frames_lost: int) -> bool:
    """Whether a follower that has lost its person for ``frames_lost`` frames scans for them on this frame: on the
    1st, 2nd, 4th, 8th ... lost frame (a person gone for long costs a scan now and then, not on every frame)."""
    count = frames_lost + 1
    return count & (count - 1) == 0


def interpolate_guide(guide: Dict[int, Box], frame: int) -> Tuple[Box, int]:
    """The guide's box at ``frame`` (linear between its sampled frames, the nearest end outside them) and how many
    frames ``frame`` lies outside the guide's span (0 inside)."""
    keys = sorted(guide)
    if frame <= keys[0]:
        return guide[keys[0]], keys[0] - frame
    if frame >= keys[-1]:
        return guide[keys[-1]], frame - keys[-1]
    after = int(np.searchsorted(keys, frame))
    f0, f1 = keys[after - 1], keys[after]
    t = (frame - f0) / (f1 - f0)
    return (1.0 - t) * guide[f0] + t * guide[f1], 0


def shift_observation(observation: Observation, x0: int, y0: int) -> Observation:
    """Move crop-space image landmarks back into frame pixels (world landmarks do not depend on the crop)."""
    image = observation.image.copy()
    image[:, 0] += x0
    image[:, 1] += y0
    return Observation(image=image, world=observation.world)


class PersonFollower:
    """Follows the first person found (or, with a ``guide``, the chosen one); call :meth:`step` on each frame.

    ``full``, ``crop`` and ``scan`` detect one person in an RGB image and return an :class:`Observation`
    in that image's pixels: ``full`` and ``crop`` may track across calls (video mode), ``scan`` must not
    (it sees unrelated windows). ``guide``: frame -> (4,) box of the person to follow (see the module docs);
    it needs :meth:`step`'s ``index``.
    """

    def __init__(self, full: Detect, crop: Detect, scan: Detect, config: TrackConfig = TrackConfig(),
                 guide: Optional[Dict[int, Box]] = None) -> None:
        self._full, self._crop, self._scan = full, crop, scan
        self.config = config
        self.guide = {int(k): np.asarray(v, dtype=np.float64) for k, v in guide.items()} if guide else None
        self.box: Optional[Box] = None
        self.velocity = np.zeros(2)
        self.frames_lost = 0

    def predicted_box(self) -> Optional[Box]:
        """The track's box moved by its velocity for each frame since it was last seen."""
        if self.box is None:
            return None
        shift = self.velocity * (self.frames_lost + 1)
        return self.box + np.concatenate([shift, shift])

    def step(self, rgb: np.ndarray, index: Optional[int] = None) -> Optional[Observation]:
        """Find the followed person in frame ``index``; None when they are not (reliably) there."""
        if self.guide is not None and index is not None:
            found = self._find_guided(rgb, index)
        else:
            found = self._find(rgb, self.predicted_box())
        if found is None:
            self.frames_lost += 1
            if self.frames_lost > 3:
                self.velocity *= 0.0  # after a few lost frames, stop extrapolating
            return None
        self._update(box_from_landmarks(found.image, self.config.min_visibility))
        return found

    def _find(self, rgb: np.ndarray, predicted: Optional[Box]) -> Optional[Observation]:
        if predicted is None:
            return self._full(rgb)
        x0, y0, side = crop_window(predicted, self.config)
        for attempt in (lambda: self._in_crop(self._crop, rgb, x0, y0, side), lambda: self._full(rgb)):
            candidate = attempt()
            if candidate is not None and self._accepts(candidate, predicted, (rgb.shape[1], rgb.shape[0])):
                return candidate
        return self._search(rgb, predicted)

    def _find_guided(self, rgb: np.ndarray, index: int) -> Optional[Observation]:
        """Before and inside the guide's span: a crop around the track (or the guide's box while lost), then the
        full frame, each accepted only near the guide's box; past the span: :meth:`_find` from the last position."""
        assert self.guide is not None  # step calls this only with a guide
        anchor, outside = interpolate_guide(self.guide, index)
        if index > max(self.guide) and self.box is not None:
            return self._find(rgb, self.predicted_box())
        anchor_lost = 1 + min(outside, 16) // 4  # the guide's box is less sure the further from its frames
        tracking = self.box is not None and self.frames_lost == 0
        predicted, lost = (cast(Box, self.predicted_box()), 0) if tracking else (anchor, anchor_lost)  # box is set
        size = (rgb.shape[1], rgb.shape[0])
        x0, y0, side = crop_window(predicted, self.config)
        for attempt in (lambda: self._in_crop(self._crop, rgb, x0, y0, side), lambda: self._full(rgb)):
            candidate = attempt()
            if (candidate is not None and self._accepts(candidate, predicted, size, lost)
                    and (not tracking or self._accepts(candidate, anchor, size, anchor_lost + 1))):
                return candidate
        return None

    def scan_plan(self, image_size: Tuple[int, int], predicted: Box) -> List[Tuple[int, int, int]]:
        """The windows :meth:`_search` looks at: those within the gate's current reach of the prediction."""
        reach = (self.config.gate_base + self.config.gate_growth * self.frames_lost) * box_height(predicted)
        return scan_windows(image_size, predicted, self.config, reach)

    def _search(self, rgb: np.ndarray, predicted: Box) -> Optional[Observation]:
        """Scan crops near the prediction (on the frames :func:`scans_on` picks); keep the accepted detection nearest
        to the prediction."""
        if not scans_on(self.frames_lost):
            return None
        best, best_distance = None, np.inf
        height, width = rgb.shape[:2]
        for x0, y0, side in self.scan_plan((width, height), predicted):
            candidate = self._in_crop(self._scan, rgb, x0, y0, side)
            if candidate is None or not self._accepts(candidate, predicted, (width, height)):
                continue
            distance = float(np.linalg.norm(box_centre(box_from_landmarks(candidate.image)) - box_centre(predicted)))
            if distance < best_distance:
                best, best_distance = candidate, distance
        return best

    @staticmethod
    def _in_crop(detect: Detect, rgb: np.ndarray, x0: int, y0: int, side: int) -> Optional[Observation]:
        found = detect(cut_crop(rgb, x0, y0, side))
        return None if found is None else shift_observation(found, x0, y0)

    def _accepts(self, candidate: Observation, predicted: Box, image_size: Tuple[int, int],
                 frames_lost: Optional[int] = None) -> bool:
        """Plausible (enough visible landmarks, centred inside the frame) and where the person can be (the gate
        as after ``frames_lost`` lost frames; default: the follower's own count)."""
        if int((candidate.image[:, 2] >= 0.5).sum()) < self.config.min_visible_landmarks:
            return False
        box = box_from_landmarks(candidate.image, self.config.min_visibility)
        centre = box_centre(box)
        if not (0 <= centre[0] < image_size[0] and 0 <= centre[1] < image_size[1]):
            return False
        lost = self.frames_lost if frames_lost is None else frames_lost
        return within_gate(box, predicted, lost, self.config)

    def _update(self, box: Box) -> None:
        if self.box is not None:
            moved = (box_centre(box) - box_centre(self.box)) / (self.frames_lost + 1)
            self.velocity = 0.5 * self.velocity + 0.5 * moved
        self.box = box
        self.frames_lost = 0

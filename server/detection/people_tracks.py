"""Several people in the footage: find everyone with a one-person detector, link them into tracks, score them.

BlazePose (legacy API) sees one person per image, so :func:`detect_people` finds several by looking at square
windows of the frame (as tall as the frame; a full-width frame makes people too small for the detector) and, in
each, blacking out every person found so the next call finds the next one. :func:`link_tracks` links the sightings
of sampled frames into tracks by box gating (centre distance relative to the box height, size ratio), greedily,
nearest first. Everything here is pure numpy; the detector is any callable (MediaPipe in :mod:`server.detection.listing`).

"Most visible" (the default person to capture) is the track with the largest :attr:`PersonTrack.score`: the sum,
over the sampled frames where the person was seen, of the fraction of their 33 landmarks visible (>= 0.5) times
their box height relative to the frame height. So a person seen longer, more completely and bigger wins; ties go
to the one seen first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Container, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..options import PeopleOptions
from .track import Box, Observation, box_centre, box_from_landmarks, box_height, interpolate_guide

log = logging.getLogger(__name__)

Detect = Callable[[np.ndarray], Optional[Observation]]


@dataclass(frozen=True)
class PeopleConfig:
    """Tuning of the discovery (distances are relative to the person's box height)."""

    step: int = 8                   # sample every ``step`` frames (and the first)
    max_people: int = PeopleOptions.max_people   # people looked for per frame (the declared default)
    min_visible_landmarks: int = 8  # a sighting needs this many landmarks at visibility >= 0.5
    mask_pad: float = 0.12          # blacked-out box grows by this much of its height on every side
    same_person_iou: float = 0.3    # two sightings in one frame overlapping this much are one person ...
    same_person_cover: float = 0.6  # ... or when this much of the smaller box lies inside the other
    link_base: float = 0.6          # link to a track within link_base * height of its last box ...
    link_per_frame: float = 0.1     # ... plus this much per frame since it was last seen
    link_size_ratio: float = 3.0    # heights of linked sightings differ by at most this factor (curling up)
    max_gap: int = 45               # frames a track may go unseen and still be continued
    cross_iou: float = 0.3          # two people whose boxes overlap more than this "cross"
    steady: float = 0.25            # between two looked-at frames (see :func:`look_at_samples`) a frame is skipped when
    steady_size: float = 1.25       # everyone moved on a line within this much of their height, sizes within this


@dataclass(frozen=True)
class Sighting:
    """One person found in one sampled frame: box (4,) pixels, fraction of landmarks visible."""

    frame: int
    box: Box
    visible: float


@dataclass
class PersonTrack:
    """One person through the sampled frames; ``id`` is 1-based, 1 = the most visible (see module docs)."""

    id: int
    sightings: List[Sighting] = field(default_factory=list)
    score: float = 0.0

    @property
    def first_frame(self) -> int:
        return self.sightings[0].frame

    @property
    def last_frame(self) -> int:
        return self.sightings[-1].frame

    @property
    def frames_seen(self) -> int:
        return len(self.sightings)

    @property
    def visibility(self) -> float:
        """Mean fraction of landmarks visible over the sightings."""
        return float(np.mean([s.visible for s in self.sightings]))

    def representative(self) -> Sighting:
        """The sighting that shows the person best (most visible, then biggest)."""
        return max(self.sightings, key=lambda s: (s.visible, box_height(s.box)))

    def guide(self) -> Dict[int, Box]:
        """Sampled frame -> box, the follower's guide (:class:`server.detection.track.PersonFollower`)."""
        return {s.frame: s.box for s in self.sightings}


@dataclass(frozen=True)
class Crossing:
    """Frames ``first_frame..last_frame`` (sampled) where track ``a``'s and ``b``'s boxes overlap."""

    a: int
    b: int
    first_frame: int
    last_frame: int


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (4,) boxes."""
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return float(inter / union) if union > 0 else 0.0


def _area(box: Box) -> float:
    return float(max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0))


def _intersection(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(w, 0.0) * max(h, 0.0))


def same_person(a: Box, b: Box, config: PeopleConfig = PeopleConfig()) -> bool:
    """True when two boxes of one frame are (most likely) the same person."""
    smaller = min(_area(a), _area(b))
    cover = _intersection(a, b) / smaller if smaller > 0 else 0.0
    return box_iou(a, b) > config.same_person_iou or cover > config.same_person_cover


def square_windows(width: int, height: int) -> List[Tuple[int, int, int]]:
    """Square windows (x0, y0, side) as long as the frame's short side, overlapping by half, covering it all."""
    side = min(width, height)
    long_side = max(width, height)
    starts = list(range(0, long_side - side + 1, max(side // 2, 1)))
    if starts[-1] + side < long_side:
        starts.append(long_side - side)
    return [(s, 0, side) if width >= height else (0, s, side) for s in starts]


def mask_box(rgb: np.ndarray, box: Box, pad: float) -> None:
    """Black out ``box`` grown by ``pad`` of its height on every side, in place."""
    grow = pad * box_height(box)
    height, width = rgb.shape[:2]
    x0, y0 = int(max(box[0] - grow, 0)), int(max(box[1] - grow, 0))
    x1, y1 = int(min(box[2] + grow, width)), int(min(box[3] + grow, height))
    if x1 > x0 and y1 > y0:
        rgb[y0:y1, x0:x1] = 0


def detect_people(detect: Detect, rgb: np.ndarray, frame: int,
                  config: PeopleConfig = PeopleConfig()) -> List[Sighting]:
    """Everyone ``detect`` (a static, one-person detector) finds in the (H, W, 3) frame, at most ``max_people``.

    Each window of :func:`square_windows` is searched repeatedly; every person found is blacked out of a working
    copy of the frame, so later calls see the others. A person cut by a window's inner edge is blacked out of that
    window only (the overlapping next window sees them whole); implausible detections (too few visible landmarks)
    are blacked out and not kept.
    """
    work = rgb.copy()
    height, width = rgb.shape[:2]
    found: List[Sighting] = []
    for x0, y0, side in square_windows(width, height):
        window = work[y0:y0 + side, x0:x0 + side].copy()
        inner = (x0 > 0, y0 > 0, x0 + side < width, y0 + side < height)   # window edges inside the frame
        for _ in range(config.max_people + 1):
            if len(found) >= config.max_people:
                return found
            observation = detect(window)
            if observation is None:
                break
            visible = observation.image[:, 2] >= 0.5
            local = box_from_landmarks(observation.image)
            box = local + np.array([x0, y0, x0, y0], dtype=np.float64)
            mask_box(window, local, config.mask_pad)
            if _cut_by_edge(local, side, inner):
                continue
            mask_box(work, box, config.mask_pad)
            if int(visible.sum()) < config.min_visible_landmarks:
                continue
            if any(same_person(box, other.box, config) for other in found):
                continue
            found.append(Sighting(frame=frame, box=box, visible=float(visible.mean())))
    return found


def _cut_by_edge(box: Box, side: int, inner: Tuple[bool, bool, bool, bool]) -> bool:
    """True when a window-space box reaches a window edge that lies inside the frame (within 1% of the side)."""
    margin = 0.01 * side
    reach = (box[0] <= margin, box[1] <= margin, box[2] >= side - margin, box[3] >= side - margin)
    return any(r and i for r, i in zip(reach, inner))


def link_tracks(frames: Sequence[Tuple[int, List[Sighting]]], frame_height: int,
                config: PeopleConfig = PeopleConfig()) -> List[PersonTrack]:
    """Sampled frames (in order) with their sightings -> tracks, ranked by :func:`track_score` (id 1 = best).

    Each sighting joins the open track whose last box is nearest (relative to that box's height) when it is within
    the link gate; otherwise it starts a new track. Tracks unseen for more than ``max_gap`` frames are closed.
    """
    tracks: List[PersonTrack] = []
    for frame, sightings in frames:
        open_tracks = [t for t in tracks if frame - t.last_frame <= config.max_gap]
        pairs = []
        for i, sighting in enumerate(sightings):
            for track in open_tracks:
                cost = _link_cost(track.sightings[-1], sighting, config)
                if cost is not None:
                    pairs.append((cost, i, id(track), track))
        used_sightings, used_tracks = set(), set()
        for _cost, i, key, track in sorted(pairs, key=lambda p: p[:2]):
            if i in used_sightings or key in used_tracks:
                continue
            track.sightings.append(sightings[i])
            used_sightings.add(i)
            used_tracks.add(key)
        for i, sighting in enumerate(sightings):
            if i not in used_sightings:
                tracks.append(PersonTrack(id=0, sightings=[sighting]))
    weights = sample_weights([frame for frame, _ in frames], config.step)
    for track in tracks:
        track.score = track_score(track, frame_height, weights)
    tracks.sort(key=lambda t: (-t.score, t.first_frame))
    for rank, track in enumerate(tracks, start=1):
        track.id = rank
    return tracks


def _link_cost(last: Sighting, new: Sighting, config: PeopleConfig) -> Optional[float]:
    """Distance between the boxes in units of the larger box's height (a person curling up or stretching out
    changes size), or None when ``new`` cannot be that person."""
    size = max(box_height(last.box), box_height(new.box))
    ratio = box_height(new.box) / box_height(last.box)
    if not 1.0 / config.link_size_ratio <= ratio <= config.link_size_ratio:
        return None
    distance = float(np.linalg.norm(box_centre(new.box) - box_centre(last.box))) / size
    reach = config.link_base + config.link_per_frame * (new.frame - last.frame)
    return distance if distance <= reach else None


def track_score(track: PersonTrack, frame_height: int, weights: Optional[Dict[int, float]] = None) -> float:
    """The "most visible" score: sum over sightings of (fraction of landmarks visible) x (box height / frame
    height), each times the number of sampling steps its frame stands for (``weights``, :func:`sample_weights`;
    1 when not given)."""
    weights = weights or {}
    return float(sum(s.visible * box_height(s.box) / max(frame_height, 1) * weights.get(s.frame, 1.0)
                     for s in track.sightings))


def sample_weights(looked: Sequence[int], step: int) -> Dict[int, float]:
    """Frame -> how many sampling steps it stands for: the gap to the next frame looked at, in steps (at least 1,
    so every ``step``-th frame weighs 1 each; a frame skipped by :func:`look_at_samples` adds its step to the
    frame before it)."""
    frames = sorted(looked)
    return {f: max(1.0, (after - f) / max(step, 1)) for f, after in zip(frames, frames[1:] + frames[-1:])}


def steady_between(before: Optional[List[Sighting]], first: List[Sighting], second: List[Sighting],
                   config: PeopleConfig = PeopleConfig()) -> bool:
    """True when nothing happens between two looked-at frames (``first``, ``second``: everyone found there) that a
    look at the frame between them would add: the same number of people, each of ``second`` near one of ``first``
    (one to one) where that person's motion from ``before`` (the looked-at frame before ``first``; None: no
    motion assumed) carries them, within :attr:`PeopleConfig.steady` of their height, at a steady size."""
    if len(first) != len(second):
        return False
    used: set = set()
    for sighting in second:
        match = _nearest(first, sighting.box, used)
        if match is None:
            return False
        used.add(id(match))
        size = box_height(sighting.box) / box_height(match.box)
        if not 1.0 / config.steady_size <= size <= config.steady_size:
            return False
        origin = _nearest(before or [], match.box, set())
        velocity = np.zeros(2) if origin is None else (
            (box_centre(match.box) - box_centre(origin.box)) / max(match.frame - origin.frame, 1))
        predicted = box_centre(match.box) + velocity * (sighting.frame - match.frame)
        if np.linalg.norm(box_centre(sighting.box) - predicted) > config.steady * box_height(match.box):
            return False
    return True


def _nearest(candidates: Sequence[Sighting], box: Box, taken: set) -> Optional[Sighting]:
    """The candidate (not in ``taken``, by id) whose box centre is nearest ``box``'s, within one box height."""
    best, best_distance = None, 1.0
    for candidate in candidates:
        if id(candidate) in taken:
            continue
        distance = float(np.linalg.norm(box_centre(candidate.box) - box_centre(box))) / box_height(box)
        if distance <= best_distance:
            best, best_distance = candidate, distance
    return best


Look = Callable[[int, np.ndarray], List[Sighting]]


def always_looked(start: int, stop: int, step: int) -> List[int]:
    """The sampled frames :func:`look_at_samples` always looks at: every ``2 * step``-th of ``start <= i < stop``
    and the last (the sampled frames are every ``step``-th and the last)."""
    frames = list(range(start, stop, max(2 * step, 1)))
    if frames[-1] != stop - 1:
        frames.append(stop - 1)
    return frames


def look_at_samples(frames: Iterable[Tuple[int, np.ndarray]], always: Container[int], look: Look,
                    config: PeopleConfig = PeopleConfig()) -> Iterator[Tuple[int, Optional[List[Sighting]]]]:
    """Everyone on sampled frames (``(frame, rgb)`` in order), looking (``look(frame, rgb)``, e.g.
    :func:`detect_people`) only where it adds something.

    The frames in ``always`` (every other sampled frame: :func:`always_looked`) are always looked at; a frame
    between two of them only when :func:`steady_between` says something happens there (someone appears, leaves,
    turns, jumps) or nothing is known before it. Yields ``(frame, sightings)`` in frame order for the frames looked
    at, and ``(frame, None)`` for each frame skipped (so a caller can count progress); at most one frame is held.
    """
    held: Optional[Tuple[int, np.ndarray]] = None
    before: Optional[List[Sighting]] = None    # the always-looked frame before ``last``
    last: Optional[List[Sighting]] = None      # the latest always-looked frame
    for frame, rgb in frames:
        if frame not in always:
            if held is not None:   # a between-frame with no always-looked frame after it in this stream
                yield held[0], look(*held)
            held = (frame, rgb)
            continue
        found = look(frame, rgb)
        if held is not None:
            if last is not None and steady_between(before, last, found, config):
                yield held[0], None
            else:
                yield held[0], look(*held)
            held = None
        yield frame, found
        before, last = last, found
    if held is not None:
        yield held[0], look(*held)


def crossings(tracks: Sequence[PersonTrack], config: PeopleConfig = PeopleConfig()) -> List[Crossing]:
    """Spans of frames where two tracks' boxes overlap (IoU > ``cross_iou``), checked on the sampled frames where
    both tracks exist, each box interpolated over the samples where its person was not found: while two people
    cross, one hides the other (or is taken for the other), so the hidden one's box is the interpolation."""
    found: List[Crossing] = []
    for i, a in enumerate(tracks):
        guide_a = a.guide()
        for b in tracks[i + 1:]:
            guide_b = b.guide()
            first, last = max(a.first_frame, b.first_frame), min(a.last_frame, b.last_frame)
            frames = sorted(f for f in set(guide_a) | set(guide_b) if first <= f <= last)
            span: Optional[Tuple[int, int]] = None
            for frame in frames:
                iou = box_iou(interpolate_guide(guide_a, frame)[0], interpolate_guide(guide_b, frame)[0])
                if iou > config.cross_iou:
                    span = (span[0] if span else frame, frame)
                elif span:
                    found.append(_crossing(a.id, b.id, span, (first, last), config.step))
                    span = None
            if span:
                found.append(_crossing(a.id, b.id, span, (first, last), config.step))
    return sorted(found, key=lambda c: (c.first_frame, c.a, c.b))


def _crossing(a: int, b: int, span: Tuple[int, int], both: Tuple[int, int], step: int) -> Crossing:
    """A crossing over the overlapping samples ``span``, widened by half a sampling step each side (the frames
    between samples are unknown) within the frames ``both`` tracks exist."""
    return Crossing(a=a, b=b, first_frame=max(span[0] - step // 2, both[0]),
                    last_frame=min(span[1] + step // 2, both[1]))


def crossing_message(crossing: Crossing, chosen: Optional[int] = None) -> str:
    """User text for one crossing (0-based source frames), e.g. "2 people cross at frames 80-95; check the result
    there"."""
    span = (f"frame {crossing.first_frame}" if crossing.first_frame == crossing.last_frame
            else f"frames {crossing.first_frame}-{crossing.last_frame}")
    other = crossing.b if chosen == crossing.a else crossing.a if chosen == crossing.b else None
    who = f"Person {other} crosses the captured person" if other is not None else (
        f"People {crossing.a} and {crossing.b} cross")
    return f"{who} at {span}; check the result there"

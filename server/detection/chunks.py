"""Cutting a clip into detection chunks and joining them again: pure functions and plain data.

A clip's frame range is cut into chunks of consecutive frames (:func:`plan_chunks`) that detector processes work on
side by side. A chunk after the first starts ``warmup`` frames before its first kept frame, so BlazePose's tracking
and landmark smoothing have settled by then; its warm-up detections come back too, and :func:`continues` uses them to
check that the chunk followed the same person as the chunk before it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np

from .hands import HandTrack
from .people_tracks import Sighting
from .track import Box, TrackConfig, box_centre, box_from_landmarks, box_height, within_gate

if TYPE_CHECKING:
    from ..camera_motion.estimate import Piece
    from ..camera_motion.follow import CameraLooks

CHUNK_FRAMES = 900    # longest chunk: ~30 s of footage, so long clips spread over the processes and memory stays flat
MIN_CHUNK_FRAMES = 60  # a clip is cut only into chunks at least this long (warm-up and start-up must pay off)
WARMUP_FRAMES = 12    # frames decoded and detected before a chunk's first kept frame
SAME_PERSON_DISTANCE = 0.5  # median box-centre distance (box heights) on shared frames: one person below it

DISCOVERY_INDEX = 1000  # discovery tasks are numbered from here, apart from the follow tasks of the same view

GuideRows = Tuple[Tuple[float, float, float, float, float], ...]  # [frame, x0, y0, x1, y1] rows


@dataclass(frozen=True)
class ChunkTask:
    """Detect frames ``start <= i < stop`` of ``path``, keeping ``i >= keep`` (the frames before are warm-up).

    ``guide``: [frame, x0, y0, x1, y1] rows of the person to follow (:class:`server.detection.track.PersonFollower`); empty:
    the first person found. ``sampled`` (a discovery task): look only for everyone (:func:`server.detection.people_tracks.detect_people`)
    on these frames, for the people listing, always on those in ``always`` and on the others where something
    happens (:func:`server.detection.people_tracks.look_at_samples`); no one is followed. ``camera`` (a follow task
    of a turning camera's footage): also chain the frames for the camera's rotation (:mod:`server.camera_motion`).
    ``hands``: also find the followed person's hands (:mod:`server.detection.hands`) on every ``hands_step``-th
    frame (frame index divisible by it).
    """

    view: int
    index: int
    path: str
    start: int
    keep: int
    stop: int
    guide: GuideRows = ()
    sampled: Tuple[int, ...] = ()
    always: Tuple[int, ...] = ()
    camera: Optional["CameraLooks"] = None
    hands: bool = False
    hands_step: int = 1

    @property
    def discovers(self) -> bool:
        return bool(self.sampled)


@dataclass
class ChunkResult:
    """What a chunk found. ``frames`` (M,) int64 frames with a detection (warm-up ones included, ascending);
    ``image`` (M, 33, 3) pixels + visibility; ``world`` (M, 33, 4) metres + visibility; ``sightings``: everyone
    found on each sampled frame (a discovery task's only output); seconds spent waiting for frames (``decode``) and
    in BlazePose (``detect``); ``camera`` the chunk's piece of the camera's rotation (a task with ``camera``) and
    the seconds it took; ``hands`` (a task with ``hands``) the person's hands on each of ``frames`` and the seconds
    they took."""

    view: int
    index: int
    keep: int
    frames: np.ndarray
    image: np.ndarray
    world: np.ndarray
    sightings: List[Tuple[int, List[Sighting]]] = field(default_factory=list)
    decode: float = 0.0
    detect: float = 0.0
    camera: Optional["Piece"] = None
    camera_seconds: float = 0.0
    hands: Optional[HandTrack] = None
    hands_seconds: float = 0.0

    def kept(self) -> np.ndarray:
        """(M,) bool: the detections on kept (not warm-up) frames."""
        return self.frames >= self.keep


@dataclass
class Detections:
    """Per-frame detector output gathered over the clip (only frames where a person was found); ``camera`` the
    chunks' pieces of the camera's rotation (a turning camera's footage) and the seconds they took; ``hands`` the
    person's hands on those frames (a pass asked for them) and the seconds they took."""

    frame_indices: List[int] = field(default_factory=list)
    image: List[np.ndarray] = field(default_factory=list)
    world: List[np.ndarray] = field(default_factory=list)
    camera: List["Piece"] = field(default_factory=list)
    camera_seconds: float = 0.0
    hands: Optional[HandTrack] = None
    hands_seconds: float = 0.0


def plan_chunks(start: int, stop: int, workers: int, chunk_frames: int = CHUNK_FRAMES,
                min_chunk: int = MIN_CHUNK_FRAMES, warmup: int = 0) -> List[Tuple[int, int]]:
    """Cut ``start <= i < stop`` into consecutive ``[first, stop)`` spans of kept frames: as many as ``workers`` (or
    more, each at most ``chunk_frames``, then a multiple of ``workers`` so no process is left alone with the last
    one), none shorter than ``min_chunk`` unless the range is; one span for one worker.

    Every span after the first is also detected from ``warmup`` frames before it, so the spans are cut to equal work:
    the first keeps ``warmup`` frames more than the others (each process decodes and detects as many frames)."""
    count = stop - start
    if count <= 0:
        return []
    pieces = 1 if workers <= 1 else max(min(workers, count // max(min_chunk, 1)), math.ceil(count / chunk_frames), 1)
    if pieces > workers > 1:
        pieces = workers * math.ceil(pieces / workers)
    work = (count + warmup * (pieces - 1)) / pieces   # frames each chunk decodes, warm-up included
    edges = [start] + [start + round(k * work - (k - 1) * warmup) for k in range(1, pieces)] + [stop]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def chunk_tasks(view: int, path: str, start: int, stop: int, workers: int, guide: GuideRows = (),
                warmup: int = WARMUP_FRAMES, camera: Optional["CameraLooks"] = None,
                hands_step: int = 0) -> List[ChunkTask]:
    """The follow tasks of one view: :func:`plan_chunks` spans, each after the first starting ``warmup`` frames early
    (``camera``: each also follows the camera; ``hands_step`` > 0: each also finds the hands on every
    ``hands_step``-th frame)."""
    return [ChunkTask(view, index, path, max(start, first - warmup), first, last, guide, camera=camera,
                      hands=hands_step > 0, hands_step=max(hands_step, 1))
            for index, (first, last) in enumerate(plan_chunks(start, stop, workers, warmup=warmup))]


def discovery_tasks(path: str, start: int, stop: int, workers: int, sampled: Sequence[int],
                    always: Sequence[int] = ()) -> List[ChunkTask]:
    """Discovery tasks (first view) over the sampled frames, cut like :func:`plan_chunks` (indices from 1000);
    ``always``: the sampled frames always looked at (default: all of them)."""
    looked = set(always) if always else set(sampled)
    tasks = []
    for index, (first, last) in enumerate(plan_chunks(start, stop, workers)):
        mine = tuple(f for f in sampled if first <= f < last)
        if mine:
            tasks.append(ChunkTask(0, DISCOVERY_INDEX + index, path, first, first, last, (), mine,
                                   tuple(f for f in mine if f in looked)))
    return tasks


def _boxes(result: ChunkResult, mask: np.ndarray) -> Dict[int, Box]:
    return {int(f): box_from_landmarks(image) for f, image in zip(result.frames[mask], result.image[mask])}


def continues(previous: ChunkResult, current: ChunkResult, config: TrackConfig = TrackConfig()) -> bool:
    """True when ``current`` (the next chunk) followed the person ``previous`` kept.

    On frames both saw (``current``'s warm-up), the median distance between their box centres must stay under
    :data:`SAME_PERSON_DISTANCE` of the box height (boxes of one person in fast motion can overlap little: the
    trackers settle on different limbs); with no shared frame, ``current``'s first kept box must lie within the
    follower's gate of ``previous``'s last box (widened by the frames between). Nothing to compare: True.
    """
    before, after = _boxes(previous, previous.kept()), _boxes(current, ~current.kept())
    shared = sorted(set(before) & set(after))
    if shared:
        apart = [np.linalg.norm(box_centre(before[f]) - box_centre(after[f])) / box_height(before[f]) for f in shared]
        return float(np.median(apart)) <= SAME_PERSON_DISTANCE
    kept = _boxes(current, current.kept())
    if not before or not kept:
        return True
    last, first = max(before), min(kept)
    return within_gate(kept[first], before[last], max(first - last - 1, 0), config)


def seed_guide(previous: ChunkResult) -> GuideRows:
    """A guide for re-detecting the chunk after ``previous``: ``previous``'s last kept box (empty if none)."""
    kept = previous.kept()
    if not kept.any():
        return ()
    frame = int(previous.frames[kept][-1])
    box = box_from_landmarks(previous.image[kept][-1])
    return cast(GuideRows, ((float(frame), *map(float, box)),))


def join_chunks(results: Sequence[ChunkResult]) -> Detections:
    """The kept detections of one view's chunks, in frame order."""
    joined = Detections()
    hands: List[HandTrack] = []
    for result in sorted(results, key=lambda r: r.index):
        mask = result.kept()
        joined.frame_indices.extend(int(f) for f in result.frames[mask])
        joined.image.extend(result.image[mask])
        joined.world.extend(result.world[mask])
        if result.camera is not None:
            joined.camera.append(result.camera)
        joined.camera_seconds += result.camera_seconds
        if result.hands is not None:
            hands.append(result.hands.rows(mask))
        joined.hands_seconds += result.hands_seconds
    if hands:
        joined.hands = HandTrack.joined(hands)
    return joined


def guide_rows(guide: Optional[Dict[int, Box]]) -> GuideRows:
    """A follower's guide (frame -> box) as :class:`ChunkTask` rows."""
    if not guide:
        return ()
    return cast(GuideRows, tuple((float(f), *map(float, guide[f])) for f in sorted(guide)))

"""Detecting one chunk of a clip: decode ahead on a thread, follow the person, list everyone on sampled frames; for
a turning camera's footage, chain the frames for the camera's rotation too (the frames are decoded here anyway).

This is what a detector process runs (:mod:`server.detection.pool`); it needs MediaPipe and OpenCV, never torch.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Callable, ContextManager, Generator, List, Optional, Tuple, cast

import numpy as np

from .. import video
from ..errors import Cancelled
from .people_tracks import Sighting
from .chunks import ChunkResult, ChunkTask
from .hands import HandsFrame, HandTrack
from .track import box_from_landmarks

if TYPE_CHECKING:
    from .hands import HandLandmarker

log = logging.getLogger(__name__)

ReportFn = Callable[[int], None]      # kept frames done since the last call
CancelFn = Callable[[], bool]
Frames = Generator[Tuple[int, np.ndarray], None, None]   # video.read_ahead's (frame_index, rgb), closed when done


def detect_chunk(task: ChunkTask, report: ReportFn, cancelled: CancelFn = lambda: False) -> ChunkResult:
    """Run the follower over ``task``'s frames (warm-up included), or for a discovery task look for everyone on its
    sampled frames, and return what it found; ``report(1)`` after each kept (or sampled) frame; raises
    :class:`server.errors.Cancelled` when ``cancelled()`` turns true between frames."""
    from .blazepose import FollowingDetector
    from .listing import guide_from_boxes

    if task.discovers:
        return _discover(task, report, cancelled)
    guide = guide_from_boxes(task.guide) if task.guide else None
    frames: List[int] = []
    images: List[np.ndarray] = []
    worlds: List[np.ndarray] = []
    hands: List[Optional[HandsFrame]] = []
    waited = detected = turning = handing = 0.0
    chain = task.camera.chain(task.start, task.keep) if task.camera is not None else None
    if chain is not None:
        import cv2
        cv2.setNumThreads(1)   # the detectors already use every core: OpenCV's own pool would only spin beside them
    box: Optional[np.ndarray] = None
    with FollowingDetector(guide) as detector, _hand_model(task.hands) as hand_model:
        stream = cast(Frames, video.read_ahead(video.iter_frames(task.path, task.start, task.stop)))
        try:
            while True:
                if cancelled():
                    raise Cancelled()
                tick = time.perf_counter()
                item = next(stream, None)
                waited += time.perf_counter() - tick
                if item is None:
                    break
                index, rgb = item
                tick = time.perf_counter()
                observation = detector.detect(rgb, index)
                detected += time.perf_counter() - tick
                if observation is not None:
                    frames.append(index)
                    images.append(observation.image)
                    worlds.append(observation.world)
                    if hand_model is not None:   # not on warm-up frames (not kept), and on every k-th frame
                        tick = time.perf_counter()
                        looks = index >= task.keep and index % task.hands_step == 0
                        hands.append(hand_model.hands(rgb, observation.image) if looks else None)
                        handing += time.perf_counter() - tick
                if chain is not None and task.camera is not None:   # the camera's turn, the person masked out
                    tick = time.perf_counter()
                    box = box_from_landmarks(observation.image) if observation is not None else box
                    chain.feed(index - task.camera.origin, rgb, None if box is None else tuple(box))
                    turning += time.perf_counter() - tick
                if index >= task.keep:
                    report(1)
        finally:
            stream.close()
    log.debug("chunk %d of view %d: frames %d..%d, person in %d", task.index, task.view, task.keep, task.stop - 1,
              sum(f >= task.keep for f in frames))
    return ChunkResult(task.view, task.index, task.keep, np.array(frames, dtype=np.int64),
                       np.array(images, dtype=np.float32).reshape(-1, 33, 3),
                       np.array(worlds, dtype=np.float32).reshape(-1, 33, 4), [], waited, detected,
                       chain.piece() if chain is not None else None, turning,
                       HandTrack.of(hands) if task.hands else None, handing)


def _hand_model(wanted: bool) -> ContextManager[Optional["HandLandmarker"]]:
    """The hand landmark model when the task wants hands, else nothing (as a context manager either way)."""
    if not wanted:
        return contextlib.nullcontext()
    from .hands import HandLandmarker
    return HandLandmarker()


def _discover(task: ChunkTask, report: ReportFn, cancelled: CancelFn) -> ChunkResult:
    """A discovery task: everyone on its sampled frames (:func:`server.detection.listing.look_for_people`; only those frames
    are decoded to RGB), one ``report(1)`` per sampled frame, looked at or skipped."""
    from .listing import look_for_people

    sightings: List[Tuple[int, List[Sighting]]] = []
    seconds = {"decode": 0.0, "detect": 0.0}
    stream = cast(Frames, video.read_ahead(video.iter_frames(task.path, task.start, task.stop, set(task.sampled))))
    try:
        for index, found in look_for_people(stream, set(task.always or task.sampled), cancelled, seconds):
            if found is not None:
                sightings.append((index, found))
            report(1)
    finally:
        stream.close()
    log.debug("discovery on frames %d..%d: looked at %d of %d sampled frames", task.keep, task.stop - 1,
              len(sightings), len(task.sampled))
    return ChunkResult(task.view, task.index, task.keep, np.zeros((0,), np.int64), np.zeros((0, 33, 3), np.float32),
                       np.zeros((0, 33, 4), np.float32), sightings, seconds["decode"], seconds["detect"])

"""Who is in the footage, and which of them to capture: the people listing (a stage of the ``people`` job,
:mod:`server.jobs.people`, and of a capture's detection, :mod:`server.detection.clip_pass`).

:func:`discover` runs BlazePose (static images) on sampled frames of the range (every ``2 * step``-th, the last, and
the ``step``-th between where something happens: :func:`server.detection.people_tracks.look_at_samples`), finds everyone there
(:func:`server.detection.people_tracks.detect_people`) and links them into tracks; the ``people`` job writes the
listing as JSON (:meth:`PeopleListing.to_json`, format below); :func:`choose_person` turns a capture's person choice into the follower's guide.

Listing file ``people.json``: ``{"version": 1, "video", "start", "end" (exclusive), "step", "width", "height",
"fps", "sampled" (frames looked at), "default" (id of the most visible track, 0 if none), "tracks": [{"id" (1 = most
visible), "first_frame", "last_frame" (0-based source frames, sampled), "frames_seen" (sampled frames where the person
was found), "seen" (frames_seen over the frames looked at in their span), "visibility" (mean fraction of landmarks
visible), "score", "frame", "box" ([x0, y0, x1, y1] pixels: the sighting showing them best), "boxes" ([frame, x0, y0,
x1, y1] per sighting: what ``Submit.person_boxes`` takes), "crossings" ([{"other", "first_frame", "last_frame"}])}],
"messages": [crossing warnings]}``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Container, Dict, Iterator, List, Optional, Sequence, Tuple, cast

import numpy as np

from .. import video
from ..errors import Cancelled, JobError
from .people_tracks import (Crossing, PeopleConfig, PersonTrack, Sighting, always_looked, crossing_message, crossings,
                     detect_people, link_tracks, look_at_samples)
from .track import Box

log = logging.getLogger(__name__)

LISTING_VERSION = 1
ProgressFn = Callable[[str, int, int, str], None]
CancelFn = Callable[[], bool]


@dataclass
class PeopleListing:
    """The tracks found in frames ``start <= i < stop`` of a clip, ranked (id 1 = most visible)."""

    info: video.VideoInfo
    start: int
    stop: int
    step: int
    looked: List[int]   # the sampled frames looked at (:func:`server.detection.people_tracks.look_at_samples`)
    tracks: List[PersonTrack]
    crossings: List[Crossing]

    def track(self, person: int) -> PersonTrack:
        """Track ``person`` (1-based id); raise JobError ``bad_request`` when there is no such person."""
        for track in self.tracks:
            if track.id == person:
                return track
        raise JobError("bad_request", f"There is no person {person} in frames {self.start}..{self.stop - 1}: "
                       f"{len(self.tracks)} found.", "List the people again (Find People) and pick one of them.")

    def to_json(self) -> dict:
        return {"version": LISTING_VERSION, "video": self.info.path, "start": self.start, "end": self.stop,
                "step": self.step, "width": self.info.width, "height": self.info.height, "fps": self.info.fps,
                "sampled": len(self.looked), "default": self.tracks[0].id if self.tracks else 0,
                "tracks": [self._track_json(t) for t in self.tracks],
                "messages": [crossing_message(c) for c in self.crossings]}

    def _track_json(self, track: PersonTrack) -> dict:
        best = track.representative()
        span_samples = max(1, sum(1 for f in self.looked if track.first_frame <= f <= track.last_frame))
        return {"id": track.id, "first_frame": track.first_frame, "last_frame": track.last_frame,
                "frames_seen": track.frames_seen, "seen": round(min(1.0, track.frames_seen / span_samples), 3),
                "visibility": round(track.visibility, 3), "score": round(track.score, 3), "frame": best.frame,
                "box": [round(float(v), 1) for v in best.box],
                "boxes": [[s.frame] + [round(float(v), 1) for v in s.box] for s in track.sightings],
                "crossings": [{"other": c.b if c.a == track.id else c.a, "first_frame": c.first_frame,
                               "last_frame": c.last_frame} for c in self.crossings if track.id in (c.a, c.b)]}


def sample_indices(start: int, stop: int, step: int) -> List[int]:
    """Every ``step``-th frame of ``start <= i < stop``, and the last one."""
    frames = list(range(start, stop, max(step, 1)))
    if frames[-1] != stop - 1:
        frames.append(stop - 1)
    return frames


def iter_sampled(path: str, start: int, stop: int, step: int) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(frame_index, rgb)`` for :func:`sample_indices` only (frames between are grabbed, not converted)."""
    frames = video.iter_frames(path, start, stop, wanted=set(sample_indices(start, stop, step)))
    return cast(Iterator[Tuple[int, np.ndarray]], frames)  # rgb is an (H, W, 3) uint8 array


def look_for_people(frames: Iterator[Tuple[int, np.ndarray]], always: Container[int], cancelled: CancelFn,
                    timings: Dict[str, float], config: PeopleConfig = PeopleConfig()
                    ) -> Iterator[Tuple[int, Optional[List[Sighting]]]]:
    """Everyone on the sampled ``frames`` (``(frame, rgb)`` in order; :func:`server.detection.people_tracks.look_at_samples`, on one
    static BlazePose graph): ``(frame, sightings)``, or ``(frame, None)`` for a frame skipped. Adds the seconds spent
    waiting for frames to ``timings["decode"]`` and looking to ``timings["detect"]``; raises
    :class:`server.errors.Cancelled` when ``cancelled()`` turns true between frames."""
    from .blazepose import BlazePoseDetector

    def decoded() -> Iterator[Tuple[int, np.ndarray]]:
        while not cancelled():
            tick = time.perf_counter()
            item = next(frames, None)
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - tick
            if item is None:
                return
            yield item
        raise Cancelled()

    with BlazePoseDetector(static=True) as detector:
        def look(index: int, rgb: np.ndarray) -> List[Sighting]:
            tick = time.perf_counter()
            found = detect_people(detector.detect, rgb, index, config)
            timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - tick
            return found

        yield from look_at_samples(decoded(), always, look, config)


def discover(info: video.VideoInfo, start: int, stop: int, progress: ProgressFn, cancelled: CancelFn,
             timings: Dict[str, float], stage: str = "search", config: PeopleConfig = PeopleConfig()) -> PeopleListing:
    """Find and link everyone in the sampled frames (:func:`look_for_people`); progress on ``stage``; adds to
    timings decode/detect."""
    total = len(sample_indices(start, stop, config.step))
    per_frame: List[Tuple[int, List[Sighting]]] = []
    always = set(always_looked(start, stop, config.step))
    looks = look_for_people(iter_sampled(info.path, start, stop, config.step), always, cancelled, timings, config)
    for done, (index, found) in enumerate(looks, start=1):
        if found is not None:
            per_frame.append((index, found))
        progress(stage, done, total, f"looking for people: frame {index}"
                 + (f", {len(found)} found" if found is not None else ""))
    tracks = link_tracks(per_frame, info.height, config)
    listing = PeopleListing(info, start, stop, config.step, [f for f, _ in per_frame], tracks,
                            crossings(tracks, config))
    log.info("%d people in %d of %d sampled frames: %s", len(tracks), len(per_frame), total,
             "; ".join(f"{t.id}: frames {t.first_frame}-{t.last_frame}, seen {t.frames_seen}, score {t.score:.2f}"
                       for t in tracks))
    return listing


def guide_from_boxes(rows: Sequence[Sequence[float]]) -> Dict[int, Box]:
    """``[frame, x0, y0, x1, y1]`` rows (``Submit.person_boxes``) -> the follower's guide; raise ``bad_request``."""
    guide: Dict[int, Box] = {}
    for row in rows:
        if len(row) != 5 or not all(math.isfinite(float(v)) for v in row) or row[3] <= row[1] or row[4] <= row[2]:
            raise JobError("bad_request", f"A person box must be [frame, x0, y0, x1, y1] with x1 > x0 and y1 > y0, "
                           f"not {list(row)}.", "List the people again (Find People) and pick one of them.")
        guide[int(row[0])] = np.asarray(row[1:5], dtype=np.float64)
    return guide


def choose_person(info: video.VideoInfo, start: int, stop: int, person: int, person_boxes: Sequence[Sequence[float]],
                  progress: ProgressFn, cancelled: CancelFn,
                  timings: Dict[str, float]) -> Tuple[Optional[Dict[int, Box]], List[str]]:
    """The capture's person: (the follower's guide or None = follow the first person found, warnings).

    ``person_boxes`` given: follow them (no discovery). Otherwise discover the people (progress on ``search``): with
    nobody or one person found and no ``person`` (< 1) chosen the capture follows as it always did; else the chosen
    track (``person`` >= 1) or the most visible one guides it, and crossings with others become warnings.
    """
    if person_boxes:
        return guide_from_boxes(person_boxes), []
    listing = discover(info, start, stop, progress, cancelled, timings)
    if person < 1 and len(listing.tracks) <= 1:
        return None, []
    chosen = listing.track(person) if person >= 1 else listing.tracks[0]
    return _follow(chosen, listing.tracks, listing.crossings)


def choose_listed(height: int, sightings: Sequence[Tuple[int, List[Sighting]]],
                  config: PeopleConfig = PeopleConfig()) -> Tuple[Optional[Dict[int, Box]], List[str]]:
    """:func:`choose_person` with no person chosen, from sightings the capture's own pass made (frames ``height``
    pixels tall): (the most visible track's guide, or None when there are not several people; warnings)."""
    tracks = link_tracks(sightings, height, config)
    if len(tracks) <= 1:
        return None, []
    return _follow(tracks[0], tracks, crossings(tracks, config))


def _follow(chosen: PersonTrack, tracks: Sequence[PersonTrack],
            found: Sequence[Crossing]) -> Tuple[Dict[int, Box], List[str]]:
    """The guide of ``chosen`` and the warnings about the others it crosses."""
    warnings = [crossing_message(c, chosen.id) for c in found if chosen.id in (c.a, c.b)]
    log.info("capturing person %d of %d (frames %d-%d)", chosen.id, len(tracks), chosen.first_frame,
             chosen.last_frame)
    for warning in warnings:
        log.warning("%s", warning)
    return chosen.guide(), warnings

"""The detection stage of a capture: every view's chunks on a pool, joined in frame order, checked, redone if needed.

:class:`ClipPass` submits its tasks when it is made, so the detector processes start working while the caller loads
its models, and :meth:`ClipPass.collect` gathers them. With ``choose`` (the first view, no person given), the pass
first looks for everyone on sampled frames (every 8th, split over the processes like the chunks; only those frames
are decoded), links them into the people listing, and ``choose`` turns the listing into the guide the first view's
follow tasks get; the other views' follow tasks run meanwhile. So the capture finds, lists and follows people in one
stage, with no listing pass over the clip of its own. When a chunk turns out to follow someone other than the chunk
before it (:func:`server.detection.chunks.continues`), it is detected again, guided by that chunk's last box.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, overload

from .. import video
from ..errors import Cancelled, JobError
from .people_tracks import PeopleConfig, Sighting
from .hands import hand_step
from .track import Box
from .chunks import (DISCOVERY_INDEX, ChunkResult, ChunkTask, Detections, GuideRows, chunk_tasks, continues, discovery_tasks,
                     join_chunks, seed_guide)

if TYPE_CHECKING:
    from ..camera_motion.follow import CameraLooks

log = logging.getLogger(__name__)
T = TypeVar("T")

ProgressFn = Callable[[str, int, int, str], None]
CancelFn = Callable[[], bool]
Sightings = List[Tuple[int, List[Sighting]]]
ChooseFn = Callable[[Sightings], GuideRows]   # the listing's sightings -> the first view's guide

# The capture looks for everyone on the people listing's frames (every 8th): the chosen person's boxes there guide the
# follower, and a sparser guide (every 16th, measured) lets it drift to the other person after the back-flip.
CAPTURE_SAMPLE_STEP = PeopleConfig().step


@dataclass
class PassOutput:
    """What the pass found: one :class:`Detections` per view; ``sightings``: everyone on the first view's sampled
    frames, in frame order (empty without discovery); ``redetected``: chunks detected a second time."""

    views: List[Detections]
    sightings: Sightings
    redetected: int


def eta_text(elapsed: float, done: int, total: int) -> str:
    """"about N s left" from the rate so far; empty until 2% (and 1 s) of the work is done."""
    if done <= 0 or done < 0.02 * total or elapsed < 1.0:
        return ""
    left = elapsed * (total - done) / done
    return f"about {left:.0f} s left" if left < 90 else f"about {left / 60:.0f} min left"


class ClipPass:
    """Detect frames ``start <= i < stop`` of every view on ``pool`` (:mod:`server.detection.pool`).

    ``guide`` (first view): [frame, x0, y0, x1, y1] rows of the person to follow; empty: the first person found.
    ``choose``: discover people first on every ``sample_step``-th frame (and the last) of the first view; ``choose``
    maps their sightings to the first view's guide (see the module docs). Progress: discovery on ``search`` (sampled
    frames), following on ``detect`` (frames of all views). ``hands``: the first view's follow tasks also find the
    person's hands (:mod:`server.detection.hands`, :func:`~server.detection.hands.hand_step`).
    """

    def __init__(self, pool, infos: Sequence[video.VideoInfo], start: int, stop: int, guide: GuideRows = (),
                 choose: Optional[ChooseFn] = None, sample_step: int = CAPTURE_SAMPLE_STEP,
                 camera: Optional["CameraLooks"] = None, hands: bool = False) -> None:
        from .people_tracks import always_looked
        from .listing import sample_indices

        self.pool, self.infos, self.start, self.stop = pool, list(infos), start, stop
        self.total = (stop - start) * len(self.infos)
        self._choose = choose
        self._camera = camera
        self._hands = hands
        self._results: List[Dict[int, ChunkResult]] = [{} for _ in self.infos]
        self._tasks: List[List[ChunkTask]] = [[] for _ in self.infos]
        self._redone: set = set()
        self._sightings: Sightings = []
        self._discovering: List[ChunkTask] = []
        self.sampled = 0
        if choose is not None:
            sampled = sample_indices(start, stop, sample_step)
            self.sampled = len(sampled)
            self._discovering = discovery_tasks(self.infos[0].path, start, stop, pool.workers, sampled,
                                                always_looked(start, stop, sample_step))
            for task in self._discovering:
                pool.submit(task)
        else:
            self._follow(0, guide)
        for view in range(1, len(self.infos)):
            self._follow(view, ())

    def _follow(self, view: int, guide: GuideRows) -> None:
        self._tasks[view] = chunk_tasks(view, self.infos[view].path, self.start, self.stop, self.pool.workers, guide,
                                        camera=self._camera if view == 0 else None,
                                        hands_step=hand_step(self.infos[0].fps) if self._hands and view == 0 else 0)
        for task in self._tasks[view]:
            self.pool.submit(task)

    def collect(self, progress: ProgressFn, cancelled: CancelFn, timings: Dict[str, float]) -> PassOutput:
        """Wait for every task; progress as in the class docs, with an ETA. Adds the wall seconds of the wait to
        ``timings``: ``decode`` the detectors' mean wait for frames, ``detect`` the rest. Raises
        ``no_person`` as soon as the first view turns out to have nobody."""
        done, looked, began = 0, 0, time.perf_counter()
        workers = f"{self.pool.workers} detectors" if self.pool.workers > 1 else "1 detector"
        workers += ", with the hands" if self._hands else ""

        def on_progress(key: Tuple[int, int], frames: int) -> None:
            nonlocal done, looked
            for _ in range(frames):
                if key[1] >= DISCOVERY_INDEX:
                    looked += 1
                    progress("search", looked, self.sampled, f"looking for people: frame {looked} of {self.sampled}")
                    continue
                done += 1
                text = eta_text(time.perf_counter() - began, done, self.total)
                progress("detect", done, self.total, workers + (f", {text}" if text else ""))

        waited = 0.0

        def on_done(result: ChunkResult) -> None:
            nonlocal waited
            waited += result.decode
            if result.index >= DISCOVERY_INDEX:
                self._discovered(result)
                return
            self._results[result.view][result.index] = result
            self._check(result.view)

        self.pool.run(on_progress, on_done, cancelled)
        wall = time.perf_counter() - began
        decode = min(waited / self.pool.workers, wall)   # the detectors' mean wait for frames
        timings["decode"] = timings.get("decode", 0.0) + decode
        timings["detect"] = timings.get("detect", 0.0) + wall - decode
        views = [join_chunks(list(results.values())) for results in self._results]
        return PassOutput(views, sorted(self._sightings, key=lambda s: s[0]), len(self._redone))

    def _discovered(self, result: ChunkResult) -> None:
        """A discovery task is done; once all are, the listing chooses the first view's guide."""
        self._sightings.extend(result.sightings)
        self._discovering = [t for t in self._discovering if t.index != result.index]
        if not self._discovering and self._choose is not None:
            choose, self._choose = self._choose, None
            self._follow(0, choose(sorted(self._sightings, key=lambda s: s[0])))

    def _check(self, view: int) -> None:
        """Redo (guided by the chunk before) the first unguided chunk of ``view`` that does not continue the one
        before it; raise ``no_person`` when the first view is complete and empty."""
        results, tasks = self._results[view], self._tasks[view]
        for index in range(1, len(tasks)):
            if index not in results or index - 1 not in results:
                break
            key = (view, index)
            if key in self._redone or tasks[index].guide or continues(results[index - 1], results[index]):
                continue
            seed = seed_guide(results[index - 1])
            if not seed:
                continue
            log.info("view %d, frames %d..%d followed someone else; detecting them again from frame %d's person",
                     view, tasks[index].keep, tasks[index].stop - 1, int(seed[0][0]))
            self._redone.add(key)
            del results[index]
            self.total += tasks[index].stop - tasks[index].keep
            self.pool.submit(replace(tasks[index], guide=seed))
            break
        if view == 0 and tasks and len(results) == len(tasks) and not any(len(r.frames) for r in results.values()):
            raise JobError("no_person", f"No person was found in frames {self.start}..{self.stop - 1} of "
                           f"{self.infos[0].path}.", "Check the frame range, or use footage where the whole body "
                           "is visible.")


def pool_size(workers: int, start: int, stop: int, views: int) -> int:
    """Detector processes worth starting: no more than there are chunks to detect."""
    from .chunks import plan_chunks
    return max(1, min(workers, views * len(plan_chunks(start, stop, workers))))


@overload
def detect_footage(infos: Sequence[video.VideoInfo], start: int, stop: int, person: int,
                   person_boxes: Sequence[Sequence[float]], workers: int, progress: ProgressFn, cancelled: CancelFn,
                   timings: Dict[str, float], *, camera: Optional["CameraLooks"] = None, hands: bool = False
                   ) -> Tuple[List[Detections], List[str], None]: ...


@overload
def detect_footage(infos: Sequence[video.VideoInfo], start: int, stop: int, person: int,
                   person_boxes: Sequence[Sequence[float]], workers: int, progress: ProgressFn, cancelled: CancelFn,
                   timings: Dict[str, float], meanwhile: Callable[[], T], *, camera: Optional["CameraLooks"] = None,
                   hands: bool = False) -> Tuple[List[Detections], List[str], T]: ...


def detect_footage(infos: Sequence[video.VideoInfo], start: int, stop: int, person: int,
                   person_boxes: Sequence[Sequence[float]], workers: int, progress: ProgressFn, cancelled: CancelFn,
                   timings: Dict[str, float], meanwhile: Callable[[], object] = lambda: None, *,
                   camera: Optional["CameraLooks"] = None, hands: bool = False
                   ) -> Tuple[List[Detections], List[str], object]:
    """The capture's detection: (one :class:`Detections` per view, user-facing warnings, ``meanwhile()``).

    The person followed on the first view: ``person_boxes`` given, those; ``person`` >= 1, that track of a people
    listing made first (:func:`server.detection.listing.choose_person`); otherwise the pass itself lists everyone and
    follows the most visible person (:func:`server.detection.listing.choose_listed`; the first one found when there are
    not several). ``meanwhile`` runs on a helper thread (:class:`server.background.Background`) once the detector
    processes have their work, beside the pass (the capture loads torch and its models); an error there stops the
    pass and is raised, and a cancel does not wait for it. ``camera``: the first view's chunks also follow the
    camera (:mod:`server.camera_motion.follow`); their pieces come back in its :class:`Detections`. ``hands``:
    the first view's :class:`Detections` also holds the person's hands.
    """
    from ..background import Background
    from .listing import choose_listed, choose_person
    from .chunks import guide_rows
    from .pool import open_pool

    guide: Optional[Dict[int, Box]] = None
    notes: List[str] = []
    if person_boxes or person >= 1:
        guide, notes = choose_person(infos[0], start, stop, person, person_boxes, progress, cancelled, timings)

    def choose(sightings: Sightings) -> GuideRows:
        chosen, warnings = choose_listed(infos[0].height, sightings)
        notes.extend(warnings)
        return guide_rows(chosen)

    with open_pool(pool_size(workers, start, stop, len(infos))) as pool:
        detection = ClipPass(pool, infos, start, stop, guide_rows(guide), None if guide is not None else choose,
                             camera=camera, hands=hands)
        beside = Background(meanwhile, name="scorehmr-load")
        try:
            found = detection.collect(progress, lambda: cancelled() or beside.failed, timings)
        except Cancelled:
            beside.raise_error()   # the pass stopped because the work beside it failed: that error, not a cancel
            raise
        except JobError:
            beside.settle()        # e.g. no person: the models finish loading first (see Background.settle)
            raise
    return found.views, notes, beside.wait(cancelled)

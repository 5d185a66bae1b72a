"""Detector processes on real footage: the same detections as in this process, cancel, a process that dies."""
from __future__ import annotations

import time

import numpy as np
import pytest

from server import video
from server.detection.chunks import chunk_tasks
from server.detection.clip_pass import ClipPass, eta_text
from server.detection.pool import DetectorPool, InlinePool
from server.errors import Cancelled, JobError

pytestmark = pytest.mark.slow   # detector processes on real footage


def _detect(pool, sample_video, stop: int):
    info = video.probe(str(sample_video))
    progress = []
    found = ClipPass(pool, [info], 0, stop).collect(lambda *event: progress.append(event), lambda: False, {})
    return found.views[0], progress


def test_processes_find_what_one_process_finds(sample_video) -> None:
    inline = InlinePool()
    inline.workers = 2  # the same two chunks, one after the other here
    expected, _ = _detect(inline, sample_video, 130)
    with DetectorPool(2) as pool:
        found, progress = _detect(pool, sample_video, 130)
    assert found.frame_indices == expected.frame_indices and len(found.frame_indices) > 120
    np.testing.assert_allclose(np.stack(found.image), np.stack(expected.image), atol=1e-3)
    total = progress[-1][2]   # 130, and the frames of a chunk detected again (it followed someone else)
    assert total >= 130 and [p[1] for p in progress] == list(range(1, total + 1))
    assert {p[0] for p in progress} == {"detect"}
    assert "2 detectors" in progress[-1][3]


def test_cancel_stops_the_processes(sample_video) -> None:
    pool = DetectorPool(2)
    for task in chunk_tasks(0, str(sample_video), 0, 230, 2):
        pool.submit(task)
    cancel_at = []

    def on_progress(key, frames) -> None:
        if not cancel_at:
            cancel_at.append(time.perf_counter())

    with pytest.raises(Cancelled):
        pool.run(on_progress, lambda result: None, lambda: bool(cancel_at))
    assert time.perf_counter() - cancel_at[0] < 1.0   # the panel's Cancel answers within a second
    assert not any(p.is_alive() for p in pool._processes)


def test_a_process_that_dies_fails_the_job(sample_video) -> None:
    pool = DetectorPool(2)
    for task in chunk_tasks(0, str(sample_video), 0, 230, 2):
        pool.submit(task)

    def kill_one(key, frames) -> None:
        pool._processes[0].kill()

    with pytest.raises(JobError) as raised:
        pool.run(kill_one, lambda result: None, lambda: False)
    assert raised.value.code == "internal" and "--detectors 1" in raised.value.hint
    assert not any(p.is_alive() for p in pool._processes)


def test_nobody_in_the_footage_is_no_person(empty_video) -> None:
    info = video.probe(str(empty_video))
    chosen = []

    def choose(sightings):
        chosen.append(sightings)
        return ()

    with DetectorPool(2) as pool:
        with pytest.raises(JobError) as raised:
            ClipPass(pool, [info], 0, info.frame_count, choose=choose).collect(lambda *e: None, lambda: False, {})
    # Every 16th frame and the last are looked at; frames 8 and 24 lie between two empty frames: nobody to find there.
    assert raised.value.code == "no_person" and chosen == [[(f, []) for f in (0, 16, 32, 39)]]


def test_eta_text() -> None:
    assert eta_text(0.5, 10, 100) == ""              # too early to tell
    assert eta_text(10.0, 1, 1000) == ""             # under 2% done
    assert eta_text(10.0, 50, 100) == "about 10 s left"
    assert eta_text(60.0, 20, 100) == "about 4 min left"

"""Cutting a clip into detection chunks and joining them again (pure functions, no MediaPipe)."""
from __future__ import annotations

import numpy as np

from server.detection.chunks import (ChunkResult, chunk_tasks, continues, discovery_tasks, guide_rows, join_chunks,
                                     plan_chunks, seed_guide)


def person(x: float, y: float = 100.0, height: float = 400.0) -> np.ndarray:
    """(33, 3) landmarks spread over a box of ``height`` with its top-left corner at (x, y), all visible."""
    image = np.zeros((33, 3), np.float32)
    image[:, 0] = x + np.linspace(0, height / 4, 33)
    image[:, 1] = y + np.linspace(0, height, 33)
    image[:, 2] = 1.0
    return image


def result(index: int, keep: int, frames, xs) -> ChunkResult:
    frames = np.array(frames, np.int64)
    image = np.stack([person(x) for x in xs]) if len(xs) else np.zeros((0, 33, 3), np.float32)
    return ChunkResult(0, index, keep, frames, image, np.zeros((len(frames), 33, 4), np.float32))


def test_plan_chunks_covers_the_range_once() -> None:
    for start, stop, workers in [(0, 230, 2), (5, 3685, 2), (0, 100, 4), (0, 59, 2), (10, 11, 3)]:
        spans = plan_chunks(start, stop, workers)
        assert spans[0][0] == start and spans[-1][1] == stop
        assert all(a[1] == b[0] for a, b in zip(spans[:-1], spans[1:]))
        assert all(b - a <= 900 for a, b in spans)


def test_plan_chunks_sizes() -> None:
    assert plan_chunks(0, 230, 1) == [(0, 230)]           # one worker: one chunk, however long
    assert plan_chunks(0, 230, 2) == [(0, 115), (115, 230)]
    assert len(plan_chunks(0, 100, 4)) == 1               # chunks shorter than 60 frames do not pay off
    assert len(plan_chunks(0, 3680, 2)) == 6              # at most 900 frames each (memory stays flat), a
    assert len(plan_chunks(0, 3680, 4)) == 8              # multiple of the processes (none idles at the end)
    assert len(plan_chunks(0, 1700, 2)) == 2
    assert plan_chunks(7, 7, 2) == []


def test_chunk_tasks_start_early_for_warm_up() -> None:
    tasks = chunk_tasks(1, "clip.mp4", 0, 230, 2, warmup=12)
    assert [(t.start, t.keep, t.stop) for t in tasks] == [(0, 0, 121), (109, 121, 230)]
    assert all(t.view == 1 and not t.discovers for t in tasks)


def test_chunks_decode_equal_work_with_their_warm_up() -> None:
    for start, stop, workers in [(0, 230, 2), (5, 3685, 2), (0, 3680, 4), (0, 1700, 2)]:
        tasks = chunk_tasks(0, "clip.mp4", start, stop, workers, warmup=12)
        decoded = [t.stop - t.start for t in tasks]
        assert max(decoded) - min(decoded) <= 1, decoded
        assert tasks[0].keep == start and tasks[-1].stop == stop
        assert all(a.stop == b.keep for a, b in zip(tasks[:-1], tasks[1:]))


def test_discovery_tasks_split_the_sampled_frames() -> None:
    tasks = discovery_tasks("clip.mp4", 0, 230, 2, [0, 8, 112, 120, 229], always=[0, 112, 229])
    assert [t.sampled for t in tasks] == [(0, 8, 112), (120, 229)]
    assert [t.always for t in tasks] == [(0, 112), (229,)]
    assert all(t.discovers and t.index >= 1000 for t in tasks)


def test_join_keeps_only_kept_frames_in_order() -> None:
    second = result(1, 5, [3, 4, 5, 6], [10, 11, 12, 13])
    first = result(0, 0, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    joined = join_chunks([second, first])
    assert joined.frame_indices == [0, 1, 2, 3, 4, 5, 6]
    assert [float(i[0, 0]) for i in joined.image] == [0, 1, 2, 3, 4, 12, 13]


def test_continues_compares_the_warm_up_frames() -> None:
    before = result(0, 0, [0, 1, 2, 3, 4], [100] * 5)
    same = result(1, 5, [3, 4, 5], [110, 105, 100])
    other = result(1, 5, [3, 4, 5], [900, 900, 900])
    assert continues(before, same) and not continues(before, other)


def test_continues_without_shared_frames_uses_the_gate() -> None:
    before = result(0, 0, [0, 1, 2], [100] * 3)
    near = result(1, 5, [6, 7], [140, 150])          # nothing in the warm-up, then close by
    far = result(1, 5, [6, 7], [1500, 1500])
    assert continues(before, near) and not continues(before, far)
    assert continues(before, result(1, 5, [], []))  # nothing to compare


def test_seed_guide_is_the_last_kept_box() -> None:
    seed = seed_guide(result(0, 0, [0, 1, 2], [100, 110, 120]))
    assert len(seed) == 1 and seed[0][0] == 2.0 and seed[0][1] == 120.0
    assert seed_guide(result(1, 5, [2, 3], [1, 2])) == ()   # warm-up only: nothing kept


def test_guide_rows_round_trip() -> None:
    guide = {8: np.array([1.0, 2.0, 3.0, 4.0]), 0: np.array([5.0, 6.0, 7.0, 8.0])}
    assert guide_rows(guide) == ((0.0, 5.0, 6.0, 7.0, 8.0), (8.0, 1.0, 2.0, 3.0, 4.0))
    assert guide_rows(None) == ()


def test_join_keeps_the_hands_of_the_kept_frames_in_order() -> None:
    from server.detection.hands import HandsFrame, HandTrack

    def with_hands(chunk: ChunkResult) -> ChunkResult:
        frames = [HandsFrame.empty() for _ in chunk.frames]
        for frame, index in zip(frames, chunk.frames):
            frame.confidence[:] = float(index) / 10
        chunk.hands, chunk.hands_seconds = HandTrack.of(frames), 0.5
        return chunk

    joined = join_chunks([with_hands(result(1, 5, [3, 4, 5, 6], [10, 11, 12, 13])),
                          with_hands(result(0, 0, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]))])
    assert joined.hands is not None and joined.hands_seconds == 1.0
    assert np.allclose(joined.hands.confidence[:, 0], np.array(joined.frame_indices) / 10)
    assert join_chunks([result(0, 0, [0, 1], [0, 1])]).hands is None       # no hands asked for

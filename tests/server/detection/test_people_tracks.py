"""Several people: finding everyone with a one-person detector, linking tracks, scoring, crossings, the guided
follower (synthetic boxes and fake detectors, no MediaPipe)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import pytest

from server.errors import JobError
from server.detection.people_tracks import (PeopleConfig, PersonTrack, Sighting, always_looked, box_iou, crossing_message, crossings,
                           detect_people, link_tracks, look_at_samples, same_person, sample_weights, square_windows,
                           steady_between, track_score)
from server.detection.listing import guide_from_boxes, sample_indices
from server.detection.track import Observation, PersonFollower, crop_window, interpolate_guide, shift_observation

from .test_track import Scripted, person_at

CONFIG = PeopleConfig()


def box(x: float, y: float = 100.0, h: float = 300.0) -> np.ndarray:
    return np.array([x, y, x + h / 3, y + h])


def test_box_overlap_and_windows() -> None:
    assert box_iou(box(0), box(0)) == pytest.approx(1.0) and box_iou(box(0), box(500)) == 0.0
    assert same_person(box(0), box(10)) and not same_person(box(0), box(300))
    assert same_person(np.array([0, 0, 100, 300.0]), np.array([10, 10, 60, 150.0])), "a part inside a whole"
    windows = square_windows(1768, 994)
    assert all(side == 994 and y == 0 for _, y, side in windows)
    covered = np.zeros(1768, bool)
    for x, _, side in windows:
        covered[x:x + side] = True
    assert covered.all() and windows[-1][0] + 994 == 1768
    assert square_windows(500, 500) == [(0, 0, 500)]
    assert all(x == 0 for x, _, _ in square_windows(480, 1000))


def test_sample_indices_include_the_first_and_last() -> None:
    assert sample_indices(10, 30, 8) == [10, 18, 26, 29]
    assert sample_indices(0, 1, 8) == [0]


def _frames(people: dict, frames: range) -> list:
    """people: name -> function frame -> box or None."""
    out = []
    for f in frames:
        sightings = []
        for where in people.values():
            b = where(f)
            if b is not None:
                sightings.append(Sighting(frame=f, box=b, visible=0.9))
        out.append((f, sightings))
    return out


def test_link_two_people_and_rank_the_most_visible() -> None:
    walker = lambda f: box(100 + 5 * f)                                   # noqa: E731  seen all along
    latecomer = lambda f: box(1400 - 4 * f, h=200) if f >= 60 else None  # noqa: E731  smaller, from frame 60
    tracks = link_tracks(_frames({"w": walker, "l": latecomer}, range(0, 120, 8)), 994, CONFIG)
    assert [t.id for t in tracks] == [1, 2]
    assert (tracks[0].first_frame, tracks[0].last_frame, tracks[0].frames_seen) == (0, 112, 15)
    assert tracks[1].first_frame == 64 and tracks[1].last_frame == 112
    assert tracks[0].score > tracks[1].score
    assert track_score(tracks[0], 994) == pytest.approx(15 * 0.9 * 300 / 994)
    assert all(np.allclose(s.box, walker(s.frame)) for s in tracks[0].sightings), "no identity swap"


def test_score_prefers_longer_more_visible_bigger() -> None:
    short = PersonTrack(0, [Sighting(f, box(0), 0.9) for f in range(0, 40, 8)])
    long_ = PersonTrack(0, [Sighting(f, box(0), 0.9) for f in range(0, 80, 8)])
    faint = PersonTrack(0, [Sighting(f, box(0), 0.3) for f in range(0, 80, 8)])
    small = PersonTrack(0, [Sighting(f, box(0, h=100), 0.9) for f in range(0, 80, 8)])
    scores = [track_score(t, 994) for t in (long_, short, faint, small)]
    assert scores[0] == max(scores) and scores[1] < scores[0] and scores[2] < scores[0] and scores[3] < scores[0]


def test_far_jumps_and_long_gaps_start_new_tracks() -> None:
    here = lambda f: box(100) if f < 40 else None        # noqa: E731
    there = lambda f: box(1300) if f >= 48 else None     # noqa: E731  too far to be the same person
    back = lambda f: box(100) if f >= 120 else None      # noqa: E731  gap of 88 frames > max_gap
    tracks = link_tracks(_frames({"a": here, "b": there, "c": back}, range(0, 160, 8)), 994, CONFIG)
    assert len(tracks) == 3


def test_crossing_found_while_one_hides_the_other() -> None:
    # A walks right, B walks left; while they overlap (frames ~60..92) the detector sees only one of them.
    a = lambda f: box(100 + 10 * f)                                         # noqa: E731
    b = lambda f: box(1700 - 10 * f) if not 60 <= f <= 92 else None         # noqa: E731
    tracks = link_tracks(_frames({"a": a, "b": b}, range(0, 168, 8)), 994, CONFIG)
    assert len(tracks) == 2
    found = crossings(tracks, CONFIG)
    assert len(found) == 1
    assert 56 <= found[0].first_frame <= 80 and 80 <= found[0].last_frame <= 104, found
    text = crossing_message(found[0], chosen=found[0].a)
    assert f"Person {found[0].b} crosses the captured person at frames" in text and "check the result" in text
    assert crossing_message(found[0]).startswith(f"People {found[0].a} and {found[0].b} cross")
    apart = link_tracks(_frames({"a": lambda f: box(100), "b": lambda f: box(900)}, range(0, 80, 8)), 994)
    assert crossings(apart) == []


def test_always_looked_is_every_other_sample_and_the_last() -> None:
    assert always_looked(10, 60, 8) == [10, 26, 42, 58, 59]
    assert always_looked(0, 1, 8) == [0]
    assert set(always_looked(0, 230, 8)) <= set(sample_indices(0, 230, 8))


def test_steady_between_predicts_each_person_along_their_motion() -> None:
    walker = lambda f: [Sighting(f, box(100 + 6 * f), 0.9)]                  # noqa: E731  a steady walk
    assert steady_between(walker(0), walker(16), walker(32))
    assert not steady_between(None, walker(16), walker(32)), "no motion known: 96 px is far for a 300 px person"
    assert steady_between(None, walker(16), [Sighting(32, box(100 + 6 * 16 + 40), 0.9)])
    jump = [Sighting(32, box(100 + 6 * 32, y=-150), 0.9)]                    # half a height off the line
    assert not steady_between(walker(0), walker(16), jump)
    curled = [Sighting(32, box(100 + 6 * 32, h=180), 0.9)]                   # the size changed
    assert not steady_between(walker(0), walker(16), curled)
    two = walker(32) + [Sighting(32, box(1200), 0.9)]
    assert not steady_between(walker(0), walker(16), two), "someone appeared"
    assert not steady_between(walker(0), two, walker(32)), "someone left"
    assert steady_between([], [], [])


def test_look_at_samples_looks_between_only_where_something_happens() -> None:
    # A person stands still until frame 40, then runs off to the right; every 8th frame is sampled.
    where = lambda f: 100.0 if f <= 40 else 100.0 + 30 * (f - 40)           # noqa: E731
    sampled = sample_indices(0, 100, 8)
    looked = []

    def look(frame: int, rgb: np.ndarray) -> List[Sighting]:
        looked.append(frame)
        return [Sighting(frame, box(where(frame)), 0.9)]

    frames = [(f, np.zeros((4, 4, 3), np.uint8)) for f in sampled]
    out = list(look_at_samples(frames, set(always_looked(0, 100, 8)), look))
    assert [f for f, _ in out] == sampled, "every sampled frame once, in order"
    assert [f for f, found in out if found is None] == [8, 24], "skipped while standing still"
    assert sorted(looked) == [f for f, found in out if found is not None]
    assert {40, 56, 72, 88} <= set(looked), "looked between while the person starts and runs (no steady line yet)"


def test_sample_weights_count_the_steps_a_frame_stands_for() -> None:
    assert sample_weights([0, 8, 16, 24, 29], 8) == {0: 1.0, 8: 1.0, 16: 1.0, 24: 1.0, 29: 1.0}
    assert sample_weights([0, 16, 24, 40], 8) == {0: 2.0, 16: 1.0, 24: 2.0, 40: 1.0}
    track = PersonTrack(0, [Sighting(f, box(0), 0.9) for f in (0, 16, 24, 40)])
    assert track_score(track, 994, sample_weights([0, 16, 24, 40], 8)) == pytest.approx(6 * 0.9 * 300 / 994)


def test_link_tracks_scores_skipped_frames_like_looked_ones() -> None:
    """A steady person looked at every 16th frame scores as when looked at every 8th."""
    dense = link_tracks(_frames({"a": lambda f: box(100)}, range(0, 128, 8)), 994, CONFIG)
    sparse = link_tracks(_frames({"a": lambda f: box(100)}, range(0, 128, 16)), 994, CONFIG)
    one_step = 0.9 * 300 / 994
    assert dense[0].score == pytest.approx(16 * one_step)
    assert sparse[0].score == pytest.approx(dense[0].score - one_step)   # the dense one also saw frame 120


class Painted:
    """A fake static detector: the image holds people as bright rectangles; it 'detects' the biggest one still
    visible (not blacked out), as landmarks spread over it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rgb: np.ndarray) -> Optional[Observation]:
        self.calls += 1
        mask = rgb[..., 0] > 0
        if not mask.any():
            return None
        columns = np.flatnonzero(mask.any(axis=0))
        runs = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
        run = max(runs, key=len)
        rows = np.flatnonzero(mask[:, run].any(axis=1))
        image = np.zeros((33, 3), np.float32)
        image[:, 0] = np.linspace(run[0], run[-1], 33)
        image[:, 1] = np.linspace(rows[0], rows[-1], 33)
        image[:, 2] = 0.9
        return Observation(image=image, world=np.zeros((33, 4), np.float32))


def test_detect_people_blacks_out_each_person_found() -> None:
    frame = np.zeros((400, 1200, 3), np.uint8)
    frame[50:350, 100:200] = 200    # three people, one straddling two windows
    frame[60:340, 380:470] = 200
    frame[100:300, 900:960] = 200
    detector = Painted()
    found = detect_people(detector, frame, 7, CONFIG)
    lefts = sorted(round(s.box[0]) for s in found)
    assert lefts == [100, 380, 900] and all(s.frame == 7 and s.visible == pytest.approx(1.0) for s in found)
    assert frame.max() == 200, "the caller's frame is not changed"
    assert len(detect_people(Painted(), frame, 0, PeopleConfig(max_people=2))) == 2


def test_guide_interpolation() -> None:
    guide = {0: box(0), 8: box(80)}
    middle, outside = interpolate_guide(guide, 4)
    assert np.allclose(middle, box(40)) and outside == 0
    before, outside = interpolate_guide(guide, -5)
    assert np.allclose(before, box(0)) and outside == 5
    assert interpolate_guide(guide, 20)[1] == 12
    assert set(guide_from_boxes([[3, 1, 2, 30, 40]])) == {3}
    with pytest.raises(JobError, match="x1 > x0"):
        guide_from_boxes([[3, 50, 2, 30, 40]])
    with pytest.raises(JobError):
        guide_from_boxes([[3, 1, 2]])


def test_guided_follower_takes_the_chosen_person_not_the_first() -> None:
    frame = np.zeros((994, 1768, 3), np.uint8)
    first, chosen = person_at(100, 300), person_at(1200, 300)
    guide = {0: np.array([1200, 300, 1333, 700.0]), 16: np.array([1200, 300, 1333, 700.0])}

    def crop_finds_chosen_when_there(rgb: np.ndarray) -> Optional[Observation]:
        return None

    follower = PersonFollower(Scripted([first]), crop_finds_chosen_when_there, Scripted([None]), guide=guide)
    assert follower.step(frame, 0) is None, "the full frame's person is not the chosen one"
    x0, y0, _ = crop_window(guide[0], follower.config)
    follower._crop = Scripted([shift_observation(chosen, -x0, -y0)])
    found = follower.step(frame, 1)
    assert found is not None and np.allclose(found.image, chosen.image)
    follower._crop = Scripted([None])
    follower._full = Scripted([first])
    for index in range(2, 6):
        assert follower.step(frame, index) is None, "never jumps to the other person while the chosen is lost"


def test_guided_follower_before_the_guide_looks_near_it_only() -> None:
    frame = np.zeros((994, 1768, 3), np.uint8)
    other, chosen = person_at(100, 300), person_at(1180, 320)
    guide = {50: np.array([1200, 300, 1333, 700.0])}
    follower = PersonFollower(Scripted([other]), Scripted([None]), Scripted([None]), guide=guide)
    for index in range(0, 5):
        assert follower.step(frame, index) is None
    follower._full = Scripted([chosen])
    assert follower.step(frame, 5) is chosen, "near the guide's box: accepted"
    unguided = PersonFollower(Scripted([other]), Scripted([None]), Scripted([None]))
    assert unguided.step(frame, 0) is other, "without a guide: the first person found (as before)"


def test_scripted_frames_helper_is_deterministic() -> None:
    detections: List[Optional[Observation]] = [None]
    assert Scripted(detections)(np.zeros((2, 2, 3), np.uint8)) is None

"""Following one person: box maths and the follower with scripted detectors (no MediaPipe)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from server.detection.track import (Observation, PersonFollower, TrackConfig, box_from_landmarks, crop_window, cut_crop,
                          scan_windows, scans_on, shift_observation, within_gate)

CONFIG = TrackConfig()


def person_at(x0: float, y0: float, height: float = 400.0, visibility: float = 0.9) -> Observation:
    """A fake person: 33 landmarks spread over a box of ``height`` x ``height/3`` at (x0, y0)."""
    rng = np.random.default_rng(0)
    image = np.zeros((33, 3), dtype=np.float32)
    image[:, 0] = x0 + rng.uniform(0, height / 3, 33)
    image[:, 1] = y0 + np.linspace(0, height, 33)
    image[:, 2] = visibility
    return Observation(image=image, world=np.zeros((33, 4), dtype=np.float32))


def test_box_and_crop_maths() -> None:
    person = person_at(100, 50, height=300)
    box = box_from_landmarks(person.image)
    assert box[1] == 50 and box[3] == 350 and 100 <= box[0] < box[2] <= 200
    x0, y0, side = crop_window(box, CONFIG)
    assert side == round(300 * CONFIG.crop_scale)
    assert abs((x0 + side / 2) - (box[0] + box[2]) / 2) <= 1
    crop = cut_crop(np.full((240, 320, 3), 7, np.uint8), -10, -20, 100)
    assert crop.shape == (100, 100, 3) and crop[:20].max() == 0 and crop[:, :10].max() == 0 and crop[50, 50, 0] == 7
    moved = shift_observation(person, 5, -3)
    assert np.allclose(moved.image[:, :2] - person.image[:, :2], [5, -3])


def test_gate_widens_while_lost() -> None:
    predicted = np.array([0, 0, 100, 400.0])
    far = np.array([500, 0, 600, 400.0])
    assert within_gate(predicted + 50, predicted, 0, CONFIG)
    assert not within_gate(far, predicted, 0, CONFIG)
    assert within_gate(far, predicted, 5, CONFIG)
    assert not within_gate(np.array([0, 0, 10, 40.0]), predicted, 5, CONFIG), "a much smaller person is not them"


def test_scan_windows_cover_the_image() -> None:
    windows = scan_windows((1768, 994), np.array([0, 0, 100, 400.0]), CONFIG)
    covered = np.zeros((994, 1768), bool)
    for x, y, side in windows:
        covered[max(y, 0):y + side, max(x, 0):x + side] = True
    assert covered.all()


class Scripted:
    """A detector that answers from a per-call script (frame pixels -> crop pixels handled by the follower)."""

    def __init__(self, answers: List[Optional[Observation]]) -> None:
        self.answers = answers
        self.calls = 0

    def __call__(self, rgb: np.ndarray) -> Optional[Observation]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return answer


def test_follower_ignores_a_passer_by() -> None:
    frame = np.zeros((994, 1768, 3), np.uint8)
    hero, passer_by = person_at(600, 100), person_at(100, 550)
    # The full-frame detector finds the hero first, then only the passer-by; the crop detector finds the hero
    # (in crop pixels) twice, then nobody.
    full = Scripted([hero, passer_by, passer_by, passer_by])
    follower = PersonFollower(full, Scripted([None]), Scripted([None]))
    assert follower.step(frame) is hero
    crop_x0, crop_y0, _ = crop_window(follower.predicted_box(), CONFIG)
    follower._crop = Scripted([shift_observation(hero, -crop_x0, -crop_y0), None])
    found = follower.step(frame)
    assert found is not None and np.allclose(found.image, hero.image)
    assert follower.step(frame) is None, "the passer-by must not be taken for the hero"
    assert follower.frames_lost == 1


def test_scan_windows_within_reach() -> None:
    box = np.array([100, 100, 200, 500.0])
    every = scan_windows((1768, 994), box, CONFIG)
    near = scan_windows((1768, 994), box, CONFIG, reach=300.0)
    assert 0 < len(near) < len(every) and set(near) <= set(every)
    assert all(x <= 150 + 300 for x, _, _ in near)   # no window starts further right than the reach


def test_scans_on_doubling_frames() -> None:
    assert [lost for lost in range(16) if scans_on(lost)] == [0, 1, 3, 7, 15]


def test_follower_reacquires_by_scanning() -> None:
    frame = np.zeros((994, 1768, 3), np.uint8)
    hero = person_at(600, 100)
    follower = PersonFollower(Scripted([hero, None]), Scripted([None]), Scripted([None]))
    follower.step(frame)
    landed = person_at(750, 400)

    def scan(rgb: np.ndarray) -> Optional[Observation]:
        return None  # nobody in any window yet

    follower._scan = scan
    assert follower.step(frame) is None and follower.frames_lost == 1
    windows = follower.scan_plan((1768, 994), follower.predicted_box())
    hits = iter(range(len(windows)))

    def scan_finds(rgb: np.ndarray) -> Optional[Observation]:
        index = next(hits)
        x0, y0, _ = windows[index]
        inside = x0 <= 750 and x0 + rgb.shape[1] >= 890 and y0 <= 400 and y0 + rgb.shape[0] >= 800
        return shift_observation(landed, -x0, -y0) if inside else None

    follower._scan = scan_finds
    found = follower.step(frame)
    assert found is not None and np.allclose(found.image, landed.image, atol=1e-3)
    assert follower.frames_lost == 0


def test_implausible_detections_rejected() -> None:
    frame = np.zeros((994, 1768, 3), np.uint8)
    hero = person_at(600, 100)
    ghost = person_at(620, 110, visibility=0.1)
    follower = PersonFollower(Scripted([hero, ghost]), Scripted([None]), Scripted([None]))
    follower.step(frame)
    assert follower.step(frame) is None

"""Opening footage: a file OpenCV cannot open or decode, or whose container reports nonsense, is a clear
``video_unreadable`` error or a sane fallback, never a raw exception."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from server import video
from server.errors import JobError


class FakeCapture:
    """A cv2.VideoCapture stand-in: ``frame`` is what read() returns, ``props`` what get() returns."""

    def __init__(self, frame, props, fail: bool = False) -> None:
        self.frame, self.props, self.fail = frame, props, fail

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def read(self):
        if self.fail:
            raise FakeCv2Error("decoder crashed")
        return self.frame is not None, self.frame

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def release(self) -> None:
        """Nothing to release."""


class FakeCv2Error(Exception):
    """Stands in for cv2.error."""


def _fake_cv2(monkeypatch: pytest.MonkeyPatch, frame, props, fail: bool = False) -> None:
    module = SimpleNamespace(error=FakeCv2Error, CAP_PROP_FPS=5, CAP_PROP_FRAME_COUNT=7,
                             VideoCapture=lambda path: FakeCapture(frame, props, fail))
    monkeypatch.setattr(video, "_cv2", lambda: module)


@pytest.mark.parametrize("frame, fail", [(None, False), (np.zeros((0, 0, 3), np.uint8), False),
                                         (np.zeros((4, 6, 3), np.uint8), True)])
def test_undecodable_footage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frame, fail: bool) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not a video")
    _fake_cv2(monkeypatch, frame, {}, fail)
    with pytest.raises(JobError) as info:
        video.probe(str(path))
    assert info.value.code == "video_unreadable" and info.value.hint and str(path) in info.value.message


@pytest.mark.parametrize("fps, count, want_fps, want_count", [
    (float("nan"), float("nan"), 30.0, 1), (float("inf"), -5.0, 30.0, 1), (25.0, 1e300, 25.0, 1),
    (25.0, 120.0, 25.0, 120),
])
def test_nonsense_container_figures_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fps: float,
                                              count: float, want_fps: float, want_count: int) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"frames")
    _fake_cv2(monkeypatch, np.zeros((4, 6, 3), np.uint8), {5: fps, 7: count})
    info = video.probe(str(path))
    assert (info.fps, info.frame_count, info.width, info.height) == (want_fps, want_count, 6, 4)

"""Picking footage sets First / Last Frame to the clip's own range (bpy): a video file, a Movie Clip, a new pick
over a typed range, and footage Blender cannot read (the range is left alone); no Movie Clip is left behind.

Shares bpy (imported once per process) and the clean-scene ``bl`` fixture with test_blender_addon.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from test_blender_addon import bl  # noqa: F401  (the clean-scene fixture)

pytestmark = [pytest.mark.slow,   # bpy
              pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")]


def write_movie(path: Path, frames: int, size=(96, 64)) -> Path:
    """A small mp4 of ``frames`` frames (OpenCV's writer)."""
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (7 * i) % 255, dtype=np.uint8))
    writer.release()
    return path


def test_picking_a_video_sets_the_clip_range(bl, tmp_path):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    settings.video_start, settings.video_end = 10, 5                 # whatever an earlier test left
    settings.filepath = str(write_movie(tmp_path / "short.mp4", 37))
    assert (settings.video_start, settings.video_end) == (1, 37)
    assert len(b.data.movieclips) == 0                               # read, then removed
    settings.use_whole_clip = False
    settings.video_start, settings.video_end = 5, 20                 # a range typed for this clip ...
    settings.filepath = str(write_movie(tmp_path / "other.mp4", 12))
    assert (settings.video_start, settings.video_end) == (1, 12)     # ... means nothing for a new one


def test_unreadable_footage_leaves_the_range(bl, tmp_path, fake_video):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    settings.video_start, settings.video_end = 3, 9
    for path in (str(fake_video), str(tmp_path / "missing.mp4"), ""):
        settings.filepath = path
        assert (settings.video_start, settings.video_end) == (3, 9), path
    assert len(b.data.movieclips) == 0


def test_a_loaded_clip_is_kept_and_a_movie_clip_pick_sets_the_range(bl, tmp_path):
    b = bl.bpy
    settings = b.context.scene.scorehmr
    clip = b.data.movieclips.load(str(write_movie(tmp_path / "loaded.mp4", 23)))
    settings.filepath = clip.filepath
    assert settings.video_end == 23 and list(b.data.movieclips) == [clip]   # the user's clip stays
    settings.video_end = 4
    settings.source, settings.clip = "CLIP", clip
    assert (settings.video_start, settings.video_end) == (1, 23)

"""The picked footage's frame range: picking a video file (or a Movie Clip) sets First / Last Frame to the whole
clip, 1 to its frame count, so the panel shows the clip's real length instead of the defaults.

A new pick always resets the range: a range typed for the previous clip means nothing for another one. Footage
Blender cannot read as a movie leaves the range as it was.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import bpy

log = logging.getLogger(__name__)


def movie_frame_count(path: str) -> Optional[int]:
    """Frames in the movie at ``path`` (a blend-relative ``//`` path is resolved), read by Blender's own movie
    reader; None when there is no such file or Blender cannot read it as a movie. A Movie Clip loaded only to read
    it is removed again; one the file already had is left as it was."""
    if not path:
        return None
    absolute = Path(bpy.path.abspath(path))
    if not absolute.is_file():
        return None
    known = {clip.as_pointer() for clip in bpy.data.movieclips}
    try:
        clip = bpy.data.movieclips.load(str(absolute), check_existing=True)
    except (RuntimeError, OSError) as exc:
        log.info("cannot read %s as a movie (%s): the frame range is left as it is", absolute, exc)
        return None
    try:
        return clip_frame_count(clip)
    finally:
        if clip.as_pointer() not in known:
            bpy.data.movieclips.remove(clip)


def clip_frame_count(clip: Any) -> Optional[int]:
    """Frames in the Movie Clip ``clip`` when it is a movie with frames; None otherwise (or no clip)."""
    count = int(clip.frame_duration) if clip is not None and clip.source == "MOVIE" else 0
    return count if count >= 1 else None


def set_whole_range(settings: Any, count: Optional[int]) -> None:
    """First / Last Frame of ``settings`` (the panel's capture settings) to 1 and ``count``; nothing when ``count``
    is None."""
    if count is None:
        return
    settings.video_start, settings.video_end = 1, int(count)
    log.info("footage has %d frames: First / Last Frame set to 1 / %d", count, count)


def on_video_picked(settings: Any, _context: Any) -> None:
    """Update callback of the footage's video path: the range becomes the whole new clip."""
    set_whole_range(settings, movie_frame_count(settings.filepath))


def on_clip_picked(settings: Any, _context: Any) -> None:
    """Update callback of the footage's Movie Clip: the range becomes the whole clip (movies only)."""
    set_whole_range(settings, clip_frame_count(settings.clip))

"""Streaming video decoding with OpenCV: frames one at a time, never the whole clip in memory; :func:`read_ahead`
decodes on a thread of its own while the caller works on the frames before."""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
from dataclasses import dataclass
from typing import Container, Iterator, Optional, Tuple

from .errors import JobError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a clip."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise JobError("missing_package", f"The worker cannot import OpenCV ({exc}).",
                       "Run 'Set up worker' in the add-on preferences.") from exc
    return cv2


def probe(path: str) -> VideoInfo:
    """Open ``path``, check one frame decodes and return its :class:`VideoInfo`.

    Raises JobError ``video_missing`` / ``video_unreadable`` with a hint.
    """
    if not os.path.isfile(path):
        raise JobError("video_missing", f"The footage file does not exist: {path}",
                       "Pick the video again in the ScoreHMR panel.")
    cv2 = _cv2()
    unreadable = JobError("video_unreadable", f"The file could not be decoded as video: {path}",
                          "Convert it to an H.264 .mp4 (e.g. with ffmpeg) and try again.")
    try:
        capture = cv2.VideoCapture(path)
    except cv2.error as exc:
        log.debug("OpenCV cannot open %s: %s", path, exc)
        raise unreadable from exc
    try:
        try:
            ok, frame = capture.read() if capture.isOpened() else (False, None)
        except cv2.error as exc:
            log.debug("OpenCV cannot decode %s: %s", path, exc)
            ok, frame = False, None
        if not ok or frame is None or getattr(frame, "ndim", 0) < 2 or min(frame.shape[:2]) < 1:
            raise unreadable
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 0.0
        if not 1.0 <= fps <= 1000.0:
            log.warning("video reports %.3f fps; assuming 30", fps)
            fps = 30.0
        reported = float(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        count = int(reported) if math.isfinite(reported) and 0 < reported < 2 ** 31 else 1
        height, width = frame.shape[:2]
        return VideoInfo(path=os.path.abspath(path), width=int(width), height=int(height), fps=fps,
                         frame_count=max(count, 1))
    finally:
        capture.release()


def resolve_range(info: VideoInfo, start: int, end: int) -> Tuple[int, int]:
    """Clamp a requested ``[start, end)`` (``end`` < 0 = to the end) to the clip; reject empty ranges."""
    stop = info.frame_count if end < 0 else min(end, info.frame_count)
    first = max(0, start)
    if first >= stop:
        raise JobError("bad_request", f"The frame range {start}..{end} holds no frame of this "
                       f"{info.frame_count}-frame clip.", "Set a frame range inside the clip.")
    return first, stop


def iter_frames(path: str, start: int, stop: int,
                wanted: Optional[Container[int]] = None) -> Iterator[Tuple[int, "object"]]:
    """Yield ``(frame_index, rgb)`` for frames ``start <= i < stop`` (only those in ``wanted`` when given: the
    others are grabbed, not decoded to RGB); ``rgb`` is (H, W, 3) uint8.

    Decodes sequentially (seeking only to ``start``) so frame indices stay exact; stops early if the
    container holds fewer frames than it claimed.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(path)
    try:
        index = 0
        if start > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
            while index < start:  # seeking landed early (keyframe-based containers): read forward
                if not capture.grab():
                    return
                index += 1
        while index < stop:
            ok = capture.grab()
            if ok and (wanted is None or index in wanted):
                ok, bgr = capture.retrieve()
                if ok:
                    yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if not ok:
                log.info("video ended at frame %d (container claimed %d)", index, stop)
                return
            index += 1
    finally:
        capture.release()


READ_AHEAD = 4  # frames decoded ahead of the consumer


def read_ahead(frames: Iterator[Tuple[int, "object"]], depth: int = READ_AHEAD) -> Iterator[Tuple[int, "object"]]:
    """Yield ``frames`` (e.g. :func:`iter_frames`) while a thread decodes up to ``depth`` frames ahead; OpenCV
    releases the GIL while it decodes, so decoding overlaps the caller's work. An exception in the decoder is
    raised here; closing this generator early stops the thread."""
    ready: "queue.Queue" = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        """Hand ``item`` to the consumer; False once the consumer has gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for item in frames:
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=decode, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=2.0)

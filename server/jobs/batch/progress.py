"""The batch's progress on stderr: two tqdm bars (clips, frames) on a terminal, else (no terminal, no tqdm, bars
turned off) a log line every tenth of the clips."""
from __future__ import annotations

import logging
import sys
from typing import Any, Optional

log = logging.getLogger(__name__)


class BatchProgress:
    """Clips done of all (those done before count from the start) and frames detected of the clips running."""

    def __init__(self, clips: int, done_before: int, bars: bool = True) -> None:
        self._clips, self._done = clips, done_before
        self._clip_bar: Optional[Any] = None
        self._frame_bar: Optional[Any] = None
        if bars and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                log.info("tqdm is not installed: progress as log lines")
            else:
                self._clip_bar = tqdm(total=clips, initial=done_before, desc="clips", unit="clip", position=0)
                self._frame_bar = tqdm(total=0, desc="frames", unit="fr", position=1)

    def __enter__(self) -> "BatchProgress":
        return self

    def __exit__(self, *_exc: object) -> None:
        for bar in (self._frame_bar, self._clip_bar):
            if bar is not None:
                bar.close()

    def clip_ended(self) -> None:
        self._done += 1
        if self._clip_bar is not None:
            self._clip_bar.update(1)
        elif self._clips and (self._done * 10 // self._clips) != ((self._done - 1) * 10 // self._clips):
            log.info("batch: %d of %d clips", self._done, self._clips)

    def frames(self, done: int, total: int) -> None:
        """Frames detected so far of every clip started (``done`` of ``total``)."""
        if self._frame_bar is not None:
            self._frame_bar.total = max(total, self._frame_bar.total or 0)
            self._frame_bar.n = done
            self._frame_bar.refresh()

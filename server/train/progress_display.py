"""A progress display for long training runs: tqdm when it is installed, else a periodic log line."""
from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Dict, Optional

log = logging.getLogger("server.train")


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``update(step, figures)`` after each step; ``total`` may be set later (e.g. after a speed calibration).

    Without tqdm, logs ``step/total, figures, it/s, ETA`` every ``every_s`` seconds (and at close)."""

    def __init__(self, total: Optional[int], desc: str = "train", every_s: float = 15.0,
                 use_tqdm: Optional[bool] = None) -> None:
        self.total, self.desc, self.every_s = total, desc, every_s
        self.start = self.last_log = time.monotonic()
        self.step = 0
        self.figures: Dict[str, Any] = {}
        self._bar = None
        if use_tqdm is not False:
            try:
                tqdm = importlib.import_module("tqdm")
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm.tqdm(total=total, desc=desc, dynamic_ncols=True)

    def set_total(self, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, step: int, figures: Optional[Dict[str, Any]] = None) -> None:
        if figures:
            self.figures.update(figures)
        if self._bar is not None:
            self._bar.update(step - self.step)
            if figures:
                self._bar.set_postfix({k: _fmt(v) for k, v in self.figures.items()}, refresh=False)
        self.step = step
        now = time.monotonic()
        if self._bar is None and now - self.last_log >= self.every_s:
            self.last_log = now
            log.info("%s", self.line())

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.step / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total}" if self.total else ""
        eta = f" ETA {_eta((self.total - self.step) / rate)}" if self.total and rate > 0 else ""
        figs = " ".join(f"{k} {_fmt(v)}" for k, v in self.figures.items())
        return f"{self.desc} step {self.step}{total} {figs} {rate:.1f} it/s elapsed {_eta(elapsed)}{eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        log.info("%s", self.line())


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

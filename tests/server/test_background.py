"""Work beside a job: its result, its error, and a cancel that does not wait for it."""
from __future__ import annotations

import threading
import time

import pytest

from server.background import Background
from server.errors import Cancelled


def test_wait_returns_the_result() -> None:
    assert Background(lambda: 7).wait(lambda: False) == 7


def test_an_error_is_raised_by_wait_and_marks_it_failed() -> None:
    def bad() -> None:
        raise ValueError("bad model file")

    beside = Background(bad)
    with pytest.raises(ValueError, match="bad model file"):
        beside.wait(lambda: False)
    assert beside.failed
    with pytest.raises(ValueError):
        beside.raise_error()


def test_running_or_done_work_is_not_failed() -> None:
    release = threading.Event()
    beside = Background(lambda: release.wait(10.0))
    assert not beside.failed
    beside.raise_error()   # nothing to raise yet
    release.set()
    assert beside.wait(lambda: False) is True and not beside.failed


def test_cancel_does_not_wait_for_the_work() -> None:
    release = threading.Event()
    began = time.perf_counter()
    beside = Background(lambda: release.wait(10.0))
    with pytest.raises(Cancelled):
        beside.wait(lambda: time.perf_counter() - began > 0.2)
    assert time.perf_counter() - began < 1.0   # not the work's 10 s
    release.set()


def test_settle_lets_the_work_end() -> None:
    release = threading.Event()
    beside = Background(lambda: release.wait(5.0) and 3)
    beside.settle(timeout=0.05)                 # bounded: the work is still running
    assert beside._thread.is_alive()
    release.set()
    beside.settle()
    assert not beside._thread.is_alive() and beside.wait(lambda: False) == 3

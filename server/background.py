"""Work on a helper thread beside a job: started at once, its result (or error) taken when the job needs it.

The capture loads torch and its models this way while the detectors run: the job goes on reporting progress and
answering cancel, and never waits for work it cannot interrupt once the user has cancelled.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, Optional, TypeVar

from .errors import Cancelled

T = TypeVar("T")
CancelFn = Callable[[], bool]


class Background(Generic[T]):
    """``work()`` on a daemon thread from construction on. After a cancel it finishes on its own and its result
    is dropped (importing torch cannot be interrupted)."""

    def __init__(self, work: Callable[[], T], name: str = "scorehmr-background") -> None:
        self._value: Optional[T] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to the job thread by wait / raise_error
            self._error = exc

    @property
    def failed(self) -> bool:
        """True once ``work`` has raised."""
        return not self._thread.is_alive() and self._error is not None

    def raise_error(self) -> None:
        """Raise what ``work`` raised, if it has."""
        if self.failed:
            raise self._error  # type: ignore[misc]

    def settle(self, timeout: float = 30.0) -> None:
        """Let ``work`` end (at most ``timeout`` seconds), dropping its result: before a job's error ends the process
        (the CLI), so it never exits while torch is loading on this thread (that aborts the interpreter)."""
        self._thread.join(timeout=timeout)

    def wait(self, cancelled: CancelFn, poll: float = 0.05) -> T:
        """``work``'s result once it is done; raises its error, or :class:`Cancelled` as soon as ``cancelled()``."""
        while self._thread.is_alive():
            if cancelled():
                raise Cancelled()
            self._thread.join(timeout=poll)
        self.raise_error()
        return self._value  # type: ignore[return-value]

"""Where detection chunks run: in this process (:class:`InlinePool`) or in detector processes (:class:`DetectorPool`).

BlazePose runs on one core per graph, so a capture uses every core by detecting chunks of the clip in several
processes at once. The processes are spawned (a fresh interpreter: no fork of a process that holds torch or
MediaPipe threads), import only MediaPipe, OpenCV and this package's detection modules, and take
:class:`server.detection.chunks.ChunkTask` s from a queue; their events (frames done, a chunk's result, an error) come
back on another queue. This is internal to the worker: the same code runs on both ends, and nothing of it crosses
the add-on's JSON-lines boundary. A process that dies becomes a :class:`server.errors.JobError`; a cancel or an error
terminates them all within a second; a worker that dies (even by SIGKILL) takes them with it at once, and a worker
that exits leaves no process of the pool behind (:mod:`server.detection.lifetime`).
"""
from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import queue
import time
from typing import Callable, Deque, Iterator, Optional, Tuple

from ..errors import Cancelled, JobError
from .chunks import ChunkResult, ChunkTask
from .lifetime import die_with_parent, stop_tracker_at_exit

TaskKey = Tuple[int, int]

log = logging.getLogger(__name__)

MAX_DETECTORS = 4       # BlazePose processes at most (each holds ~250 MB)
POLL_SECONDS = 0.1      # how often the pool looks at cancel and at its processes while it waits
EXIT_SECONDS = 1.0      # how long idle processes get to exit before they are terminated

ProgressFn = Callable[[TaskKey, int], None]  # (view, index) of a task, its frames done since the last call
DoneFn = Callable[[ChunkResult], None]    # may submit further tasks
CancelFn = Callable[[], bool]
CRASH_HINT = "Try again; if it keeps happening, capture with one detector (--detectors 1) and report the log."


def default_detectors() -> int:
    """Detector processes for this machine: one per core this process may use, at most :data:`MAX_DETECTORS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DETECTORS))


class InlinePool:
    """Runs the tasks one after the other in this process (one detector, no start-up cost)."""

    workers = 1

    def __init__(self) -> None:
        self._tasks: Deque[ChunkTask] = collections.deque()

    def submit(self, task: ChunkTask) -> None:
        self._tasks.append(task)

    def run(self, on_progress: ProgressFn, on_done: DoneFn, cancelled: CancelFn) -> None:
        """Detect every submitted task (and those ``on_done`` submits) in order."""
        from .chunk_job import detect_chunk

        while self._tasks:
            task = self._tasks.popleft()

            def report(n: int, key: TaskKey = (task.view, task.index)) -> None:
                on_progress(key, n)

            on_done(detect_chunk(task, report, cancelled))

    def close(self) -> None:
        self._tasks.clear()

    def __enter__(self) -> "InlinePool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


MATHS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_maths() -> Iterator[None]:
    """Processes started meanwhile get numpy's BLAS with one thread: a detector already has a core of its own, and
    BLAS threads that wait for work spin on the others (measured: the camera chain's numpy took twice its time in
    processor time, and the capture beside it slowed by a third). This process's own settings are restored."""
    before = {name: os.environ.get(name) for name in MATHS_THREADS}
    os.environ.update({name: "1" for name in MATHS_THREADS})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class DetectorPool:
    """``workers`` detector processes, started at once (they load MediaPipe while the caller does other work).
    The thread that opens the pool closes it: the processes die with that thread (see :mod:`.lifetime`)."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        stop_tracker_at_exit()
        self.workers = workers
        self._tasks = context.Queue()
        self._events = context.Queue()
        self._pending = 0
        self._processes = [context.Process(target=serve, args=(self._tasks, self._events, os.getpid()),
                                           name=f"scorehmr-detector-{i}", daemon=True) for i in range(workers)]
        with single_threaded_maths():
            for process in self._processes:
                process.start()
        log.info("%d detector processes started", workers)

    def submit(self, task: ChunkTask) -> None:
        self._tasks.put(task)
        self._pending += 1

    def run(self, on_progress: ProgressFn, on_done: DoneFn, cancelled: CancelFn) -> None:
        """Wait for every submitted task (and those ``on_done`` submits), passing on their events; raises
        Cancelled / JobError after terminating the processes."""
        while self._pending:
            if cancelled():
                self.close(at_once=True)
                raise Cancelled()
            try:
                kind, key, payload = self._events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                self._check_alive()
                continue
            if kind == "progress":
                on_progress(key, int(payload))
            elif kind == "done":
                self._pending -= 1
                on_done(payload)
            else:
                self.close(at_once=True)
                raise JobError(*payload)

    def _check_alive(self) -> None:
        for process in self._processes:
            if process.exitcode is not None:
                code = process.exitcode
                self.close(at_once=True)
                raise JobError("internal", f"A detector process stopped unexpectedly (exit code {code}).", CRASH_HINT)

    def close(self, at_once: bool = False) -> None:
        """Stop the processes: ask the idle ones to exit and terminate what is left after :data:`EXIT_SECONDS`;
        ``at_once`` (a cancel, an error: their work is not wanted) terminates them without waiting. Idempotent."""
        self._pending = 0
        if not at_once:
            for process in self._processes:
                if process.is_alive():
                    self._tasks.put(None)
            deadline = time.monotonic() + EXIT_SECONDS
            for process in self._processes:
                process.join(timeout=max(0.0, deadline - time.monotonic()))
        self._tasks.cancel_join_thread()   # tasks nobody will take must not hold up this process's exit
        for stop in ("terminate", "kill"):  # SIGTERM, then SIGKILL for any process still there a second later
            for process in self._processes:
                if process.is_alive():
                    getattr(process, stop)()
            for process in self._processes:
                process.join(timeout=EXIT_SECONDS)

    def __enter__(self) -> "DetectorPool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Every result has arrived (or nothing more is wanted): idle processes hold nothing, so they are not waited for.
        self.close(at_once=True)


def open_pool(workers: int) -> "InlinePool | DetectorPool":
    """An :class:`InlinePool` for one worker, else a :class:`DetectorPool`."""
    return InlinePool() if workers <= 1 else DetectorPool(workers)


def serve(tasks: "multiprocessing.Queue", events: "multiprocessing.Queue", parent: int) -> None:
    """A detector process: detect tasks until it gets None or the worker that started it is gone."""
    die_with_parent(parent)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .chunk_job import detect_chunk

    orphaned = lambda: os.getppid() != parent  # noqa: E731
    while not orphaned():
        try:
            task: Optional[ChunkTask] = tasks.get(timeout=1.0)
        except queue.Empty:
            continue
        if task is None:
            return
        key = (task.view, task.index)
        try:
            result = detect_chunk(task, lambda n: events.put(("progress", key, n)), orphaned)
        except Cancelled:
            return
        except JobError as exc:
            events.put(("error", key, (exc.code, exc.message, exc.hint)))
            return
        except Exception as exc:  # anything else: the capture fails with what happened
            log.exception("detection failed")
            events.put(("error", key, ("internal", f"Detection failed on frames {task.keep}..{task.stop - 1} of "
                                  f"{os.path.basename(task.path)}: {type(exc).__name__}: {exc}", CRASH_HINT)))
            return
        events.put(("done", key, result))


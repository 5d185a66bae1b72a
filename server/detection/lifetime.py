"""Detector processes never outlive the worker that started them, and nothing of the pool outlives the worker.

A detector process (:func:`server.detection.pool.serve`) calls :func:`die_with_parent` first thing: on Linux the
kernel kills it the moment its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, even when the parent was
SIGKILLed); everywhere a watcher thread ends it as soon as the pipe to its parent closes (multiprocessing's parent
sentinel), or, without one, when its parent process id changes. The death signal is tied to the parent *thread*
that started the process, so a pool is closed by the thread that opened it (as ``with open_pool(...)`` does).

The worker side calls :func:`stop_tracker_at_exit` when it starts detector processes: multiprocessing's resource
tracker (a helper process every spawn starts) then ends before the worker's interpreter exits, after every
detector process has been joined and every semaphore released, instead of a moment after it.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1          # linux/prctl.h
POLL_SECONDS = 0.1            # how often the fallback watcher looks at the parent process id
EXIT_CODE = 3                 # a detector process that ended because its worker is gone

_tracker_stop_registered = False
_registration_lock = threading.Lock()


def die_with_parent(parent: int) -> None:
    """Make this process end at once when ``parent`` (the pid that started it) is gone; exits now if it already is."""
    if sys.platform.startswith("linux"):
        _set_death_signal()
    if os.getppid() != parent:   # the parent died before the death signal was set
        os._exit(EXIT_CODE)
    threading.Thread(target=_watch_parent, args=(parent,), name="scorehmr-parent-watch", daemon=True).start()


def _set_death_signal() -> None:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through libc (Linux); a failure leaves the watcher thread alone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:   # no libc or no prctl in it
        log.debug("no prctl: %s", exc)


def _watch_parent(parent: int) -> None:
    """Block until the parent is gone, then end this process without cleanup (its work is not wanted)."""
    watched = multiprocessing.parent_process()
    if watched is not None:
        watched.join()               # returns when the pipe from the parent closes: the parent is gone
    else:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
    os._exit(EXIT_CODE)


def stop_tracker_at_exit() -> None:
    """Stop multiprocessing's resource tracker as the last step of this process's exit (once per process).

    multiprocessing's exit handler first releases the semaphores still registered and joins the child processes;
    a finalizer with the lowest priority then closes the tracker's pipe and waits for it to end, so the process
    leaves no helper behind. Does nothing where the tracker is not used (Windows)."""
    global _tracker_stop_registered
    from multiprocessing import util
    with _registration_lock:
        if _tracker_stop_registered or sys.platform == "win32":
            return
        util.Finalize(None, _stop_tracker, exitpriority=-100)
        _tracker_stop_registered = True


def _stop_tracker() -> None:
    """Close the resource tracker's pipe and wait for the tracker process to end (it has nothing left to clean)."""
    try:
        from multiprocessing import resource_tracker
        stop = getattr(resource_tracker._resource_tracker, "_stop", None)
        if stop is not None:
            stop()
    except (OSError, ChildProcessError, AttributeError) as exc:
        log.debug("resource tracker not stopped: %s", exc)

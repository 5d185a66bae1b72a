"""The worker's stdio loop: JSON Lines requests on stdin, JSON Lines events on stdout, logs on stderr.

One job runs at a time on a job thread; the main thread keeps reading stdin so ``cancel`` arrives
while a job runs. Cancel is cooperative (checked between frames and steps). The loop exits when stdin
closes or on ``shutdown``, cancelling a running job first.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
from typing import IO, Iterator, Optional, Tuple, cast

from .. import __version__, protocol
from ..errors import JobError
from ..options import CaptureOptions, CleanupOptions, PeopleOptions

log = logging.getLogger(__name__)

REQUIRED_MODULES = {"numpy": "numpy==1.26.4", "cv2": "opencv-python-headless", "mediapipe": "mediapipe==0.10.21",
                    "torch": "torch==2.13.0"}
JOB_KINDS = tuple(protocol.KIND_STAGES)   # ("capture", "cleanup", "import_motion", "people")


def missing_packages() -> list:
    """Names of the worker's required packages that cannot be imported in this interpreter."""
    return [pip_name for module, pip_name in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]


class Emitter:
    """Writes protocol messages, one per line, to the protocol channel (thread-safe)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, message: protocol.Message) -> None:
        with self._lock:
            self._stream.write(message.to_wire() + "\n")
            self._stream.flush()


class JobThread(threading.Thread):
    """Runs one submitted job and reports progress, result or failure through the emitter."""

    def __init__(self, request: protocol.Submit, emitter: Emitter) -> None:
        super().__init__(name=f"job-{request.job_id}", daemon=True)
        self.request = request
        self.cancel_event = threading.Event()
        self._emitter = emitter

    def run(self) -> None:
        job_id = self.request.job_id
        started = time.perf_counter()
        try:
            summary = self._run_job()
        except JobError as exc:
            log.info("job %s failed: %s", job_id, exc.message)
            self._emitter.emit(protocol.Failed(job_id=job_id, code=exc.code, message=exc.message, hint=exc.hint))
            return
        except Exception as exc:  # noqa: BLE001 -- any bug must reach the user as a failed job, not a dead worker
            log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
            self._emitter.emit(protocol.Failed(
                job_id=job_id, code="internal", message=f"The worker failed: {type(exc).__name__}: {exc}",
                hint="See the worker log (stderr) for the traceback and report it."))
            return
        self._emitter.emit(protocol.Result(
            job_id=job_id, path=summary.path, frames=summary.frames,
            seconds=round(time.perf_counter() - started, 3),
            timings={k: round(v, 4) for k, v in summary.timings.items()}, notes=list(summary.notes)))

    def _run_job(self):
        """Dispatch on the request's kind -> a summary with ``path``, ``frames`` and ``timings``."""
        missing = missing_packages()
        if missing:
            raise JobError("missing_package", f"The worker's Python lacks: {', '.join(missing)}.",
                           "Open Preferences > Add-ons > ScoreHMR and press 'Set up worker'.")
        req = self.request
        output = os.path.join(req.job_dir, "result.npz")

        def progress(stage: str, done: int, total: int, message: str) -> None:
            self._emitter.emit(protocol.Progress(job_id=req.job_id, stage=stage, done=done, total=total,
                                                 message=message))

        if isinstance(req.options, CleanupOptions):
            from .cleanup import run_cleanup
            return run_cleanup(req.motion, output, req.options, "", progress, self.cancel_event.is_set,
                               req.body_model)
        if req.kind == "import_motion":
            from .motion_import import import_motion
            return import_motion(req.motion, output, req.body_model, progress, self.cancel_event.is_set)
        if isinstance(req.options, PeopleOptions):
            from .people import run_people
            return run_people(req.video, os.path.join(req.job_dir, "people.json"), req.start, req.end, progress,
                              self.cancel_event.is_set, req.options)
        from .capture import CaptureRequest, run_capture
        return run_capture(CaptureRequest(video=req.video, output=output, start=req.start, end=req.end,
                                          body_model=req.body_model, views=tuple(req.views), person=req.person,
                                          person_boxes=tuple(tuple(row) for row in req.person_boxes),
                                          calibration=req.calibration, options=cast(CaptureOptions, req.options)),
                           progress, self.cancel_event.is_set)


def _protocol_channel() -> IO[str]:
    """Take stdout for the protocol and point fd 1 at stderr, so stray prints (ours or a library's C code)
    can never corrupt the protocol stream."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return channel


def _handle(message: protocol.Message, job: Optional[JobThread], emitter: Emitter) -> Optional[JobThread]:
    """Act on one request; return the job thread that is running afterwards (if any)."""
    if isinstance(message, protocol.Submit):
        if job is not None and job.is_alive():
            emitter.emit(protocol.Failed(job_id=message.job_id, code="bad_request",
                                         message="The worker is already running a job.",
                                         hint="Wait for it to finish or cancel it."))
            return job
        if message.kind not in JOB_KINDS:
            emitter.emit(protocol.Failed(job_id=message.job_id, code="bad_request",
                                         message=f"Unknown job kind {message.kind!r}.",
                                         hint="Update the add-on and the worker together."))
            return job
        job = JobThread(message, emitter)
        job.start()
        return job
    if isinstance(message, protocol.Cancel):
        if job is not None and job.request.job_id == message.job_id:
            log.info("cancel requested for job %s", message.job_id)
            job.cancel_event.set()
        return job
    emitter.emit(protocol.Failed(job_id="", code="bad_request",
                                 message=f"The worker does not accept {message.TYPE!r} messages.",
                                 hint="Update the add-on and the worker together."))
    return job


def read_lines(stream: IO[bytes], limit: int = protocol.MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of ``stream`` (newline included) until it closes, never holding more than ``limit`` bytes of one:
    a longer line is read to its end and dropped, and ``b""`` stands in for it (answered as a bad request)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = stream.readline(limit)
        yield b""


def _answer(raw: bytes, job: Optional[JobThread], emitter: Emitter) -> Tuple[bool, Optional[JobThread]]:
    """Act on one raw line: (whether the loop goes on, the job running afterwards). Whatever the line holds,
    it gets an answer and the loop goes on (``shutdown`` alone ends it)."""
    try:
        if not raw:
            raise protocol.ProtocolError(f"the line is longer than {protocol.MAX_LINE_BYTES} bytes")
        message = protocol.from_wire(raw)
        if isinstance(message, protocol.Shutdown):
            return False, job
        return True, _handle(message, job, emitter)
    except protocol.ProtocolError as exc:
        log.warning("rejected request: %s", exc)
        emitter.emit(protocol.Failed(job_id=exc.job_id, code="bad_request", message=f"Bad request: {exc}",
                                     hint="Update the add-on and the worker together."))
    except Exception as exc:  # noqa: BLE001 -- no request, however odd, may end the worker
        log.error("request not handled:\n%s", traceback.format_exc())
        emitter.emit(protocol.Failed(job_id="", code="bad_request",
                                     message=f"The worker could not handle a request: {type(exc).__name__}.",
                                     hint="See the worker log (stderr); update the add-on and the worker together."))
    return True, job


def serve(stdin: Optional[IO[bytes]] = None) -> int:
    """Run the stdio loop until stdin closes or ``shutdown``; returns the process exit code."""
    emitter = Emitter(_protocol_channel())
    stdin = stdin or sys.stdin.buffer
    emitter.emit(protocol.Ready(worker_version=__version__, pid=os.getpid()))
    job: Optional[JobThread] = None
    for raw in read_lines(stdin):
        if raw and not raw.strip():
            continue
        going_on, job = _answer(raw, job, emitter)
        if not going_on:
            break
    if job is not None and job.is_alive():
        log.info("stdin closed: cancelling job %s", job.request.job_id)
        job.cancel_event.set()
        job.join(timeout=30.0)
    return 0

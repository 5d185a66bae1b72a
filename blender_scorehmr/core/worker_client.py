"""The worker process seen from the add-on (no bpy): spawn, submit, read events, cancel, reap.

One :class:`WorkerClient` owns one ``python -m server`` process running one job. A reader thread parses
stdout lines (``server.protocol``) into a :class:`queue.Queue`; another keeps the last stderr lines.
:meth:`WorkerClient.poll` (call it from any single thread, e.g. Blender's main thread) drains the queue,
applies hang detection and cancel escalation, and returns events: ``protocol.Ready``, ``protocol.Progress``,
``protocol.Result`` and finally either a ``Result`` or a :class:`WorkerFailure`. After the terminal event the
process has been reaped.

Cancel ends the job within ``cancel_grace + kill_grace`` (0.8 s by default): the worker gets ``cancel`` and
``cancel_grace`` to answer and exit; then it is terminated, and killed ``kill_grace`` later.
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Deque, List, Mapping, Optional, Sequence, Union

from ..server import protocol
from .panel_errors import SETUP_HINT

log = logging.getLogger(__name__)

STDERR_DRAIN = 0.5   # seconds to wait for a crashed worker's last stderr lines
STDERR_LINES = 50


@dataclass(frozen=True)
class WorkerFailure:
    """Terminal failure of a job. ``code``: a :class:`protocol.ErrorCode` (the worker's ``Failed.code``, or one
    of the add-on's own: ``worker_not_found``, ``worker_crashed``, ``worker_hung``, ``worker_garbage``)."""

    code: str
    message: str
    hint: str = ""
    details: str = ""


Event = Union[protocol.Ready, protocol.Progress, protocol.Result, WorkerFailure]


@dataclass(frozen=True)
class _Line:
    """What the stdout reader hands over: a parsed message, an unparsable line, or end of stream."""

    message: Optional[protocol.Message] = None
    garbage: str = ""
    eof: bool = False


def worker_command(python: str) -> List[str]:
    """The command line that starts the worker."""
    return [str(python), "-m", "server"]


def worker_env(addon_dir: Path, base: Optional[Mapping[str, str]] = None) -> dict:
    """Environment of the worker: ``PYTHONPATH`` starts with the folder that holds the bundled ``server/``."""
    env = dict(os.environ if base is None else base)
    paths = [str(Path(addon_dir).resolve())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


class WorkerClient:
    """Lifecycle of one worker process and one job; see the module docstring for the event flow."""

    def __init__(self, python: str, addon_dir: Path, *, hang_timeout: float = 60.0,
                 startup_timeout: float = 180.0, cancel_grace: float = 0.5, kill_grace: float = 0.3,
                 exit_grace: float = 3.0, cwd: Optional[Path] = None) -> None:
        """``cancel_grace``: seconds a cancelled worker gets to answer and exit before it is terminated;
        ``kill_grace``: seconds from terminate to kill; ``exit_grace``: seconds a worker whose job ended gets to
        exit after its stdin closes."""
        self.python = str(python)
        self.addon_dir = Path(addon_dir)
        self.hang_timeout = float(hang_timeout)
        self.startup_timeout = float(startup_timeout)
        self.cancel_grace = float(cancel_grace)
        self.kill_grace = float(kill_grace)
        self.exit_grace = float(exit_grace)
        self.cwd = cwd
        self.job_id = ""
        self.ready: Optional[protocol.Ready] = None
        self.outcome: Optional[Union[protocol.Result, WorkerFailure]] = None
        self._proc: Optional[subprocess.Popen] = None
        self._lines: "queue.Queue[_Line]" = queue.Queue()
        self._stderr: Deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._threads: List[threading.Thread] = []
        self._last_activity = 0.0
        self._cancel_at: Optional[float] = None
        self._early: List[Event] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the worker; a missing interpreter becomes a terminal :class:`WorkerFailure`, not an exception."""
        cmd = worker_command(self.python)
        log.info("starting worker: %s (PYTHONPATH=%s)", cmd, self.addon_dir)
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=worker_env(self.addon_dir), cwd=str(self.cwd or self.addon_dir), bufsize=0,
            )
        except OSError as exc:  # interpreter missing or not executable: report it in the panel
            self.outcome = WorkerFailure(protocol.ErrorCode.WORKER_NOT_FOUND,
                                    f"Cannot start the worker Python {self.python}: {exc}",
                                    SETUP_HINT)
            self._early = [self.outcome]
            return
        self._last_activity = time.monotonic()
        for target, stream in ((self._read_stdout, self._proc.stdout), (self._read_stderr, self._proc.stderr)):
            thread = threading.Thread(target=target, args=(stream,), daemon=True, name=f"scorehmr-{target.__name__}")
            thread.start()
            self._threads.append(thread)

    def submit(self, request: protocol.Submit) -> None:
        """Send the job; may be called right after :meth:`start` (the worker reads stdin after Ready)."""
        self.job_id = request.job_id
        self._send(request)

    def cancel(self) -> None:
        """Ask the worker to stop; :meth:`poll` ends the job as cancelled once the worker answers, or after
        ``cancel_grace`` (terminating and killing the worker)."""
        if self.outcome is not None or self._cancel_at is not None:
            return
        log.info("cancelling job %s", self.job_id)
        self._cancel_at = time.monotonic()
        self._send(protocol.Cancel(job_id=self.job_id))

    def close(self) -> None:
        """Stop the worker (stdin closed, then terminate, then kill) and reap it. Idempotent. A cancelled worker
        gets what is left of ``cancel_grace`` to exit, a hung one ``kill_grace``, any other ``exit_grace``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._close_stdin()
            grace = self.exit_grace
            if self._cancel_at is not None:
                grace = max(0.05, self._cancel_at + self.cancel_grace - time.monotonic())
            elif isinstance(self.outcome, WorkerFailure) and self.outcome.code == protocol.ErrorCode.WORKER_HUNG:
                grace = self.kill_grace
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:  # did not exit on its own: escalate
                self._stop_hard()
        proc.wait()
        for thread in self._threads:   # each closes its stream at end of file; a detector process the worker
            thread.join(timeout=0.2)   # left behind may hold stderr open a moment longer: not waited for

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def returncode(self) -> Optional[int]:
        return None if self._proc is None else self._proc.poll()

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # -- events ----------------------------------------------------------------------------------------
    def poll(self) -> List[Event]:
        """Drain pending events (non-blocking); the last one is terminal once the job has ended."""
        if self.outcome is not None:
            early, self._early = self._early, []
            return early
        events: List[Event] = []
        while self.outcome is None:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            self._last_activity = time.monotonic()
            events.extend(self._handle(line))
        if self.outcome is None:
            events.extend(self._check_time())
        return events

    def run(self, on_event: Optional[Callable[[Event], None]] = None, interval: float = 0.05
            ) -> Union[protocol.Result, WorkerFailure]:
        """Block until the job ends (headless use); ``on_event`` sees every event."""
        while True:
            for event in self.poll():
                if on_event is not None:
                    on_event(event)
            if self.outcome is not None:
                return self.outcome
            time.sleep(interval)

    def _handle(self, line: _Line) -> List[Event]:
        if line.eof:
            return self._on_exit()
        if line.message is None:
            return self._finish(WorkerFailure(
                protocol.ErrorCode.WORKER_GARBAGE, "The worker printed something that is not a protocol message.",
                "The worker environment may be broken; press Set up worker again",
                details=f"line: {line.garbage[:200]!r}\n{self.stderr_tail()}"))
        msg = line.message
        if isinstance(msg, protocol.Ready):
            self.ready = msg
            return [msg]
        if getattr(msg, "job_id", self.job_id) not in (self.job_id, ""):
            log.warning("ignoring a message for another job: %s", msg)
            return []
        if self._cancel_at is not None and isinstance(msg, (protocol.Result, protocol.Failed)):
            return self._finish(_cancelled())
        if isinstance(msg, protocol.Result):
            return self._finish(msg)
        if isinstance(msg, protocol.Failed):
            return self._finish(WorkerFailure(msg.code, msg.message, msg.hint or _default_hint(msg.code),
                                         details=self.stderr_tail()))
        if isinstance(msg, protocol.Progress):
            return [msg]
        log.warning("ignoring unexpected message from the worker: %s", msg)
        return []

    def _on_exit(self) -> List[Event]:
        """stdout closed before a terminal message: the worker exited (or is about to)."""
        proc = self._proc
        try:
            grace = self.kill_grace if self._cancel_at is not None else self.exit_grace
            code = proc.wait(timeout=grace) if proc else None
        except subprocess.TimeoutExpired:  # closed stdout but kept running: stop it
            assert proc is not None            # only a started process can time out
            self._stop_hard()
            code = proc.wait()
        if self._cancel_at is not None:
            return self._finish(_cancelled())
        for thread in self._threads:   # the last stderr lines may still be in the pipe when the process is gone
            if thread.name == "scorehmr-_read_stderr":
                thread.join(timeout=STDERR_DRAIN)
        return self._finish(_exit_error(code, list(self._stderr)))

    def _check_time(self) -> List[Event]:
        now = time.monotonic()
        if self._cancel_at is not None:
            if now - self._cancel_at < self.cancel_grace:
                return []
            log.warning("the worker did not stop within %.1f s of cancel; stopping it", self.cancel_grace)
            return self._finish(_cancelled())   # close() terminates, then kills
        limit = self.hang_timeout if self.ready is not None else self.startup_timeout
        if self._proc is not None and now - self._last_activity > limit:
            what = "sent no progress" if self.ready is not None else "did not start"
            return self._finish(WorkerFailure(
                protocol.ErrorCode.WORKER_HUNG, f"The worker {what} for {limit:.0f} s and was stopped.",
                "Raise the hang timeout in Preferences > Add-ons > ScoreHMR if your machine is slow",
                details=self.stderr_tail()))
        return []

    def _finish(self, outcome: Union[protocol.Result, WorkerFailure]) -> List[Event]:
        self.outcome = outcome
        self.close()
        if isinstance(outcome, WorkerFailure):
            log.warning("job %s failed: %s %s\n%s", self.job_id, outcome.code, outcome.message, outcome.details)
        return [outcome]

    # -- process plumbing ------------------------------------------------------------------------------
    def _send(self, message: protocol.Message) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            return
        try:
            proc.stdin.write((message.to_wire() + "\n").encode("utf-8"))
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:  # worker already gone; its exit is reported by poll()
            log.warning("could not send %s to the worker: %s", message.TYPE, exc)

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError as exc:  # broken pipe on flush: the worker is gone already
                log.debug("closing the worker's stdin: %s", exc)

    def _stop_hard(self) -> None:
        proc = self._proc
        if proc is None:                   # never started: nothing to stop
            return
        proc.terminate()
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:  # ignores SIGTERM: kill it
            proc.kill()

    def _read_stdout(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                self._lines.put(_Line(message=protocol.from_wire(text)))
            except protocol.ProtocolError as exc:  # garbage: the main thread turns it into an error
                log.debug("unparsable worker line (%s): %r", exc, text[:200])
                self._lines.put(_Line(garbage=text))
        self._lines.put(_Line(eof=True))
        stream.close()

    def _read_stderr(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", errors="replace").rstrip()
            self._stderr.append(text)
            log.debug("worker: %s", text)
        stream.close()


def _cancelled() -> WorkerFailure:
    return WorkerFailure(protocol.ErrorCode.CANCELLED, "Capture cancelled.",
                    "Nothing was changed; press Capture Motion to start again")


def _default_hint(code: str) -> str:
    """The panel's hint for a failure that names none: its :class:`protocol.ErrorCode`'s."""
    try:
        return protocol.ErrorCode(code).hint
    except ValueError:        # a newer worker's code this add-on does not know
        return protocol.LOG_HINT


_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def _exit_error(code: Optional[int], stderr: Sequence[str]) -> WorkerFailure:
    """A worker that exited without a result: name a missing package if its log says so."""
    text = "\n".join(stderr)
    missing = _MISSING_MODULE.findall(text)
    if missing:
        return WorkerFailure(protocol.ErrorCode.MISSING_PACKAGE,
                        f"The worker is missing the Python package '{missing[-1]}'.", SETUP_HINT, details=text)
    last = next((line for line in reversed(stderr) if line.strip()), "")
    return WorkerFailure(protocol.ErrorCode.WORKER_CRASHED,
                    f"The worker stopped unexpectedly (exit code {code}). {last}".strip(),
                    "See the system console for the worker's log", details=text)

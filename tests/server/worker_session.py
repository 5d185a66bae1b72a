"""A tiny synchronous driver for the real worker process, used by the worker tests."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List, Optional

from server import protocol

ROOT = Path(__file__).resolve().parents[2]


class WorkerSession:
    """Starts ``python -m server`` with the repository on PYTHONPATH and talks protocol lines to it."""

    def __init__(self, python: str, timeout: float = 120.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([python, "-m", "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.timeout = timeout

    def send(self, message: protocol.Message) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(message.to_wire() + "\n")
        self.proc.stdin.flush()

    def read(self) -> protocol.Message:
        """The next message; every stdout line must parse as protocol."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError(f"worker closed stdout (exit {self.proc.poll()}): {self.stderr_tail()}")
        return protocol.from_wire(line)

    def read_until_end(self, job_id: str, on_progress=None) -> List[protocol.Message]:
        """Messages of ``job_id`` up to and including its Result or Failed."""
        seen: List[protocol.Message] = []
        while True:
            message = self.read()
            seen.append(message)
            if isinstance(message, protocol.Progress) and on_progress is not None:
                on_progress(message)
            if isinstance(message, (protocol.Result, protocol.Failed)) and message.job_id in (job_id, ""):
                return seen

    def close(self) -> Optional[int]:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=self.timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def stderr_tail(self) -> str:
        return "" if self.proc.poll() is None or self.proc.stderr is None else self.proc.stderr.read()[-2000:]

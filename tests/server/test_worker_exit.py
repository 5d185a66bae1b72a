"""The stdio worker process ends cleanly when a capture is cancelled while its models are still loading."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from server import protocol

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cancel_while_loading_exits_cleanly_at_once(sample_video: Path, tmp_path: Path) -> None:
    worker = subprocess.Popen([sys.executable, "-m", "server"], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert worker.stdin is not None and worker.stdout is not None
    try:
        def send(message: protocol.Message) -> None:
            worker.stdin.write((message.to_wire() + "\n").encode())
            worker.stdin.flush()
        send(protocol.Submit(job_id="j", kind="capture", video=str(sample_video), job_dir=str(tmp_path)))
        answer = None
        for raw in iter(worker.stdout.readline, b""):
            message = protocol.from_wire(raw.decode())
            if isinstance(message, protocol.Progress) and message.stage == "search":
                send(protocol.Cancel(job_id="j"))        # the networks are loading beside the detectors now
            if isinstance(message, (protocol.Failed, protocol.Result)):
                answer = message
                break
        assert isinstance(answer, protocol.Failed) and answer.code == protocol.ErrorCode.CANCELLED
        worker.stdin.close()
        closed = time.monotonic()
        assert worker.wait(timeout=10) == 0                 # not an abort, not a kill
        assert time.monotonic() - closed < 5.0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

"""The real worker process over stdio: handshake, bad requests, bad footage, missing packages, cancel."""
from __future__ import annotations

import time
import venv
from pathlib import Path

import pytest

from server import protocol
from server.options import CaptureOptions, CleanupOptions

from ..worker_session import WorkerSession

pytestmark = pytest.mark.slow   # the real worker


@pytest.fixture()
def worker(worker_python: str):
    session = WorkerSession(worker_python)
    ready = session.read()
    assert isinstance(ready, protocol.Ready) and ready.protocol == protocol.PROTOCOL_VERSION
    yield session
    session.close()


def _submit(worker: WorkerSession, video: Path, job_dir: Path, job_id: str = "j", **kw) -> protocol.Message:
    worker.send(protocol.Submit(job_id=job_id, kind="capture", video=str(video), job_dir=str(job_dir), **kw))
    return worker.read_until_end(job_id)[-1]


def test_exits_cleanly_when_stdin_closes(worker: WorkerSession) -> None:
    assert worker.close() == 0


def test_shutdown_message(worker: WorkerSession) -> None:
    worker.send(protocol.Shutdown())
    assert worker.proc.wait(timeout=30) == 0


def test_garbage_request_is_answered_not_fatal(worker: WorkerSession, tmp_path: Path) -> None:
    worker.proc.stdin.write("this is not json\n")
    worker.proc.stdin.flush()
    reply = worker.read()
    assert isinstance(reply, protocol.Failed) and reply.code == "bad_request"
    worker.send(protocol.Submit(job_id="k", kind="teleport", video="/x", job_dir=str(tmp_path)))
    reply = worker.read()
    assert isinstance(reply, protocol.Failed) and reply.code == "bad_request" and "teleport" in reply.message


UNPARSABLE = [   # (line, the job_id its answer names)
    (b"[" * 200000 + b"]" * 200000, ""),                                    # RecursionError in the JSON parser
    (b"\xff\xfe{\"type\": \"shutdown\"}", ""),                              # not UTF-8
    (b'{"type": "cancel", "job_id": ' + b"9" * 5000 + b"}", ""),            # more digits than Python converts
    (b'{"type": "submit", "job_id": "w", "kind": "capture", "video": [], "job_dir": "/j"}', "w"),   # a wrong type
    (b'{"type": "submit", "job_id": "n", "kind": "capture", "video": "/v", "job_dir": "/j", "options": {"temporal": NaN}}',
     ""),
    (b'"type"', ""),                                                        # JSON, not an object
    (b"{" * (protocol.MAX_LINE_BYTES + 10), ""),                           # longer than any request
]


def test_unparsable_lines_are_answered_and_the_worker_serves_on(worker: WorkerSession, empty_video: Path,
                                                               tmp_path: Path) -> None:
    """Every line the worker cannot parse gets a ``failed`` bad_request (with the job it names, if any) and the
    worker keeps serving: a real job after them all still runs to its end."""
    stdin = worker.proc.stdin.buffer
    for line, job_id in UNPARSABLE:
        stdin.write(line + b"\n")
        stdin.flush()
        reply = worker.read()
        assert isinstance(reply, protocol.Failed) and reply.code == "bad_request", (line[:60], reply)
        assert reply.job_id == job_id
    assert worker.proc.poll() is None
    end = _submit(worker, empty_video, tmp_path, job_id="after")
    assert isinstance(end, protocol.Failed) and end.job_id == "after" and end.code == "no_person"
    assert worker.close() == 0


def test_missing_video(worker: WorkerSession, tmp_path: Path) -> None:
    end = _submit(worker, tmp_path / "nope.mp4", tmp_path)
    assert isinstance(end, protocol.Failed) and end.code == "video_missing"
    assert "nope.mp4" in end.message and end.hint
    assert not (tmp_path / "result.npz").exists()


def test_unreadable_video(worker: WorkerSession, corrupt_video: Path, tmp_path: Path) -> None:
    end = _submit(worker, corrupt_video, tmp_path)
    assert isinstance(end, protocol.Failed) and end.code == "video_unreadable" and end.hint


def test_no_person(worker: WorkerSession, empty_video: Path, tmp_path: Path) -> None:
    end = _submit(worker, empty_video, tmp_path)
    assert isinstance(end, protocol.Failed) and end.code == "no_person", end
    assert not (tmp_path / "result.npz").exists()


def test_empty_range(worker: WorkerSession, empty_video: Path, tmp_path: Path) -> None:
    end = _submit(worker, empty_video, tmp_path, start=500)
    assert isinstance(end, protocol.Failed) and end.code == "bad_request"


def test_cancel_mid_job(worker: WorkerSession, sample_video: Path, tmp_path: Path) -> None:
    worker.send(protocol.Submit(job_id="c", kind="capture", video=str(sample_video), job_dir=str(tmp_path)))
    cancelled = []

    def on_progress(message: protocol.Progress) -> None:
        if message.stage == "detect" and message.done == 3 and not cancelled:
            worker.send(protocol.Cancel(job_id="c"))
            cancelled.append(message.done)

    messages = worker.read_until_end("c", on_progress)
    end = messages[-1]
    assert isinstance(end, protocol.Failed) and end.code == "cancelled"
    detect_done = max(m.done for m in messages if isinstance(m, protocol.Progress) and m.stage == "detect")
    assert detect_done < 20, "cancel must take effect within a few frames"
    assert not (tmp_path / "result.npz").exists()


def test_cancel_while_the_models_load(worker: WorkerSession, sample_video: Path, tmp_path: Path) -> None:
    """Cancel at the job's first message (torch and the models still loading, the detectors starting): the job
    ends without waiting for them, and the worker still exits cleanly."""
    worker.send(protocol.Submit(job_id="l", kind="capture", video=str(sample_video), job_dir=str(tmp_path)))
    sent = []

    def on_progress(message: protocol.Progress) -> None:
        if not sent:
            worker.send(protocol.Cancel(job_id="l"))
            sent.append(time.perf_counter())

    end = worker.read_until_end("l", on_progress)[-1]
    assert isinstance(end, protocol.Failed) and end.code == "cancelled"
    assert time.perf_counter() - sent[0] < 1.5   # was 5 s: the load, then a second per busy detector
    assert not (tmp_path / "result.npz").exists()
    assert worker.close() == 0


def test_missing_packages(tmp_path: Path, empty_video: Path) -> None:
    bare = tmp_path / "bare-env"
    venv.create(bare, with_pip=False)
    python = str(bare / "bin" / "python")
    session = WorkerSession(python)
    try:
        assert isinstance(session.read(), protocol.Ready)
        end = _submit(session, empty_video, tmp_path)
        assert isinstance(end, protocol.Failed) and end.code == "missing_package"
        assert "mediapipe" in end.message and "Set up worker" in end.hint
    finally:
        assert session.close() == 0


def test_cancel_during_refinement(worker: WorkerSession, sample_video: Path, tmp_path: Path) -> None:
    worker.send(protocol.Submit(job_id="r", kind="capture", video=str(sample_video), job_dir=str(tmp_path),
                                start=100, end=150, options=CaptureOptions(iterations=20)))
    sent = []

    def on_progress(message: protocol.Progress) -> None:
        if message.stage == "refine" and not sent:
            worker.send(protocol.Cancel(job_id="r"))
            sent.append(message.done)

    messages = worker.read_until_end("r", on_progress)
    assert sent == [0] and isinstance(messages[-1], protocol.Failed) and messages[-1].code == "cancelled"
    refined = [m.done for m in messages if isinstance(m, protocol.Progress) and m.stage == "refine"]
    assert max(refined) < 20 and not (tmp_path / "result.npz").exists()


def test_fit_options_reach_the_job(worker: WorkerSession, sample_video: Path, tmp_path: Path) -> None:
    import numpy as np
    end = _submit(worker, sample_video, tmp_path, start=100, end=106, options=CaptureOptions(refine=False))
    assert isinstance(end, protocol.Result), end
    assert "refine" not in [s for s, v in end.timings.items() if v > 0]
    with np.load(end.path, allow_pickle=False) as data:
        assert str(data["method"]) == "temporal"


def test_import_motion_job(worker: WorkerSession, tmp_path: Path) -> None:
    import numpy as np
    src = tmp_path / "walk.npz"
    np.savez(src, poses=np.zeros((5, 72)), trans=np.zeros((5, 3)), mocap_framerate=np.array(50.0))
    worker.send(protocol.Submit(job_id="i", kind="import_motion", video="", job_dir=str(tmp_path),
                                motion=str(src)))
    messages = worker.read_until_end("i")
    end = messages[-1]
    assert isinstance(end, protocol.Result) and end.frames == 5, end
    assert {m.stage for m in messages if isinstance(m, protocol.Progress)} == {"import"}
    with np.load(end.path, allow_pickle=False) as data:
        assert data["poses"].shape == (5, 24, 3) and float(data["fps"]) == 50.0


@pytest.mark.parametrize("kind", ["cleanup", "import_motion"])
def test_motion_jobs_reject_a_missing_file(worker: WorkerSession, tmp_path: Path, kind: str) -> None:
    worker.send(protocol.Submit(job_id="m", kind=kind, video="", job_dir=str(tmp_path),
                                motion=str(tmp_path / "gone.npz"),
                                options=CleanupOptions(strength=0.5) if kind == "cleanup" else None))
    end = worker.read_until_end("m")[-1]
    assert isinstance(end, protocol.Failed) and end.code == "bad_request" and "gone.npz" in end.message and end.hint

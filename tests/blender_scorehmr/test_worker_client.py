"""worker_client against the fake worker (no bpy): every path ends in one terminal event and a reaped process."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the fake interpreter is a POSIX shell script")


@pytest.fixture
def client_for(addon, addon_dir, fake_pythons, tmp_path):
    """``client_for(mode, **timeouts)`` -> a started WorkerClient running the fake in ``mode``."""
    from importlib import import_module
    wc = import_module(f"{addon.__name__}.core.worker_client")
    clients = []

    def make(mode: str, delay: float = 0.0, **kwargs):
        client = wc.WorkerClient(str(fake_pythons(mode, delay)), addon_dir, cwd=tmp_path, **kwargs)
        client.start()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
        assert client.returncode is not None, "worker process was not reaped"


def _submit(addon, client, video: Path, job_dir: Path, **kwargs):
    from importlib import import_module
    protocol = import_module(f"{addon.__name__}.server.protocol")
    job_dir.mkdir(exist_ok=True)
    client.submit(protocol.Submit(job_id="job1", kind="capture", video=str(video), job_dir=str(job_dir), **kwargs))
    return protocol


def test_progress_then_result(addon, client_for, fake_video, tmp_path):
    client = client_for("ok")
    protocol = _submit(addon, client, fake_video, tmp_path / "job", start=2, end=10)
    events = []
    outcome = client.run(events.append)
    assert isinstance(outcome, protocol.Result)
    assert isinstance(events[0], protocol.Ready)
    progress = [e for e in events if isinstance(e, protocol.Progress)]
    assert {p.stage for p in progress} == set(protocol.KIND_STAGES["capture"])
    assert events[-1] is outcome and client.returncode == 0
    with np.load(outcome.path, allow_pickle=False) as data:
        assert list(data["frame_indices"]) == [2, 3, 5, 6, 7, 8, 9]


def test_worker_reports_missing_video(addon, client_for, tmp_path):
    client = client_for("ok")
    _submit(addon, client, tmp_path / "nope.mp4", tmp_path / "job")
    outcome = client.run()
    assert outcome.code == "video_missing" and "footage path" in outcome.hint


def test_unreadable_video(addon, client_for, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01 not a video")
    client = client_for("ok")
    _submit(addon, client, bad, tmp_path / "job")
    assert client.run().code == "video_unreadable"


def test_no_person(addon, client_for, fake_video, tmp_path):
    client = client_for("no_person")
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome = client.run()
    assert outcome.code == "no_person" and outcome.hint


def test_hang_is_detected_and_killed(addon, client_for, fake_video, tmp_path):
    client = client_for("hang", hang_timeout=0.5, kill_grace=0.5)
    _submit(addon, client, fake_video, tmp_path / "job")
    t0 = time.monotonic()
    outcome = client.run()
    assert outcome.code == "worker_hung" and "sent no progress" in outcome.message
    assert "hang timeout" in outcome.hint
    assert time.monotonic() - t0 < 5 and client.returncode is not None


def test_startup_hang(addon, client_for, fake_video, tmp_path):
    """A worker that never says Ready is stopped after the start-up timeout (not the job's hang timeout)."""
    client = client_for("no_ready", startup_timeout=0.3, hang_timeout=100.0, kill_grace=0.3)
    _submit(addon, client, fake_video, tmp_path / "job")
    t0 = time.monotonic()
    outcome = client.run()
    assert outcome.code == "worker_hung" and "did not start" in outcome.message
    assert time.monotonic() - t0 < 5 and client.ready is None


def test_cancel_is_cooperative(addon, client_for, fake_video, tmp_path):
    client = client_for("ok", delay=0.05)
    _submit(addon, client, fake_video, tmp_path / "job")
    seen = []

    def on_event(event):
        seen.append(event)
        if len(seen) == 3:
            client.cancel()

    outcome = client.run(on_event)
    assert outcome.code == "cancelled" and outcome.message == "Capture cancelled."
    assert client.returncode == 0  # it stopped by itself, no signal needed


def test_ignored_cancel_escalates_to_kill(addon, client_for, fake_video, tmp_path):
    client = client_for("ignore_cancel", cancel_grace=0.3, kill_grace=0.3)
    _submit(addon, client, fake_video, tmp_path / "job")
    seen = []

    def on_event(event):
        seen.append(event)
        if len(seen) == 2:
            client.cancel()

    t0 = time.monotonic()
    outcome = client.run(on_event)
    assert outcome.code == "cancelled"
    assert client.returncode == -9  # SIGTERM was ignored, so it was killed
    assert time.monotonic() - t0 < 5


def _cancel_after(client, events: int, interval: float = 0.1):
    """Run the job like the panel's timer (a poll every ``interval``), cancel after ``events`` events; return
    (outcome, seconds from the cancel to the outcome)."""
    seen, cancelled_at = [], []

    def on_event(event):
        seen.append(event)
        if len(seen) == events:
            cancelled_at.append(time.monotonic())
            client.cancel()

    outcome = client.run(on_event, interval=interval)
    return outcome, time.monotonic() - cancelled_at[0]


def test_cancel_ends_a_worker_that_ignores_it_within_a_second(addon, client_for, fake_video, tmp_path):
    """The worker ignores cancel and SIGTERM: with the default graces the job still ends within 1 s."""
    client = client_for("ignore_cancel")
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome, seconds = _cancel_after(client, 3)
    assert outcome.code == "cancelled" and "Capture Motion" in outcome.hint
    assert seconds < 1.0, f"the job ended {seconds:.2f} s after cancel"
    assert client.returncode == -9


def test_cooperative_cancel_is_quick(addon, client_for, fake_video, tmp_path):
    client = client_for("ok", delay=0.05)
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome, seconds = _cancel_after(client, 4)
    assert outcome.code == "cancelled" and seconds < 1.0 and client.returncode == 0


def test_crash_reports_exit_code_and_stderr(addon, client_for, fake_video, tmp_path):
    client = client_for("crash")
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome = client.run()
    assert outcome.code == "worker_crashed"
    assert "exit code 3" in outcome.message and "simulated fatal error" in outcome.message
    assert "simulated fatal error" in outcome.details


def test_garbage_on_stdout(addon, client_for, fake_video, tmp_path):
    client = client_for("garbage")
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome = client.run()
    assert outcome.code == "worker_garbage" and "some library printed" in outcome.details


def test_missing_package(addon, client_for, fake_video, tmp_path):
    client = client_for("missing_package")
    _submit(addon, client, fake_video, tmp_path / "job")
    outcome = client.run()
    assert outcome.code == "missing_package"
    assert "scorehmr_missing_dependency" in outcome.message and "Set up worker" in outcome.hint


def test_missing_interpreter(addon, addon_dir, tmp_path):
    from importlib import import_module
    wc = import_module(f"{addon.__name__}.core.worker_client")
    client = wc.WorkerClient(str(tmp_path / "no_python"), addon_dir)
    client.start()
    events = client.poll()
    assert len(events) == 1 and events[0].code == "worker_not_found" and "Set up worker" in events[0].hint
    assert client.poll() == []


def test_worker_env_puts_addon_first(addon, addon_dir):
    from importlib import import_module
    wc = import_module(f"{addon.__name__}.core.worker_client")
    env = wc.worker_env(addon_dir, {"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(":") == [str(addon_dir.resolve()), "/elsewhere"]
    assert wc.worker_command("/py") == ["/py", "-m", "server"]
    assert (addon_dir / "server" / "protocol.py").is_file()

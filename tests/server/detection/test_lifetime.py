"""Detector processes end with the worker that started them, and a worker that exits leaves no process behind:
a spawned process killed with its parent (death signal, and the watcher alone), the resource tracker stopped at
exit, the real capture command SIGKILLed while its detectors load or detect, or run to its end, and the add-on's
stdio worker SIGKILLed mid-detection."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from server.detection import lifetime

ROOT = Path(__file__).resolve().parents[3]
GONE_SECONDS = 1.0


def living(pgid: int) -> List[Tuple[int, str]]:
    """(pid, command line) of the processes of group ``pgid`` that are still running (zombies are gone)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state not in "ZX":
            found.append((int(entry), cmdline[:120]))
    return found


def seconds_until_gone(pgid: int, limit: float = 10.0) -> float:
    """How long until no process of group ``pgid`` runs (at most ``limit``)."""
    began = time.monotonic()
    while living(pgid) and time.monotonic() - began < limit:
        time.sleep(0.01)
    return time.monotonic() - began


def orphan(parent: int, death_signal: bool) -> None:
    """A spawned child that only waits to be ended: by the Linux death signal alone, or by the watcher alone."""
    if death_signal:
        lifetime._watch_parent = lambda _parent: None
    else:
        lifetime._set_death_signal = lambda: None
    lifetime.die_with_parent(parent)
    print("ready", flush=True)
    time.sleep(60)


def nothing() -> None:
    """A spawned child that ends at once."""


PARENT = """
import multiprocessing, os, sys, time
from tests.server.detection.test_lifetime import orphan
if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=orphan, args=(os.getpid(), {death_signal}))
    child.start()
    print(child.pid, flush=True)
    time.sleep(60)
"""

TRACKED = """
import atexit, os, sys

def report():   # registered before multiprocessing's exit handler, so it runs after it: the last word
    tracker = sys.modules["multiprocessing.resource_tracker"]._resource_tracker
    print("tracker stopped" if tracker._pid is None else f"tracker {tracker._pid} still running", flush=True)

atexit.register(report)
import multiprocessing
from server.detection.lifetime import stop_tracker_at_exit
from tests.server.detection.test_lifetime import nothing
if __name__ == "__main__":
    stop_tracker_at_exit()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    queue.put(1)
    child = context.Process(target=nothing, daemon=True)
    child.start()
    child.join()
"""


SUBREAPER = """
import ctypes, json, os, subprocess, sys
assert ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER
command = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE, text=True)
_, stderr = command.communicate()
sys.stderr.write(stderr)
left = []   # processes of the command's that outlived it (running or not): they were handed to this process
for entry in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{entry}/stat") as handle:
            ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        continue
    if ppid == os.getpid():
        with open(f"/proc/{entry}/cmdline", "rb") as handle:
            left.append(handle.read().replace(b"\\0", b" ").decode(errors="replace")[:120] or entry)
print(json.dumps(left), flush=True)
sys.exit(command.returncode)
"""


def run_script(text: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", text], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and the death signal are Linux's")
@pytest.mark.parametrize("death_signal", [True, False], ids=["death-signal-only", "watcher-only"])
def test_a_spawned_detector_ends_with_its_parent(death_signal: bool) -> None:
    parent = run_script(PARENT.format(death_signal=death_signal))
    try:
        child = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "ready", parent.stderr.read()
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        gone = seconds_until_gone(parent.pid)
        assert gone < GONE_SECONDS, f"the child ran on for {gone:.2f} s after its parent's SIGKILL"
        assert not any(pid == child for pid, _ in living(parent.pid))
    finally:
        for pid, _ in living(parent.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_nothing_of_the_pool_outlives_the_process() -> None:
    """The resource tracker every spawn starts ends before the process that started it, with no leak warning."""
    script = run_script(TRACKED)
    stdout, stderr = script.communicate(timeout=60)
    assert script.returncode == 0, stderr
    assert stdout.strip() == "tracker stopped"
    assert living(script.pid) == []
    assert "leaked" not in stderr


def capture_command(sample_video: Path, output: Path) -> List[str]:
    """The capture command on frames 0-129 of the sample with two detector processes."""
    return [sys.executable, "-m", "server", "capture", str(sample_video), "-o", str(output), "--end", "130",
            "--no-refine", "--detectors", "2"]


def capture(sample_video: Path, output: Path) -> subprocess.Popen:
    """The capture command started in a session of its own (its processes are its process group)."""
    return subprocess.Popen(capture_command(sample_video, output), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
@pytest.mark.parametrize("line, delay", [("detector processes started", 1.0), ("2 detectors", 0.0)],
                         ids=["while-the-detectors-load", "while-they-detect"])
def test_sigkilled_capture_takes_its_detectors_with_it(sample_video: Path, tmp_path: Path, line: str,
                                                       delay: float) -> None:
    process = capture(sample_video, tmp_path / "out.npz")
    try:
        seen = []
        for text in process.stderr:
            seen.append(text)
            if line in text:
                break
        time.sleep(delay)
        assert len(living(process.pid)) >= 3, "".join(seen[-20:])   # the capture, two detectors (and the tracker)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        gone = seconds_until_gone(process.pid)
        assert gone < GONE_SECONDS, f"its processes ran on for {gone:.2f} s after the SIGKILL"
    finally:
        for pid, _ in living(process.pid):
            os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_finished_capture_leaves_no_process(sample_video: Path, tmp_path: Path) -> None:
    """Run under a subreaper, every process the capture leaves behind (even one that ends a moment after it) is
    handed to the subreaper: there must be none."""
    command = capture_command(sample_video, tmp_path / "out.npz")
    process = subprocess.run([sys.executable, "-c", SUBREAPER, *command], cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
    assert process.returncode == 0, process.stderr[-2000:]
    left = json.loads(process.stdout)
    assert left == [], f"outlived the capture: {left}"
    assert "2 detectors" in process.stderr and "leaked" not in process.stderr


def children(pid: int) -> List[int]:
    """The running child processes of ``pid``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            state, ppid = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == pid and state not in "ZX":
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_sigkilled_stdio_worker_takes_its_detectors_with_it(sample_video: Path, tmp_path: Path) -> None:
    """The add-on's worker (``python -m server``), SIGKILLed while its detector processes work on a capture."""
    from server import protocol
    from server.options import CaptureOptions
    from tests.server.worker_session import WorkerSession

    worker = WorkerSession(sys.executable)
    try:
        assert isinstance(worker.read(), protocol.Ready)
        worker.send(protocol.Submit(job_id="k", kind="capture", video=str(sample_video), job_dir=str(tmp_path),
                                    end=130, options=CaptureOptions(refine=False)))
        while not (isinstance(message := worker.read(), protocol.Progress) and message.stage == "detect"):
            pass
        detectors = children(worker.proc.pid)
        assert len(detectors) >= 2, detectors   # the resource tracker and at least one detector process
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)
        began = time.monotonic()
        while any(_running(pid) for pid in detectors):
            assert time.monotonic() - began < GONE_SECONDS, f"still running: {detectors}"
            time.sleep(0.01)
    finally:
        worker.close()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False

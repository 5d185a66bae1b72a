"""Batch capture end to end on a local Ray (the real worker code on short clips cut from the sample): a failed clip
is recorded and the batch goes on, a rerun keeps finished results, a killed worker loses nothing finished, Ctrl+C
cancels cleanly, a local batch listens on the loopback address alone, a name the file system refuses fails its row
alone."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from server.cli import BATCH_INCOMPLETE
from server.errors import EXIT_CODES
from server.result import check_result

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[4]
TIMEOUT = 240


@pytest.fixture(scope="module")
def clips(sample_video: Path, tmp_path_factory) -> Dict[str, Path]:
    """Half-size cuts of the sample: ``short`` (frames 0-29), ``long`` (100-219), and ``bad`` (not a video)."""
    import cv2

    folder = tmp_path_factory.mktemp("batch_clips")
    capture = cv2.VideoCapture(str(sample_video))
    frames = []
    while len(frames) < 220:
        ok, frame = capture.read()
        assert ok
        frames.append(cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2)))
    capture.release()
    out = {}
    for name, lo, hi in (("short", 0, 30), ("long", 100, 220)):
        out[name] = folder / f"{name}.mp4"
        writer = cv2.VideoWriter(str(out[name]), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, frames[0].shape[1::-1])
        for frame in frames[lo:hi]:
            writer.write(frame)
        writer.release()
    out["bad"] = folder / "bad.mp4"
    out["bad"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 2048)
    return out


def start_batch(inputs: List[str], out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "server", "batch", *inputs, "-o", str(out), "--workers", "2",
                             "--no-progress", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def run_batch(inputs: List[str], out: Path, *extra: str) -> subprocess.CompletedProcess:
    process = start_batch(inputs, out, *extra)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def records(out: Path) -> Dict[str, dict]:
    return {r["name"]: r for r in json.loads((out / "batch.json").read_text())["clips"]}


def wait_for(out: Path, ready, process: subprocess.Popen) -> Dict[str, dict]:
    """Poll batch.json until ``ready(records)``; fails if the batch ends first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if (out / "batch.json").exists():
            now = records(out)
            if ready(now):
                return now
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.1)
    raise AssertionError("the batch never got there")


def test_failed_clip_is_recorded_and_rerun_keeps_finished_results(clips: Dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = run_batch([str(clips["short"]), str(clips["bad"]), str(clips["long"])], out)
    assert run.returncode == BATCH_INCOMPLETE, run.stderr[-3000:]
    done = records(out)
    assert [done[n]["status"] for n in ("short", "bad", "long")] == ["done", "failed", "done"]
    assert done["bad"]["error"]["code"] == "video_unreadable" and done["bad"]["error"]["hint"]
    assert (done["short"]["processed"], done["long"]["processed"]) == (30, 120)
    assert done["long"]["frames"] > 100 and done["long"]["worker"]
    assert sorted(os.listdir(out)) == ["batch.json", "long.npz", "short.npz"]   # no partial files
    for name in ("short", "long"):
        assert check_result(str(out / f"{name}.npz")) is None
    stamps = {n: (out / f"{n}.npz").stat().st_mtime_ns for n in ("short", "long")}

    again = run_batch([str(clips["short"]), str(clips["bad"]), str(clips["long"])], out)
    assert again.returncode == BATCH_INCOMPLETE, again.stderr[-3000:]
    kept = records(out)
    assert kept["short"]["reused"] and kept["long"]["reused"] and kept["bad"]["status"] == "failed"
    assert kept["long"]["frames"] == done["long"]["frames"]
    assert {n: (out / f"{n}.npz").stat().st_mtime_ns for n in ("short", "long")} == stamps


def test_killed_worker_loses_no_finished_result_and_rerun_completes(clips: Dict[str, Path], tmp_path: Path) -> None:
    manifest = tmp_path / "shots.json"
    manifest.write_text(json.dumps([{"clip": str(clips["short"])}, {"clip": str(clips["long"])},
                                    {"clip": str(clips["short"]), "range": "0-20", "views": [str(clips["short"])]}]))
    out = tmp_path / "out"
    process = start_batch([str(manifest)], out)
    try:
        now = wait_for(out, lambda r: r["short"]["status"] == "done" and r["long"]["status"] == "running", process)
        os.kill(int(now["long"]["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == BATCH_INCOMPLETE, stderr[-3000:]
    after = records(out)
    assert after["long"]["status"] == "failed" and "died" in after["long"]["error"]["message"]
    assert after["short"]["status"] == after["short_0-20"]["status"] == "done"
    assert not (out / "long.npz").exists() and not [f for f in os.listdir(out) if "partial" in f]

    rerun = run_batch([str(manifest)], out)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = records(out)
    assert final["short"]["reused"] and final["short_0-20"]["reused"] and not final["long"]["reused"]
    assert final["long"]["status"] == "done" and check_result(str(out / "long.npz")) is None
    with __import__("numpy").load(out / "short_0-20.npz") as data:
        assert list(data["frame_range"]) == [0, 20] and len(data["frame_indices"]) <= 20
        assert "multiview" in str(data["method"])   # the take's two views were one task


def test_ctrl_c_cancels_running_clips_and_leaves_no_partial_files(clips: Dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = start_batch([str(clips["long"]), str(clips["short"])], out)
    try:
        now = wait_for(out, lambda r: r["long"]["status"] == "running", process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_CODES["cancelled"], stderr[-3000:]
    assert records(out)["long"]["status"] == "cancelled"
    assert not [f for f in os.listdir(out) if "partial" in f or f == "long.npz"]
    worker = int(now["long"]["worker"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{worker}").exists(), "the cancelled clip's worker is still running"


def descendants(root: int) -> Dict[int, str]:
    """pid -> command line of ``root`` and every process below it."""
    parents, commands = {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
        except (OSError, UnicodeDecodeError, IndexError, ValueError):
            continue
    tree, grown = {root}, True
    while grown:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    return {pid: commands.get(pid, "") for pid in tree}


def _ip(hex_address: str) -> ipaddress._BaseAddress:
    """An address of /proc/net/{tcp,udp}[6] (32-bit words in host order, little-endian here)."""
    raw = bytes.fromhex(hex_address)
    return ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))


def listening(processes: Dict[int, str]) -> List[Tuple[str, str, int]]:
    """(command, address, port) of every TCP socket listening and every unconnected UDP socket bound by
    ``processes``."""
    owners = {}
    for pid, command in processes.items():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    owners[int(link[8:-1])] = command
        except OSError:
            continue
    found = []
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state and int(fields[9]) in owners:
                host, port = fields[1].split(":")
                found.append((owners[int(fields[9])], str(_ip(host)), int(port, 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_local_batch_listens_on_loopback_only(clips: Dict[str, Path], tmp_path: Path) -> None:
    """Every socket any process of a local batch (the driver, Ray's GCS, raylet, agents and workers) listens on, for
    the whole batch, is on the loopback address."""
    process = start_batch([str(clips["short"])], tmp_path / "out")
    seen = set()
    try:
        while process.poll() is None:
            seen.update(listening(descendants(process.pid)))
            time.sleep(0.2)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-3000:]
    assert any("gcs_server" in command for command, _, _ in seen), seen     # Ray's sockets were looked at
    assert [s for s in seen if not is_loopback(s[1])] == []


def test_names_the_file_system_refuses_fail_their_rows_alone(clips: Dict[str, Path], tmp_path: Path) -> None:
    """Result names the file system refuses (300 characters, a NUL) fail their rows alone, before capture, with the
    reason in batch.json, while the rest of the batch is captured."""
    manifest = tmp_path / "shots.json"
    manifest.write_text(json.dumps([{"clip": str(clips["short"])}, {"clip": str(clips["short"]), "name": "x" * 300},
                                    {"clip": str(clips["short"]), "name": "a\0b"}]))
    out = tmp_path / "out"
    run = run_batch([str(manifest)], out)
    assert run.returncode == BATCH_INCOMPLETE, run.stderr[-3000:]
    done = records(out)
    assert done["short"]["status"] == "done" and check_result(str(out / "short.npz")) is None
    for name, phrase in (("x" * 300, "too long"), ("a\0b", "NUL")):
        assert done[name]["status"] == "failed" and phrase in done[name]["error"]["message"]
        assert done[name]["processed"] == 0 and not done[name]["worker"]   # refused before it was captured
    assert sorted(os.listdir(out)) == ["batch.json", "short.npz"] and "Traceback" not in run.stderr


def test_no_cluster_at_the_address_is_a_clear_error(clips: Dict[str, Path], tmp_path: Path) -> None:
    run = run_batch([str(clips["short"])], tmp_path / "out", "--address", "auto")
    assert run.returncode == EXIT_CODES["bad_request"], run.stderr[-3000:]
    assert "Could not start or reach the Ray cluster at auto" in run.stderr and "ray start --head" in run.stderr


def test_address_auto_and_ray_client_submit_to_a_running_cluster(clips: Dict[str, Path], tmp_path: Path) -> None:
    """A Ray cluster started with ``ray start --head`` on this machine, reached as ``auto`` (on the head node) and
    through the Ray Client (``ray://``, with the cluster's token): the tasks get this server package shipped with
    them (py_modules), the results come back to the output folder."""
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([str(ray_cli), "start", "--head", "--num-cpus", "1", "--include-dashboard=false"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, start.stderr[-2000:]
    runs = {}
    try:
        for address in ("auto", "ray://127.0.0.1:10001"):
            out = tmp_path / address.replace(":", "_").replace("/", "")
            runs[address] = (out, subprocess.run(
                [sys.executable, "-m", "server", "batch", str(clips["short"]), "-o", str(out), "--address", address,
                 "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT))
    finally:
        subprocess.run([str(ray_cli), "stop"], env=env, capture_output=True, timeout=120)
    for address, (out, run) in runs.items():
        assert run.returncode == 0, (address, run.stderr[-3000:])
        assert records(out)["short"]["status"] == "done" and check_result(str(out / "short.npz")) is None

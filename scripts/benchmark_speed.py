"""Capture speed and memory against the limits of this machine: decoding, plain BlazePose tracking, our capture.

    .venv/bin/python scripts/benchmark_speed.py --sample SPORTS2D.mp4 [--repeats 1 4 16] [--json OUT]

(``python3 build.py benchmark`` runs it.) For the sample clip and for clips made from it (the clip played ``n`` times
over, re-encoded once into the cache beside it), in one run on this machine:

- decode only: OpenCV decoding and the BGR -> RGB conversion, frames/s (in this process);
- plain BlazePose: the simple tools' pipeline in a fresh process (decode, one tracking graph on every frame, the
  landmarks written to a file), frames/s from process start to its exit, and its peak RSS;
- our capture, the worker's own code in a fresh process (:func:`server.jobs.capture.run_capture`, default settings):
  frames/s from process start to the result file, the seconds of each stage, and the peak RSS of the worker and
  its detector processes together (sampled from /proc every 0.1 s);
- the ratio of the two, and how far each pipeline's time is from linear in the clip's length: over the re-encoded
  clips (1, 4 and 16 plays by default), the largest relative deviation from the line through the shortest and the
  longest one's seconds.

Figures, not tests: nothing here fails on a slow machine.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("benchmark_speed")


def long_clip(sample: Path, repeats: int) -> Path:
    """The sample clip played ``repeats`` times over, written once (MPEG-4 Part 2) beside it; 1: re-encoded only, so
    every length compared for linearity has the same codec."""
    import cv2

    out = sample.with_name(f"{sample.stem}.x{repeats}.mp4")
    if out.exists():
        return out
    log.info("writing %s (%d x %s)", out.name, repeats, sample.name)
    capture = cv2.VideoCapture(str(sample))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    partial = out.with_suffix(".partial.mp4")
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for _ in range(repeats):
        for frame in frames:
            writer.write(frame)
    writer.release()
    partial.rename(out)
    return out


def decode_fps(video: Path) -> float:
    """Frames/s of decoding and converting every frame to RGB (:func:`server.video.iter_frames`)."""
    from server import video as video_io

    info = video_io.probe(str(video))
    tick = time.perf_counter()
    count = sum(1 for _ in video_io.iter_frames(str(video), 0, info.frame_count))
    return count / (time.perf_counter() - tick)


def _tree_rss(root: int) -> int:
    """Resident bytes of process ``root`` and all its descendants (Linux /proc)."""
    children: Dict[int, List[int]] = {}
    rss: Dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def timed_process(command: Sequence[str]) -> Dict[str, float]:
    """Run ``command``; its wall seconds from start to exit and the peak RSS (GB) of its process tree."""
    tick = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=ROOT, stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, _tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - tick
    done.set()
    sampler.join()
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {code}")
    return {"seconds": seconds, "peak_gb": peak / 1e9}


def plain_tracking(video: str, out: str) -> None:
    """The simple tools' pipeline: one BlazePose tracking graph (full model) on every frame -> landmarks .npz."""
    import cv2
    import mediapipe as mp

    capture = cv2.VideoCapture(video)
    rows = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True) as pose:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            height, width = frame.shape[:2]
            found = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).pose_landmarks
            rows.append(np.full((33, 3), np.nan, np.float32) if found is None else
                        np.array([(p.x * width, p.y * height, p.visibility) for p in found.landmark], np.float32))
    capture.release()
    np.savez(out, keypoints=np.stack(rows))


def our_capture(video: str, out: str, timings_out: str) -> None:
    """One capture with default settings, as the worker runs it; its stage timings -> ``timings_out`` (JSON)."""
    from server.jobs.capture import CaptureRequest, run_capture

    summary = run_capture(CaptureRequest(video=video, output=out), lambda *a: None, lambda: False)
    Path(timings_out).write_text(json.dumps({"timings": summary.timings, "frames": summary.frames,
                                             "processed": summary.processed}))


def landmark_gap(capture: Path, plain: Path) -> float:
    """Median pixel distance between our capture's landmarks and plain tracking's, on frames both found."""
    ours = np.load(capture)
    theirs = np.load(plain)["keypoints"]
    rows = ours["frame_indices"] if "frame_indices" in ours.files else np.arange(len(ours["keypoints_2d"]))
    mine = ours["keypoints_2d"].reshape(len(rows), 33, -1)
    gaps = [np.median(np.linalg.norm(k[:, :2] - theirs[f, :, :2], axis=1)) for f, k in zip(rows, mine)
            if f < len(theirs) and np.isfinite(theirs[f]).all()]
    return float(np.median(gaps)) if gaps else float("nan")


def measure(video: Path, folder: Path) -> Dict[str, object]:
    """Every figure of one clip."""
    from server import video as video_io

    frames = video_io.probe(str(video)).frame_count
    script = str(Path(__file__).resolve())
    plain_out, capture_out, timings_out = folder / "plain.npz", folder / "capture.npz", folder / "timings.json"
    plain = timed_process([sys.executable, script, "--plain", str(video), str(plain_out)])
    ours = timed_process([sys.executable, script, "--capture", str(video), str(capture_out), str(timings_out)])
    report = json.loads(timings_out.read_text())
    return {"clip": video.name, "frames": frames, "decode_fps": decode_fps(video),
            "plain_fps": frames / plain["seconds"], "plain_seconds": plain["seconds"], "plain_peak_gb": plain["peak_gb"],
            "capture_fps": frames / ours["seconds"], "capture_seconds": ours["seconds"],
            "capture_peak_gb": ours["peak_gb"], "stages": report["timings"], "found": report["frames"],
            "ratio": plain["seconds"] / ours["seconds"], "landmark_gap_px": landmark_gap(capture_out, plain_out)}


def linearity(rows: List[Dict[str, object]], key: str) -> float:
    """Largest relative deviation of ``key`` seconds from the line through the shortest and longest clip's (0: none;
    NaN with fewer than three clips), and for two clips the ratio of per-frame costs minus 1."""
    frames = np.array([r["frames"] for r in rows], float)
    seconds = np.array([r[key] for r in rows], float)
    if len(rows) < 3:
        return float(seconds[-1] / frames[-1] / (seconds[0] / frames[0]) - 1.0) if len(rows) == 2 else float("nan")
    slope = (seconds[-1] - seconds[0]) / (frames[-1] - frames[0])
    line = seconds[0] + slope * (frames - frames[0])
    return float(np.max(np.abs(seconds - line) / line))


def print_rows(rows: List[Dict[str, object]]) -> None:
    print(f"{'clip':<28}{'frames':>7}{'decode':>9}{'plain':>8}{'capture':>9}{'ratio':>7}{'peak GB':>9}"
          f"{'plain GB':>9}{'vs plain px':>12}")
    for row in rows:
        print(f"{row['clip']:<28}{row['frames']:>7}{row['decode_fps']:>9.1f}{row['plain_fps']:>8.1f}"
              f"{row['capture_fps']:>9.1f}{row['ratio']:>7.2f}{row['capture_peak_gb']:>9.2f}{row['plain_peak_gb']:>9.2f}"
              f"{row['landmark_gap_px']:>12.1f}")
    print("(frames/s; ratio = capture / plain BlazePose frames/s; peak GB = RSS of the worker and its detectors)")
    print("capture stages, seconds:")
    for row in rows:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in row["stages"].items())
        print(f"  {row['clip']:<26} {row['capture_seconds']:.1f} s in all: {stages}; person in {row['found']} frames")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, help="the Sports2D clip")
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 4, 16], help="clip lengths, in plays of it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--plain", nargs=2, metavar=("VIDEO", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--capture", nargs=3, metavar=("VIDEO", "OUT", "TIMINGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain:
        plain_tracking(*args.plain)
        return 0
    if args.capture:
        logging.basicConfig(level=logging.WARNING)
        our_capture(*args.capture)
        return 0
    if args.sample is None:
        parser.error("--sample is required")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in [args.sample] + [long_clip(args.sample, repeats) for repeats in sorted(set(args.repeats))]:
            log.info("measuring %s", clip.name)
            rows.append(measure(clip, Path(folder)))
    print_rows(rows)
    if len(rows) > 2:
        print(f"time from linear in the clip length (the re-encoded clips): capture "
              f"{100 * linearity(rows[1:], 'capture_seconds'):.1f}%, plain BlazePose "
              f"{100 * linearity(rows[1:], 'plain_seconds'):.1f}%")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A fake ``python -m server`` for the add-on's tests; speaks the real protocol (imported from PYTHONPATH).

Run through a wrapper made by :func:`make_fake_python` so the add-on spawns it exactly like the real worker:
``<wrapper> -m server``. Modes: ok (progress + a schema 2 result with a body mesh), schema1 (a result without the
mesh), bad_result (unknown schema 99), bad_mesh (a face index out of range), no_person, hang, ignore_cancel, crash,
garbage, missing_package, no_ready. In mode ok, kinds cleanup (the input's poses * 0.9) and import_motion (a small
result) are served too; cleanup with ``lock_feet`` adds ``foot_contacts`` and ``ground``; people lists two people
(person 2 crosses person 1 near the end); mode placed adds the place stage's keys (a camera 1.5 m up, 12 degrees
down); mode turning a camera that pans 15 degrees (camera_rotation, the root in the first frame's camera frame).
Every job's Submit line is kept as ``submit.json`` in its job folder. Fake footage is a file starting with
``FAKEVIDEO <frame_count> <fps>``; anything else is unreadable.
"""
from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("ok", "schema1", "bad_result", "bad_mesh", "no_person", "hang", "no_ready", "ignore_cancel", "crash",
         "garbage", "missing_package", "placed", "turning")


def make_fake_python(folder: Path, mode: str, delay: float = 0.0) -> Path:
    """Write an executable that stands in for the worker's Python interpreter (POSIX shell)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fake_python_{mode}_{delay:g}"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" --mode {mode} '
                    f'--delay {delay} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def write_fake_video(path: Path, frame_count: int = 12, fps: float = 24.0) -> Path:
    """Fake footage the fake worker accepts."""
    path.write_text(f"FAKEVIDEO {frame_count} {fps}\n")
    return path


class Worker:
    def __init__(self, mode: str, delay: float) -> None:
        from server import protocol  # from PYTHONPATH, exactly as the real worker would be found
        self.p = protocol
        self.mode = mode
        self.delay = delay
        self.cancelled = threading.Event()
        self.jobs: list = []
        self.job_ready = threading.Event()

    def send(self, message) -> None:
        sys.stdout.write(message.to_wire() + "\n")
        sys.stdout.flush()

    def read_stdin(self) -> None:
        for line in sys.stdin:
            msg = self.p.from_wire(line)
            if isinstance(msg, self.p.Submit):
                self.jobs.append(msg)
                self.job_ready.set()
            elif isinstance(msg, self.p.Cancel):
                self.cancelled.set()
            elif isinstance(msg, self.p.Shutdown):
                break
        if self.mode != "ignore_cancel":
            os._exit(0)

    def run(self) -> None:
        self.send(self.p.Ready(worker_version="fake", pid=os.getpid()))
        threading.Thread(target=self.read_stdin, daemon=True).start()
        self.job_ready.wait()
        job = self.jobs[0]
        if Path(job.job_dir).is_dir():
            (Path(job.job_dir) / "submit.json").write_text(job.to_wire())
        if job.kind != "capture" and self.mode == "ok":
            getattr(self, "kind_" + job.kind)(job)
        else:
            getattr(self, "mode_" + self.mode)(job)
        while True:  # stay until stdin closes (read_stdin exits the process)
            time.sleep(0.1)

    def progress(self, job, stage: str, done: int, total: int) -> None:
        self.send(self.p.Progress(job_id=job.job_id, stage=stage, done=done, total=total))

    def fail(self, job, code: str, message: str) -> None:
        self.send(self.p.Failed(job_id=job.job_id, code=code, message=message))

    def mode_ok(self, job) -> None:
        try:
            header = Path(job.video).read_text().split()
        except FileNotFoundError:
            return self.fail(job, "video_missing", f"No such file: {job.video}")
        except (UnicodeDecodeError, OSError):
            header = []
        if not header or header[0] != "FAKEVIDEO":
            return self.fail(job, "video_unreadable", f"Cannot decode {job.video}")
        count, fps = int(header[1]), float(header[2])
        end = count if job.end < 0 else min(job.end, count)
        frames = list(range(job.start, end))
        for stage in self.p.KIND_STAGES["capture"]:
            for i, _ in enumerate(frames):
                if self.cancelled.is_set():
                    return self.fail(job, "cancelled", "cancelled")
                self.progress(job, stage, i + 1, len(frames))
                time.sleep(self.delay)
        if len(frames) > 3:
            del frames[2]  # a frame where nobody was detected
        sys.path.insert(0, str(HERE))
        from fake_result import write_result
        out = write_result(Path(job.job_dir) / "result.npz", frame_indices=frames, fps=fps,
                           source_video=job.video, frame_count=count, schema=1 if self.mode == "schema1" else 2)
        if job.options.hypotheses > 0:  # alternative takes: the result's poses with a twist per take
            import numpy as np
            arrays = dict(np.load(str(out)))
            k = np.arange(1, job.options.hypotheses + 1, dtype=np.float32)[:, None, None, None]
            arrays["hypotheses"] = arrays["poses"][None] + 0.1 * k * np.array([0, 0, 1], np.float32)
            arrays["ambiguity"] = np.linspace(0.0, 0.1, len(arrays["poses"]), dtype=np.float32)
            np.savez(str(out), **arrays)
        if self.mode == "placed":   # the place stage found a floor 1.5 m below a camera looking 12 degrees down
            import numpy as np
            from fake_result import placed_keys
            arrays = dict(np.load(str(out)))
            arrays.update(placed_keys(len(arrays["poses"])))
            np.savez(str(out), **arrays)
        if self.mode == "turning":
            import numpy as np
            from fake_result import turning_keys
            arrays = dict(np.load(str(out)))
            arrays.update(turning_keys(arrays))
            np.savez(str(out), **arrays)
        if self.mode in ("bad_result", "bad_mesh"):
            import numpy as np
            arrays = dict(np.load(str(out)))
            if self.mode == "bad_result":
                arrays["schema_version"] = np.array(99)
            else:
                arrays["mesh_faces"][0, 0] = len(arrays["mesh_vertices"])
            np.savez(str(out), **arrays)
        self.send(self.p.Result(job_id=job.job_id, path=str(out), frames=len(frames), seconds=0.1))

    mode_schema1 = mode_bad_result = mode_bad_mesh = mode_placed = mode_turning = mode_ok

    def kind_cleanup(self, job) -> None:
        """Cleanup: progress per frame, then the input's poses * 0.9 and its transl (confidence ignored)."""
        import numpy as np
        try:
            with np.load(job.motion, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            return self.fail(job, "bad_request", f"Cannot read {job.motion}: {exc}")
        n = len(arrays["poses"])
        for i in range(n):
            if self.cancelled.is_set():
                return self.fail(job, "cancelled", "cancelled")
            self.progress(job, "cleanup", i + 1, n)
            time.sleep(self.delay)
        arrays["poses"] = (arrays["poses"] * 0.9).astype(np.float32)
        arrays["method"] = np.array(f"fake cleanup strength {job.options.strength} keep_root {job.options.keep_root}")
        if job.options.lock_feet:  # contacts on alternating runs of 5 frames (heels on even runs, toes on odd runs)
            run = (np.arange(n) // 5) % 2
            arrays["foot_contacts"] = np.stack([run == 0, run == 0, run == 1, run == 0], -1).astype(np.uint8)
            arrays["ground"] = np.array([0.0, -1.0, 0.0, 0.9], dtype=np.float32)
        out = Path(job.job_dir) / "result.npz"
        np.savez(str(out), **arrays)
        self.send(self.p.Result(job_id=job.job_id, path=str(out), frames=n, seconds=0.1))

    def kind_import_motion(self, job) -> None:
        """Import: a small valid result with as many frames as the file's poses (a bad file fails)."""
        import numpy as np
        try:
            with np.load(job.motion, allow_pickle=False) as data:
                n = len(data["poses"])
                fps = float(data["mocap_framerate"]) if "mocap_framerate" in data.files else 30.0
        except (OSError, ValueError, KeyError) as exc:
            return self.send(self.p.Failed(job_id=job.job_id, code="bad_request", hint="Use an AMASS .npz",
                                           message=f"{Path(job.motion).name} is not a motion file ({exc})"))
        self.progress(job, "import", 1, 1)
        sys.path.insert(0, str(HERE))
        from fake_result import write_result
        out = write_result(Path(job.job_dir) / "result.npz", frame_indices=list(range(n)), fps=fps,
                           source_video=Path(job.motion).name)
        self.send(self.p.Result(job_id=job.job_id, path=str(out), frames=n, seconds=0.1))

    def kind_people(self, job) -> None:
        """People: two tracks over the fake footage's range (person 1 all along, person 2 from the middle)."""
        import json
        try:
            count = int(Path(job.video).read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return self.fail(job, "video_unreadable", f"Cannot decode {job.video}")
        end = count if job.end < 0 else min(job.end, count)
        middle = (job.start + end) // 2
        self.progress(job, "detect", 1, 1)
        tracks = [{"id": 1, "first_frame": job.start, "last_frame": end - 1, "frames_seen": 3, "seen": 1.0,
                   "visibility": 0.9, "score": 3.0, "frame": job.start, "box": [10, 20, 60, 200],
                   "boxes": [[job.start, 10, 20, 60, 200], [end - 1, 12, 20, 62, 200]], "crossings": []},
                  {"id": 2, "first_frame": middle, "last_frame": end - 1, "frames_seen": 2, "seen": 0.5,
                   "visibility": 0.8, "score": 1.0, "frame": middle, "box": [300, 20, 350, 200],
                   "boxes": [[middle, 300, 20, 350, 200], [end - 1, 20, 20, 70, 200]],
                   "crossings": [{"other": 1, "first_frame": end - 2, "last_frame": end - 1}]}]
        out = Path(job.job_dir) / "people.json"
        out.write_text(json.dumps({"version": 1, "video": job.video, "start": job.start, "end": end, "step": 8,
                                   "default": 1, "tracks": tracks, "messages": []}))
        self.send(self.p.Result(job_id=job.job_id, path=str(out), frames=2, seconds=0.1))

    def mode_no_person(self, job) -> None:
        self.progress(job, "detect", 1, 1)
        self.fail(job, "no_person", "No person was detected in the requested frames.")

    def mode_hang(self, job) -> None:
        self.progress(job, "open", 0, 1)
        time.sleep(3600)

    def mode_ignore_cancel(self, job) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            self.progress(job, "detect", 0, 1)
            time.sleep(0.05)

    def mode_crash(self, job) -> None:
        self.progress(job, "open", 0, 1)
        sys.stderr.write("fake worker: simulated fatal error\n")
        sys.stderr.flush()
        os._exit(3)

    def mode_garbage(self, job) -> None:
        self.progress(job, "open", 0, 1)
        sys.stdout.write("Warning: some library printed this to stdout\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("-m", dest="module")
    args = parser.parse_args()
    if args.mode == "missing_package":
        import scorehmr_missing_dependency  # noqa: F401  (fails like a worker without its packages)
    if args.mode == "no_ready":
        time.sleep(3600)  # never says Ready (stuck importing, say)
    Worker(args.mode, args.delay).run()


if __name__ == "__main__":
    main()

"""Batch capture speed: N local Ray workers against one, on the same clips, in one run on this machine.

    .venv/bin/python scripts/benchmark_batch.py --sample SPORTS2D.mp4 [--clips 4] [--workers 1 2] [--json OUT]

(``python3 build.py benchmark`` runs it.) The clips are the sample clip ``--clips`` times over (a manifest naming
each copy), so every task is the same work. For each worker count, ``python -m server batch`` runs from process
start to exit (Ray's start and shutdown included) into a fresh folder; then, for comparison, the clips one after
the other through ``python -m server capture`` (which uses both cores for detection itself). Prints seconds,
frames/s and the speed-up over one worker. Figures, not tests.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("benchmark_batch")


def timed(command: Sequence[str]) -> float:
    """Seconds from start to exit of ``command`` (run in the repository root); raises when it fails."""
    tick = time.perf_counter()
    run = subprocess.run(list(command), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - tick
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {run.returncode}: {run.stderr[-2000:]}")
    return seconds


def batch_seconds(manifest: Path, out: Path, workers: int) -> Dict[str, object]:
    """One batch run with ``workers`` local workers; its seconds and what batch.json says of the clips."""
    seconds = timed([sys.executable, "-m", "server", "batch", str(manifest), "-o", str(out), "--workers",
                     str(workers), "--no-progress"])
    clips = json.loads((out / "batch.json").read_text())["clips"]
    return {"workers": workers, "seconds": seconds, "done": sum(c["status"] == "done" for c in clips),
            "frames": sum(int(c["processed"]) for c in clips),
            "clip_seconds": sum(float(c["seconds"]) for c in clips)}


def one_by_one_seconds(sample: Path, clips: int, folder: Path) -> float:
    """The clips one after the other through the capture CLI (default detectors: one per core)."""
    return sum(timed([sys.executable, "-m", "server", "capture", str(sample), "-o", str(folder / f"c{k}.npz")])
               for k in range(clips))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D clip")
    parser.add_argument("--clips", type=int, default=4, help="copies of the clip in the batch")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local worker counts to compare")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    rows: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = folder / "clips.json"
        manifest.write_text(json.dumps([{"clip": str(args.sample.resolve()), "name": f"take{k + 1}"}
                                        for k in range(args.clips)]))
        for workers in sorted(set(args.workers)):
            log.info("batch of %d clips, %d worker(s)", args.clips, workers)
            rows.append(batch_seconds(manifest, folder / f"out{workers}", workers))
        log.info("the same clips one by one through the capture CLI")
        serial = one_by_one_seconds(args.sample, args.clips, folder)
    base = rows[0]["seconds"]
    print(f"{'run':<34}{'seconds':>9}{'frames/s':>10}{'speed-up':>10}{'clips done':>12}")
    for row in rows:
        print(f"{'batch, ' + str(row['workers']) + ' local worker(s)':<34}{row['seconds']:>9.1f}"
              f"{row['frames'] / row['seconds']:>10.1f}{base / row['seconds']:>10.2f}{row['done']:>12}")
    frames = rows[0]["frames"]
    print(f"{'capture CLI, one clip after another':<34}{serial:>9.1f}{frames / serial:>10.1f}{base / serial:>10.2f}"
          f"{args.clips:>12}")
    print(f"({args.clips} x {args.sample.name}; speed-up against the batch with {rows[0]['workers']} worker(s); "
          "batch seconds include starting and stopping Ray)")
    if args.json:
        args.json.write_text(json.dumps({"batches": rows, "one_by_one_seconds": serial}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

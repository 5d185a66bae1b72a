"""Click-to-idle time of Cancel with the real worker (no bpy): how long after ``WorkerClient.cancel()`` the job has
ended (the panel is idle) and the worker and its detector processes are gone, per stage.

    .venv/bin/python scripts/measure_cancel.py [--stages search detect regress refine] [--repeats 1] [--root DIR]

Stages the add-on from ``--root`` (default: this checkout) like Blender installs it (that checkout's build.py
``stage``), starts the worker with this checkout's .venv Python, captures the sample clip, polls like the panel's
timer (every 0.1 s) and presses Cancel once the stage's progress is a quarter done (a one-step stage: at its first
report). Prints one line per run.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("measure_cancel")


def build_module(root: Path) -> ModuleType:
    """``root``'s build.py as a module (its paths are that checkout's)."""
    spec = importlib.util.spec_from_file_location("scorehmr_build", root / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = build_module(ROOT)
VIDEO = BUILD.sample_video()


def staged_addon(root: Path, folder: Path):
    """The add-on staged from ``root`` into ``folder`` and imported as ``staged``: (worker_client, protocol,
    the staged folder)."""
    dest = build_module(root).stage(folder / "blender_scorehmr")
    spec = importlib.util.spec_from_file_location("staged", dest / "__init__.py",
                                                  submodule_search_locations=[str(dest)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["staged"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("staged.core.worker_client"), importlib.import_module("staged.server.protocol"), dest


def children(pid: int) -> List[int]:
    """Process ids of ``pid``'s children (the detector processes)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pids: List[int]) -> bool:
    """True while any of ``pids`` runs (zombies count as gone)."""
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


def one_run(wc, protocol, addon: Path, stage: str, job_dir: Path) -> str:
    """Capture, cancel in ``stage``, and say how long the job and the processes took to end."""
    client = wc.WorkerClient(str(BUILD.venv_python()), addon, cwd=job_dir)
    client.start()
    client.submit(protocol.Submit(job_id=job_dir.name, kind="capture", video=str(VIDEO), job_dir=str(job_dir)))
    clicked: Optional[float] = None
    kids: List[int] = []
    seen = None
    while client.outcome is None:
        for event in client.poll():
            if isinstance(event, protocol.Progress) and clicked is None and event.stage == stage and (
                    event.done >= max(2, event.total // 4) or event.total <= 2):
                seen, kids, clicked = event, children(client._proc.pid), time.monotonic()
                client.cancel()
        time.sleep(0.1)   # the panel's timer
    idle = time.monotonic()
    while alive([client._proc.pid] + kids) and time.monotonic() - idle < 30:
        time.sleep(0.01)
    gone = time.monotonic()
    client.close()
    if clicked is None:
        return f"{stage}: the job ended before the stage ({getattr(client.outcome, 'code', 'result')})"
    return (f"{stage} {seen.done}/{seen.total}: idle {idle - clicked:.2f} s after cancel, worker and "
            f"{len(kids)} children gone after {gone - clicked:.2f} s ({client.outcome.code}, exit {client.returncode})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="*", default=["search", "detect", "regress", "refine"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose add-on is measured")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not VIDEO.is_file():
        log.error("sample clip missing at %s: run python3 build.py setup", VIDEO)
        return 2
    with tempfile.TemporaryDirectory(prefix="measure_cancel_") as tmp:
        wc, protocol, addon = staged_addon(args.root, Path(tmp))
        for stage in args.stages:
            for run in range(args.repeats):
                job_dir = Path(tmp) / f"{stage}{run}"
                job_dir.mkdir()
                log.info("%s", one_run(wc, protocol, addon, stage, job_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

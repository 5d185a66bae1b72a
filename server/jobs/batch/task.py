"""One clip of a batch, as a Ray worker runs it: the capture into a private temporary folder, the result's bytes back.

The worker never writes into the output folder: the driver writes each result it receives atomically
(:func:`server.jobs.batch.runner.store_result`), so a worker or node killed mid-clip leaves no half file, and the output
folder need not be shared with the cluster's nodes (the clips must be: every node reads them by the same path).
Each task is one core: detection in the worker itself, one torch thread.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from typing import Any, Dict, Mapping, Optional

log = logging.getLogger(__name__)

REPORT_SECONDS = 0.5   # progress reaches the driver's board at most this often per clip


class ProgressBoard:
    """A Ray actor the tasks report to: which worker runs which clip, and its frames done / total."""

    def __init__(self) -> None:
        self._state: Dict[str, Dict[str, Any]] = {}

    def started(self, name: str, worker: str) -> None:
        self._state[name] = {"worker": worker, "done": 0, "total": 0}

    def progress(self, name: str, done: int, total: int) -> None:
        entry = self._state.setdefault(name, {"worker": "", "done": 0, "total": 0})
        entry["done"], entry["total"] = done, total

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        return {name: dict(entry) for name, entry in self._state.items()}


def worker_name() -> str:
    """``host:pid`` of this process (what batch.json shows while it runs a clip)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def capture_clip(item: Mapping[str, Any], capture: Mapping[str, Any], board: Optional[Any]) -> Dict[str, Any]:
    """Capture ``item`` (:meth:`server.jobs.batch.inputs.BatchItem.to_json`) with the capture options ``capture``
    (``body_model`` and the :class:`server.options.CaptureOptions` fields, the item's own options over them); report to ``board`` (a :class:`ProgressBoard` actor handle, or
    None). Returns ``{"status": "done", "data": <the result .npz bytes>, "frames", "processed", "seconds",
    "timings", "notes", "worker"}`` or ``{"status": "failed", "error": {"code", "message", "hint"}, "seconds",
    "worker"}`` for a failure the user can act on (anything else raises, and the driver records it)."""
    import torch

    from ..capture import CaptureRequest, run_capture
    from ...errors import JobError
    from ...options import CaptureOptions

    torch.set_num_threads(1)
    name, worker, began = str(item["name"]), worker_name(), time.perf_counter()
    if board is not None:
        board.started.remote(name, worker)
    last = [0.0]

    def progress(stage: str, done: int, total: int, _message: str) -> None:
        now = time.perf_counter()
        if board is not None and stage == "detect" and (now - last[0] >= REPORT_SECONDS or done == total):
            last[0] = now
            board.progress.remote(name, done, total)

    with tempfile.TemporaryDirectory(prefix="scorehmr-batch-") as folder:
        output = os.path.join(folder, "result.npz")
        chosen = {name: value for name, value in capture.items() if name != "body_model"}
        request = CaptureRequest(video=str(item["clip"]), output=output, start=int(item["start"]),
                                 end=int(item["end"]), person=int(item["person"]), views=tuple(item["views"]),
                                 calibration=str(item["calibration"]), body_model=str(capture.get("body_model", "")),
                                 options=CaptureOptions.from_mapping({**chosen, **dict(item.get("options") or {})}),
                                 detectors=1, threads=1)
        try:
            summary = run_capture(request, progress, lambda: False)
        except JobError as exc:
            log.info("%s failed: %s", name, exc.message)
            return {"status": "failed", "seconds": time.perf_counter() - began, "worker": worker,
                    "error": {"code": exc.code, "message": exc.message, "hint": exc.hint}}
        with open(output, "rb") as handle:
            data = handle.read()
    if board is not None:
        board.progress.remote(name, summary.processed, summary.processed)
    return {"status": "done", "data": data, "frames": summary.frames, "processed": summary.processed,
            "seconds": time.perf_counter() - began, "timings": summary.timings, "notes": summary.notes,
            "worker": worker}

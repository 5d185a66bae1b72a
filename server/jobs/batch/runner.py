"""Batch capture on Ray: one task per clip (a multi-view take is one task), locally or on a running cluster.

Without an address a new Ray instance starts on this machine (``ray.init`` with ``workers`` CPUs, each task one CPU,
torch one thread), bound to the loopback address alone: none of its processes listens on a network interface, and
neither ``RAY_ADDRESS`` nor a Ray already running here is used. With an address (``auto`` or ``ray://host:port``)
the tasks go to that cluster, which gets this ``server`` package shipped with them (``py_modules``) and must have
the worker's packages installed.

The driver alone writes into the output folder: each result as it comes back (temporary file, check, rename) and
``batch.json`` (:mod:`server.jobs.batch.index`) after every change, so a killed worker, node or driver never leaves a half
file, and a rerun keeps every finished result. A clip that fails (its result name cannot be a file there, its capture
fails, its result cannot be stored) is recorded with its error and the batch goes on; Ctrl+C cancels the tasks
still running and records them as ``cancelled``. An output that is a file, or a folder that cannot be made or
written, is refused before Ray starts.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Sequence

from ...errors import Cancelled, JobError
from ...files import replaced_atomically
from ...result import check_result
from .index import plan, prepare_folder, shown_name, write_index
from .inputs import BatchItem
from .progress import BatchProgress
from .task import ProgressBoard, capture_clip

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
LOOPBACK = "127.0.0.1"
INSTALL_HINT = "Install the batch extra into the worker's environment: pip install -r server/requirements-batch.txt"
DIED_HINT = "Run the batch again: finished clips are kept and this one is captured again"
SERVER_DIR = Path(__file__).resolve().parents[2]   # server/ (this is server/jobs/batch/runner.py)
CLUSTER_HINT = ("Start the cluster with 'ray start --head' (docs/cli.md), give its address as 'auto' on the head node or "
                "ray://HEAD_IP:10001 elsewhere; a cluster with token authentication needs its token here "
                "(RAY_AUTH_TOKEN, or the file 'ray get-auth-token' prints on the head)")


@dataclass(frozen=True)
class BatchOptions:
    """How the batch runs (not what each capture does: that is the capture options)."""

    address: str = ""     # "" = start Ray on this machine; "auto" or "ray://host:port" = a running cluster
    workers: int = 0      # local CPUs for Ray (0: every core); ignored with an address
    retries: int = 0      # Ray retries of a clip whose worker process died
    redo: bool = False    # capture every clip again, even those with a valid result
    progress: bool = True  # progress bars on stderr


@dataclass
class BatchSummary:
    """What a batch did: counts by status and the index file."""

    index: str
    done: int = 0
    reused: int = 0
    failed: int = 0
    cancelled: int = 0
    seconds: float = 0.0
    failures: List[str] = field(default_factory=list)   # "name: message" of each failed clip


def import_ray(address: str = "") -> Any:
    """The ``ray`` module, or :class:`JobError` (``missing_package``) naming the install command. Ray reads its
    settings when imported: no usage reporting, and for a ``ray://`` address with a token at hand, token
    authentication (the client then sends the cluster's token); without an address, a node on the loopback
    address (Ray otherwise takes this machine's network address for its node and listens on every interface)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address.startswith("ray://") and _have_token():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    if not address:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # Ray's switch for "this machine only" (loopback)
    try:
        import ray
    except ImportError as exc:
        raise JobError("missing_package", "Batch capture needs Ray, which is not installed.", INSTALL_HINT) from exc
    return ray


@contextlib.contextmanager
def ray_session(ray: Any, options: BatchOptions) -> Iterator[None]:
    """Ray started locally (and shut down after) or connected to ``options.address``."""
    env = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "GLOG_minloglevel": "2"}
    try:
        if options.address:
            ray.init(address=options.address, runtime_env={"py_modules": [str(SERVER_DIR)], "env_vars": env},
                     logging_level=logging.WARNING, log_to_driver=False)
        else:
            workers = options.workers or os.cpu_count() or 1
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SERVER_DIR.parent), os.environ.get("PYTHONPATH", ""))
                                                if p)
            ray.init(address="local", num_cpus=workers, include_dashboard=False, _node_ip_address=LOOPBACK,
                     logging_level=logging.WARNING, log_to_driver=False, runtime_env={"env_vars": env})
            _check_loopback(ray)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        where = f"the Ray cluster at {options.address}" if options.address else "Ray on this machine"
        raise JobError("bad_request", f"Could not start or reach {where}: {exc}", CLUSTER_HINT) from exc
    try:
        yield
    finally:
        ray.shutdown()


def _check_loopback(ray: Any) -> None:
    """:class:`JobError` (after shutting Ray down) unless the local node took the loopback address."""
    node = str(ray.util.get_node_ip_address())
    if not ipaddress.ip_address(node).is_loopback:
        ray.shutdown()
        raise JobError("internal", f"Ray started on the network address {node}, not on {LOOPBACK} alone.",
                       "Run the batch in a fresh process (python -m server batch), or give a cluster --address")


def _have_token() -> bool:
    """Whether a Ray authentication token is at hand (the variables, or the default token file)."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(path)


def store_result(folder: str, name: str, data: bytes) -> None:
    """Write a result's bytes to ``folder/name`` atomically, after checking them (:func:`server.result.check_result`);
    raises :class:`JobError` (``internal``) when they are not a valid result."""
    with replaced_atomically(os.path.join(folder, name), ".npz") as partial:
        with open(partial, "wb") as handle:
            handle.write(data)
        problem = check_result(partial)
        if problem is not None:
            raise JobError("internal", f"The result of {name} came back damaged: {problem}.", DIED_HINT)


def run_batch(items: Sequence[BatchItem], folder: str, capture: Mapping[str, Any],
              options: BatchOptions = BatchOptions()) -> BatchSummary:
    """Capture every item not already done into ``folder`` (``<name>.npz`` and ``batch.json``); ``capture``: what all
    share, ``body_model`` and the :class:`server.options.CaptureOptions` as :meth:`~server.options.Options.to_dict`
    gives them (a manifest row's own options override them for that clip). Raises :class:`server.errors.Cancelled` on Ctrl+C
    (after recording it) and :class:`JobError` when Ray is missing or cannot start."""
    prepare_folder(folder)
    ray = import_ray(options.address)
    began = time.perf_counter()
    settings = dict(capture)
    records: Dict[str, Dict[str, Any]] = {str(r["name"]): r for r in plan(items, folder, settings, options.redo)}

    def save() -> str:
        return write_index(folder, list(records.values()), settings)

    index = save()
    todo = [item for item in items if records[item.name]["status"] == "pending"]
    log.info("%d clips: %d to capture, %d done before", len(items), len(todo), len(items) - len(todo))
    if todo:
        with ray_session(ray, options), BatchProgress(len(items), len(items) - len(todo), options.progress) as bars:
            _run_tasks(ray, todo, records, capture, options, bars, folder, save)
    summary = BatchSummary(index=index, seconds=time.perf_counter() - began)
    for record in records.values():
        status = record["status"]
        summary.reused += status == "done" and bool(record["reused"])
        summary.done += status == "done" and not record["reused"]
        summary.failed += status == "failed"
        summary.cancelled += status == "cancelled"
        if status == "failed":
            summary.failures.append(f"{shown_name(str(record['name']))}: {record['error']['message']}")
    return summary


def _run_tasks(ray: Any, todo: Sequence[BatchItem], records: Dict[str, Dict[str, Any]], capture: Mapping[str, Any],
               options: BatchOptions, bars: BatchProgress, folder: str, save: Callable[[], str]) -> None:
    """Submit one task per item and record each outcome as it arrives; Ctrl+C cancels what is left."""
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    remote = ray.remote(num_cpus=1, max_retries=options.retries)(capture_clip)
    refs = {remote.remote(item.to_json(), dict(capture), board): item for item in todo}
    pending = list(refs)
    try:
        with ctrl_c_raises():
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
                for ref in ready:
                    _record_outcome(ray, ref, refs[ref], records, folder)
                    bars.clip_ended()
                changed = _note_running(ray.get(board.snapshot.remote()), records, bars)
                if ready or changed:
                    save()
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
            records[refs[ref].name].update(status="cancelled", worker="")
        save()
        raise Cancelled() from None


@contextlib.contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """While the batch waits on its tasks, Ctrl+C (SIGINT) raises KeyboardInterrupt through a handler of our own,
    whatever handler the process had (Ray's code can defer SIGINT, and a process started in the background by a
    shell inherits it ignored); in one full test run a Ctrl+C went unanswered until the batch had finished. The
    handler before is restored on the way out (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt()
    before = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _note_running(snapshot: Mapping[str, Mapping[str, Any]], records: Dict[str, Dict[str, Any]],
                  bars: BatchProgress) -> bool:
    """Mark the clips the board shows started as running (with their worker) and move the frames bar; True when a
    record changed."""
    changed = False
    for name, state in snapshot.items():
        record = records.get(name)
        if record is not None and record["status"] == "pending":
            record.update(status="running", worker=str(state["worker"]))
            changed = True
    bars.frames(sum(int(s["done"]) for s in snapshot.values()), sum(int(s["total"]) for s in snapshot.values()))
    return changed


def _failure(code: str, message: str, hint: str = DIED_HINT) -> Dict[str, Any]:
    """A failed outcome."""
    return {"status": "failed", "error": {"code": code, "message": message, "hint": hint}}


def _task_outcome(ray: Any, ref: Any) -> Dict[str, Any]:
    """What a finished task returned, or a failed outcome saying how it ended."""
    try:
        return ray.get(ref)
    except JobError as exc:
        return _failure(exc.code, exc.message, exc.hint)
    except ray.exceptions.RayTaskError as exc:   # our code raised in the worker: a bug, with its message
        return _failure("internal", f"The capture crashed: {type(exc.cause).__name__}: {exc.cause}")
    except ray.exceptions.RayError as exc:       # the worker process or its node died (killed, out of memory)
        return _failure("internal", f"The worker process capturing this clip died ({type(exc).__name__}).")


def _stored(folder: str, item: BatchItem, outcome: Dict[str, Any]) -> Dict[str, Any]:
    """``outcome`` once its result is written into ``folder``, or a failed outcome saying why it could not be."""
    try:
        store_result(folder, item.output_name, outcome.pop("data"))
    except JobError as exc:
        return _failure(exc.code, exc.message, exc.hint)
    except (OSError, ValueError) as exc:   # the folder refuses the file (full, read-only, the name)
        return _failure("internal", f"Could not write {item.output_name[:80]} in {folder}: {exc}.")
    return outcome


def _record_outcome(ray: Any, ref: Any, item: BatchItem, records: Dict[str, Dict[str, Any]], folder: str) -> None:
    """Store a finished task's result, or record why it failed."""
    record = records[item.name]
    outcome = _task_outcome(ray, ref)
    if outcome["status"] == "done":
        outcome = _stored(folder, item, outcome)
    record.update(status=outcome["status"], error=outcome.get("error"), frames=int(outcome.get("frames", 0)),
                  processed=int(outcome.get("processed", 0)), seconds=round(float(outcome.get("seconds", 0.0)), 2),
                  notes=list(outcome.get("notes", [])), worker=str(outcome.get("worker", record["worker"])))
    if record["status"] == "done":
        log.info("%s: person in %d of %d frames, %.1f s", item.output_name, record["frames"], record["processed"],
                 record["seconds"])
    else:
        log.warning("%s failed: %s", item.name, record["error"]["message"])

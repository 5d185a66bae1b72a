"""The batch's index, ``batch.json`` in the output folder: one record per clip, rewritten atomically on every change.

Record fields: ``clip``, ``name``, ``output`` (file name in the folder), ``start``, ``end``, ``person``, ``views``,
``calibration``, ``status`` (``pending``, ``running``, ``done``, ``failed``, ``cancelled``), ``reused`` (done by an
earlier run, checked and kept), ``worker`` (``host:pid`` while running or when done), ``frames`` (with a person),
``processed`` (frames in the range), ``seconds``, ``notes`` and ``error`` (``code``, ``message``, ``hint``; null
unless failed). The index also keeps the capture options of the run, so a rerun with other options redoes every
clip instead of mixing results made two ways. A clip whose result name the folder's file system refuses (too long,
a NUL) is failed before anything is captured.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, Union, cast

from ...errors import JobError
from ...files import partial_path, replaced_atomically
from ...result import ResultFile, ResultFileError
from .inputs import BatchItem

log = logging.getLogger(__name__)

INDEX_NAME = "batch.json"
INDEX_VERSION = 1
STATUSES = ("pending", "running", "done", "failed", "cancelled")
OUTPUT_HINT = "Give -o a folder (new or existing) where this user may write: the results and batch.json go there"
NAME_HINT = "Give the clip a shorter plain name (the manifest's name field), or rename the clip"


def prepare_folder(folder: str) -> None:
    """Make the output folder (if missing); :class:`JobError` (``bad_request``) when ``folder`` is a file or cannot
    be made."""
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise JobError("bad_request", f"The output {folder} is a file, not a folder.", OUTPUT_HINT)
    try:
        os.makedirs(folder, exist_ok=True)
    except (OSError, ValueError) as exc:
        raise JobError("bad_request", f"Cannot make the output folder {folder}: {_words(exc)}.", OUTPUT_HINT) from exc


def output_problem(folder: str, item: BatchItem) -> Optional[str]:
    """None when ``item``'s result can be written in ``folder``: the temporary file the write makes first
    (:func:`server.files.partial_path`, the longer name) is made and removed again, the result itself is not
    touched; else why not, in words."""
    partial = partial_path(os.path.join(folder, item.output_name), ".npz")
    try:
        try:
            with open(partial, "xb"):
                pass
        except FileExistsError:   # a leftover of an earlier process with this id: removed too
            pass
        os.remove(partial)
    except (OSError, ValueError) as exc:
        return _words(exc)
    return None


def _words(exc: Union[OSError, ValueError]) -> str:
    """An OS error (or a path's ValueError) in words."""
    if isinstance(exc, ValueError):
        return "it holds a NUL character" if "null" in str(exc) else str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for the file system"
    return exc.strerror or str(exc)


def shown_name(name: str) -> str:
    """``name`` for a message: unprintable characters escaped (``\\x00``), more than 60 characters cut short."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return text if len(text) <= 60 else f"{text[:57]}..."


def failed_name(item: BatchItem, folder: str, problem: str) -> Dict[str, str]:
    """The ``error`` of a clip whose result name cannot be a file in ``folder``."""
    return {"code": "bad_request", "message": f"The result name '{shown_name(item.name)}' ({len(item.name)} "
            f"characters) cannot be a file in {folder}: {problem}.", "hint": NAME_HINT}


def new_record(item: BatchItem) -> Dict[str, object]:
    """A pending record of ``item``."""
    return {**item.to_json(), "output": item.output_name, "status": "pending", "reused": False, "worker": "",
            "frames": 0, "processed": 0, "seconds": 0.0, "notes": [], "error": None}


def read_index(folder: str) -> Dict[str, object]:
    """The folder's index (``{}`` when there is none or it cannot be read: the results are then checked alone)."""
    path = os.path.join(folder, INDEX_NAME)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring the unreadable %s (%s): every result is checked again", path, exc)
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("clips"), list) else {}


def write_index(folder: str, records: Sequence[Mapping[str, object]], settings: Mapping[str, object]) -> str:
    """Write the index atomically (temporary file, then rename); returns its path. :class:`JobError`
    (``bad_request``) when it cannot be written (the folder is read-only, the disk is full)."""
    path = os.path.join(folder, INDEX_NAME)
    data = {"version": INDEX_VERSION, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": dict(settings),
            "clips": list(records)}
    try:
        with replaced_atomically(path) as partial, open(partial, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.write("\n")
    except OSError as exc:
        raise JobError("bad_request", f"Cannot write the batch index {path}: {_words(exc)}.", OUTPUT_HINT) from exc
    return path


def reusable(item: BatchItem, folder: str) -> Optional[str]:
    """None when ``item``'s result in ``folder`` is complete, valid and of this clip and range (so a rerun keeps
    it); else why not (a short phrase)."""
    try:
        result = ResultFile.read(os.path.join(folder, item.output_name))
    except ResultFileError as exc:
        return str(exc)
    source = str(result.source_video) if result.source_video is not None else ""
    frame_range = [int(v) for v in result.frame_range] if result.frame_range is not None else None
    if source and os.path.normcase(os.path.abspath(source)) != os.path.normcase(item.clip):
        return f"made from another clip ({source})"
    if frame_range is None:
        return "no frame range (made by an older version)"
    if frame_range[0] != item.start or (item.end >= 0 and frame_range[1] != item.end):
        return f"another frame range ({frame_range[0]}-{frame_range[1]})"
    return None


def plan(items: Sequence[BatchItem], folder: str, settings: Mapping[str, object],
         redo: bool = False) -> List[Dict[str, object]]:
    """One record per item: ``failed`` where the result's name cannot be a file in ``folder``, ``done`` and
    ``reused`` where the earlier run's result checks out (and the capture options are the same), ``pending``
    otherwise."""
    earlier = read_index(folder)
    same_options = not earlier or earlier.get("settings") == dict(settings)
    if not same_options and not redo:
        log.warning("the capture options differ from the last run's in %s: every clip is captured again", folder)
    clips = cast(List[object], earlier.get("clips", []))   # read_index: a list, or no index at all
    before = {str(r.get("name")): r for r in clips if isinstance(r, dict)}
    records = []
    for item in items:
        record = new_record(item)
        problem = output_problem(folder, item)
        if problem is not None:
            error = failed_name(item, folder, problem)
            log.warning("%s", error["message"])
            record.update(status="failed", error=error)
            records.append(record)
            continue
        why = "redo asked" if redo else None if same_options else "other capture options"
        old_options = before.get(item.name, {}).get("options") or {}
        why = why or ("other options for this clip" if old_options != item.options else None) or reusable(item, folder)
        if why is None:
            old = before.get(item.name, {})
            record.update(status="done", reused=True, worker=str(old.get("worker", "")),
                          frames=int(old.get("frames", 0) or 0), processed=int(old.get("processed", 0) or 0),
                          seconds=float(old.get("seconds", 0.0) or 0.0), notes=list(old.get("notes", []) or []))
        elif os.path.exists(os.path.join(folder, item.output_name)):
            log.info("%s: captured again (%s)", item.output_name, why)
        records.append(record)
    return records

"""Which result files an import takes (no bpy): one result ``.npz``, a batch's ``batch.json``, or a folder.

A batch (``python -m server batch``) leaves ``<name>.npz`` per clip and ``batch.json`` with each clip's status,
footage path and error; only the clips marked ``done`` are imported, and the failed ones are named in a note. A
folder without ``batch.json`` gives every ``.npz`` in it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from .panel_errors import ErrorCode, ScoreHMRError

INDEX_NAME = "batch.json"
PICK_HINT = "Pick a capture result (.npz), a batch's batch.json, or the batch's output folder"


@dataclass(frozen=True)
class ResultEntry:
    """One result to import: the take's name (the file's name without ``.npz``), its file and its footage."""

    name: str
    path: Path
    clip: str = ""      # the footage the batch captured ("" when unknown: the result's source_video is used)


def find_results(path: Path) -> Tuple[List[ResultEntry], List[str]]:
    """The results ``path`` names, in order, and notes on what it leaves out (failed or missing clips); raises
    :class:`ScoreHMRError` when there is nothing to import."""
    path = Path(path)
    if path.is_dir():
        index = path / INDEX_NAME
        if index.is_file():
            return _from_index(index)
        entries = [ResultEntry(p.stem, p) for p in sorted(path.glob("*.npz")) if not p.name.startswith(".")]
        if not entries:
            raise ScoreHMRError(f"No capture results (.npz) in {path}.", PICK_HINT, ErrorCode.FILE_MISSING)
        return entries, []
    if not path.is_file():
        raise ScoreHMRError(f"{path} does not exist.", PICK_HINT, ErrorCode.FILE_MISSING)
    if path.suffix.lower() == ".json":
        return _from_index(path)
    return [ResultEntry(path.stem, path)], []


def _from_index(index: Path) -> Tuple[List[ResultEntry], List[str]]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        clips = data["clips"]
        records = [(str(c["name"]), str(c["output"]), str(c.get("status", "")), str(c.get("clip", "")),
                    (c.get("error") or {}).get("message", "")) for c in clips]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScoreHMRError(f"{index} is not a batch index ({exc}).", PICK_HINT, ErrorCode.BAD_RESULT) from exc
    entries, failed, missing = [], [], []
    for name, output, status, clip, message in records:
        result = index.parent / output
        if status != "done":
            failed.append(f"{name} ({status}{': ' + message if message else ''})")
        elif not result.is_file():
            missing.append(name)
        else:
            entries.append(ResultEntry(name, result, clip))
    notes = []
    if failed:
        notes.append(f"not captured, not imported: {', '.join(failed)}")
    if missing:
        notes.append(f"result file missing: {', '.join(missing)}")
    if not entries:
        raise ScoreHMRError(f"The batch in {index.parent} has no finished clips to import.",
                            "Run the batch again (finished clips are kept) and import when clips are done",
                            "file_missing")
    return entries, notes

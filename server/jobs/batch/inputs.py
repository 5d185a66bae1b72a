"""What a batch captures: clips, folders of clips and manifests expanded into :class:`BatchItem` s (pure stdlib).

A manifest is a CSV file with a header row, or a JSON file holding a list of objects (or ``{"clips": [...]}``),
one clip (or multi-view take) each. Fields:

- ``clip`` (required): the footage; a relative path is relative to the manifest's folder;
- ``start``, ``end``: the frame range (0-based, ``end`` exclusive, -1 = to the end), or ``range`` as ``"10-200"``;
- ``person``: the person's id from ``python -m server people`` (default: the most visible);
- ``views``: further synchronised clips of the same take (JSON: a list; CSV: separated by ``;``);
- ``calibration``: the views' calibration file;
- ``name``: the result's name (``<name>.npz``); default: the clip's name, plus the range when one is given;
- any capture option of :class:`server.options.CaptureOptions` by its name (``iterations``, ``lock_feet``, ...): that
  clip's value instead of the command line's (CSV: ``true``/``false`` for a switch; an empty cell: the command
  line's).

A manifest that cannot be read or holds a malformed row (an unknown field, a value of the wrong kind, an empty or
negative range, a name with a path in it) is refused whole (:class:`JobError` ``bad_request`` naming the file and the
row). A name the output folder's file system refuses (too long, a NUL) fails that clip alone
(:func:`server.jobs.batch.index.plan`).

Names are unique within a batch (a clip found twice gets ``_2``, ``_3``, ... in the order given), and the same
inputs always give the same names, so a rerun finds the results of the run before.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from ...errors import JobError
from ...options import CaptureOptions, OptionError, names_of, option_of

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".mts", ".m2ts",
                    ".mxf")
MANIFEST_EXTENSIONS = (".csv", ".json")
FIELDS = ("clip", "start", "end", "range", "person", "views", "calibration", "name", *names_of(CaptureOptions))
MANIFEST_HINT = ("A manifest lists one clip per row: clip[,start,end,person,views,calibration,name] and any capture "
                 "option (see docs/cli.md)")


@dataclass(frozen=True)
class BatchItem:
    """One task of a batch: a clip (or a multi-view take) and where its result goes (``<name>.npz``)."""

    clip: str                       # absolute path of the (main) clip
    name: str                       # the result's file name without ``.npz``, unique in the batch
    start: int = 0
    end: int = -1                   # exclusive; -1 = to the end
    person: int = -1                # < 1: the most visible
    views: Tuple[str, ...] = ()     # absolute paths of further synchronised clips
    calibration: str = ""           # absolute path, or ""
    options: Dict[str, Any] = field(default_factory=dict)   # capture options of this clip (manifest), by name

    @property
    def output_name(self) -> str:
        return f"{self.name}.npz"

    def to_json(self) -> Dict[str, object]:
        data = asdict(self)
        data["views"] = list(self.views)
        data["options"] = dict(self.options)
        return data


@dataclass
class _Entry:
    """A clip before names are made unique."""

    clip: str
    name: str
    start: int = 0
    end: int = -1
    person: int = -1
    views: Tuple[str, ...] = field(default_factory=tuple)
    calibration: str = ""
    options: Dict[str, Any] = field(default_factory=dict)


def expand_inputs(inputs: Sequence[str]) -> List[BatchItem]:
    """Every clip the inputs name, in order: a folder gives its video files (recursively, sorted), a .csv/.json
    file is a manifest, anything else is a clip (a missing or unreadable one fails as its own task). Raises
    :class:`JobError` (``bad_request``) on a malformed manifest or when nothing is left to capture."""
    entries: List[_Entry] = []
    for text in inputs:
        path = os.path.abspath(os.path.expanduser(text))
        if os.path.isdir(path):
            entries += _folder_entries(path)
        elif path.lower().endswith(MANIFEST_EXTENSIONS) and os.path.isfile(path):
            entries += _manifest_entries(path)
        else:
            entries.append(_Entry(clip=path, name=_stem(path)))
    if not entries:
        raise JobError("bad_request", f"No video files in {', '.join(inputs) or 'the inputs'}.",
                       f"Give clips ({', '.join(VIDEO_EXTENSIONS[:4])}, ...), folders of clips or a manifest.")
    return _unique(entries)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0] or "clip"


def _folder_entries(folder: str) -> List[_Entry]:
    """The folder's video files, recursively, sorted by relative path; names are the relative paths with
    ``__`` for the separators (``take1/cam.mp4`` -> ``take1__cam``)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in files if f.lower().endswith(VIDEO_EXTENSIONS) and
                  not f.startswith(".")]
    found.sort(key=lambda p: os.path.relpath(p, folder))
    return [_Entry(clip=p, name=os.path.splitext(os.path.relpath(p, folder))[0].replace(os.sep, "__")) for p in found]


def _manifest_entries(path: str) -> List[_Entry]:
    rows = _read_manifest(path)
    base = os.path.dirname(path)
    return [_manifest_entry(row, base, f"{path} row {k}") for k, row in enumerate(rows, start=1)]


def _read_manifest(path: str) -> List[Dict[str, object]]:
    """The manifest's rows as dicts (CSV: header row; JSON: a list or ``{"clips": [...]}``)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if path.lower().endswith(".csv"):
                return [{k.strip().lower(): v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)
                         and v.strip()} for row in csv.DictReader(handle)]
            data = json.load(handle)
    except RecursionError as exc:
        raise JobError("bad_request", f"Cannot read the manifest {path}: its JSON is nested too deeply.",
                       MANIFEST_HINT) from exc
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:   # ValueError: malformed JSON, huge numbers
        raise JobError("bad_request", f"Cannot read the manifest {path}: {exc}.", MANIFEST_HINT) from exc
    rows = data.get("clips") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise JobError("bad_request", f"The manifest {path} is not a list of clips.", MANIFEST_HINT)
    return rows


def _manifest_entry(row: Dict[str, object], base: str, where: str) -> _Entry:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise JobError("bad_request", f"{where}: unknown field(s) {', '.join(unknown)}.",
                       f"Fields are {', '.join(FIELDS)}")
    if not row.get("clip"):
        raise JobError("bad_request", f"{where}: no clip.", MANIFEST_HINT)
    for key in ("clip", "name", "calibration"):
        if row.get(key) and not isinstance(row[key], str):
            raise JobError("bad_request", f"{where}: {key} must be text, not {type(row[key]).__name__}.", MANIFEST_HINT)
    clip = _resolve(str(row["clip"]), base)
    start, end = _range(row, where)
    views = row.get("views") or ()
    if isinstance(views, str):
        views = [v for v in (part.strip() for part in views.split(";")) if v]
    if not isinstance(views, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in views):
        raise JobError("bad_request", f"{where}: views must be a list of clips.", MANIFEST_HINT)
    ranged = start != 0 or end != -1
    name = str(row.get("name") or (f"{_stem(clip)}_{start}-{end}" if ranged else _stem(clip)))
    if not re.fullmatch(r"[^/\\:*?\"<>|]+", name) or name.startswith("."):
        raise JobError("bad_request", f"{where}: {name[:80]!r} cannot be a file name.",
                       "Pick a plain name for the result")
    return _Entry(clip=clip, name=name, start=start, end=end, person=_int(row.get("person", -1), "person", where),
                  views=tuple(_resolve(str(v), base) for v in views),
                  calibration=_resolve(str(row["calibration"]), base) if row.get("calibration") else "",
                  options=_options(row, where))


def _options(row: Dict[str, object], where: str) -> Dict[str, Any]:
    """The capture options a manifest row sets (an empty CSV cell sets none), each checked against its declaration."""
    chosen: Dict[str, Any] = {}
    for name in names_of(CaptureOptions):
        value = row.get(name)
        if value is None or value == "":
            continue
        spec = option_of(CaptureOptions, name)
        try:
            if isinstance(value, str) and spec.kind is not str:
                value = spec.parse(value)
            elif spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            spec.check(value)
        except OptionError as exc:
            raise JobError("bad_request", f"{where}: {exc.message}", MANIFEST_HINT) from None
        chosen[name] = value
    return chosen


def _resolve(path: str, base: str) -> str:
    return os.path.abspath(os.path.join(base, os.path.expanduser(path.strip())))


def _range(row: Dict[str, object], where: str) -> Tuple[int, int]:
    if row.get("range") not in (None, ""):
        value = row["range"]
        parts = value if isinstance(value, (list, tuple)) else str(value).split("-")
        if len(parts) != 2:
            raise JobError("bad_request", f"{where}: range {str(value)[:40]!r} is not 'start-end'.", MANIFEST_HINT)
        start, end = _int(parts[0], "range", where), _int(parts[1], "range", where)
    else:
        start, end = _int(row.get("start", 0), "start", where), _int(row.get("end", -1), "end", where)
    if start < 0 or end < -1 or 0 <= end <= start:
        raise JobError("bad_request", f"{where}: the range {start}-{end} holds no frames.",
                       "start is the first frame (0-based), end the frame after the last (-1: to the end)")
    return start, end


def _int(value: object, what: str, where: str) -> int:
    """``value`` as a whole number (an int, or text of one; not a bool, not a fraction)."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return int(str(value).strip())
    raise JobError("bad_request", f"{where}: {what} {str(value)[:40]!r} is not a whole number.", MANIFEST_HINT)


def _unique(entries: Iterable[_Entry]) -> List[BatchItem]:
    """Items with names made unique in order (``name``, ``name_2``, ...), compared without case."""
    used = set()
    items = []
    for entry in entries:
        name, count = entry.name, 1
        while name.lower() in used:
            count += 1
            name = f"{entry.name}_{count}"
        used.add(name.lower())
        items.append(BatchItem(clip=entry.clip, name=name, start=entry.start, end=entry.end, person=entry.person,
                               views=entry.views, calibration=entry.calibration, options=entry.options))
    return items

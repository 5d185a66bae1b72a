"""Checks of a job's options and paths that run before any work (standard library only, cheap).

:data:`OPTIONS` is the one declaration of every numeric option a user can set (its flag, type, default, allowed
range and help): the command line builds its arguments from it and checks them with :func:`check_options`, and
:func:`check_capture_options` applies the same ranges to a capture request from any caller (the command line, the
add-on's worker, a batch task). :func:`check_output_file` / :func:`check_output_folder` make sure a result can be
written where asked, and that it never replaces one of the job's own inputs. Every failure is a
:class:`server.errors.JobError` with code ``bad_request`` (exit code 2) that names the option or file.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from .errors import JobError

Number = Union[int, float]


@dataclass(frozen=True)
class OptionRange:
    """A numeric option: ``flag`` on the command line, ``kind`` int or float, ``low <= value <= high`` (``high``
    None: no upper bound), ``default`` and the command line's ``help``."""

    flag: str
    kind: type
    default: Number
    low: Number
    high: Optional[Number]
    help: str

    def allowed(self) -> str:
        """The allowed values in words, e.g. 'a whole number from 0 to 8'."""
        what = "a whole number" if self.kind is int else "a finite number"
        return f"{what} from {self.low:g} to {self.high:g}" if self.high is not None else f"{what} >= {self.low:g}"


OPTIONS: Dict[str, OptionRange] = {
    "start": OptionRange("--start", int, 0, 0, None, "first video frame, 0-based (default 0)"),
    "end": OptionRange("--end", int, -1, -1, None, "stop before this frame, after --start (default -1: the end)"),
    "iterations": OptionRange("--iterations", int, 0, 0, 20, "refinement quality: outer iterations, 1 to 20 "
                              "(default 0 = the worker's default)"),
    "temporal": OptionRange("--temporal", float, 1.0, 0.0, 2.0, "temporal smoothing strength, 0 to 2 (1 = default, "
                            "0 = off)"),
    "hypotheses": OptionRange("--hypotheses", int, 0, 0, 8, "also store K alternative poses per frame (Diff-HMR), "
                              "0 to 8"),
    "foot_strength": OptionRange("--foot-strength", float, 1.0, 0.0, 3.0, "foot locking strength, 0 to 3 "
                                 "(1 = default)"),
    "strength": OptionRange("--strength", float, 1.0, 0.0, 2.0, "prior and smoothing strength, 0 to 2 "
                            "(1 = default, 0 = unchanged)"),
    "person": OptionRange("--person", int, -1, -1, None, "the person to capture: an id from 'python -m server "
                          "people' over the same range (default -1: the most visible)"),
    "detectors": OptionRange("--detectors", int, 0, 0, 32, "BlazePose processes side by side, up to 32 (default 0: "
                             "one per core, at most 4; 1 = detect in the worker itself)"),
    "workers": OptionRange("--workers", int, 0, 0, 4096, "clips captured at once on this machine (default 0: one "
                           "per core)"),
    "retries": OptionRange("--retries", int, 0, 0, 100, "run a clip again up to K times when its worker process "
                           "dies (default 0: record it as failed)"),
}

# The numeric options of a capture request (server.capture.CaptureRequest, protocol Submit, batch capture options).
CAPTURE_OPTIONS = ("start", "end", "iterations", "temporal", "hypotheses", "foot_strength", "person", "detectors")
RANGE_HINT = "Pick a value in the allowed range."


def _bad(message: str, hint: str = RANGE_HINT) -> JobError:
    return JobError("bad_request", message, hint)


def check_option(name: str, value: Any) -> None:
    """Raise ``bad_request`` unless ``value`` suits the option ``name`` of :data:`OPTIONS` (type, finite, range)."""
    spec = OPTIONS[name]
    whole = isinstance(value, int) and not isinstance(value, bool)   # any size: never converted to a float
    number = whole or (isinstance(value, float) and math.isfinite(value))
    if not number or (spec.kind is int and not (whole or value.is_integer())):
        raise _bad(f"{spec.flag} is {_shown(value)}; it must be {spec.allowed()}.")
    if value < spec.low or (spec.high is not None and value > spec.high):
        raise _bad(f"{spec.flag} is {_shown(value)}; it must be {spec.allowed()}.")


def _shown(value: Any) -> str:
    """``value`` for a message: a float as ``%g``, a huge whole number cut short, anything else as its repr."""
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


def check_range(start: Any, end: Any) -> None:
    """A frame range: ``start`` >= 0 and ``end`` -1 (to the end of the clip) or after ``start``."""
    check_option("start", start)
    check_option("end", end)
    if end != -1 and end <= start:
        raise _bad(f"--end is {end} with --start {start}; it must be -1 (the end of the clip) or a frame after "
                   f"--start.", "Set --end after --start, or leave it out to capture to the end of the clip.")


def check_options(values: Mapping[str, Any]) -> None:
    """Check every option of :data:`OPTIONS` present in ``values`` (``start`` and ``end`` together as a range)."""
    for name, value in values.items():
        if name in OPTIONS and name not in ("start", "end"):
            check_option(name, value)
    if "start" in values or "end" in values:
        check_range(values.get("start", OPTIONS["start"].default), values.get("end", OPTIONS["end"].default))


def check_capture_options(values: Mapping[str, Any]) -> None:
    """The numeric options of a capture (any mapping holding :data:`CAPTURE_OPTIONS`, e.g. ``asdict(request)``);
    raises :class:`JobError` ``bad_request`` naming the option, its value and the allowed range."""
    check_options({name: values[name] for name in CAPTURE_OPTIONS if name in values})


def _identity(path: str) -> Tuple[Optional[str], Optional[Tuple[int, int]]]:
    """(real path, (device, inode)) of ``path``: two paths name one file when either matches (a hard link has its
    own real path). None for what cannot be known: the inode of a missing file, anything of a name no file system
    takes (e.g. a NUL in it)."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None, None
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return real, None
    return real, (info.st_dev, info.st_ino)


def check_not_an_input(output: str, inputs: Iterable[str], flag: str = "-o") -> None:
    """Refuse an ``output`` that is one of the job's ``inputs`` (empty entries are skipped)."""
    check_apart([output], list(inputs), flag)


def probe_writable(folder: str) -> None:
    """Create and remove a file in ``folder`` (``os.access`` says yes to root even on a read-only mount); raise
    ``bad_request`` when that fails."""
    try:
        handle, path = tempfile.mkstemp(prefix=".scorehmr-probe-", dir=folder)
        os.close(handle)
        os.remove(path)
    except OSError as exc:
        raise _bad(f"Cannot write into the folder {folder} ({exc.strerror or exc}).",
                   "Pick an output in a folder you can write to.") from exc


def check_output_file(output: str, inputs: Sequence[str] = (), flag: str = "-o") -> None:
    """``output`` can be written as a result file: not a folder, in an existing folder that can be written to, and
    none of the job's ``inputs``."""
    if not output:
        raise _bad(f"{flag} is empty.", "Give the result's file name.")
    if os.path.isdir(output):
        raise _bad(f"{flag} {output} is a folder, not a file name.",
                   f"Name the result file, e.g. {os.path.join(output, 'result.npz')}.")
    if os.path.exists(output) and not os.path.isfile(output):
        raise _bad(f"{flag} {output} is not a regular file (a device or a pipe); the result would replace it.",
                   "Name a result file.")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.exists(folder):
        raise _bad(f"The folder of {flag} {output} does not exist: {folder}.", "Create the folder first, or pick "
                   "another one.")
    if not os.path.isdir(folder):
        raise _bad(f"{flag} {output} is inside {folder}, which is a file, not a folder.", "Pick another output path.")
    check_not_an_input(output, inputs, flag)
    probe_writable(folder)


def check_output_folder(folder: str, inputs: Sequence[str] = (), flag: str = "-o") -> None:
    """``folder`` can hold results: an existing folder (an input folder of clips too), or a new one under an
    existing folder; writable; none of the input files (the nearest existing folder is probed)."""
    if not folder:
        raise _bad(f"{flag} is empty.", "Give the folder for the results.")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise _bad(f"{flag} {folder} is a file, not a folder.", "Give a folder for the results (made if missing).")
    check_not_an_input(folder, [path for path in inputs if not os.path.isdir(path)], flag)
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise _bad(f"{flag} {folder} is inside {existing}, which is a file, not a folder.",
                   "Pick another output folder.")
    probe_writable(existing)


def check_apart(outputs: Iterable[str], inputs: Sequence[str], flag: str = "The result") -> None:
    """None of the files a job will write (``outputs``, e.g. a batch's results) is one of its ``inputs`` (empty
    entries are skipped; the first input it matches is named). Each path is looked at once, so a batch of
    thousands of clips is checked in moments."""
    first: Dict[object, int] = {}
    for position, path in enumerate(inputs):
        for key in _identity(path) if path else ():
            if key is not None:
                first.setdefault(key, position)
    for output in outputs:
        matches = [first[key] for key in _identity(output) if key is not None and key in first]
        if matches:
            raise _bad(f"{flag} {output} is the input file {inputs[min(matches)]}: writing the result would "
                       "replace it.", "Give the result a new file name; the inputs are never overwritten.")

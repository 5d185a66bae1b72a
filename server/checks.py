"""Checks of a job's inputs and paths that run before any work (standard library only, cheap).

The options of each job kind (capture, clean-up, people) are declared and checked in :mod:`server.options`.
:data:`OPTIONS` declares the numbers a job takes beside them (frame range, person, BlazePose processes, a batch's
workers and retries) as :class:`server.options.Option` s too: the command line builds its arguments from it and
checks them with :func:`check_options`, and :func:`check_capture_options` applies the same ranges to a capture
request from any caller (the command line, the add-on's worker, a batch task). :func:`check_output_file` /
:func:`check_output_folder` make sure a result can be written where asked, and that it never replaces one of the
job's own inputs. Every failure is a :class:`server.errors.JobError` with code ``bad_request`` (exit code 2) that
names the option or file.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from .errors import JobError
from .options import RANGE_HINT, Option, OptionError


def _number(name: str, kind: type, default: int, low: int, high: Optional[int], help: str) -> Option:
    return Option(name=name, kind=kind, default=default, help=help, label=name.title(), low=low, high=high)


OPTIONS: Dict[str, Option] = {spec.name: spec for spec in (
    _number("start", int, 0, 0, None, "first video frame, 0-based (default 0)"),
    _number("end", int, -1, -1, None, "stop before this frame, after --start (default -1: the end)"),
    _number("person", int, -1, -1, None, "the person to capture: an id from 'python -m server people' over the same "
            "range (default -1: the most visible)"),
    _number("detectors", int, 0, 0, 32, "BlazePose processes side by side, up to 32 (default 0: one per core, at "
            "most 4; 1 = detect in the worker itself)"),
    _number("workers", int, 0, 0, 4096, "clips captured at once on this machine (default 0: one per core)"),
    _number("retries", int, 0, 0, 100, "run a clip again up to K times when its worker process dies (default 0: "
            "record it as failed)"),
)}

# The numbers of a capture request beside its options (server.jobs.capture.CaptureRequest).
CAPTURE_OPTIONS = ("start", "end", "person", "detectors")


def _bad(message: str, hint: str = RANGE_HINT) -> JobError:
    return JobError("bad_request", message, hint)


def check_option(name: str, value: Any) -> None:
    """Raise ``bad_request`` unless ``value`` suits the option ``name`` of :data:`OPTIONS` (type, finite, range)."""
    try:
        OPTIONS[name].check(value)
    except OptionError as exc:
        raise _bad(exc.message, exc.hint) from None


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
    """The numbers of a capture beside its options (any mapping holding :data:`CAPTURE_OPTIONS`, e.g.
    ``vars(request)``); raises :class:`JobError` ``bad_request`` naming the option, its value and the allowed
    range."""
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

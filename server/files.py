"""Reading and writing user files safely: a write goes to a temporary file beside its target, then one rename
replaces the old file (result files, the people listing, the batch index), so a reader never sees half of it; a
read of a user's ``.npz`` turns any damage (empty, truncated, not a zip, pickled arrays) into a
:class:`~server.errors.JobError` that says in words what is wrong with which file."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import zipfile
import zlib
from typing import Any, Dict, Iterable, Iterator, Optional

import numpy as np

from .errors import JobError

log = logging.getLogger(__name__)

NPY_MAGIC = b"\x93NUMPY"
PICKLE_MAGIC = b"\x80"
NUMBER_KINDS = "fiub"        # numpy dtype kinds read as numbers: float, signed, unsigned, bool
_KIND_WORDS = {"U": "text", "S": "text (bytes)", "O": "Python objects", "c": "complex numbers",
               "V": "records (a structured array)", "M": "dates", "m": "time spans"}


@contextlib.contextmanager
def replaced_atomically(path: str, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path`` (hidden, ending in ``.partial`` + ``suffix``) for the block to write; when
    the block ends without an error it replaces ``path`` in one rename, otherwise it is removed and ``path`` is left
    as it was. The folder is made if missing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = partial_path(path, suffix)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def partial_path(path: str, suffix: str = "") -> str:
    """The temporary file beside ``path`` that :func:`replaced_atomically` writes first (hidden, this process's id,
    ``.partial`` + ``suffix``). Its name is longer than ``path``'s own, so where it can be made, so can ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial{suffix}")


def write_json(path: str, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` atomically; NaN or infinite numbers are refused before anything is
    written (JobError ``internal``: strict JSON has no such numbers, and a listing never needs them)."""
    try:
        text = json.dumps(payload, indent=1, allow_nan=False)
    except ValueError as exc:
        raise JobError("internal", f"Nothing was written to {path}: the data holds NaN or infinite numbers.",
                       "This is a bug; please report it with the log.") from exc
    with replaced_atomically(path) as partial, open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)


def kind_problem(value: Any) -> Optional[str]:
    """None when ``value`` is an array of numbers (float, integer or bool); else what it holds, in words
    ("text", "Python objects", "complex numbers", ...)."""
    dtype = np.asarray(value).dtype
    return None if dtype.kind in NUMBER_KINDS else _KIND_WORDS.get(dtype.kind, f"values of type {dtype}")


class NpzUnreadable(ValueError):
    """Why a file is not a readable ``.npz`` archive of plain arrays: a short phrase (``missing``, ``empty (0
    bytes)``, ``not a zip archive: ...``)."""


def _file_problem(path: str) -> Optional[str]:
    """What makes ``path`` not even an ``.npz`` archive (missing, empty, a lone .npy, a pickle, not a zip)."""
    if not os.path.exists(path):
        return "missing"
    if os.path.isdir(path):
        return "a folder, not a file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        return f"unreadable ({exc.strerror or type(exc).__name__})"
    if not head:
        return "empty (0 bytes)"
    if head.startswith(NPY_MAGIC):
        return "a single numpy array (.npy), not an .npz archive of named arrays"
    if head.startswith(PICKLE_MAGIC):
        return "a Python pickle, not an .npz archive (pickles are never loaded: they can run code)"
    if not zipfile.is_zipfile(path):
        return "not a zip archive (another kind of file, or one cut short while being copied)"
    return None


def load_npz(path: str, keys: Optional[Iterable[str]] = None) -> Dict[str, np.ndarray]:
    """Every array (or only ``keys``, the others untouched) of the ``.npz`` at ``path``, read without pickles.

    Raises :class:`NpzUnreadable` saying what is wrong in a short phrase; the original error is logged at
    debug level."""
    problem = _file_problem(path)
    if problem is not None:
        raise NpzUnreadable(problem)
    wanted = None if keys is None else set(keys)
    arrays: Dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if wanted is None or key in wanted:
                    arrays[key] = _member(data, key)
    except NpzUnreadable:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError) as exc:
        log.debug("reading %s failed", path, exc_info=True)
        raise NpzUnreadable("a damaged zip archive (cut short, or changed after it was written)") from exc
    return arrays


def _member(data: Any, key: str) -> np.ndarray:
    """One array of an open ``NpzFile``; pickled (object) arrays and damaged members raise NpzUnreadable."""
    try:
        return np.asarray(data[key])
    except ValueError as exc:
        log.debug("array %r: %s", key, exc, exc_info=True)
        if "pickle" in str(exc).lower():
            raise NpzUnreadable(f"its '{key}' array holds Python objects (a pickle), which are never loaded: "
                                "they can run code") from exc
        raise NpzUnreadable(f"its '{key}' array is damaged or cut short") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as exc:
        log.debug("array %r: %s", key, exc, exc_info=True)
        raise NpzUnreadable(f"its '{key}' array is damaged or cut short") from exc


def read_npz(path: str, what: str, code: str, hint: str, keys: Optional[Iterable[str]] = None,
             name: Optional[str] = None) -> Dict[str, np.ndarray]:
    """:func:`load_npz` for a user's file: any problem -> JobError ``code`` naming the file (``what``, e.g.
    "motion file", and ``name``, default the path) and what is wrong, with ``hint`` ("Check the path." when
    the file does not exist)."""
    label = path if name is None else name
    try:
        return load_npz(path, keys)
    except NpzUnreadable as exc:
        if str(exc) == "missing":
            raise JobError(code, f"The {what} {label} does not exist.", "Check the path.") from exc
        raise JobError(code, f"The {what} {label} is not a readable .npz file: {exc}.", hint) from exc

"""Writing a file so that a reader never sees half of it: the new content goes to a temporary file beside it, then
one rename replaces the old file (result files, the people listing, the batch index)."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def replaced_atomically(path: str, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path`` (hidden, ending in ``.partial`` + ``suffix``) for the block to write; when
    the block ends without an error it replaces ``path`` in one rename, otherwise it is removed and ``path`` is left
    as it was. The folder is made if missing."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial{suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)

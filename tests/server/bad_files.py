"""Damaged versions of a user's ``.npz`` file for the readers' tests: whatever the damage, a reader must answer
with its domain error (a message naming the file, a hint), never a raw exception."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Dict, Iterator, Tuple

import numpy as np

# (label, what the message says): the container damage every .npz reader is fed
CONTAINER_DAMAGE = (("empty", "empty"), ("random", "not a zip"), ("text", "not a zip"), ("truncated", "not a zip"),
                    ("npy", "single numpy array"), ("pickle", "pickle"), ("object_array", "Python objects"))


def damaged_containers(folder: Path, good: Dict[str, np.ndarray]) -> Iterator[Tuple[str, Path, str]]:
    """(label, path, words the error message holds) for each container damage of a file that, undamaged, holds
    ``good``'s arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    for label, words in CONTAINER_DAMAGE:
        path = folder / f"{label}.npz"
        if label == "empty":
            path.write_bytes(b"")
        elif label == "random":
            path.write_bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes())
        elif label == "text":
            path.write_text("hello, I am not an .npz file\n")
        elif label == "truncated":
            np.savez(path, **good)
            whole = path.read_bytes()
            path.write_bytes(whole[: len(whole) // 2])
        elif label == "npy":
            with open(path, "wb") as handle:
                np.save(handle, np.zeros(3))
        elif label == "pickle":
            with open(path, "wb") as handle:
                pickle.dump({k: np.asarray(v).tolist() for k, v in good.items()}, handle)
        else:
            first = next(iter(good))
            np.savez(path, **{**good, first: np.array([{"a": 1}, None], dtype=object)})
        yield label, path, words


def with_arrays(folder: Path, label: str, **arrays: np.ndarray) -> Path:
    """A well-formed .npz holding ``arrays`` (wrong types and shapes are the test's business)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.npz"
    np.savez(path, **arrays)
    return path


def unchanged(path: Path) -> bytes:
    """The bytes of ``path`` (b"" when missing), to compare before and after a refused job."""
    return path.read_bytes() if os.path.exists(path) else b""

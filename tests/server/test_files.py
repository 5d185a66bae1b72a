"""The safe file helpers: the .npz reader answers every damage with a short phrase or a JobError naming the file,
and the JSON writer refuses NaN before anything is written."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from server.errors import JobError
from server.files import NpzUnreadable, kind_problem, load_npz, read_npz, write_json

from .bad_files import damaged_containers

GOOD = {"poses": np.zeros((3, 24, 3), np.float32), "fps": np.float32(30.0)}


def test_reads_plain_arrays_and_only_the_keys_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, **GOOD, meta=np.array([None], dtype=object))
    arrays = load_npz(str(path), keys=("poses", "fps"))
    assert sorted(arrays) == ["fps", "poses"] and arrays["poses"].shape == (3, 24, 3)


@pytest.mark.parametrize("label", ["empty", "random", "text", "truncated", "npy", "pickle", "object_array"])
def test_every_damage_is_a_phrase_and_a_job_error(tmp_path: Path, label: str) -> None:
    found = {name: (path, words) for name, path, words in damaged_containers(tmp_path, GOOD)}
    path, words = found[label]
    with pytest.raises(NpzUnreadable, match=words):
        load_npz(str(path))
    with pytest.raises(JobError) as info:
        read_npz(str(path), "motion file", "bad_request", "Use a motion file.")
    error = info.value
    assert error.code == "bad_request" and error.hint == "Use a motion file." and str(path) in error.message
    assert words in error.message and "allow_pickle" not in error.message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="does not exist") as info:
        read_npz(str(tmp_path / "none.npz"), "mask file", "bad_request", "hint")
    assert info.value.hint == "Check the path."
    with pytest.raises(NpzUnreadable, match="folder"):
        load_npz(str(tmp_path))


@pytest.mark.parametrize("value, words", [
    (np.zeros(3), None), (np.arange(3), None), (np.array([True]), None), (np.array(["a"]), "text"),
    (np.array([b"a"]), "text"), (np.zeros(2, complex), "complex"), (np.zeros(2, dtype=[("a", "f4")]), "records"),
    (np.array([None], dtype=object), "Python objects"),
])
def test_kind_problem_names_what_is_held(value: np.ndarray, words) -> None:
    problem = kind_problem(value)
    assert problem is None if words is None else words in problem


def test_write_json_refuses_nan_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    write_json(str(path), {"a": [1.0, 2.0]})
    before = path.read_bytes()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(JobError) as info:
            write_json(str(path), {"a": [bad]})
        assert info.value.code == "internal" and info.value.hint and "NaN" in info.value.message
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["people.json"]

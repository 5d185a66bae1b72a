"""The result file module: the atomic write and the check a batch trusts before keeping a result."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from server.result import RESULT_SCHEMA_VERSION, ResultFileError, check_result, read_result, write_result


def minimal_result(frames: int = 5, source_video: str = "", frame_range=None) -> Dict[str, np.ndarray]:
    """The required keys of a result file for ``frames`` frames of a 24-joint body."""
    arrays = {"schema_version": np.int32(RESULT_SCHEMA_VERSION), "poses": np.zeros((frames, 24, 3), np.float32),
              "transl": np.zeros((frames, 3), np.float32), "joints_rest": np.zeros((24, 3), np.float32),
              "parents": np.arange(-1, 23, dtype=np.int32), "joint_names": np.array([f"j{k}" for k in range(24)]),
              "fps": np.float32(30.0), "frame_indices": np.arange(frames, dtype=np.int32),
              "source_video": np.array(source_video)}
    if frame_range is not None:
        arrays["frame_range"] = np.array(frame_range, np.int32)
    return arrays


def test_written_result_checks_out_and_leaves_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "out" / "clip.npz"
    write_result(str(path), minimal_result())
    assert check_result(str(path)) is None
    assert os.listdir(path.parent) == ["clip.npz"]
    arrays = read_result(str(path))
    assert arrays["poses"].shape == (5, 24, 3) and float(arrays["fps"]) == 30.0
    with pytest.raises(ResultFileError, match="missing"):
        read_result(str(path.parent / "other.npz"))


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad"):
        write_result(str(tmp_path / "clip.npz"), {"poses": np.zeros(3), "bad": np.array([object()], dtype=object)})
    assert os.listdir(tmp_path) == []


def test_write_killed_midway_leaves_the_old_file_and_no_partial(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "clip.npz"
    write_result(str(path), minimal_result(3))

    def half_then_fail(target, **arrays):
        Path(target).write_bytes(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", half_then_fail)
    with pytest.raises(OSError):
        write_result(str(path), minimal_result(5))
    assert os.listdir(tmp_path) == ["clip.npz"] and check_result(str(path)) is None


@pytest.mark.parametrize("damage, phrase", [
    ("truncate", "unreadable"),
    ("missing_key", "missing transl"),
    ("shapes", "inconsistent shapes"),
    ("schema", "schema_version 99"),
    ("nan", "non-finite"),
    ("no_frames", "no frames"),
])
def test_check_finds_damaged_results(tmp_path: Path, damage: str, phrase: str) -> None:
    path = tmp_path / "clip.npz"
    arrays = minimal_result(0 if damage == "no_frames" else 5)
    if damage == "missing_key":
        del arrays["transl"]
    elif damage == "shapes":
        arrays["poses"] = np.zeros((4, 24, 3), np.float32)
    elif damage == "schema":
        arrays["schema_version"] = np.int32(99)
    elif damage == "nan":
        arrays["poses"][2, 3, 1] = np.nan
    np.savez_compressed(path, **arrays)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    problem = check_result(str(path))
    assert problem is not None and phrase in problem


def test_check_refuses_pickles_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "clip.npz"
    arrays = minimal_result()
    arrays["joint_names"] = np.array([{"a": 1}] * 24, dtype=object)
    np.savez(path, **arrays)
    assert "unreadable" in check_result(str(path))
    assert check_result(str(tmp_path / "none.npz")) == "missing"

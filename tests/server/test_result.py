"""The result file module: the atomic write (never of NaN or infinite values), and the check a batch trusts before
keeping a result (any damage or wrong kind of array is a ResultFileError, a JobError with a hint)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from server.errors import JobError
from server.result import (RESULT_SCHEMA_VERSION, ResultFile, ResultFileError, check_result, read_result,
                           write_result)

from .bad_files import CONTAINER_DAMAGE, damaged_containers


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


@pytest.mark.parametrize("key, value", [
    ("poses", np.nan), ("transl", np.inf), ("fps", -np.inf), ("extra", np.nan),
])
def test_non_finite_results_are_never_written(tmp_path: Path, key: str, value: float) -> None:
    path = tmp_path / "clip.npz"
    write_result(str(path), minimal_result(3))
    before = path.read_bytes()
    arrays = minimal_result(3)
    if key == "fps":
        arrays["fps"] = np.float32(value)
    elif key == "extra":
        arrays["ambiguity"] = np.array([0.1, value, 0.2], np.float32)
    else:
        arrays[key] = arrays[key].copy()
        arrays[key][1, 0] = value
    with pytest.raises(JobError) as info:
        write_result(str(path), arrays)
    error = info.value
    wanted = "ambiguity" if key == "extra" else key
    assert error.code == "internal" and error.hint and f"'{wanted}'" in error.message
    assert "NaN or infinite" in error.message and "Nothing was written" in error.message
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["clip.npz"]


def test_refused_result_makes_no_folder(tmp_path: Path) -> None:
    arrays = minimal_result(2)
    arrays["transl"] = np.full((2, 3), np.nan, np.float32)
    with pytest.raises(JobError):
        write_result(str(tmp_path / "new" / "clip.npz"), arrays)
    assert os.listdir(tmp_path) == []


def _damaged_result(arrays: Dict[str, np.ndarray], damage: str) -> Dict[str, np.ndarray]:
    """``arrays`` with one array of the wrong kind."""
    changes = {
        "poses_text": {"poses": np.full((5, 24, 3), "x")},
        "fps_text": {"fps": np.array("thirty")},
        "fps_list": {"fps": np.array([30.0, 25.0], np.float32)},
        "schema_text": {"schema_version": np.array("two")},
        "schema_nan": {"schema_version": np.float32(np.nan)},
        "parents_complex": {"parents": np.zeros(24, complex)},
        "names_numbers": {"joint_names": np.arange(24)},
        "frames_record": {"frame_indices": np.zeros(5, dtype=[("a", "i4")])},
        "extra_nan": {"ambiguity": np.array([np.nan], np.float32)},
        "parents_loop": {"parents": np.r_[-1, np.arange(2, 25)].astype(np.int32)},
    }
    return {**arrays, **changes[damage]}


@pytest.mark.parametrize("damage, phrase", [
    ("poses_text", "'poses' holds text"), ("fps_text", "'fps' holds text"), ("fps_list", "'fps' is 2 values"),
    ("schema_text", "'schema_version' holds text"), ("schema_nan", "schema_version nan"),
    ("parents_complex", "'parents' holds complex"), ("names_numbers", "'joint_names' is not text"),
    ("frames_record", "'frame_indices' holds records"), ("extra_nan", "non-finite values in ambiguity"),
    ("parents_loop", "parents do not form a skeleton"),
])
def test_wrong_kinds_are_result_file_errors(tmp_path: Path, damage: str, phrase: str) -> None:
    path = tmp_path / "clip.npz"
    np.savez(path, **_damaged_result(minimal_result(), damage))
    with pytest.raises(ResultFileError) as info:
        read_result(str(path))
    error = info.value
    assert phrase in str(error) and isinstance(error, JobError) and error.code == "bad_request" and error.hint
    assert str(path) in error.message and phrase in error.message


@pytest.mark.parametrize("label", [c[0] for c in CONTAINER_DAMAGE])
def test_damaged_containers_are_unreadable_results(tmp_path: Path, label: str) -> None:
    found = {name: (path, words) for name, path, words in damaged_containers(tmp_path, minimal_result())}
    path, words = found[label]
    problem = check_result(str(path))
    assert problem is not None and problem.startswith("unreadable") and words in problem


def test_result_file_round_trip_keeps_every_key(tmp_path: Path) -> None:
    """ResultFile: the schema's keys as fields, any other key in ``extra``, written and read back unchanged."""
    arrays = {**minimal_result(4, "/clip.mp4", (10, 14)), "ground": np.array([0, 1, 0, 0.5], np.float32),
              "a_key_of_tomorrow": np.arange(3)}
    result = ResultFile.from_arrays(arrays)
    assert result.ground is not None and result.extra.keys() == {"a_key_of_tomorrow"} and result.betas is None
    path = str(tmp_path / "r.npz")
    result.write(path)
    again = ResultFile.read(path)
    assert again.to_arrays().keys() == arrays.keys()
    assert all(np.array_equal(again.to_arrays()[k], np.asarray(v)) for k, v in arrays.items())
    assert [int(v) for v in again.frame_range] == [10, 14] and str(again.source_video) == "/clip.mp4"


def test_a_job_cannot_write_an_invalid_result(tmp_path: Path) -> None:
    """A writer's arrays are checked as a reader checks them; a failure is the job's (internal), nothing written."""
    path = tmp_path / "r.npz"
    bad = {k: v for k, v in minimal_result().items() if k != "joints_rest"}
    with pytest.raises(JobError) as raised:
        ResultFile.made(bad, str(path))
    assert raised.value.code == "internal" and "joints_rest" in raised.value.message and not path.exists()
    nan = {**minimal_result(), "transl": np.full((5, 3), np.nan, np.float32)}
    with pytest.raises(JobError, match="'transl'"):
        ResultFile.made(nan, str(path))
    with pytest.raises(ResultFileError, match="missing joints_rest"):
        ResultFile.from_arrays(bad, "reader.npz")


def test_a_turning_cameras_keys_are_checked() -> None:
    """camera_rotation (N, 3, 3) rotations and camera_confidence (N,) come together, one per frame."""
    turn = np.stack([np.eye(3, dtype=np.float32)] * 5)
    good = {**minimal_result(), "camera_rotation": turn, "camera_confidence": np.ones(5, np.float32)}
    assert ResultFile.from_arrays(good).camera_rotation is not None
    for damage, phrase in (({"camera_confidence": None}, "come together"),
                           ({"camera_rotation": turn[:4]}, "not one per frame"),
                           ({"camera_rotation": turn * 2.0}, "not rotations"),
                           ({"camera_rotation": turn * np.array([1, 1, -1], np.float32)}, "not rotations")):
        arrays = {k: v for k, v in {**good, **damage}.items() if v is not None}
        with pytest.raises(ResultFileError, match=phrase):
            ResultFile.from_arrays(arrays)


def test_the_fingers_confidence_is_checked() -> None:
    """hand_confidence (N, 2) in [0, 1]: one number per frame and hand."""
    good = {**minimal_result(), "hand_confidence": np.full((5, 2), 0.5, np.float32)}
    assert ResultFile.from_arrays(good).hand_confidence is not None
    for damage, phrase in ((np.full((4, 2), 0.5, np.float32), "not one number per frame and hand"),
                           (np.full((5, 3), 0.5, np.float32), "not one number per frame and hand"),
                           (np.full((5, 2), 1.5, np.float32), r"outside \[0, 1\]"),
                           (np.array([["a", "b"]] * 5), "not one number")):
        with pytest.raises(ResultFileError, match=phrase):
            ResultFile.from_arrays({**good, "hand_confidence": damage})


def _with_sliders(frames: int = 5, vertices: int = 7, joints: int = 24) -> Dict[str, np.ndarray]:
    arrays = minimal_result(frames)
    arrays.update(mesh_vertices=np.zeros((vertices, 3), np.float32), mesh_faces=np.zeros((1, 3), np.int32),
                  skin_weights=np.full((vertices, joints), 1.0 / joints, np.float32),
                  shape_sliders=np.array(["gender", "height", "weight", "muscle"]),
                  shape_values=np.array([0.2, 1.8, 0.5, 0.5], np.float32),
                  shape_vertex_dirs=np.zeros((4, vertices, 3), np.float32),
                  shape_joint_dirs=np.zeros((4, joints, 3), np.float32))
    return arrays


@pytest.mark.parametrize("damage, problem", [
    (None, None),
    ("partial", "come together"),
    ("no_mesh", "come together"),
    ("joints", "do not match"),
    ("values", "one number of shape_values each"),
])
def test_body_shape_sliders_are_checked(damage, problem) -> None:
    from server.result import result_problem
    arrays = _with_sliders()
    if damage == "partial":
        del arrays["shape_joint_dirs"]
    elif damage == "no_mesh":
        del arrays["mesh_vertices"]
    elif damage == "joints":
        arrays["shape_joint_dirs"] = np.zeros((4, 54, 3), np.float32)
    elif damage == "values":
        arrays["shape_values"] = np.zeros(3, np.float32)
    got = result_problem(arrays)
    assert (got is None) if problem is None else (problem in got)
    if problem is None:
        assert ResultFile.from_arrays(arrays).shape_sliders.tolist() == ["gender", "height", "weight", "muscle"]

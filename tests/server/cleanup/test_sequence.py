"""Reading and writing cleanup sequences: any damaged or wrong-kind motion or mask file is a bad_request naming the
file and the array, with a hint; nothing with NaN is written; bad options are refused before any file is read."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from server.cleanup.sequence import load_mask, load_sequence, make_sequence, read_arrays, save_sequence
from server.cleanup.settings import CleanupSettings
from server.jobs.cleanup import cleanup_settings, run_cleanup
from server.options import CleanupOptions
from server.errors import JobError
from server.result import RESULT_SCHEMA_VERSION, read_result

from ..bad_files import CONTAINER_DAMAGE, damaged_containers, with_arrays

N = 4


def motion(**override: np.ndarray) -> Dict[str, np.ndarray]:
    """A small valid motion file's arrays with ``override`` applied."""
    arrays = {"poses": np.zeros((N, 24, 3), np.float32), "transl": np.zeros((N, 3), np.float32),
              "betas": np.zeros(10, np.float32), "fps": np.float32(30.0)}
    arrays.update(override)
    return arrays


def _refused(call, *args) -> JobError:
    with pytest.raises(JobError) as info:
        call(*args)
    assert info.value.code == "bad_request" and info.value.hint
    return info.value


@pytest.mark.parametrize("label", [c[0] for c in CONTAINER_DAMAGE])
def test_damaged_motion_and_mask_files(tmp_path: Path, label: str) -> None:
    found = {name: (path, words) for name, path, words in damaged_containers(tmp_path, motion())}
    path, words = found[label]
    for call, what in ((load_sequence, "motion file"), (read_arrays, "motion file"),
                       (lambda p: load_mask(p, N), "mask file")):
        error = _refused(call, str(path))
        assert f"The {what} {path}" in error.message and words in error.message


@pytest.mark.parametrize("override, words", [
    ({"poses": np.full((N, 24, 3), "x")}, "'poses' holds text"),
    ({"poses": np.zeros((N, 24, 3), complex)}, "'poses' holds complex numbers"),
    ({"poses": np.zeros(N, dtype=[("a", "f4")])}, "'poses' holds records"),
    ({"poses": np.zeros((N, 23, 3), np.float32)}, "poses must be (N, 24, 3)"),
    ({"poses": np.full((N, 24, 3), np.nan, np.float32)}, "every frame has NaN"),
    ({"fps": np.array("thirty")}, "'fps' holds text"),
    ({"fps": np.array([30.0, 25.0])}, "'fps' must be one number"),
    ({"fps": np.float32(np.inf)}, "fps must be positive"),
    ({"betas": np.array(["a"] * 10)}, "'betas' holds text"),
    ({"betas": np.zeros((N, 10))}, "betas must be one body shape"),
    ({"betas": np.full(10, np.nan)}, "betas contain NaN"),
    ({"transl": np.full((N, 3), "x")}, "'transl' holds text"),
    ({"transl": np.zeros((N, 2))}, "transl must be"),
    ({"root_frame": np.array([1, 2])}, "'root_frame' must be the text"),
    ({"confidence": np.full(N, "x")}, "'confidence' holds text"),
    ({"confidence": np.zeros((N, 5))}, "'confidence' must be"),
])
def test_wrong_kinds_in_a_motion_file(tmp_path: Path, override: Dict[str, np.ndarray], words: str) -> None:
    path = with_arrays(tmp_path, "m", **motion(**override))
    error = _refused(load_sequence, str(path))
    assert words in error.message and str(path) in error.message


@pytest.mark.parametrize("arrays, words", [
    ({"weights": np.ones(24)}, "neither 'confidence' nor 'joints'"),
    ({"confidence": np.array(["high"] * 24)}, "'confidence' holds text"),
    ({"confidence": np.ones((N, 7))}, "'confidence' must be"),
    ({"joints": np.arange(3)}, "'joints' must be SMPL joint names"),
    ({"joints": np.array(["left_knee", "tail"])}, "unknown joints"),
])
def test_wrong_kinds_in_a_mask_file(tmp_path: Path, arrays: Dict[str, np.ndarray], words: str) -> None:
    path = with_arrays(tmp_path, "mask", **arrays)
    error = _refused(load_mask, str(path), N)
    assert words in error.message and str(path) in error.message


def test_arrays_copied_into_the_result_must_be_finite(tmp_path: Path) -> None:
    path = with_arrays(tmp_path, "m", **motion(ambiguity=np.array([0.1, np.nan], np.float32)))
    assert "'ambiguity' holds NaN" in _refused(read_arrays, str(path)).message
    path = with_arrays(tmp_path, "m2", **motion(poses=np.where(np.arange(24)[:, None] == 3, np.nan,
                                                               np.zeros((N, 24, 3), np.float32))))
    assert "poses" in read_arrays(str(path))   # the sequence's own arrays are completed, not copied


def test_saved_sequence_fixes_unusable_bookkeeping_and_never_holds_nan(tmp_path: Path) -> None:
    seq = make_sequence(np.zeros((N, 24, 3)), np.zeros((N, 3)), np.zeros(10), 30.0)
    like = {"schema_version": np.array("two"), "frame_indices": np.array("0..3"), "joints_rest": np.zeros((24, 3)),
            "parents": np.arange(-1, 23), "joint_names": np.array([f"j{k}" for k in range(24)])}
    out = tmp_path / "out.npz"
    save_sequence(out, seq, like=like)
    arrays = read_result(str(out))
    assert int(arrays["schema_version"]) == RESULT_SCHEMA_VERSION and arrays["frame_indices"].tolist() == list(range(N))
    before = out.read_bytes()
    with pytest.raises(JobError) as info:
        save_sequence(out, replace(seq, transl=np.full((N, 3), np.nan, np.float32)), like=like)
    assert info.value.code == "internal" and "'transl'" in info.value.message
    assert out.read_bytes() == before and os.listdir(tmp_path) == ["out.npz"]


def test_settings_from_options() -> None:
    """The job's settings follow its options (validated when built: tests/server/test_options.py); method auto is
    the benchmark's best."""
    assert cleanup_settings(CleanupOptions(strength=0.0)).strength == 0.0
    assert cleanup_settings(CleanupOptions(strength=2.0, method="guided")).method == "guided"
    assert cleanup_settings(CleanupOptions()).method == CleanupSettings().method
    assert cleanup_settings(CleanupOptions(keep_root=True)).keep_root


def test_a_motion_with_fingers_is_cleaned_on_its_body_and_keeps_its_fingers(tmp_path: Path) -> None:
    """A 54-joint capture (SMPL's 24 then 30 finger joints): the clean-up sees the 24, the file keeps the fingers."""
    rng = np.random.default_rng(2)
    poses = (0.1 * rng.normal(size=(N, 54, 3))).astype(np.float32)
    path = with_arrays(tmp_path, "fingers", **motion(poses=poses))
    seq = load_sequence(path)
    assert seq.poses.shape == (N, 24, 3) and np.allclose(seq.poses, poses[:, :24])
    cleaned = replace(seq, poses=seq.poses + 0.05)
    out = tmp_path / "cleaned.npz"
    save_sequence(out, cleaned, like=read_arrays(path))
    with np.load(out) as data:
        written = data["poses"]
    assert written.shape == (N, 54, 3)
    assert np.array_equal(written[:, 24:], poses[:, 24:])                    # the fingers as they were
    assert np.allclose(written[:, :22], poses[:, :22] + 0.05)               # the body cleaned
    assert not written[:, 22:24].any()                                      # SMPL's hand joints at rest

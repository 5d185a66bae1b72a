"""Keypoints files: valid layouts load; every malformed input is a bad_keypoints error naming the problem."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.errors import EXIT_CODES, JobError
from server.detection.keypoints_file import MIN_LANDMARKS, load_keypoints, save_keypoints

from ..bad_files import CONTAINER_DAMAGE, damaged_containers


def _keypoints(n: int = 5, views: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, 33, 3) if views == 0 else (views, n, 33, 3)
    kp = rng.uniform(100, 500, shape).astype(np.float32)
    kp[..., 2] = rng.uniform(0.6, 1.0, shape[:-1])
    return kp


def _write(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def _error(path: str) -> JobError:
    with pytest.raises(JobError) as info:
        load_keypoints(path)
    assert info.value.code == "bad_keypoints" and info.value.exit_code == EXIT_CODES["bad_keypoints"]
    return info.value


def test_single_view_defaults(tmp_path: Path) -> None:
    kps = load_keypoints(_write(tmp_path / "k.npz", keypoints=_keypoints(), image_size=np.array([640, 480])))
    assert kps.keypoints.shape == (1, 5, 33, 3) and kps.world is None
    assert kps.focal.tolist() == [640.0] and kps.fps == 30.0 and kps.frame_indices.tolist() == [0, 1, 2, 3, 4]


def test_round_trip_multiview_with_world(tmp_path: Path) -> None:
    kp, world = _keypoints(4, views=3), np.zeros((3, 4, 33, 4), np.float32)
    save_keypoints(str(tmp_path / "k.npz"), kp, np.array([[640, 480]] * 3), world=world[..., :3], focal=[500, 600, 700],
                   fps=25.0, frame_indices=np.array([10, 11, 12, 13]))
    kps = load_keypoints(str(tmp_path / "k.npz"))
    assert kps.num_views == 3 and kps.num_frames == 4 and kps.world.shape == (3, 4, 33, 3)
    assert kps.focal.tolist() == [500, 600, 700] and kps.fps == 25.0 and kps.frame_indices.tolist() == [10, 11, 12, 13]
    np.testing.assert_allclose(kps.keypoints, kp)


def test_capture_result_is_a_keypoints_file(tmp_path: Path) -> None:
    k = np.array([[900.0, 0, 320], [0, 900, 240], [0, 0, 1]])
    kps = load_keypoints(_write(tmp_path / "r.npz", keypoints_2d=_keypoints(), image_size=np.array([640, 480]),
                                camera_intrinsics=k, world_landmarks=np.zeros((5, 33, 4))))
    assert kps.focal.tolist() == [900.0] and kps.world.shape == (1, 5, 33, 3)


@pytest.mark.parametrize("arrays, words", [
    ({"image_size": np.array([640, 480])}, "no 'keypoints'"),
    ({"keypoints": _keypoints()}, "no 'image_size'"),
    ({"keypoints": _keypoints()[:, :17], "image_size": np.array([640, 480])}, "(N, 33, 3)"),
    ({"keypoints": _keypoints()[..., :2], "image_size": np.array([640, 480])}, "(N, 33, 3)"),
    ({"keypoints": _keypoints(), "image_size": np.array([640, 480, 3])}, "image_size"),
    ({"keypoints": _keypoints(), "image_size": np.array([0, 480])}, "positive"),
    ({"keypoints": _keypoints(), "image_size": np.array([640, 480]), "focal": np.float32(-1)}, "focal"),
    ({"keypoints": _keypoints() * np.array([1, 1, 100], np.float32), "image_size": np.array([640, 480])}, "0..1"),
    ({"keypoints": _keypoints(), "image_size": np.array([640, 480]),
      "world_landmarks": np.zeros((4, 33, 3))}, "world_landmarks"),
    ({"keypoints": _keypoints(), "image_size": np.array([640, 480]), "frame_indices": np.arange(3)}, "frame_indices"),
    ({"keypoints": np.zeros((0, 33, 3)), "image_size": np.array([640, 480])}, "no frames"),
])
def test_malformed_files(tmp_path: Path, arrays: dict, words: str) -> None:
    assert words in _error(_write(tmp_path / "k.npz", **arrays)).message


def test_all_zero_confidence(tmp_path: Path) -> None:
    kp = _keypoints()
    kp[..., 2] = 0.0
    error = _error(_write(tmp_path / "k.npz", keypoints=kp, image_size=np.array([640, 480])))
    assert "all-zero confidence" in error.message


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    assert "does not exist" in _error(str(tmp_path / "none.npz")).message
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert "not a readable" in _error(str(tmp_path / "bad.npz")).message


def test_nan_landmarks_become_missing_and_empty_frames_are_dropped(tmp_path: Path) -> None:
    kp = _keypoints(4)
    kp[0, 3, 0] = np.nan                      # one landmark: treated as missing
    kp[2, :33 - MIN_LANDMARKS + 1, 2] = 0.0   # too few confident landmarks left: the frame is left out
    kps = load_keypoints(_write(tmp_path / "k.npz", keypoints=kp, image_size=np.array([640, 480])))
    assert np.isfinite(kps.keypoints).all() and kps.keypoints[0, 0, 3, 2] == 0.0
    assert kps.frame_indices.tolist() == [0, 1, 3] and kps.dropped == 1


@pytest.mark.parametrize("label", [c[0] for c in CONTAINER_DAMAGE])
def test_damaged_keypoints_files(tmp_path: Path, label: str) -> None:
    good = {"keypoints": _keypoints(), "image_size": np.array([640, 480])}
    found = {name: (path, words) for name, path, words in damaged_containers(tmp_path, good)}
    path, words = found[label]
    error = _error(str(path))
    assert words in error.message and str(path) in error.message and error.hint


@pytest.mark.parametrize("override, words", [
    ({"keypoints": np.full((5, 33, 3), "x")}, "'keypoints' in"),
    ({"keypoints": np.zeros((5, 33, 3), complex)}, "complex numbers"),
    ({"image_size": np.array(["640", "480"])}, "'image_size' in"),
    ({"image_size": np.array([640, 480, 3])}, "'image_size' must have shape"),
    ({"fps": np.array("thirty")}, "'fps' in"),
    ({"fps": np.array([30.0, 25.0])}, "'fps' must be one number"),
    ({"focal": np.array("long")}, "'focal' in"),
    ({"focal": np.float32(np.nan)}, "focal length must be positive"),
    ({"frame_indices": np.array(["a"] * 5)}, "'frame_indices' in"),
    ({"frame_indices": np.array([0, 1, np.nan, 3, 4])}, "whole frame numbers"),
    ({"frame_indices": np.array([0.5, 1, 2, 3, 4])}, "whole frame numbers"),
    ({"world_landmarks": np.zeros((5, 33, 3), dtype=[("a", "f4")])}, "records"),
])
def test_wrong_kinds_are_bad_keypoints(tmp_path: Path, override: dict, words: str) -> None:
    arrays = {"keypoints": _keypoints(), "image_size": np.array([640, 480]), **override}
    error = _error(_write(tmp_path / "k.npz", **arrays))
    assert words in error.message and error.hint


def test_saving_nan_keypoints_is_refused(tmp_path: Path) -> None:
    kp = _keypoints()
    kp[1, 2, 0] = np.nan
    with pytest.raises(JobError) as info:
        save_keypoints(str(tmp_path / "k.npz"), kp, np.array([640, 480]))
    assert info.value.code == "internal" and "'keypoints'" in info.value.message
    assert not (tmp_path / "k.npz").exists()

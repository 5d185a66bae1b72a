"""``python -m server capture``: exit codes and messages for bad footage, real output on real footage."""
from __future__ import annotations

import pytest

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from server.errors import EXIT_CODES

pytestmark = pytest.mark.slow   # the real worker's command line

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_missing_video_exit_code(tmp_path: Path) -> None:
    run = _cli("capture", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["video_missing"] == 3
    assert "does not exist" in run.stderr and "hint:" in run.stderr
    assert not (tmp_path / "out.npz").exists()


def test_unreadable_video_exit_code(corrupt_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(corrupt_video), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["video_unreadable"]


def test_no_person_exit_code(empty_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(empty_video), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["no_person"], run.stderr[-500:]
    assert "No person" in run.stderr


def test_usage_error_exit_code() -> None:
    assert _cli("capture").returncode == 2


def test_capture_range_on_real_clip(sample_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    run = _cli("capture", str(sample_video), "-o", str(out), "--start", "100", "--end", "130")
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        frames = data["frame_indices"]
        assert frames.min() >= 100 and frames.max() <= 129 and len(frames) >= 25
        assert data["poses"].shape == (len(frames), 24, 3)
        assert np.isfinite(data["poses"]).all() and np.isfinite(data["transl"]).all()


def test_bad_body_model_exit_code(sample_video: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "basicModel_neutral.pkl"
    bogus.write_bytes(b"\x80\x02}q\x00.")  # a valid pickle of an empty dict: not an SMPL model
    run = _cli("capture", str(sample_video), "-o", str(tmp_path / "out.npz"), "--body", str(bogus))
    assert run.returncode == EXIT_CODES["bad_body_model"] == 7, run.stderr[-1000:]
    assert "hint:" in run.stderr and not (tmp_path / "out.npz").exists()


def test_refine_bad_keypoints_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "kp.npz"
    np.savez(bad, keypoints=np.zeros((4, 17, 3)), image_size=np.array([640, 480]))
    run = _cli("refine", str(bad), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["bad_keypoints"] == 10, run.stderr[-1000:]
    assert "(N, 33, 3)" in run.stderr and "hint:" in run.stderr and not (tmp_path / "out.npz").exists()


def test_refine_views_must_match_the_mode(tmp_path: Path) -> None:
    kp = np.random.default_rng(0).uniform(100, 400, (2, 5, 33, 3))
    kp[..., 2] = 0.9
    path = tmp_path / "kp.npz"
    np.savez(path, keypoints=kp, image_size=np.array([640, 480]))
    run = _cli("refine", str(path), "-o", str(tmp_path / "out.npz"), "--mode", "video")
    assert run.returncode == EXIT_CODES["bad_request"] and "multiview" in run.stderr


def test_detect_then_refine_on_real_clip(sample_video: Path, tmp_path: Path) -> None:
    keypoints, out = tmp_path / "kp.npz", tmp_path / "out.npz"
    run = _cli("detect", str(sample_video), "-o", str(keypoints), "--start", "100", "--end", "112")
    assert run.returncode == 0, run.stderr[-2000:]
    run = _cli("refine", str(keypoints), "-o", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(keypoints) as kp, np.load(out, allow_pickle=False) as data:
        frames = data["frame_indices"]
        assert frames.tolist() == kp["frame_indices"].tolist() and 100 <= frames.min() and frames.max() <= 111
        assert data["poses"].shape == (len(frames), 24, 3) and np.isfinite(data["poses"]).all()
        assert str(data["method"]) == "temporal+scorehmr(video, motion prior)"
        assert data["keypoints_2d"].shape == (len(frames), 33, 3) and data["fps"] > 20


def test_multiview_capture_needs_synchronised_clips(sample_video: Path, empty_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(sample_video), "--view", str(empty_video), "-o", str(tmp_path / "out.npz"),
               "--start", "100", "--end", "110")
    assert run.returncode == EXIT_CODES["bad_request"], run.stderr[-1000:]
    assert "has 40 frames" in run.stderr and not (tmp_path / "out.npz").exists()


def test_multiview_capture_on_real_clip(sample_video: Path, tmp_path: Path) -> None:
    """Two views (the clip and a copy): the body is shared, so the result matches each view's keypoints."""
    import shutil
    other, out = tmp_path / "cam2.mp4", tmp_path / "out.npz"
    shutil.copy(sample_video, other)
    run = _cli("capture", str(sample_video), "--view", str(other), "-o", str(out), "--start", "120", "--end", "128")
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        assert str(data["method"]) == "temporal+scorehmr(multiview, motion prior)"
        assert data["poses"].shape == (len(data["frame_indices"]), 24, 3) and len(data["frame_indices"]) >= 6

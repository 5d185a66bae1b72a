"""``python -m server capture``: exit codes and messages for bad footage, real output on real footage."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from server.errors import EXIT_CODES

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

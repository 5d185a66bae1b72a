"""``python -m server``: exit codes and messages for bad footage, real output on real footage (the real worker's
command line, slow), and how an unexpected error is reported (one line and a log file, never a traceback)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from server import cli
from server.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.slow
def test_missing_video_exit_code(tmp_path: Path) -> None:
    run = _cli("capture", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["video_missing"] == 3
    assert "does not exist" in run.stderr and "hint:" in run.stderr
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_unreadable_video_exit_code(corrupt_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(corrupt_video), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["video_unreadable"]


@pytest.mark.slow
def test_no_person_exit_code(empty_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(empty_video), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["no_person"], run.stderr[-500:]
    assert "No person" in run.stderr


@pytest.mark.slow
def test_usage_error_exit_code() -> None:
    assert _cli("capture").returncode == 2


@pytest.mark.slow
def test_capture_range_on_real_clip(sample_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    run = _cli("capture", str(sample_video), "-o", str(out), "--start", "100", "--end", "130", "--no-hands")
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        frames = data["frame_indices"]
        assert frames.min() >= 100 and frames.max() <= 129 and len(frames) >= 25
        assert data["poses"].shape == (len(frames), 24, 3) and "hand_confidence" not in data   # no fingers
        assert np.isfinite(data["poses"]).all() and np.isfinite(data["transl"]).all()


@pytest.mark.slow
def test_bad_body_model_exit_code(sample_video: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "basicModel_neutral.pkl"
    bogus.write_bytes(b"\x80\x02}q\x00.")  # a valid pickle of an empty dict: not an SMPL model
    run = _cli("capture", str(sample_video), "-o", str(tmp_path / "out.npz"), "--body", str(bogus))
    assert run.returncode == EXIT_CODES["bad_body_model"] == 7, run.stderr[-1000:]
    assert "hint:" in run.stderr and not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_a_shape_asked_of_an_smpl_file_is_refused(sample_video: Path, tmp_path: Path) -> None:
    from server.body.synthetic import synthetic_smpl_arrays
    smpl = tmp_path / "SMPL_NEUTRAL.npz"
    np.savez(smpl, **synthetic_smpl_arrays(num_vertices=6890, seed=1))
    run = _cli("capture", str(sample_video), "-o", str(tmp_path / "out.npz"), "--body", str(smpl), "--gender", "0")
    assert run.returncode == EXIT_CODES["bad_request"] == 2, run.stderr[-1000:]
    assert "no phenotype map" in run.stderr and "hint:" in run.stderr and not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_refine_bad_keypoints_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "kp.npz"
    np.savez(bad, keypoints=np.zeros((4, 17, 3)), image_size=np.array([640, 480]))
    run = _cli("refine", str(bad), "-o", str(tmp_path / "out.npz"))
    assert run.returncode == EXIT_CODES["bad_keypoints"] == 10, run.stderr[-1000:]
    assert "(N, 33, 3)" in run.stderr and "hint:" in run.stderr and not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_refine_views_must_match_the_mode(tmp_path: Path) -> None:
    kp = np.random.default_rng(0).uniform(100, 400, (2, 5, 33, 3))
    kp[..., 2] = 0.9
    path = tmp_path / "kp.npz"
    np.savez(path, keypoints=kp, image_size=np.array([640, 480]))
    run = _cli("refine", str(path), "-o", str(tmp_path / "out.npz"), "--mode", "video")
    assert run.returncode == EXIT_CODES["bad_request"] and "multiview" in run.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_multiview_capture_needs_synchronised_clips(sample_video: Path, empty_video: Path, tmp_path: Path) -> None:
    run = _cli("capture", str(sample_video), "--view", str(empty_video), "-o", str(tmp_path / "out.npz"),
               "--start", "100", "--end", "110")
    assert run.returncode == EXIT_CODES["bad_request"], run.stderr[-1000:]
    assert "has 40 frames" in run.stderr and not (tmp_path / "out.npz").exists()


@pytest.mark.slow
def test_multiview_capture_on_real_clip(sample_video: Path, tmp_path: Path) -> None:
    """Two views (the clip and a copy): the body is shared, so the result matches each view's keypoints."""
    import shutil
    other, out = tmp_path / "cam2.mp4", tmp_path / "out.npz"
    shutil.copy(sample_video, other)
    run = _cli("capture", str(sample_video), "--view", str(other), "-o", str(out), "--start", "120", "--end", "128")
    assert run.returncode == 0, run.stderr[-2000:]
    with np.load(out, allow_pickle=False) as data:
        assert str(data["method"]) == "temporal+scorehmr(multiview, motion prior)"
        assert data["poses"].shape == (len(data["frame_indices"]), 54, 3) and len(data["frame_indices"]) >= 6


def _motion(path: Path) -> Path:
    np.savez(path, poses=np.zeros((4, 24, 3), np.float32), transl=np.zeros((4, 3), np.float32),
             betas=np.zeros(10, np.float32), fps=np.float32(30))
    return path


def test_unexpected_error_is_one_line_and_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("the arrays did not line up\nsecond line")
    monkeypatch.setitem(cli.COMMANDS, "cleanup", broken)
    monkeypatch.setattr(cli, "crash_log_folder", lambda: str(tmp_path / "logs"))
    with caplog.at_level(logging.ERROR, logger="server"):
        code = cli.main(["cleanup", str(_motion(tmp_path / "m.npz")), "-o", str(tmp_path / "out.npz")])
    assert code == EXIT_CODES["internal"] == 1
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    line = record.getMessage()
    assert "\n" not in line and line.startswith("cleanup stopped on an unexpected error (RuntimeError: the arrays")
    [log_file] = (tmp_path / "logs").iterdir()
    assert str(log_file) in line
    text = log_file.read_text()
    assert "Traceback" in text and "second line" in text and "python -m server cleanup" in text


def test_unexpected_error_when_the_log_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(cli.COMMANDS, "cleanup", lambda args: 1 / 0)
    monkeypatch.setattr(cli, "crash_log_folder", lambda: str(blocker / "logs"))
    with caplog.at_level(logging.ERROR, logger="server"):
        code = cli.main(["cleanup", str(_motion(tmp_path / "m.npz")), "-o", str(tmp_path / "out.npz")])
    assert code == 1 and "ZeroDivisionError" in caplog.text and "could not be saved" in caplog.text


def test_ctrl_c_is_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt
    monkeypatch.setitem(cli.COMMANDS, "cleanup", interrupted)
    code = cli.main(["cleanup", str(_motion(tmp_path / "m.npz")), "-o", str(tmp_path / "out.npz")])
    assert code == EXIT_CODES["cancelled"] == 130


def test_unexpected_error_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """The real interpreter's stderr: one error line naming the log, and no traceback."""
    motion = _motion(tmp_path / "m.npz")
    script = ("import sys\nfrom server import cli\ncli.COMMANDS['cleanup'] = lambda args: {}['missing']\n"
              f"sys.exit(cli.main(['cleanup', {str(motion)!r}, '-o', {str(tmp_path / 'out.npz')!r}]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert "cleanup stopped on an unexpected error (KeyError: 'missing')" in line
    assert str(tmp_path / "scorehmr-logs") in line and not (tmp_path / "out.npz").exists()

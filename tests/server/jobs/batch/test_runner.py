"""The batch runner's pieces that need no Ray: the missing-package error, the checked, atomic result store, and
what is refused or failed before Ray starts (an output that is a file, result names the file system refuses)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from server.jobs.batch import runner
from server.jobs.batch.inputs import BatchItem
from server.jobs.batch.runner import import_ray, store_result
from server.errors import EXIT_CODES, JobError
from server.result import check_result
from tests.server.test_result import minimal_result

ROOT = Path(__file__).resolve().parents[4]


def test_missing_ray_names_the_install_command(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(JobError) as err:
        import_ray()
    assert err.value.code == "missing_package" and err.value.exit_code == EXIT_CODES["missing_package"]
    assert "pip install -r server/requirements-batch.txt" in err.value.hint


def result_bytes(frames: int) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **minimal_result(frames))
    return buffer.getvalue()


def test_store_checks_the_bytes_and_keeps_the_old_result_when_they_are_damaged(tmp_path: Path) -> None:
    store_result(str(tmp_path), "a.npz", result_bytes(4))
    assert check_result(str(tmp_path / "a.npz")) is None
    damaged = result_bytes(6)[:-100]
    with pytest.raises(JobError, match="came back damaged"):
        store_result(str(tmp_path), "a.npz", damaged)
    assert os.listdir(tmp_path) == ["a.npz"]
    with np.load(tmp_path / "a.npz") as data:
        assert len(data["frame_indices"]) == 4


def _no_ray(*_args, **_kwargs):
    raise AssertionError("Ray must not start")


def test_output_that_is_a_file_is_refused_before_ray(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "import_ray", _no_ray)
    afile = tmp_path / "out.npz"
    afile.write_bytes(b"keep")
    with pytest.raises(JobError) as err:
        runner.run_batch([BatchItem(clip=str(tmp_path / "a.mp4"), name="a")], str(afile), {})
    assert err.value.code == "bad_request" and str(afile) in err.value.message
    assert afile.read_bytes() == b"keep"


def test_batch_of_refused_names_records_them_and_starts_no_ray(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "import_ray", lambda address="": object())
    monkeypatch.setattr(runner, "ray_session", _no_ray)
    items = [BatchItem(clip=str(tmp_path / "a.mp4"), name="x" * 300), BatchItem(clip=str(tmp_path / "a.mp4"),
                                                                                name="a\0b")]
    summary = runner.run_batch(items, str(tmp_path / "out"), {}, runner.BatchOptions(progress=False))
    assert (summary.failed, summary.done) == (2, 0) and "too long" in summary.failures[0]
    clips = json.loads((tmp_path / "out" / "batch.json").read_text())["clips"]
    assert [c["status"] for c in clips] == ["failed", "failed"] and "NUL" in clips[1]["error"]["message"]
    assert os.listdir(tmp_path / "out") == ["batch.json"]


def test_cli_refuses_an_output_file_with_exit_2(tmp_path: Path) -> None:
    afile = tmp_path / "results"
    afile.write_bytes(b"keep")
    done = subprocess.run([sys.executable, "-m", "server", "batch", str(tmp_path / "a.mp4"), "-o", str(afile)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and str(afile) in done.stderr and "Traceback" not in done.stderr
    assert afile.read_bytes() == b"keep"

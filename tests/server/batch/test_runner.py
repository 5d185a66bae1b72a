"""The batch runner's pieces that need no Ray: the missing-package error and the checked, atomic result store."""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from server.batch.runner import import_ray, store_result
from server.errors import EXIT_CODES, JobError
from server.result import check_result
from tests.server.test_result import minimal_result


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

"""SMPL's known landmark vertices come from smplx's vertex_ids.py without importing smplx (and torch)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.body import smpl_landmarks
from server.errors import JobError


def test_vertex_ids_without_importing_torch() -> None:
    code = ("import sys; from server.body.smpl_landmarks import smplx_vertex_ids; ids = smplx_vertex_ids(); "
            "assert ids['nose'] == 332 and ids['LHeel'] == 3387, ids; assert 'torch' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-1500:]


def test_missing_smplx_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "smplx" else real(name, *a))
    with pytest.raises(JobError) as caught:
        smpl_landmarks.smplx_vertex_ids()
    assert caught.value.code == "missing_package" and "--no-deps smplx" in caught.value.hint

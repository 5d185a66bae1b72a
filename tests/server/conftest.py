"""Worker test fixtures: one real capture of the sample clip shared by every test that needs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.jobs.capture import CaptureRequest, run_capture


@pytest.fixture(scope="session")
def captured(sample_video: Path, tmp_path_factory) -> dict:
    """The capture job run once on the sample clip: its summary, progress events (and their messages) and result
    arrays."""
    out = tmp_path_factory.mktemp("capture") / "result.npz"
    stages, messages = [], []

    def progress(stage: str, done: int, total: int, message: str) -> None:
        stages.append((stage, done, total))
        messages.append((stage, message))

    summary = run_capture(CaptureRequest(video=str(sample_video), output=str(out)), progress, lambda: False)
    with np.load(out, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return {"summary": summary, "stages": stages, "messages": messages, "data": arrays}

"""Shared fixtures: the real sample clip, synthetic bad footage, the worker's interpreter."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _default_sample() -> Path:
    cache = os.environ.get("SCOREHMR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "blender_scorehmr")
    return Path(cache) / "footage" / "sports2d_demo.mp4"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs the real worker, Blender, Ray or training (pytest -m 'not slow' "
                                       "skips them)")


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """The Sports2D demo clip (a man jumping on a roof and a woman walking past, 230 frames, 1768x994 @ 30 fps),
    fetched by build.py setup."""
    path = Path(os.environ.get("SCOREHMR_SAMPLE_VIDEO") or _default_sample())
    if not path.is_file():
        pytest.fail(f"sample footage missing at {path}: run 'python3 build.py setup' first")
    return path


@pytest.fixture(scope="session")
def worker_python() -> str:
    """The interpreter that runs the real worker in tests (this one: the project's .venv)."""
    return sys.executable


@pytest.fixture(scope="session")
def empty_video(tmp_path_factory) -> Path:
    """A real, decodable 40-frame video with no person in it (a drifting grey gradient)."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("footage") / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    ramp = np.tile(np.linspace(40, 200, 320, dtype=np.uint8), (240, 1))
    for i in range(40):
        frame = np.roll(ramp, i * 3, axis=1)
        writer.write(cv2.merge([frame, frame, frame]))
    writer.release()
    return path


@pytest.fixture(scope="session")
def corrupt_video(tmp_path_factory) -> Path:
    """A file named like a video that holds no video at all."""
    path = tmp_path_factory.mktemp("footage") / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    return path

"""Synthetic motion for the cleanup tests: a smooth world-frame clip between two standing poses."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.cleanup.settings import CleanupSettings
from server.cleanup.sequence import MotionSequence, make_sequence
from server.diffusion.denoiser import Denoiser, load_prior
from tests.server.refine.conftest import upright_poses

FAST = CleanupSettings(steps=30, fit_steps=20, iterations=1, stride=10)


@pytest.fixture(scope="session")
def prior() -> Denoiser:
    return load_prior()


@pytest.fixture(scope="session")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


def smooth_clip(frames: int = 24, seed: int = 0) -> MotionSequence:
    """(frames) poses blending two upright poses (world frame, y up) with a walking pelvis path."""
    a, b = upright_poses(2, seed).numpy()
    b[0] = a[0]
    w = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, frames)))[:, None, None]
    poses = ((1.0 - w) * a + w * b).astype(np.float32)
    transl = np.stack([np.linspace(0.0, 0.5, frames), np.zeros(frames), np.zeros(frames)], -1).astype(np.float32)
    return make_sequence(poses, transl, np.zeros(10, np.float32), 30.0, None, "world")

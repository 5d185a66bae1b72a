"""A tiny synthetic pose dataset in the format of server.data.dataset (random small rotations about the rest)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_pose_dataset(path: Path, frames: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    poses = (rng.normal(size=(frames, 24, 3)) * 0.15).astype(np.float32)
    poses[:, 0] = rng.normal(size=(frames, 3)) * 0.3
    subject = np.repeat(np.arange(4), -(-frames // 4))[:frames]
    source = (subject >= 2).astype(np.int32)          # two sources of different sizes once split
    np.savez(path, poses=poses, transl=np.zeros((frames, 3), np.float32), clip_id=(subject * 10).astype(np.int32),
             split=np.where(subject < 3, "train", "val"), subject_id=subject.astype(np.int32),
             subject_names=np.array(["s0", "s1", "s2", "s3"]), source_id=source,
             source_names=np.array(["big", "small"]), fps=np.float64(30.0))
    return path


@pytest.fixture(scope="session")
def pose_dataset(tmp_path_factory) -> Path:
    return write_pose_dataset(tmp_path_factory.mktemp("poses") / "pose_dataset.npz")

"""Synthetic observations for the refinement tests: plausible poses seen by random cameras with detector noise."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from server.body.fast import LandmarkSkinning
from server.body.model import default_body_model_path, load_body_model
from server.fitting.state import Observations
from server.train.synthetic_views import SyntheticViews, synthesize_views


def upright_poses(n: int, seed: int) -> torch.Tensor:
    """(n, 24, 3) axis-angle: standing bodies (root about the vertical only) with random limbs."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(size=(n, 24, 3)) * 0.2
    poses[:, 0] = [0.0, 1.0, 0.0] * rng.uniform(-np.pi, np.pi, (n, 1))
    return torch.from_numpy(poses).float()


@pytest.fixture(scope="session")
def skinning() -> LandmarkSkinning:
    return LandmarkSkinning(load_body_model(default_body_model_path()))


@pytest.fixture(scope="session")
def views(skinning: LandmarkSkinning) -> SyntheticViews:
    return synthesize_views(skinning, upright_poses(16, 0), torch.Generator().manual_seed(0))


def as_observations(v: SyntheticViews) -> Observations:
    return Observations(keypoints=v.keypoints, focal=v.focal, centre=0.5 * v.image_size, image_size=v.image_size,
                        world=v.world)


@pytest.fixture()
def keypoints_file(tmp_path: Path) -> Path:
    """One camera watching 10 frames of a slowly turning body, as a keypoints file (with world landmarks)."""
    sk = LandmarkSkinning(load_body_model(default_body_model_path()))
    poses = upright_poses(1, 1).repeat(10, 1, 1)
    poses[:, 0, 1] += torch.linspace(0.0, 0.5, 10)
    g = torch.Generator().manual_seed(1)
    v = synthesize_views(sk, poses, g)
    path = tmp_path / "keypoints.npz"
    np.savez(path, keypoints=v.keypoints.numpy(), image_size=v.image_size[0].numpy(),
             focal=v.focal[0].numpy(), world_landmarks=v.world.numpy(), fps=np.float32(25))
    return path

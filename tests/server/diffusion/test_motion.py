"""The motion prior's network: shapes, the null condition per frame, checkpoints that load strictly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from server.diffusion.motion import (MOTION_CHECKPOINT_FORMAT, MotionConfig, MotionDenoiser, load_motion_prior,
                                     motion_checkpoint)
from server.errors import WeightsError

SMALL = MotionConfig(window=8, channels=16, num_blocks=2, time_dim=16)


def test_output_has_the_windows_shape_and_depends_on_the_condition() -> None:
    torch.manual_seed(0)
    model = MotionDenoiser(SMALL)
    with torch.no_grad():
        model.null_cond.normal_()
    z = torch.randn(3, 8, 144)
    cond = torch.randn(3, 8, SMALL.cond_dim)
    eps = model(z, 10, cond)
    assert eps.shape == (3, 8, 144)
    uncond = model(z, torch.tensor([10, 10, 10]), None)
    assert not torch.allclose(eps, uncond)
    masked = torch.zeros(3, 8, dtype=torch.bool)
    assert torch.allclose(model(z, 10, cond, masked), uncond, atol=1e-6)   # a False frame uses the null condition


def test_a_frame_is_influenced_by_its_neighbours() -> None:
    torch.manual_seed(0)
    model = MotionDenoiser(SMALL)
    z = torch.randn(1, 8, 144, requires_grad=True)
    model(z, 5)[0, 4].sum().backward()
    touched = z.grad[0].abs().sum(-1) > 0
    assert bool(touched[3]) and bool(touched[5]) and int(touched.sum()) > 3


def test_bad_shapes_are_refused() -> None:
    model = MotionDenoiser(SMALL)
    with pytest.raises(ValueError, match="8 frames"):
        model(torch.zeros(1, 7, 144), 0)
    with pytest.raises(ValueError, match="cond must be"):
        model(torch.zeros(1, 8, 144), 0, torch.zeros(1, 8, 3))


def test_checkpoint_round_trip_and_wrong_files(tmp_path: Path) -> None:
    model = MotionDenoiser(SMALL)
    model.set_normalization(torch.randn(50, 144) * 0.3 + 1.0)
    path = tmp_path / "motion_prior.pt"
    torch.save(motion_checkpoint(model, {"val_loss": 0.5}, {"steps": 1}), path)
    loaded = load_motion_prior(path)
    assert loaded.config == SMALL and not loaded.training
    assert torch.equal(loaded.x_std, model.x_std)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == MOTION_CHECKPOINT_FORMAT
    ckpt["format"] = "blender_scorehmr.prior"
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="model belongs"):
        load_motion_prior(tmp_path / "other.pt")
    ckpt["format"] = MOTION_CHECKPOINT_FORMAT
    ckpt["config"]["channels"] = 32
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(WeightsError, match="does not match"):
        load_motion_prior(tmp_path / "mismatch.pt")

"""Training the motion prior on tiny data: the held-out loss falls; the command writes a loadable file."""
from __future__ import annotations

import pytest

import json
import math
from pathlib import Path

import torch

from server.diffusion.motion import MOTION_CHECKPOINT_FORMAT, load_motion_prior
from server.train.loop import learning_rate
from server.train.motion_prior import (MotionTrainConfig, build, condition_mask, main, sample_timesteps, train_step,
                                       validate)

pytestmark = pytest.mark.slow   # training

TINY = ["--channels", "16", "--blocks", "2", "--batch", "4", "--window", "8", "--val-size", "4", "--warmup", "2",
        "--threads", "1"]


def test_timesteps_and_condition_dropout() -> None:
    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(1000, 1000, 100, g)
    assert int(t.min()) >= 0 and int(t.max()) < 1000 and int(t[1::2].max()) < 100 and int(t[::2].max()) >= 100
    mask = condition_mask(400, 16, 0.25, 0.1, g)
    whole = (~mask).all(1).float().mean()
    assert 0.15 < float(whole) < 0.35
    kept = mask[mask.any(1)]
    assert 0.8 < float(kept.float().mean()) < 0.97


def test_loss_falls_on_the_held_out_windows(pose_dataset: Path) -> None:
    torch.set_num_threads(1)
    cfg = MotionTrainConfig(dataset=str(pose_dataset), out="unused", steps=40, batch=8, window=8, channels=32,
                            blocks=2, warmup=2, lr=3e-3, val_size=8, reuse=1)
    run = build(cfg)
    before = validate(run)["val_loss"]
    losses = [train_step(run, cfg, learning_rate(cfg, step, cfg.steps)) for step in range(cfg.steps)]
    assert all(math.isfinite(v) for v in losses)
    run["ema"].model.load_state_dict(run["model"].state_dict())
    assert validate(run)["val_loss"] < 0.9 * before


def test_training_command_writes_a_strictly_loadable_checkpoint(pose_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "weights" / "motion_prior.pt"
    assert main(["--dataset", str(pose_dataset), "--out", str(out), "--steps", "4", "--val-every", "2"] + TINY) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["steps"] == 4 and sidecar["model"]["window"] == 8
    assert math.isfinite(sidecar["figures"]["val_loss_uncond_low_t"])
    assert torch.load(out, weights_only=True)["format"] == MOTION_CHECKPOINT_FORMAT
    model = load_motion_prior(out)
    assert model.config.channels == 16 and not model.training

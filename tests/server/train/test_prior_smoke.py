"""Training the prior on tiny data: the loss falls, the command writes a checkpoint that loads strictly."""
from __future__ import annotations

import pytest

import json
import math
from pathlib import Path

import numpy as np
import torch

from server.diffusion.denoiser import CHECKPOINT_FORMAT, load_prior
from server.train.pose_data import load_training_poses, mirror_poses_fallback
from server.train.loop import learning_rate
from server.train.prior import TrainConfig, build, diffusion_loss, main, train_step
from server.weights import load_checkpoint

pytestmark = pytest.mark.slow   # training

TINY = ["--hidden", "32", "--batch", "32", "--val-size", "32", "--warmup", "2", "--threads", "1"]


def test_loss_falls_on_a_fixed_batch(pose_dataset: Path) -> None:
    torch.set_num_threads(1)
    cfg = TrainConfig(dataset=str(pose_dataset), out="unused", steps=25, batch=64, hidden=64, warmup=2,
                      lr=3e-3, val_size=64)
    run = build(cfg)
    fixed = run["fixed"]
    mask = torch.ones(fixed["x0"].shape[0], dtype=torch.bool)

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(diffusion_loss(run["model"], fixed["x0"], fixed["cond"], mask, fixed["t"],
                                        fixed["noise"], run["ac"]))

    before = fixed_loss()
    losses = [train_step(run, cfg, learning_rate(cfg, step, cfg.steps)) for step in range(cfg.steps)]
    after = fixed_loss()
    assert all(math.isfinite(v) for v in losses)
    assert after < 0.9 * before, (before, after)


def test_training_command_writes_a_strictly_loadable_checkpoint(pose_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "weights" / "prior.pt"
    assert main(["--dataset", str(pose_dataset), "--out", str(out), "--steps", "20", "--val-every", "10"] + TINY) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["steps"] == 20 and sidecar["model"]["hidden"] == 32
    assert math.isfinite(sidecar["figures"]["val_loss"]) and out.with_suffix(".log").is_file()
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT
    model = load_prior(out)
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][key])
    assert not model.training
    default_dir_ckpt, source = load_checkpoint("prior.pt", default_dir=out.parent, use_hub=False,
                                               expected_format=CHECKPOINT_FORMAT)
    assert source == out and set(default_dir_ckpt["state_dict"]) == set(ckpt["state_dict"])


def test_mirroring_and_splits(pose_dataset: Path) -> None:
    train, val = load_training_poses(pose_dataset)
    with np.load(pose_dataset) as data:
        split = data["split"]
    assert len(train) == 2 * int((split == "train").sum()) and len(val) == int((split == "val").sum())
    poses = np.random.default_rng(0).normal(size=(5, 24, 3))
    assert np.allclose(mirror_poses_fallback(mirror_poses_fallback(poses)), poses)
    assert np.allclose(mirror_poses_fallback(poses)[:, 1, 0], poses[:, 2, 0])   # left hip <- right hip

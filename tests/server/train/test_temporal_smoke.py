"""Training the temporal regressor on tiny data: the held-out loss falls; the command writes a loadable file."""
from __future__ import annotations

import pytest

import json
import math
from pathlib import Path

import torch

from server.regressor.temporal import CHECKPOINT_FORMAT, load_temporal_regressor
from server.train import regressor as frame_trainer
from server.train.loop import learning_rate
from server.train.temporal_regressor import TemporalTrainConfig, build, main, temporal_loss, train_step

pytestmark = pytest.mark.slow   # training

TINY = ["--channels", "16", "--batch", "4", "--window", "8", "--val-size", "4", "--warmup", "2", "--threads", "1"]


def _frame_regressor(pose_dataset: Path, folder: Path) -> Path:
    out = folder / "regressor.pt"
    if not out.exists():
        assert frame_trainer.main(["--dataset", str(pose_dataset), "--out", str(out), "--steps", "2", "--hidden",
                                   "32", "--num-blocks", "1", "--batch", "16", "--val-size", "16", "--threads",
                                   "1"]) == 0
    return out


def test_loss_falls_on_the_held_out_windows(pose_dataset: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    frame = _frame_regressor(pose_dataset, tmp_path)
    cfg = TemporalTrainConfig(dataset=str(pose_dataset), out="unused", steps=30, batch=8, window=8, channels=32,
                              warmup=2, lr=3e-3, val_size=8, frame=str(frame))
    run = build(cfg)
    fixed = run["fixed"]

    def held_out() -> float:
        with torch.no_grad():
            out = run["model"](fixed["features"], fixed["frame"], fixed["fps"])
            return float(temporal_loss(run["skinning"], out, fixed)["total"])

    before = held_out()
    losses = [train_step(run, cfg, learning_rate(cfg, step, cfg.steps)) for step in range(cfg.steps)]
    assert all(math.isfinite(v) for v in losses)
    assert held_out() < 0.95 * before
    assert all(not p.requires_grad for p in run["model"].frame.parameters())   # the per-frame model stays frozen


def test_training_command_writes_a_strictly_loadable_checkpoint(pose_dataset: Path, tmp_path: Path) -> None:
    frame = _frame_regressor(pose_dataset, tmp_path)
    out = tmp_path / "weights" / "temporal_regressor.pt"
    assert main(["--dataset", str(pose_dataset), "--out", str(out), "--steps", "4", "--val-every", "2",
                 "--frame", str(frame)] + TINY) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["steps"] == 4 and sidecar["model"]["channels"] == 16
    assert math.isfinite(sidecar["figures"]["val_loss"]) and math.isfinite(sidecar["figures"]["frame_val_loss"])
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT
    model = load_temporal_regressor(out)
    assert model.config.frame["hidden"] == 32 and not model.training

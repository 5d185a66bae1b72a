"""Training the regressor on tiny data: the loss falls; the command writes a compact checkpoint that loads strictly."""
from __future__ import annotations

import pytest

import json
import math
from pathlib import Path

import torch

from server.regressor.network import CHECKPOINT_FORMAT, load_regressor
from server.train.loop import learning_rate
from server.train.regressor import RegressorTrainConfig, build, main, regression_loss, train_step

pytestmark = pytest.mark.slow   # training

TINY = ["--hidden", "32", "--num-blocks", "1", "--batch", "32", "--val-size", "32", "--warmup", "2", "--threads", "1"]


def test_loss_falls_on_the_held_out_batch(pose_dataset: Path) -> None:
    torch.set_num_threads(1)
    cfg = RegressorTrainConfig(dataset=str(pose_dataset), out="unused", steps=40, batch=64, hidden=64, num_blocks=1,
                               warmup=2, lr=3e-3, val_size=64)
    run = build(cfg)

    def held_out() -> float:
        with torch.no_grad():
            return float(regression_loss(run["skinning"], run["model"](run["fixed"]["features"]), run["fixed"])["total"])

    before = held_out()
    losses = [train_step(run, cfg, learning_rate(cfg, step, cfg.steps)) for step in range(cfg.steps)]
    assert all(math.isfinite(v) for v in losses)
    assert held_out() < 0.9 * before


def test_training_command_writes_a_strictly_loadable_checkpoint(pose_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "weights" / "regressor.pt"
    assert main(["--dataset", str(pose_dataset), "--out", str(out), "--steps", "6", "--val-every", "3"] + TINY) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["steps"] == 6 and sidecar["model"]["hidden"] == 32
    assert math.isfinite(sidecar["figures"]["val_loss"])
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values() if v.is_floating_point())
    model = load_regressor(out)
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][key].to(value.dtype))
    assert not model.training and next(model.parameters()).dtype == torch.float32

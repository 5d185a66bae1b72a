"""Train the regressor (the initial estimate) on the prior's synthetic observations of mocap poses.

    python -m server.train.regressor --dataset <cache>/pose_dataset.npz --out server/assets/weights/regressor.pt --minutes 20

Each step: a batch of training poses (mirrored copies included, source-balanced like the prior) -> a random
camera view of each (:mod:`.synthetic_views`: random body shape, camera, detector noise, dropouts, swaps) -> the
regressor's input (:meth:`server.regressor.network.Regressor.features`) -> loss against the true pose, shape and
camera. Loss (per sample, averaged): rotation-matrix error over the 24 joints + 5 x mean joint error in metres of
the posed, pelvis-centred camera-frame skeleton (predicted shape vs true shape) + L1 on the box-relative camera
+ 0.05 x squared beta error. World landmarks are withheld from 15% of the samples. AdamW, warm-up + cosine decay, EMA 0.995; time budget and ``--steps``
reproduction exactly as for the prior (:mod:`.prior`).
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.model import default_body_model_path, load_body_model
from ..body.rot6d import x_to_rotmats
from ..diffusion.denoiser import num_parameters
from ..fitting.camera import position_to_box_camera
from ..regressor.network import Regressor, RegressorConfig, checkpoint_dict
from .ema import Ema
from .pose_data import load_training_set
from .loop import LOOP_ARGUMENTS, LoopConfig, add_arguments, main_of, optimiser_step, prepare, run_training
from .synthetic_views import synthesize_views

log = logging.getLogger("server.train.regressor")

JOINT_WEIGHT = 5.0
CAM_WEIGHT = 1.0
BETA_WEIGHT = 0.05
NORM_BATCHES = 16
WORLD_DROPOUT = 0.15   # share of samples trained without world landmarks (keypoints from other detectors)


@dataclass(frozen=True)
class RegressorTrainConfig(LoopConfig):
    """Everything that determines a regressor training run (stored in the checkpoint)."""

    lr: float = 5e-4
    min_lr: float = 5e-6
    hidden: int = 1024
    num_blocks: int = 3


def make_batch(skinning: LandmarkSkinning, model: Regressor, poses: Tensor, g: torch.Generator) -> Dict[str, Tensor]:
    """Poses (B, 24, 3) -> network input and targets: features (B, F), x (B, 144), betas (B, 10), cam (B, 3)."""
    v = synthesize_views(skinning, poses, g)
    centre = 0.5 * v.image_size
    has_world = torch.rand(len(poses), generator=g) >= WORLD_DROPOUT
    features, box = model.features(v.keypoints, v.world, v.focal, centre, has_world)
    pelvis = v.transl + skinning.joint_template[0] + torch.einsum("cb,nb->nc", skinning.joint_shapedirs[0], v.betas)
    return {"features": features, "x": v.x0, "betas": v.betas, "cam": position_to_box_camera(pelvis, box, v.focal, centre)}


def regression_loss(skinning: LandmarkSkinning, out: Dict[str, Tensor], batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Scalar losses: ``total`` and its parts (rotation, joints in metres, camera, betas)."""
    rot_pred, rot_true = x_to_rotmats(out["x"]), x_to_rotmats(batch["x"])
    rotation = ((rot_pred - rot_true) ** 2).sum((-1, -2)).mean()
    j_pred, _ = skinning(rot_pred, out["betas"])
    with torch.no_grad():
        j_true, _ = skinning(rot_true, batch["betas"])
    joints = ((j_pred - j_pred[:, :1]) - (j_true - j_true[:, :1])).norm(dim=-1).mean()
    cam = (out["cam"] - batch["cam"]).abs().sum(-1).mean()
    betas = ((out["betas"] - batch["betas"]) ** 2).sum(-1).mean()
    total = rotation + JOINT_WEIGHT * joints + CAM_WEIGHT * cam + BETA_WEIGHT * betas
    return {"total": total, "rotation": rotation, "joints_m": joints, "cam": cam, "betas": betas}


def build(cfg: RegressorTrainConfig) -> Dict[str, Any]:
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, val, weights = load_training_set(cfg.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    model = Regressor(RegressorConfig(hidden=cfg.hidden, num_blocks=cfg.num_blocks,
                                      num_betas=min(10, skinning.num_betas)))
    with torch.no_grad():   # start the heads at the data's mean pose and camera
        stats = [make_batch(skinning, model, train[torch.multinomial(weights, cfg.batch, True, generator=g)], g)
                 for _ in range(NORM_BATCHES)]
        model.x_mean.copy_(torch.cat([s["x"] for s in stats]).mean(0))
        model.cam_mean.copy_(torch.cat([s["cam"] for s in stats]).mean(0))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    vg = torch.Generator().manual_seed(cfg.seed + 1)
    fixed = None
    if len(val):
        idx = torch.randperm(len(val), generator=vg)[:cfg.val_size]
        fixed = make_batch(skinning, model, val[idx], vg)
    else:
        log.warning("the dataset has no 'val' frames: no validation loss")
    log.info("regressor: %d parameters (%s); %d train / %d val poses", num_parameters(model),
             model.config.to_dict(), len(train), len(val))
    return {"model": model, "ema": Ema(model, cfg.ema), "opt": opt, "skinning": skinning, "train": train,
            "weights": weights, "g": g, "fixed": fixed, "train_poses": len(train), "val_poses": len(val)}


@torch.no_grad()
def validate(run: Dict[str, Any]) -> Dict[str, float]:
    """Validation losses of the EMA model on the fixed held-out batch (NaN without one)."""
    if run["fixed"] is None:
        return {"val_loss": float("nan")}
    parts = regression_loss(run["skinning"], run["ema"].model(run["fixed"]["features"]), run["fixed"])
    return {"val_" + k if k != "total" else "val_loss": float(v) for k, v in parts.items()}


def train_step(run: Dict[str, Any], cfg: RegressorTrainConfig, lr: float) -> float:
    g = run["g"]
    idx = torch.multinomial(run["weights"], cfg.batch, replacement=True, generator=g)
    with torch.no_grad():
        batch = make_batch(run["skinning"], run["model"], run["train"][idx], g)
    return optimiser_step(run, lr, regression_loss(run["skinning"], run["model"](batch["features"]), batch)["total"])


def train(cfg: RegressorTrainConfig) -> Dict[str, Any]:
    """Run the training described by ``cfg``; writes the checkpoint and returns its figures."""
    prepare(cfg)
    run = build(cfg)
    return run_training(cfg, "regressor", run, lambda lr: train_step(run, cfg, lr), lambda: validate(run),
                        checkpoint_dict, num_parameters(run["model"]), train_poses=run["train_poses"],
                        val_poses=run["val_poses"])


def parse_args(argv: Optional[Sequence[str]] = None) -> RegressorTrainConfig:
    p = argparse.ArgumentParser(prog="python -m server.train.regressor", description=__doc__.split("\n\n")[0])
    add_arguments(p, RegressorTrainConfig(dataset="", out=""), LOOP_ARGUMENTS + ("hidden", "num_blocks"),
                  "regressor.pt")
    return RegressorTrainConfig(**vars(p.parse_args(argv)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return main_of(parse_args(argv), train, log)


if __name__ == "__main__":
    raise SystemExit(main())

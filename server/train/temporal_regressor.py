"""Train the temporal regressor (:mod:`server.regressor.temporal`) on windows of mocap seen by synthetic cameras.

    python -m server.train.temporal_regressor --dataset <cache>/pose_dataset.npz \
        --out server/assets/weights/temporal_regressor.pt --minutes 50

Each step: ``batch`` windows of ``window + 2 * context`` frames (:mod:`.clip_windows`: random speed, mirroring,
static or tracking camera, per-frame and temporally structured detector errors) -> the frozen per-frame regressor
(the shipped ``regressor.pt``, or ``--frame``) on every frame -> the temporal model -> loss on the ``window``
middle frames: the per-frame regressor's loss (:func:`.regressor.regression_loss`: rotations, 5 x joints in
metres, camera, 0.05 x betas) + 10 x the mean error of the joints' frame-to-frame velocity (metres/frame,
pelvis-centred), which is what makes the output steady. World landmarks are withheld from 15% of the windows.
AdamW, warm-up + cosine decay, EMA 0.995; time budget and ``--steps`` reproduction as for the other trainers
(:mod:`.loop`).
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
from ..fitting.camera import position_to_box_camera
from ..regressor.network import load_regressor
from ..regressor.temporal import TemporalConfig, TemporalRegressor, checkpoint_dict, num_trainable
from .clip_windows import ClipSet, load_clip_sets, sample_frames, stack_windows, synthesize_window
from .ema import Ema
from .loop import LOOP_ARGUMENTS, LoopConfig, add_arguments, main_of, optimiser_step, prepare, run_training
from .regressor import WORLD_DROPOUT, regression_loss

log = logging.getLogger("server.train.temporal_regressor")

VELOCITY_WEIGHT = 10.0


@dataclass(frozen=True)
class TemporalTrainConfig(LoopConfig):
    """Everything that determines a temporal regressor training run (stored in the checkpoint). ``batch`` counts
    windows; ``window`` the supervised frames of each; ``frame`` the per-frame regressor ('' = the shipped one)."""

    batch: int = 24
    lr: float = 5e-4
    min_lr: float = 5e-6
    warmup: int = 200
    val_every: int = 500
    val_size: int = 48
    calibration_steps: int = 30
    window: int = 64
    channels: int = 256
    frame: str = ""


def make_batch(skinning: LandmarkSkinning, model: TemporalRegressor, clips: ClipSet, count: int, window: int,
               g: torch.Generator) -> Dict[str, Any]:
    """``count`` windows -> inputs (features (B, T, F), frame outputs, fps (B,)) and targets of the middle
    ``window`` frames (x (B, W, 144), betas (B, W, nb), cam (B, W, 3))."""
    length = window + 2 * model.context
    views = stack_windows([synthesize_window(skinning, clips, int(f), length, g)
                           for f in sample_frames(clips, count, g)])
    return window_inputs(skinning, model, views, g)


def window_inputs(skinning: LandmarkSkinning, model, views: Dict[str, Tensor],
                  g: torch.Generator) -> Dict[str, Any]:
    """Stacked synthetic windows of T frames (:func:`.clip_windows.stack_windows`) -> what a sequence model over
    the per-frame regressor (``model.frame``, ``model.frame_outputs``, ``model.context``) reads and is trained on:
    features (B, T, F) (world landmarks withheld from WORLD_DROPOUT of the windows), frame outputs (B, T, ...),
    fps (B,), the whole windows' poses x_all (B, T, 144) and the middle frames' targets x (B, W, 144),
    betas (B, W, nb), cam (B, W, 3)."""
    k = model.context
    b, t = views["keypoints"].shape[:2]
    flat = lambda v: v.reshape(b * t, *v.shape[2:])   # noqa: E731
    centre = 0.5 * flat(views["image_size"])
    has_world = (torch.rand(b, generator=g) >= WORLD_DROPOUT)[:, None].expand(b, t).reshape(-1)
    features, box = model.frame.features(flat(views["keypoints"]), flat(views["world"]), flat(views["focal"]),
                                         centre, has_world)
    frame = {key: v.reshape(b, t, -1) for key, v in model.frame_outputs(features).items()}
    nb = model.frame.config.num_betas
    betas = flat(views["betas"])[:, :nb]
    rest = skinning.joint_template[0] + torch.einsum("cb,nb->nc", skinning.joint_shapedirs[0, :, :nb], betas)
    cam = position_to_box_camera(flat(views["transl"]) + rest, box, flat(views["focal"]), centre)
    keep = slice(k, t - k)
    return {"features": features.reshape(b, t, -1), "frame": frame, "fps": views["fps"], "x_all": views["x0"],
            "x": views["x0"][:, keep], "betas": views["betas"][:, keep, :nb], "cam": cam.reshape(b, t, 3)[:, keep]}


def temporal_loss(skinning: LandmarkSkinning, out: Dict[str, Tensor], batch: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """The per-frame losses on all supervised frames + VELOCITY_WEIGHT x the joint-velocity error."""
    b, w = out["x"].shape[:2]
    flat = {key: v.reshape(b * w, -1) for key, v in out.items()}
    target = {key: batch[key].reshape(b * w, -1) for key in ("x", "betas", "cam")}
    parts = regression_loss(skinning, flat, target)
    j_pred, _ = skinning(x_to_rotmats(flat["x"]), flat["betas"])
    with torch.no_grad():
        j_true, _ = skinning(x_to_rotmats(target["x"]), target["betas"])
    rel = lambda j: (j - j[:, :1]).reshape(b, w, -1, 3)   # noqa: E731
    vel = lambda j: j[:, 1:] - j[:, :-1]                  # noqa: E731
    velocity = (vel(rel(j_pred)) - vel(rel(j_true))).norm(dim=-1).mean()
    parts["velocity_m"] = velocity
    parts["total"] = parts["total"] + VELOCITY_WEIGHT * velocity
    return parts


def build(cfg: TemporalTrainConfig) -> Dict[str, Any]:
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, val = load_clip_sets(cfg.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    frame = load_regressor(cfg.frame or None)
    for p in frame.parameters():
        p.requires_grad_(False)
    model = TemporalRegressor(TemporalConfig(channels=cfg.channels), frame)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    fixed = None
    if len(val):
        with torch.no_grad():
            fixed = make_batch(skinning, model, val, cfg.val_size, cfg.window, torch.Generator().manual_seed(cfg.seed + 1))
    else:
        log.warning("the dataset has no 'val' frames: no validation loss")
    log.info("temporal regressor: %d trainable parameters (%s), context %d frames; %d train / %d val frames",
             num_trainable(model), model.config.to_dict() | {"frame": "..."}, model.context, len(train), len(val))
    return {"model": model, "ema": Ema(model, cfg.ema), "opt": opt, "skinning": skinning, "train": train,
            "g": g, "fixed": fixed, "train_frames": len(train), "val_frames": len(val)}


@torch.no_grad()
def validate(run: Dict[str, Any]) -> Dict[str, float]:
    """Validation losses of the EMA model on the fixed held-out windows, next to the per-frame regressor's."""
    fixed = run["fixed"]
    if fixed is None:
        return {"val_loss": float("nan")}
    model = run["ema"].model
    parts = temporal_loss(run["skinning"], model(fixed["features"], fixed["frame"], fixed["fps"]), fixed)
    k = model.context
    frame_only = {key: fixed["frame"][key][:, k:-k] for key in ("x", "betas", "cam")}
    base = temporal_loss(run["skinning"], frame_only, fixed)
    out = {"val_" + name if name != "total" else "val_loss": float(v) for name, v in parts.items()}
    out.update({"frame_val_loss": float(base["total"]), "frame_val_joints_m": float(base["joints_m"]),
                "frame_val_velocity_m": float(base["velocity_m"])})
    return out


def train_step(run: Dict[str, Any], cfg: TemporalTrainConfig, lr: float) -> float:
    model = run["model"]
    with torch.no_grad():
        batch = make_batch(run["skinning"], model, run["train"], cfg.batch, cfg.window, run["g"])
    out = model(batch["features"], batch["frame"], batch["fps"])
    return optimiser_step(run, lr, temporal_loss(run["skinning"], out, batch)["total"])


def train(cfg: TemporalTrainConfig) -> Dict[str, Any]:
    """Run the training described by ``cfg``; writes the checkpoint and returns its figures."""
    prepare(cfg)
    run = build(cfg)
    run["model"].frame.eval()
    return run_training(cfg, "temporal regressor", run, lambda lr: train_step(run, cfg, lr), lambda: validate(run),
                        checkpoint_dict, num_trainable(run["model"]), train_frames=run["train_frames"],
                        val_frames=run["val_frames"])


def parse_args(argv: Optional[Sequence[str]] = None) -> TemporalTrainConfig:
    p = argparse.ArgumentParser(prog="python -m server.train.temporal_regressor", description=__doc__.split("\n\n")[0])
    add_arguments(p, TemporalTrainConfig(dataset="", out=""), LOOP_ARGUMENTS + ("window", "channels", "frame"),
                  "temporal_regressor.pt")
    return TemporalTrainConfig(**vars(p.parse_args(argv)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return main_of(parse_args(argv), train, log)


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the motion prior (:mod:`server.diffusion.motion`) on windows of mocap seen by synthetic cameras.

    python -m server.train.motion_prior --dataset <cache>/pose_dataset.npz \
        --out server/assets/weights/motion_prior.pt --minutes 50

Each batch: ``batch`` windows of W frames (:mod:`.clip_windows`: random playback speed, mirroring, a static or
tracking camera, per-frame and temporally structured detector errors) -> their camera-frame 6D poses (the state)
and per-frame condition features (:func:`server.diffusion.condition.keypoints_to_condition`) -> noise at a random
timestep (one per window) -> L2 on the predicted noise. The condition is dropped for ``cond_dropout`` of the
windows (the unconditional prior that cleanup uses) and for ``frame_dropout`` of the other windows' frames (frames
where nobody was detected). Timesteps: half of them uniform over the whole schedule, half below ``low_t`` (where
ScoreHMR's t* = 50 and DPoser's cleanup schedule, 0.05-0.2 T, use the model). Each synthetic batch serves
``reuse`` optimiser steps with fresh timesteps and noise (making the windows costs about as much as a step).
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
from ..diffusion.condition import keypoints_to_condition
from ..diffusion.denoiser import num_parameters
from ..diffusion.motion import MotionConfig, MotionDenoiser, motion_checkpoint
from ..diffusion.schedule import cosine_alphas_cumprod, q_sample
from .clip_windows import ClipSet, load_clip_sets, sample_frames, stack_windows, synthesize_window
from .ema import Ema
from .loop import LOOP_ARGUMENTS, LoopConfig, add_arguments, main_of, optimiser_step, prepare, run_training

log = logging.getLogger("server.train.motion_prior")

NORM_BATCHES = 8      # batches of windows whose 6D poses give the z-score statistics


@dataclass(frozen=True)
class MotionTrainConfig(LoopConfig):
    """Everything that determines a motion prior training run (stored in the checkpoint); ``batch`` counts
    windows."""

    batch: int = 64
    lr: float = 5e-4
    min_lr: float = 5e-6
    warmup: int = 300
    val_every: int = 500
    val_size: int = 64
    calibration_steps: int = 40
    window: int = 32
    channels: int = 256
    blocks: int = 8
    cond_dropout: float = 0.2
    frame_dropout: float = 0.1
    low_t: int = 250
    reuse: int = 2


def make_windows(skinning: LandmarkSkinning, clips: ClipSet, count: int, window: int,
                 g: torch.Generator) -> Dict[str, Tensor]:
    """``count`` synthetic windows -> x0 (B, W, 144) camera-frame 6D poses, cond (B, W, C) condition features."""
    with torch.no_grad():
        views = stack_windows([synthesize_window(skinning, clips, int(f), window, g)
                               for f in sample_frames(clips, count, g)])
    b, w = views["x0"].shape[:2]
    cond = keypoints_to_condition(views["keypoints"].reshape(b * w, -1, 3), views["world"].reshape(b * w, -1, 3),
                                  use_world=True)
    return {"x0": views["x0"], "cond": cond.reshape(b, w, -1)}


def sample_timesteps(count: int, num_timesteps: int, low_t: int, g: torch.Generator) -> Tensor:
    """(count,) timesteps: even rows uniform over [0, T), odd rows uniform over [0, low_t)."""
    full = torch.randint(num_timesteps, (count,), generator=g)
    low = torch.randint(max(1, min(low_t, num_timesteps)), (count,), generator=g)
    return torch.where(torch.arange(count) % 2 == 0, full, low)


def condition_mask(b: int, w: int, cond_dropout: float, frame_dropout: float, g: torch.Generator) -> Tensor:
    """(B, W) bool: False where the condition is dropped (whole windows, then single frames)."""
    keep_window = torch.rand(b, 1, generator=g) >= cond_dropout
    return keep_window & (torch.rand(b, w, generator=g) >= frame_dropout)


def motion_loss(model: MotionDenoiser, x0: Tensor, cond: Tensor, mask: Tensor, t: Tensor, noise: Tensor,
                alphas: Tensor) -> Tensor:
    """Mean squared error of the predicted noise; x0 (B, W, 144) 6D poses (normalised here), t (B,) -> scalar."""
    x_t = q_sample(model.normalize(x0), t, noise, alphas)
    return torch.mean((model(x_t, t, cond, mask) - noise) ** 2)


def build(cfg: MotionTrainConfig) -> Dict[str, Any]:
    """Model, EMA, optimiser, data and the fixed validation windows of a run."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, val = load_clip_sets(cfg.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    model = MotionDenoiser(MotionConfig(window=cfg.window, channels=cfg.channels, num_blocks=cfg.blocks))
    alphas = cosine_alphas_cumprod(model.config.num_timesteps)
    poses = torch.cat([make_windows(skinning, train, cfg.batch, cfg.window, g)["x0"].reshape(-1, 144)
                       for _ in range(NORM_BATCHES)])
    model.set_normalization(poses)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    fixed = None
    if len(val):
        vg = torch.Generator().manual_seed(cfg.seed + 1)
        fixed = make_windows(skinning, val, cfg.val_size, cfg.window, vg)
        n = fixed["x0"].shape[0]
        fixed["t"] = torch.randint(model.config.num_timesteps, (n,), generator=vg)
        fixed["t_low"] = torch.randint(cfg.low_t, (n,), generator=vg)
        fixed["noise"] = torch.randn(fixed["x0"].shape, generator=vg)
    else:
        log.warning("the dataset has no 'val' frames: no validation loss")
    log.info("motion prior: %d parameters (%s); %d train / %d val frames", num_parameters(model),
             model.config.to_dict(), len(train), len(val))
    return {"model": model, "ema": Ema(model, cfg.ema), "opt": opt, "skinning": skinning, "train": train,
            "alphas": alphas, "g": g, "fixed": fixed, "batch": None, "uses": 0,
            "train_frames": len(train), "val_frames": len(val)}


@torch.no_grad()
def validate(run: Dict[str, Any]) -> Dict[str, float]:
    """Validation losses of the EMA model with and without the condition, over all and over low timesteps."""
    fixed = run["fixed"]
    if fixed is None:
        return {"val_loss": float("nan")}
    model, alphas = run["ema"].model, run["alphas"]
    b, w = fixed["x0"].shape[:2]
    out = {}
    for name, mask in (("", torch.ones(b, w, dtype=torch.bool)), ("_uncond", torch.zeros(b, w, dtype=torch.bool))):
        for band, t in (("", fixed["t"]), ("_low_t", fixed["t_low"])):
            out[f"val_loss{name}{band}"] = float(motion_loss(model, fixed["x0"], fixed["cond"], mask, t,
                                                             fixed["noise"], alphas))
    return out


def train_step(run: Dict[str, Any], cfg: MotionTrainConfig, lr: float) -> float:
    """One optimiser step (a new synthetic batch every ``reuse`` steps) + EMA update -> the batch loss."""
    if run["batch"] is None or run["uses"] >= cfg.reuse:
        run["batch"], run["uses"] = make_windows(run["skinning"], run["train"], cfg.batch, cfg.window, run["g"]), 0
    run["uses"] += 1
    batch, g, model = run["batch"], run["g"], run["model"]
    b, w = batch["x0"].shape[:2]
    t = sample_timesteps(b, model.config.num_timesteps, cfg.low_t, g)
    noise = torch.randn(batch["x0"].shape, generator=g)
    mask = condition_mask(b, w, cfg.cond_dropout, cfg.frame_dropout, g)
    return optimiser_step(run, lr, motion_loss(model, batch["x0"], batch["cond"], mask, t, noise, run["alphas"]))


def train(cfg: MotionTrainConfig) -> Dict[str, Any]:
    """Run the training described by ``cfg``; writes the checkpoint and returns its figures."""
    prepare(cfg)
    run = build(cfg)
    return run_training(cfg, "motion prior", run, lambda lr: train_step(run, cfg, lr), lambda: validate(run),
                        motion_checkpoint, num_parameters(run["model"]), train_frames=run["train_frames"],
                        val_frames=run["val_frames"])


def parse_args(argv: Optional[Sequence[str]] = None) -> MotionTrainConfig:
    p = argparse.ArgumentParser(prog="python -m server.train.motion_prior", description=__doc__.split("\n\n")[0])
    add_arguments(p, MotionTrainConfig(dataset="", out=""), LOOP_ARGUMENTS + (
        "window", "channels", "blocks", "cond_dropout", "frame_dropout", "low_t", "reuse"), "motion_prior.pt")
    return MotionTrainConfig(**vars(p.parse_args(argv)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return main_of(parse_args(argv), train, log)


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the diffusion prior (ScoreHMR's denoiser) on mocap poses with synthetic keypoint conditions.

    python -m server.train.prior --dataset <cache>/pose_dataset.npz --out server/assets/weights/prior.pt --minutes 55

Each step: a batch of poses (train split, mirrored copies included) -> a random camera view of each
(:mod:`.synthetic_views`) -> the condition features (:func:`server.diffusion.condition.keypoints_to_condition`) ->
noise at a random timestep -> L2 on the predicted noise, condition dropped for ``cond_dropout`` of the rows.
AdamW, linear warm-up then cosine decay, EMA 0.995 (the EMA weights are what is saved and validated).

Time budget: with ``--minutes`` and no ``--steps`` the run measures its speed over the first
``calibration_steps`` and fixes the total step count from it (logged and stored in the checkpoint); the learning-rate
schedule is a function of the step only, so ``--steps <that count>`` reproduces the run exactly (same seed, same
torch, same thread count). The time limit still stops a run that slows down later.
Output: ``--out`` (torch.save of plain types + tensors; loads with ``torch.load(weights_only=True)``), a JSON
sidecar with the config and figures next to it, and a log file (``--log``, default ``<out>.log``).
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
from ..diffusion.denoiser import Denoiser, DenoiserConfig, checkpoint_dict, num_parameters
from ..diffusion.schedule import cosine_alphas_cumprod, q_sample
from .ema import Ema
from .loop import LOOP_ARGUMENTS, LoopConfig, add_arguments, main_of, optimiser_step, prepare, run_training
from .pose_data import load_training_set
from .synthetic_views import synthesize_views

log = logging.getLogger("server.train.prior")


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """Everything that determines a prior training run (stored in the checkpoint)."""

    cond_dropout: float = 0.2
    hidden: int = 1024
    use_world: bool = True


class Batches:
    """Random training batches: x0 (B, 144) camera-frame 6D poses and their condition features (B, C)."""

    def __init__(self, poses: Tensor, skinning: LandmarkSkinning, use_world: bool, g: torch.Generator,
                 weights: Optional[Tensor] = None) -> None:
        self.poses, self.skinning, self.use_world, self.g = poses, skinning, use_world, g
        self.weights = weights  # (N,) sampling weights (source-balanced), or None for uniform

    def sample(self, batch: int) -> Dict[str, Tensor]:
        if self.weights is None:
            idx = torch.randint(len(self.poses), (batch,), generator=self.g)
        else:
            idx = torch.multinomial(self.weights, batch, replacement=True, generator=self.g)
        return self.views(self.poses[idx])

    def views(self, poses: Tensor) -> Dict[str, Tensor]:
        v = synthesize_views(self.skinning, poses, self.g)
        return {"x0": v.x0, "cond": keypoints_to_condition(v.keypoints, v.world, self.use_world)}


NORM_BATCHES = 32  # batches of synthetic views whose 6D poses give the z-score statistics


def diffusion_loss(model: Denoiser, x0: Tensor, cond: Tensor, cond_mask: Tensor, t: Tensor, noise: Tensor,
                   alphas_cumprod: Tensor) -> Tensor:
    """Mean squared error of the predicted noise; x0 (B, 144) 6D poses (normalised here), t (B,) -> scalar."""
    x_t = q_sample(model.normalize(x0), t, noise, alphas_cumprod)
    return torch.mean((model(x_t, t, cond, cond_mask) - noise) ** 2)


def _validation_set(batches: Batches, val: Tensor, cfg: TrainConfig, ac: Tensor) -> Optional[Dict[str, Tensor]]:
    """A fixed validation batch (own generator: independent of the training stream)."""
    if len(val) == 0:
        log.warning("the dataset has no 'val' frames: no validation loss")
        return None
    g = torch.Generator().manual_seed(cfg.seed + 1)
    idx = torch.randperm(len(val), generator=g)[:cfg.val_size]
    fixed = Batches(val[idx], batches.skinning, cfg.use_world, g).views(val[idx])
    n = len(idx)
    fixed["t"] = torch.randint(len(ac), (n,), generator=g)
    fixed["noise"] = torch.randn(fixed["x0"].shape, generator=g)
    return fixed


@torch.no_grad()
def validate(model: Denoiser, fixed: Optional[Dict[str, Tensor]], ac: Tensor) -> Dict[str, float]:
    """Validation losses with and without the condition (NaN when there is no validation set)."""
    if fixed is None:
        return {"val_loss": float("nan"), "val_loss_uncond": float("nan")}
    n = fixed["x0"].shape[0]
    out = {}
    for key, mask in (("val_loss", torch.ones(n, dtype=torch.bool)), ("val_loss_uncond", torch.zeros(n, dtype=torch.bool))):
        out[key] = float(diffusion_loss(model, fixed["x0"], fixed["cond"], mask, fixed["t"], fixed["noise"], ac))
    return out


def build(cfg: TrainConfig) -> Dict[str, Any]:
    """Model, EMA, optimiser, data and the fixed validation set of a run."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, val, weights = load_training_set(cfg.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    model = Denoiser(DenoiserConfig(hidden=cfg.hidden, use_world=cfg.use_world))
    ac = cosine_alphas_cumprod(model.config.num_timesteps)
    batches = Batches(train, skinning, cfg.use_world, g, weights)
    model.set_normalization(torch.cat([batches.sample(cfg.batch)["x0"] for _ in range(NORM_BATCHES)]))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    log.info("denoiser: %d parameters (%s); %d train / %d val poses", num_parameters(model),
             model.config.to_dict(), len(train), len(val))
    return {"model": model, "ema": Ema(model, cfg.ema), "opt": opt, "batches": batches, "ac": ac, "g": g,
            "fixed": _validation_set(batches, val, cfg, ac), "train_poses": len(train), "val_poses": len(val)}


def train_step(run: Dict[str, Any], cfg: TrainConfig, lr: float) -> float:
    """One optimiser step + EMA update -> the batch loss."""
    model, g, ac = run["model"], run["g"], run["ac"]
    batch = run["batches"].sample(cfg.batch)
    n = batch["x0"].shape[0]
    mask = torch.rand(n, generator=g) >= cfg.cond_dropout
    t = torch.randint(len(ac), (n,), generator=g)
    noise = torch.randn(batch["x0"].shape, generator=g)
    return optimiser_step(run, lr, diffusion_loss(model, batch["x0"], batch["cond"], mask, t, noise, ac))


def train(cfg: TrainConfig) -> Dict[str, Any]:
    """Run the training described by ``cfg``; writes the checkpoint and returns its figures."""
    prepare(cfg)
    run = build(cfg)
    return run_training(cfg, "prior", run, lambda lr: train_step(run, cfg, lr),
                        lambda: validate(run["ema"].model, run["fixed"], run["ac"]), checkpoint_dict,
                        num_parameters(run["model"]), train_poses=run["train_poses"], val_poses=run["val_poses"])


def parse_args(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m server.train.prior", description=__doc__.split("\n\n")[0])
    add_arguments(p, TrainConfig(dataset="", out=""), LOOP_ARGUMENTS + ("cond_dropout", "hidden"), "prior.pt")
    p.add_argument("--no-world", dest="use_world", action="store_false", help="condition on 2D keypoints only")
    args = p.parse_args(argv)
    return TrainConfig(**vars(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return main_of(parse_args(argv), train, log)


if __name__ == "__main__":
    raise SystemExit(main())

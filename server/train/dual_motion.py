"""Train the dual-mode motion model (:mod:`server.dual.dual_network`): initial estimate and prior in one.

    python -m server.train.dual_motion --dataset <cache>/pose_dataset.npz \
        --out server/assets/weights/dual_motion.pt --minutes 50

Windows as for the temporal regressor (:mod:`.clip_windows`: ``window + 2 * context`` frames, random speed,
mirroring, static or tracking camera, per-frame and temporally structured detector errors, the frames whose
arms / legs were swapped left/right recorded), the frozen per-frame regressor (the shipped ``regressor.pt``, or
``--frame``) on every frame. Every batch trains both modes (GENMO's dual-mode training):

- **regression** (the first half of the windows): t = T - 1, z_t = 0, condition on; the temporal regressor's loss
  on the ``window`` middle frames (:func:`.temporal_regressor.temporal_loss`: rotations, 5 x joints, camera,
  0.05 x betas, 10 x joint velocity) + SWAP_WEIGHT x the swap head's binary cross-entropy against the recorded
  swaps;
- **diffusion** (the other half): t ~ U[0, T), the whole input window (context frames too) noised at that one
  level; the x0 loss of the middle frames (rotation-matrix error + 5 x pelvis-centred joint error in metres of
  x0_hat against the truth, with the true betas), per window weighted by ``min(SNR(t) + 1, gamma)`` with
  gamma = 5 and normalised by the batch's weight sum. In v terms (the network's output, ``||v - v*||^2 =
  (SNR + 1) ||x0 - x0*||^2``) that is the plain v-loss capped at gamma where the signal dominates (Min-SNR's
  cap); unlike Min-SNR's x0 weight ``min(SNR, gamma)`` it does not vanish at high noise, where the weight tends
  to 1: the regression loss's. Condition dropout: 15% of the diffusion windows lose all evidence, and 10% of the
  frames of the others (frames where nobody was detected).
- **estimate refinement** (``--estimate-share`` of the diffusion windows, off by default): z_t noised, at
  ``t ~ U[estimate_t / 2, 3 estimate_t / 2)``, from an ESTIMATE instead of the truth (the frozen per-frame
  regressor's poses over the whole window, low-passed over ESTIMATE_SMOOTH frames as a temporal start is); the
  target is still the truth, so the diffusion mode learns to correct a start's systematic error, not only to
  denoise a true pose. The checkpoint then records ``estimate_t``, and ScoreHMR runs with this model start from
  fresh noise at that t* (SDEdit) instead of the deterministic inversion (:meth:`RefineSettings.for_prior`).
  ``--init`` starts from an earlier dual checkpoint (its weights and z-score statistics).

World landmarks are withheld from 15% of the windows. AdamW, warm-up + cosine decay, EMA 0.995; time budget and
``--steps`` reproduction as for the other trainers (:mod:`.loop`).
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
from ..dual.dual_network import DualConfig, DualMotionModel, dual_checkpoint, load_dual_motion, num_trainable
from ..diffusion.schedule import q_sample
from ..regressor.network import load_regressor
from ..weights import load_state_dict_strict
from .clip_windows import ClipSet, load_clip_sets, sample_frames, stack_windows, synthesize_window_with_swaps
from .ema import Ema
from .loop import LOOP_ARGUMENTS, add_arguments, main_of, optimiser_step, prepare, run_training
from .regressor import JOINT_WEIGHT
from .temporal_regressor import TemporalTrainConfig, temporal_loss, window_inputs

log = logging.getLogger("server.train.dual_motion")

SNR_GAMMA = 5.0
ESTIMATE_SMOOTH = 5
SWAP_WEIGHT = 1.0
NORM_WINDOWS = 256


@dataclass(frozen=True)
class DualTrainConfig(TemporalTrainConfig):
    """Everything that determines a dual motion model training run (stored in the checkpoint): the temporal
    regressor's run (``batch`` counts windows, half of them in each mode here; ``window`` the supervised frames of
    each; ``frame`` the per-frame regressor, '' = the shipped one) plus the condition dropout of the diffusion
    windows (whole windows) and of the frames of the others."""

    cond_dropout: float = 0.15
    frame_dropout: float = 0.1
    estimate_share: float = 0.0
    estimate_t: int = 200
    init: str = ""


def make_batch(skinning: LandmarkSkinning, model: DualMotionModel, clips: ClipSet, count: int, window: int,
               g: torch.Generator) -> Dict[str, Any]:
    """``count`` windows of T = window + 2 * context frames -> the temporal regressor's inputs and targets
    (:func:`.temporal_regressor.window_inputs`: features, frame outputs, fps, x_all (B, T, 144), x, betas, cam of
    the middle ``window`` frames) + swap (B, W, 2) float: the frames whose arms / legs were swapped."""
    length = window + 2 * model.context
    samples = [synthesize_window_with_swaps(skinning, clips, int(f), length, g)
               for f in sample_frames(clips, count, g)]
    batch: Dict[str, Any] = window_inputs(skinning, model, stack_windows([(v, speed) for v, speed, _ in samples]), g)
    k = model.context
    batch["swap"] = torch.stack([s for _, _, s in samples])[:, k:length - k].float()
    return batch


def assign_modes(model: DualMotionModel, batch: Dict[str, Any], cfg: DualTrainConfig,
                 g: torch.Generator) -> Dict[str, Tensor]:
    """The network's state inputs for a batch: reg (B,) bool (the first half: regression mode), t (B,),
    z_t (B, T, 144) (zero in regression mode; one noise level per window, context frames included),
    flag (B, T) bool (condition dropout on the diffusion windows only)."""
    x = batch["x_all"]
    b, n = x.shape[:2]
    reg = torch.arange(b) < b // 2
    steps = model.config.num_timesteps
    t = torch.where(reg, steps - 1, torch.randint(steps, (b,), generator=g))
    noise = torch.randn(x.shape, generator=g)
    est = ~reg & (torch.rand(b, generator=g) < cfg.estimate_share)
    if est.any():
        lo = max(1, cfg.estimate_t // 2)
        t = torch.where(est, torch.randint(lo, lo + cfg.estimate_t, (b,), generator=g), t)
        x = torch.where(est[:, None, None], low_passed(batch["frame"]["x"]), x)
    z_t = q_sample(model.normalize(x).reshape(b, -1), t, noise.reshape(b, -1), model.alphas_cumprod).reshape(x.shape)
    z_t = torch.where(reg[:, None, None], torch.zeros(()), z_t)
    drop_window = torch.rand(b, 1, generator=g) < cfg.cond_dropout
    drop_frame = torch.rand(b, n, generator=g) < cfg.frame_dropout
    flag = reg[:, None] | ~(drop_window | drop_frame)
    return {"reg": reg, "t": t, "z_t": z_t, "flag": flag, "estimate": est}


def low_passed(x: Tensor, width: int = ESTIMATE_SMOOTH) -> Tensor:
    """(B, T, C) per-frame estimates -> the same, box-filtered over ``width`` frames (edges repeated)."""
    pad = width // 2
    padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
    return padded.unfold(1, width, 1).mean(-1)


def forward(model: DualMotionModel, batch: Dict[str, Any], state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    evidence = model.evidence(batch["features"], batch["frame"])
    return model(state["z_t"], state["t"], evidence, state["flag"], batch["fps"])


def snr_weight(model: DualMotionModel, t: Tensor) -> Tensor:
    """(B,) timesteps -> (B,) x0-loss weights min(SNR + 1, gamma) (module docstring)."""
    a = model.alphas_cumprod[t]
    return torch.clamp(a / (1.0 - a) + 1.0, max=SNR_GAMMA)


def x0_loss(skinning: LandmarkSkinning, x: Tensor, batch: Dict[str, Tensor]) -> Tensor:
    """Predicted 6D poses x (B, W, 144) of diffusion windows -> (B,) per-window rotation-matrix error +
    JOINT_WEIGHT x pelvis-centred joint error (metres), against the true poses with the true betas."""
    b, w = x.shape[:2]
    rot_pred, rot_true = x_to_rotmats(x.reshape(b * w, -1)), x_to_rotmats(batch["x"].reshape(b * w, -1))
    betas = batch["betas"].reshape(b * w, -1)
    rotation = ((rot_pred - rot_true) ** 2).sum((-1, -2)).mean(-1).reshape(b, w).mean(1)
    j_pred, _ = skinning(rot_pred, betas)
    with torch.no_grad():
        j_true, _ = skinning(rot_true, betas)
    joints = ((j_pred - j_pred[:, :1]) - (j_true - j_true[:, :1])).norm(dim=-1).mean(-1).reshape(b, w).mean(1)
    return rotation + JOINT_WEIGHT * joints


def dual_loss(skinning: LandmarkSkinning, model: DualMotionModel, out: Dict[str, Tensor], batch: Dict[str, Any],
              state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Both modes' losses (module docstring): total and its parts."""
    reg = state["reg"]
    pick = lambda d, keys, rows: {key: d[key][rows] for key in keys}   # noqa: E731
    parts = {"reg_" + k: v for k, v in temporal_loss(skinning, pick(out, ("x", "betas", "cam"), reg),
                                                     pick(batch, ("x", "betas", "cam"), reg)).items()}
    swap = torch.nn.functional.binary_cross_entropy_with_logits(out["swap"][reg], batch["swap"][reg])
    diff = ~reg
    per_window = x0_loss(skinning, out["x"][diff], pick(batch, ("x", "betas"), diff))
    w = snr_weight(model, state["t"][diff])
    x0 = (w * per_window).sum() / w.sum()
    parts.update({"swap_bce": swap, "x0": x0, "x0_unweighted": per_window.mean()})
    from_estimate = state["estimate"][diff]
    if from_estimate.any():
        parts["x0_from_estimate"] = per_window[from_estimate].mean()
    parts["total"] = parts["reg_total"] + SWAP_WEIGHT * swap + x0
    return parts


def build(cfg: DualTrainConfig) -> Dict[str, Any]:
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, val = load_clip_sets(cfg.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    frame = load_regressor(cfg.frame or None)
    for p in frame.parameters():
        p.requires_grad_(False)
    estimate_t = cfg.estimate_t if cfg.estimate_share > 0 else 0
    model = DualMotionModel(DualConfig(channels=cfg.channels, estimate_t=estimate_t), frame)
    length = cfg.window + 2 * model.context
    if cfg.init:   # every weight and statistic of the earlier run, strictly; the frozen frame regressor stays ours
        own = {k: v for k, v in model.state_dict().items() if k.startswith("frame.")}
        earlier = {k: v for k, v in load_dual_motion(cfg.init).state_dict().items() if not k.startswith("frame.")}
        load_state_dict_strict(model, {**earlier, **own}, cfg.init)
        log.info("starting from %s", cfg.init)
    else:
        with torch.no_grad():
            poses = stack_windows([synthesize_window_with_swaps(skinning, train, int(f), length, g)[:2]
                                   for f in sample_frames(train, NORM_WINDOWS, g)])["x0"]
        model.set_normalization(poses.reshape(-1, poses.shape[-1]))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    fixed = None
    if len(val):
        vg = torch.Generator().manual_seed(cfg.seed + 1)
        with torch.no_grad():
            fixed = make_batch(skinning, model, val, cfg.val_size, cfg.window, vg)
            fixed["state"] = assign_modes(model, fixed, cfg, vg)
    else:
        log.warning("the dataset has no 'val' frames: no validation loss")
    log.info("dual motion model: %d trainable parameters (%s), context %d frames; %d train / %d val frames",
             num_trainable(model), model.config.to_dict() | {"frame": "..."}, model.context, len(train), len(val))
    return {"model": model, "ema": Ema(model, cfg.ema), "opt": opt, "skinning": skinning, "train": train,
            "g": g, "fixed": fixed, "train_frames": len(train), "val_frames": len(val)}


@torch.no_grad()
def validate(run: Dict[str, Any]) -> Dict[str, float]:
    """Validation losses of the EMA model on the fixed held-out windows (fixed modes, timesteps, noise and
    dropout), the diffusion windows' x0 loss also without any condition, and the per-frame regressor's loss."""
    fixed = run["fixed"]
    if fixed is None:
        return {"val_loss": float("nan")}
    model, skinning, state = run["ema"].model, run["skinning"], fixed["state"]
    parts = dual_loss(skinning, model, forward(model, fixed, state), fixed, state)
    out = {"val_" + name if name != "total" else "val_loss": float(v) for name, v in parts.items()}
    off = dict(state, flag=state["reg"][:, None].expand_as(state["flag"]).clone())
    out["val_x0_uncond"] = float(dual_loss(skinning, model, forward(model, fixed, off), fixed, off)["x0"])
    k, reg = model.context, state["reg"]
    frame_only = {key: fixed["frame"][key][reg][:, k:-k] for key in ("x", "betas", "cam")}
    base = temporal_loss(skinning, frame_only, {key: fixed[key][reg] for key in ("x", "betas", "cam")})
    out.update({"frame_val_loss": float(base["total"]), "frame_val_joints_m": float(base["joints_m"])})
    return out


def train_step(run: Dict[str, Any], cfg: DualTrainConfig, lr: float) -> float:
    model, g = run["model"], run["g"]
    with torch.no_grad():
        batch = make_batch(run["skinning"], model, run["train"], cfg.batch, cfg.window, g)
        state = assign_modes(model, batch, cfg, g)
    out = forward(model, batch, state)
    return optimiser_step(run, lr, dual_loss(run["skinning"], model, out, batch, state)["total"])


def train(cfg: DualTrainConfig) -> Dict[str, Any]:
    """Run the training described by ``cfg``; writes the checkpoint and returns its figures."""
    prepare(cfg)
    run = build(cfg)
    run["model"].frame.eval()
    return run_training(cfg, "dual motion model", run, lambda lr: train_step(run, cfg, lr), lambda: validate(run),
                        dual_checkpoint, num_trainable(run["model"]), train_frames=run["train_frames"],
                        val_frames=run["val_frames"])


def parse_args(argv: Optional[Sequence[str]] = None) -> DualTrainConfig:
    p = argparse.ArgumentParser(prog="python -m server.train.dual_motion", description=__doc__.split("\n\n")[0])
    add_arguments(p, DualTrainConfig(dataset="", out=""),
                  LOOP_ARGUMENTS + ("window", "channels", "cond_dropout", "frame_dropout", "frame", "estimate_share",
                                    "estimate_t", "init"), "dual_motion.pt")
    return DualTrainConfig(**vars(p.parse_args(argv)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    return main_of(parse_args(argv), train, log)


if __name__ == "__main__":
    raise SystemExit(main())

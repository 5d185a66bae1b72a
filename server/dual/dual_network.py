"""The dual-mode motion model: one sequence network that is both the initial estimate and the diffusion prior.

GENMO's idea applied to the temporal regressor (:mod:`server.regressor.temporal`) and the motion prior
(:mod:`server.diffusion.motion`). State: the z-scored 144-D 6D pose of every frame (camera-frame root orientation + 23 joints),
the state ScoreHMR refines, with the z-score statistics of training windows stored as buffers (:class:`ZScored`).

Per frame the network reads (a) the evidence, as the temporal regressor does: the frozen per-frame regressor's
hidden features, pose, camera and betas and the frame's own input features; (b) the noisy state z_t (144);
(c) a "has condition" flag and (d) the footage's frame rate (``log(fps / 30)``). Frames without a condition
(condition dropout in training; nobody detected, or cleanup with no footage at run time) get all-zero evidence and
the flag 0. Then dilated VALID temporal convolutions (dilations 1, 2, 4, 8, 16: 31 frames of context on each side,
channels 256), each block ``LayerNorm -> x (1 + scale(t)) + shift(t) -> Conv1d(k 3, dilation d) -> GELU ->
Conv1d(1)`` added to its (cropped) input; T input frames give T - 2 * context output frames.

Outputs per frame: the pose as **v-prediction** (``v = sqrt(abar) eps - sqrt(1 - abar) x0``), read as
``x0_hat = sqrt(abar) z_t - sqrt(1 - abar) v`` and ``eps_hat = sqrt(1 - abar) z_t + sqrt(abar) v``. The head
predicts ``-v`` as ``sqrt(1 - abar) * flag * normalize(x_frame) + head(h)``: the per-frame regressor's pose is the
best linear guess of -v at high noise and fades out where the state itself carries the pose, and with the heads
zero at initialisation an untrained model in regression mode *is* the per-frame regressor (as the temporal
regressor starts). v rather than x0 because the noise estimate ScoreHMR needs comes without dividing by
``sqrt(1 - abar)`` (0.006 at t = 0, which would multiply an x0 error by 160). Plus camera (3) and betas heads
(corrections to the per-frame regressor's, used in regression mode) and a left/right swap head: 2 logits per
frame (arms swapped, legs swapped in the detector's evidence).

**Regression mode**: t = T - 1 and z_t = 0 (the empty state) with the condition on; its x0, camera and betas are
the capture's initial estimate. **Diffusion mode**: any t, z_t the noisy state of the whole input window.
Streaming over clips of any length: :mod:`.stream`.
"""
from __future__ import annotations

import logging

from dataclasses import asdict, dataclass, replace
from os import PathLike
from typing import Any, Dict, Mapping, Optional, Tuple, Union, cast

import torch
from torch import Tensor, nn

from ..body.rot6d import POSE_6D_DIM
from ..regressor.network import Regressor, RegressorConfig
from ..regressor.temporal import fps_feature
from ..diffusion.denoiser import ZScored, timestep_embedding
from ..diffusion.schedule import NUM_TIMESTEPS, Timestep, alpha_bar, cosine_alphas_cumprod

log = logging.getLogger(__name__)

DUAL_CHECKPOINT_FORMAT = "blender_scorehmr.dual_motion"
DUAL_CHECKPOINT_VERSION = 1
DUAL_WEIGHTS_NAME = "dual_motion.pt"
SWAP_PARTS = ("arms", "legs")
_FULL_PRECISION = ("x_mean", "x_std")    # the z-score buffers stay float32 in the checkpoint


@dataclass(frozen=True)
class DualConfig:
    """Shape of the dual-mode model; stored in its checkpoint as plain types (``frame``: the per-frame
    regressor's config as a dict)."""

    channels: int = 256
    dilations: Tuple[int, ...] = (1, 2, 4, 8, 16)
    time_dim: int = 256
    num_timesteps: int = NUM_TIMESTEPS
    frame: Optional[Dict[str, Any]] = None
    estimate_t: int = 0      # > 0: also trained to refine a diffused estimate from this noise level (t*, SDEdit)

    @property
    def context(self) -> int:
        """Frames each output frame sees on either side."""
        return sum(self.dilations)

    @property
    def use_world(self) -> bool:
        """Whether the evidence includes BlazePose world landmarks (ScoreHMR's run reads it from the prior)."""
        return self.frame_config().use_world

    def frame_config(self) -> RegressorConfig:
        return RegressorConfig.from_dict(self.frame) if self.frame else RegressorConfig()

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["dilations"] = list(self.dilations)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DualConfig":
        """Rejects unknown keys (:func:`server.weights.config_from_dict`)."""
        from ..weights import config_from_dict
        config = config_from_dict(cls, data, "dual motion model")
        return cls(config.channels, tuple(int(d) for d in config.dilations), config.time_dim,
                   config.num_timesteps, config.frame, int(config.estimate_t))


class DualBlock(nn.Module):
    """h (B, C, T), time embeddings (U, D) of the distinct timesteps, index (B, T) or (B, 1) into them ->
    (B, C, T - 2d): h (cropped) + Conv1x1(GELU(DilatedConv(LayerNorm(h) x (1 + scale) + shift)))."""

    def __init__(self, channels: int, time_dim: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.norm = nn.LayerNorm(channels)
        self.scale_shift = nn.Sequential(nn.GELU(), nn.Linear(time_dim, 2 * channels))
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor, temb: Tensor, index: Tensor) -> Tensor:
        scale, shift = self.scale_shift(temb)[index].chunk(2, dim=-1)            # (B, T|1, C) each
        y = (self.norm(h.transpose(1, 2)) * (1.0 + scale) + shift).transpose(1, 2)
        d = self.dilation
        return h[:, :, d:-d] + self.mix(nn.functional.gelu(self.conv(y)))


class DualMotionModel(ZScored, nn.Module):
    """Evidence + noisy state of T frames -> pose (v, x0, x), camera, betas and swap logits of the T - 2 * context
    middle frames (module docstring). The per-frame regressor is frozen inside (its weights in the checkpoint)."""

    alphas_cumprod: Tensor   # buffer, registered in __init__

    def __init__(self, config: DualConfig = DualConfig(), frame: Optional[Regressor] = None) -> None:
        super().__init__()
        self.frame = frame if frame is not None else Regressor(config.frame_config())
        fc = self.frame.config
        self.config = replace(config, frame=fc.to_dict())
        c, p = config.channels, POSE_6D_DIM
        self.evidence_in = nn.Linear(fc.hidden + p + 3 + fc.num_betas + fc.input_dim, c, bias=False)
        self.state_in = nn.Linear(p + 2, c)                  # z_t, the condition flag, the frame-rate feature
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, config.time_dim), nn.GELU(),
                                      nn.Linear(config.time_dim, config.time_dim))
        self.blocks = nn.ModuleList(DualBlock(c, config.time_dim, d) for d in config.dilations)
        self.norm = nn.LayerNorm(c)
        self.pose_head = nn.Linear(c, p)
        self.cam_head = nn.Linear(c, 3)
        self.betas_head = nn.Linear(c, fc.num_betas)
        self.swap_head = nn.Linear(c, len(SWAP_PARTS))
        for head in (self.pose_head, self.cam_head, self.betas_head, self.swap_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.register_normalization(p)
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(config.num_timesteps), persistent=False)

    @property
    def context(self) -> int:
        return self.config.context

    def frame_outputs(self, features: Tensor) -> Dict[str, Tensor]:
        """features (M, F) -> the per-frame regressor's outputs (x, betas, cam, hidden), without gradients."""
        with torch.no_grad():
            return self.frame(features)

    def evidence(self, features: Tensor, frame: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Frame inputs (..., F) and their :meth:`frame_outputs` (...,  per key) -> the evidence the network reads:
        proj (..., C) its input projection (computed once per clip at run time), x (..., 144), cam (..., 3),
        betas (..., nb) the per-frame regressor's estimate."""
        per = torch.cat([frame["hidden"], frame["x"], frame["cam"], frame["betas"], features], -1)
        return {"proj": self.evidence_in(per), "x": frame["x"], "cam": frame["cam"], "betas": frame["betas"]}

    def forward(self, z_t: Tensor, t: Timestep, evidence: Optional[Mapping[str, Tensor]], flag: Optional[Tensor],
                fps: Tensor) -> Dict[str, Tensor]:
        """z_t (B, T, 144) z-scored noisy poses; t an int, (B,) per window or (B, T) per frame; evidence
        (:meth:`evidence`, each (B, T, ...)) or None = no condition anywhere; flag (B, T) bool, False where the
        evidence is withheld (None: on everywhere); fps (B,) -> dict with T' = T - 2 * context middle frames:
        v, x0 (B, T', 144) z-scored, x (B, T', 144) 6D poses, cam (B, T', 3), betas (B, T', nb), swap (B, T', 2)
        logits (arms, legs)."""
        b, n = z_t.shape[:2]
        k = self.context
        if n <= 2 * k:
            raise ValueError(f"the dual motion model needs more than {2 * k} input frames, got {n}")
        tt = torch.as_tensor(t, device=z_t.device, dtype=torch.long)
        tt = tt.reshape(1, 1).expand(b, 1) if tt.dim() == 0 else (tt[:, None] if tt.dim() == 1 else tt)
        on = torch.zeros(b, n, 1, dtype=z_t.dtype, device=z_t.device)
        if evidence is not None:
            on = on + (1.0 if flag is None else flag.to(z_t).reshape(b, n, 1))
        rate = fps_feature(torch.as_tensor(fps).to(z_t)).reshape(-1, 1, 1).expand(b, n, 1)
        h = self.state_in(torch.cat([z_t, on, rate], -1))
        if evidence is not None:
            h = h + on * evidence["proj"]
        uniq, index = torch.unique(tt, return_inverse=True)
        temb = self.time_mlp(timestep_embedding(uniq, self.config.time_dim))
        h = h.transpose(1, 2)
        for block in self.blocks:
            h = block(h, temb, index)
            d = cast(DualBlock, block).dilation
            index = index[:, d:-d] if index.shape[1] > 1 else index
        h = self.norm(h.transpose(1, 2))
        return self._heads(h, z_t[:, k:n - k], tt if tt.shape[1] == 1 else tt[:, k:n - k], evidence, on[:, k:n - k])

    def _heads(self, h: Tensor, z_t: Tensor, t: Tensor, evidence: Optional[Mapping[str, Tensor]],
               on: Tensor) -> Dict[str, Tensor]:
        """Trunk features (B, T', C), the middle frames' z_t (B, T', 144), t (B, 1|T'), evidence, flag (B, T', 1)
        -> the outputs of :meth:`forward`."""
        k, n = self.context, z_t.shape[1]
        a = self.alphas_cumprod.to(h)[t.clamp(0, self.config.num_timesteps - 1)][..., None]     # (B, 1|T', 1)
        keep = slice(k, k + n)
        frame = {key: evidence[key][:, keep] for key in ("x", "cam", "betas")} if evidence is not None else None
        minus_v = self.pose_head(h)
        cam, betas = self.cam_head(h), self.betas_head(h)
        if frame is not None:
            minus_v = minus_v + (1.0 - a).sqrt() * on * self.normalize(frame["x"])
            cam, betas = cam + on * frame["cam"], betas + on * frame["betas"]
        x0 = a.sqrt() * z_t + (1.0 - a).sqrt() * minus_v
        return {"v": -minus_v, "x0": x0, "x": self.denormalize(x0), "cam": cam, "betas": betas,
                "swap": self.swap_head(h)}


def v_to_x0(z_t: Tensor, t: Timestep, v: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """x0_hat = sqrt(abar) z_t - sqrt(1 - abar) v: (N, D) -> (N, D)."""
    a = alpha_bar(alphas_cumprod, t, z_t)
    return a.sqrt() * z_t - (1.0 - a).sqrt() * v


def v_to_eps(z_t: Tensor, t: Timestep, v: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """eps_hat = sqrt(1 - abar) z_t + sqrt(abar) v (= :func:`.schedule.predict_eps` of :func:`v_to_x0`, without
    its division by sqrt(1 - abar)): (N, D) -> (N, D)."""
    a = alpha_bar(alphas_cumprod, t, z_t)
    return (1.0 - a).sqrt() * z_t + a.sqrt() * v


def num_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def dual_checkpoint(model: DualMotionModel, figures: Optional[Mapping[str, Any]] = None,
                    training: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The dual model's checkpoint (:func:`server.weights.checkpoint_of`): float weights as float16 (as the
    temporal regressor's), the z-score statistics in float32."""
    from ..weights import checkpoint_of
    return checkpoint_of(model, DUAL_CHECKPOINT_FORMAT, DUAL_CHECKPOINT_VERSION, figures, training, half=True,
                         full_precision=_FULL_PRECISION)


def load_dual_motion(path: Optional[Union[str, PathLike]] = None, **resolve: Any) -> DualMotionModel:
    """The trained dual motion model in eval mode (resolved like the other checkpoints,
    :func:`server.weights.resolve_weights`). Raises WeightsError."""
    from ..weights import load_model
    return load_model(DUAL_WEIGHTS_NAME, path, DUAL_CHECKPOINT_FORMAT, "dual motion model",
                      lambda config: DualMotionModel(DualConfig.from_dict(config)), **resolve)


def dual_motion_or_none(what: str) -> Optional[DualMotionModel]:
    """The dual motion model, or None with a logged warning when its weights are missing or unusable (``what``:
    what is used instead, for the log)."""
    from ..errors import WeightsError
    try:
        return load_dual_motion()
    except WeightsError as exc:
        log.warning("dual motion model unavailable (%s); %s", exc.message, what)
        return None

"""The optimisation baseline: SMPLify-style fitting of the body to the same keypoints ScoreHMR is guided by.

Adam (or L-BFGS, SMPLify's optimiser) on the 6D pose of all 24 joints (joint 0 = global orientation in the camera
frame) and the camera translation, minimising, per frame,

    keypoint_loss (ScoreHMR's robust confidence^2-weighted reprojection term, server.fitting.losses)
    + pose_weight * || x_body - x_body_start ||^2 + root_weight * || x_root - x_root_start ||^2   (pull to the start)
    + temporal_weight * (|| x_{n-1} - 2 x_n + x_{n+1} ||^2 + the same on transl)               (video mode only)
    + prior_weight * || z_body - stopgrad(z0_hat(z_t))_body ||^2          (optional diffusion prior, DPoser-style)

The pose regulariser is a pull to the start (the regression) rather than SMPLify's GMM (we have none): measured on
held-out views it is what keeps the fit from trading 3D accuracy for 2D agreement. The video term penalises
acceleration by default (``temporal_order`` 1 = ScoreHMR's velocity term, which at weights that remove the jitter
also flattens real motion). The prior term is DPoser's use of a diffusion model as a regulariser:
``z = denoiser.normalize(x)``, ``z_t`` its forward diffusion with fresh noise, ``z0_hat`` the unconditional
denoiser's ONE-step clean estimate (no backprop through the network), t falling linearly from 0.12 T to 0.08 T over
the iterations (DPoser's mesh-fitting range). Our difference from DPoser: the prior is our ScoreHMR denoiser run
unconditionally on the 144-D camera-frame 6D pose; as DPoser's is a body-only prior, only the 23 body joints' part
of the term is used.

Shape is not optimised: betas are used as given, as in :func:`server.refine.scorehmr.refine` (the caller shares them
over a clip, as ScoreHMR does); a SMPLify-style shape fit would need shape evidence the 33 sparse landmarks hardly
carry. The translation is parameterised as ``(x / z, y / z, log z)`` so one learning rate moves it evenly at any
distance; it is first refit in closed form to the start pose (:func:`server.fitting.camera.fit_translation`).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.rot6d import BODY_SLICE, ROOT_SLICE, orthonormal_x
from ..diffusion.denoiser import Denoiser
from ..diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample
from ..errors import Cancelled
from ..fitting.camera import fit_translation, project
from ..fitting.losses import keypoint_loss, temporal_loss
from ..fitting.state import Estimate, Observations, posed_body

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptimiseSettings:
    """Defaults tuned on held-out synthetic views (scripts/benchmark_refine.py, regression start) for CPU budgets.

    ``lr`` is Adam's step on the 6D entries, ``camera_lr`` on ``(x / z, y / z, log z)``; both decay to
    ``final_lr_fraction`` of themselves (cosine) over ``steps``. Weights are relative to the keypoint loss (whose
    scale is ScoreHMR's: pixels rescaled to a 1000-pixel image, Geman-McClure sigma 100)."""

    steps: int = 100
    lr: float = 0.02
    camera_lr: float = 0.01
    final_lr_fraction: float = 0.1
    pose_weight: float = 3.0e4
    root_weight: float = 3.0e4
    temporal_weight: float = 1.0e5
    temporal_order: int = 2              # 1: ScoreHMR's velocity term; 2: acceleration (keeps smooth motion)
    prior_weight: float = 100.0
    prior_t_range: Tuple[float, float] = (0.12, 0.08)  # fractions of T: DPoser's mesh-fitting schedule, from first to last step
    refit_translation: bool = True
    optimizer: str = "adam"              # or "lbfgs" (SMPLify's): steps = its iterations, in rounds
    lbfgs_round: int = 10
    seed: int = 0                        # the prior's noise


def optimise(skinning: LandmarkSkinning, obs: Observations, init: Estimate,
             settings: OptimiseSettings = OptimiseSettings(), denoiser: Optional[Denoiser] = None,
             video: bool = False, cancelled: Optional[Callable[[], bool]] = None) -> Estimate:
    """Fit N frames of one view, starting from ``init`` -> Estimate (x (N, 144) orthonormal 6D, betas (N, B),
    transl (N, 3)). ``denoiser``: the unconditional prior term is added when given (and ``prior_weight`` > 0);
    ``video``: the frames are one clip in time order (temporal term on; betas used as given). ``cancelled()`` is polled
    every step and raises :class:`server.errors.Cancelled`."""
    if settings.optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {settings.optimizer!r}")
    betas = init.betas.detach()
    start = orthonormal_x(init.x.detach())
    transl = init.transl.detach()
    if settings.refit_translation:
        transl = _refit_translation(skinning, obs, start, betas, transl)
    x = start.clone().requires_grad_(True)
    cam = _transl_to_cam(transl).requires_grad_(True)
    prior = _Prior(denoiser, settings, x) if denoiser is not None and settings.prior_weight > 0 else None

    def objective(prior_target: Optional[Tensor]) -> Tensor:
        loss = _objective(skinning, obs, x, cam, betas, start, settings, video)
        if prior_target is not None:   # only with a prior, so with a denoiser
            assert denoiser is not None
            loss = loss + settings.prior_weight * ((denoiser.normalize(x) - prior_target)[:, BODY_SLICE] ** 2).sum(-1)
        return loss.sum()

    run = _run_lbfgs if settings.optimizer == "lbfgs" else _run_adam
    run(x, cam, objective, prior, settings, cancelled)
    log.debug("optimised %d frames: %d %s steps, prior %s, video %s", len(obs), settings.steps, settings.optimizer,
              prior is not None, video)
    return Estimate(orthonormal_x(x.detach()), betas, _cam_to_transl(cam.detach()))


def _run_adam(x: Tensor, cam: Tensor, objective: Callable[[Optional[Tensor]], Tensor], prior: Optional["_Prior"],
              settings: OptimiseSettings, cancelled: Optional[Callable[[], bool]]) -> None:
    """``settings.steps`` Adam steps on x and cam in place (cosine decay to ``final_lr_fraction``)."""
    opt = torch.optim.Adam([{"params": [x], "lr": settings.lr}, {"params": [cam], "lr": settings.camera_lr}])
    floor = settings.final_lr_fraction
    for step in range(settings.steps):
        _check(cancelled)
        opt.zero_grad(set_to_none=True)
        objective(None if prior is None else prior.target(x, step)).backward()
        opt.step()
        for group, base in zip(opt.param_groups, (settings.lr, settings.camera_lr)):
            group["lr"] = base * (floor + (1.0 - floor) * _cosine(step + 1, settings.steps))


def _run_lbfgs(x: Tensor, cam: Tensor, objective: Callable[[Optional[Tensor]], Tensor], prior: Optional["_Prior"],
               settings: OptimiseSettings, cancelled: Optional[Callable[[], bool]]) -> None:
    """L-BFGS (SMPLify's optimiser, strong Wolfe line search) on x and cam in place: ``settings.steps`` iterations
    in rounds of ``lbfgs_round``; the prior's target (fresh noise, the scheduled t) is renewed each round."""
    opt = torch.optim.LBFGS([x, cam], lr=1.0, max_iter=settings.lbfgs_round, history_size=20,
                            line_search_fn="strong_wolfe")
    rounds = max(1, settings.steps // settings.lbfgs_round)
    for r in range(rounds):
        _check(cancelled)
        target = None if prior is None else prior.target(x, int(r * settings.steps / rounds))

        def closure() -> Tensor:
            _check(cancelled)
            opt.zero_grad(set_to_none=True)
            loss = objective(target)
            loss.backward()
            return loss

        opt.step(closure)


def _check(cancelled: Optional[Callable[[], bool]]) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled()


def fit_objective(skinning: LandmarkSkinning, obs: Observations, estimate: Estimate) -> Tensor:
    """The data term alone for a finished estimate: per-frame keypoint loss (N,) (for reports and tests)."""
    with torch.no_grad():
        _, landmarks = posed_body(skinning, estimate.x, estimate.betas, estimate.transl)
        return keypoint_loss(project(landmarks, obs.focal, obs.centre), obs.keypoints, obs.image_size)


def _objective(skinning: LandmarkSkinning, obs: Observations, x: Tensor, cam: Tensor, betas: Tensor, start: Tensor,
               settings: OptimiseSettings, video: bool) -> Tensor:
    """Per-frame loss (N,) of the data, pose and (video) temporal terms."""
    transl = _cam_to_transl(cam)
    _, landmarks = posed_body(skinning, x, betas, transl)
    loss = keypoint_loss(project(landmarks, obs.focal, obs.centre), obs.keypoints, obs.image_size)
    loss = loss + settings.pose_weight * ((x[:, BODY_SLICE] - start[:, BODY_SLICE]) ** 2).sum(-1)
    if settings.root_weight > 0.0:
        loss = loss + settings.root_weight * ((x[:, ROOT_SLICE] - start[:, ROOT_SLICE]) ** 2).sum(-1)
    if video and len(x) > 2:
        smooth = temporal_loss if settings.temporal_order == 1 else _acceleration_loss
        loss = loss + settings.temporal_weight * (smooth(x) + smooth(transl))
    return loss


def _acceleration_loss(x: Tensor) -> Tensor:
    """x (N, D) consecutive frames -> (N,) with entry n = ||x_{n-1} - 2 x_n + x_{n+1}||^2 (0 at both ends)."""
    d = ((x[:-2] - 2.0 * x[1:-1] + x[2:]) ** 2).sum(-1)
    return torch.cat([d.new_zeros(1), d, d.new_zeros(1)])


class _Prior:
    """Per-run state of the DPoser-style regulariser: schedule, noise generator, the timestep per step."""

    def __init__(self, denoiser: Denoiser, settings: OptimiseSettings, like: Tensor) -> None:
        self.denoiser = denoiser
        self.total = int(getattr(getattr(denoiser, "config", None), "num_timesteps", 1000))
        self.alphas = cosine_alphas_cumprod(self.total).to(like)
        self.generator = torch.Generator(device=like.device).manual_seed(settings.seed)
        self.steps = max(settings.steps, 1)
        self.t_range = settings.prior_t_range
        self.shape = like.shape

    def timestep(self, step: int) -> int:
        """DPoser's truncated schedule: linear from t_range[0] * T (first step) to t_range[1] * T (last)."""
        frac = step / max(self.steps - 1, 1)
        hi, lo = self.t_range
        return int(round((hi + (lo - hi) * frac) * self.total))

    @torch.no_grad()
    def target(self, x: Tensor, step: int) -> Tensor:
        """x (N, 144) -> the one-step clean estimate z0_hat(z_t) (N, 144) of its diffused z-scored state (fresh
        noise, t of ``step``); the term is ``|| normalize(x) - target ||^2`` (no gradient through the network)."""
        z = self.denoiser.normalize(x.detach())
        t = self.timestep(step)
        noise = torch.randn(self.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        z_t = q_sample(z, t, noise, self.alphas)
        return predict_x0(z_t, t, self.denoiser(z_t, t), self.alphas)


def _cosine(step: int, total: int) -> float:
    """1 at step 0 -> 0 at ``total`` (half cosine)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _refit_translation(skinning: LandmarkSkinning, obs: Observations, x: Tensor, betas: Tensor,
                       transl: Tensor) -> Tensor:
    """Closed-form translation (N, 3) for the start pose; frames without enough landmarks keep ``transl``."""
    with torch.no_grad():
        _, landmarks = posed_body(skinning, x, betas, torch.zeros_like(transl))
        fitted, ok = fit_translation(landmarks, obs.keypoints, obs.focal, obs.centre)
        ok = ok & (fitted[:, 2] > 0.3) & torch.isfinite(fitted).all(-1)
        return torch.where(ok[:, None], fitted, transl)


def _transl_to_cam(transl: Tensor) -> Tensor:
    """(N, 3) camera-frame translation -> (N, 3) ``(x / z, y / z, log z)``."""
    z = transl[:, 2:3].clamp_min(0.1)
    return torch.cat([transl[:, :2] / z, z.log()], -1)


def _cam_to_transl(cam: Tensor) -> Tensor:
    """Inverse of :func:`_transl_to_cam`."""
    z = cam[:, 2:3].exp()
    return torch.cat([cam[:, :2] * z, z], -1)

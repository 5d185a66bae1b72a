"""ScoreHMR: refine body estimates by score-guided DDIM sampling with the diffusion prior.

Per outer iteration: DDIM-invert the current clean estimate (z-scored 6D pose) from 0 to t*, then walk the
guided DDIM steps t* -> 0 (eta 0). At each guided step ``eps = denoiser(z_t, t, c)``, the one-step clean estimate
``x0_hat = denormalize(predict_x0(z_t, eps))`` is scored by the guidance losses (:mod:`.guidance`),
``eps' = eps + sqrt(1 - abar_t) * rho * grad_{z_t} L`` and the DDIM step is taken with eps' (the clean estimate
recomputed from eps'; in video mode the temporal term then acts on it as an implicit step, see below). The camera
translation gets one Adam step per guided step. A sample (a frame; in multi-view all views of a frame) is frozen once
the relative change of its keypoint loss between outer iterations falls below ``early_stop_tol``.

Where we differ from the published method (REFERENCE.md) and why (figures: scripts/benchmark_refine.py, held-out
synthetic views, regression start, tuned on seeds 7 and 3):
- the diffusion state is the z-scored 6D pose (see :class:`~server.diffusion.denoiser.Denoiser`), so the gradient
  is taken w.r.t. the z-scored state and the published loss weights (0.003 / 30 / 0.005) do not transfer;
- t* = 50 as published. In our z-scored state the deterministic inversion + prior walk is close to the identity at
  any t* we tried (50..250: the start comes back within ~0.2 mm PA-MPJPE), and a stochastic start (fresh noise at
  t* 100..250) lands on prior samples 4-9 mm PA-MPJPE worse than the regressor; larger t* with guidance was worse
  at every keypoint weight tried. So the prior barely acts here and the guidance does the work;
- CPU defaults: DDIM stride 4 and 2 outer iterations (13 + 13 network calls per iteration instead of 25 + 25,
  10 iterations): more iterations fit the detector noise (PA-MPJPE rises); a 240-frame clip runs at ~250
  frames/s on one core;
- the guidance gradient skips the denoiser's Jacobian (``network_jacobian`` False: eps is held fixed when
  differentiating x0_hat, so grad_{z_t} L = std / sqrt(abar_t) * grad_x L): same accuracy, ~30% faster;
- video mode: the temporal term penalises JERK (third differences, ``temporal_order`` 3) instead of ScoreHMR's
  velocity (which, at weights that remove the jitter, flattens real motion; acceleration was second best), and it
  is applied as an IMPLICIT (proximal) step on each step's clean estimate: ``argmin_z ||z - z0||^2 +
  h_t * w * ||D x(z)||^2`` per clip with h_t = (1 - abar_t) / abar_t, the backward-Euler counterpart of the explicit
  guided step on the same term, solved in closed form in the eigenbasis of D^T D. The explicit step diverged above
  weight ~700 (velocity) / ~150 (acceleration); the implicit one is stable at any weight (the clamp in
  :meth:`RefineSettings.for_quality` now guards against flattening real motion, not divergence);
- video mode: each frame's guidance gradient w.r.t. z_t is rescaled to a fixed norm (``video_grad_norm``), so the
  (1 - abar_t) schedule alone sets the step (an annealed normalised-gradient descent): frames whose start is far off
  (saturated robust loss, small gradient) move as far as good ones, and a few huge gradients no longer disturb a
  clip. Frame mode keeps the raw, weighted gradient (normalising it there measured slightly worse);
- video mode: the camera translation (the animation's root path) gets the same implicit jerk step after each of
  its Adam steps (``transl_smoothing``): the depth is weakly observed, and unsmoothed it jittered by ~0.3 m/frame^2
  on the Sports2D clip (42 mm/frame^2 smoothed, for 2 px more reprojection error);
- the condition is keypoint evidence (:mod:`server.diffusion.condition`), not image features;
- the multi-view term is ADDED to the keypoint losses (their code replaces one with the other), and each view keeps
  its own global orientation and camera; betas are averaged over views;
- optional HMDiff-style alignment (``align``), and Diff-HMR-style hypotheses (:func:`sample_hypotheses`);
- video and multi-view clips can be guided through the MOTION prior (:mod:`server.diffusion.motion`, ``motion``):
  the same loop, with every noise estimate the blend of the motion prior's overlapping windows over the clip
  (:class:`~server.diffusion.windows.WindowedPrior`), so each frame's prior sees a second of its neighbours and
  their keypoints; :meth:`RefineSettings.with_motion` holds that run's t*, stride and share of the jerk term.
  Frame mode and hypotheses keep the per-frame prior.
- dual: with the experimental dual motion model (:mod:`server.dual`; ``PipelineSettings(dual=True)``) clips are
  guided through :class:`~server.dual.stream.DualPrior` with :meth:`RefineSettings.with_dual`: t* = 125, DDIM stride
  10, the keypoint guidance only below t = 25 (``guide_below``; above it the step is the prior's own and the camera
  stays), hypotheses from t = 500 as whole clips. Those values are read off the model's measured one-step curve by
  the rule in ``scripts/benchmark_dual.py`` (t*: where the no-network error of a diffused true pose reaches the
  start's error; guidance: where the conditional estimate no longer beats the no-network one by 10%), not tuned on
  a benchmark. ``fresh_noise`` (SDEdit: fresh noise at t* instead of the inversion) measured worse and is off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.rot6d import BODY_SLICE, orthonormal_x
from ..diffusion.condition import keypoints_to_condition
from ..dual.dual_network import DualMotionModel
from ..dual.stream import DualPrior
from ..diffusion.motion import MotionDenoiser
from ..diffusion.sampler import bind, ddim_invert, ddim_move, guide_eps
from ..diffusion.schedule import alpha_bar, cosine_alphas_cumprod, ddim_timesteps, predict_eps, predict_x0, q_sample
from ..diffusion.windows import WindowedPrior
from ..errors import Cancelled
from ..fitting.state import Estimate, Observations
from . import guidance
from .refine_settings import ClipPrior, RefineSettings
from .guidance import Evidence
from .smoothing import SMOOTH_WINDOW, difference_basis, implicit_step

Progress = Callable[[int, int], None]   # (done, total) guided steps, see guided_steps()
IsCancelled = Callable[[], bool]
@dataclass(frozen=True)
class RefineOutput:
    """estimate: refined x (orthonormalised 6D), betas (as given), transl; keypoint_loss (N,) final per-sample
    keypoint loss; iterations_run (N,) int64 outer iterations before the sample froze; align_steps: guided steps
    where the HMDiff alignment was active for some sample."""

    estimate: Estimate
    keypoint_loss: Tensor
    iterations_run: Tensor
    align_steps: int


@dataclass
class _Run:
    """Per-run state of one batch of M rows (never stored on a module)."""

    cond: Optional[Tensor]          # (M, C); None = unconditional (no world landmarks for a world-conditioned prior)
    seen: Optional[Tensor]          # (M,) bool: rows whose keypoints show the person (others: the null condition)
    ev: Evidence
    frames: int = 0                 # > 0: video term over consecutive blocks of this many rows
    views: int = 1                  # > 1: multi-view term over V view-major blocks
    group: Optional[Tensor] = None  # (M,) freeze groups (default: one per row)
    noise: Optional[torch.Generator] = None   # stochastic start of the first iteration (hypotheses)
    alphas: Tensor = field(default_factory=cosine_alphas_cumprod)   # (T,) alpha-bar of the prior's schedule
    smooth: Optional[Tuple[Tensor, Tensor]] = None   # implicit temporal step: eigenbasis (L, L), eigenvalues (L,)
                                                     # of one window of L = min(F, SMOOTH_WINDOW) frames
    start_noise: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))   # fresh_noise


def _new_run(denoiser, blocks: Sequence[Observations], betas: Sequence[Tensor], **kw) -> _Run:
    """The run over the rows of ``blocks`` stacked in order (betas (N_i, B) per block)."""
    use_world = denoiser.config.use_world
    if use_world and any(b.world is None for b in blocks):
        cond = None   # keypoints from a detector without world landmarks: the prior runs unconditionally
    else:
        cond = torch.cat([keypoints_to_condition(b.keypoints, b.world, use_world) for b in blocks])
    seen = torch.cat([guidance.seen_frames(b.keypoints) for b in blocks])
    return _Run(cond=cond, seen=None if cond is None or bool(seen.all()) else seen, ev=Evidence.stack(blocks, betas),
                alphas=cosine_alphas_cumprod(denoiser.config.num_timesteps), **kw)


def _check_finite(name: str, value: Optional[Tensor]) -> None:
    if value is not None and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values; drop or interpolate those frames first")


def _validate(obs: Observations, init: Estimate) -> None:
    """Shapes agree and every input is finite (raises ValueError)."""
    n = len(obs)
    if n == 0:
        raise ValueError("nothing to refine: no frames")
    for name, t in (("x", init.x), ("betas", init.betas), ("transl", init.transl)):
        if t.shape[0] != n:
            raise ValueError(f"init.{name} has {t.shape[0]} rows, observations have {n} frames")
    for name, value in (("keypoints", obs.keypoints), ("focal", obs.focal), ("centre", obs.centre),
                        ("image_size", obs.image_size), ("world", obs.world), ("init.x", init.x),
                        ("init.betas", init.betas), ("init.transl", init.transl)):
        _check_finite(name, value)


class _MaskedAdam:
    """Adam on a (M, D) tensor whose frozen rows keep both their value and their optimiser state."""

    def __init__(self, value: Tensor, lr: float, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.value, self.lr, self.b1, self.b2, self.eps = value.detach().clone(), lr, betas[0], betas[1], eps
        self.m = torch.zeros_like(self.value)
        self.v = torch.zeros_like(self.value)
        self.count = torch.zeros(self.value.shape[0], 1)

    def step(self, grad: Tensor, active: Tensor) -> None:
        a = active[:, None]
        self.count = self.count + a.to(self.count)
        m = self.b1 * self.m + (1 - self.b1) * grad
        v = self.b2 * self.v + (1 - self.b2) * grad * grad
        c = self.count.clamp_min(1.0)
        update = self.lr * (m / (1 - self.b1 ** c)) / ((v / (1 - self.b2 ** c)).sqrt() + self.eps)
        self.m, self.v = torch.where(a, m, self.m), torch.where(a, v, self.v)
        self.value = torch.where(a, self.value - update, self.value)


def _losses(skinning: LandmarkSkinning, run: _Run, s: RefineSettings, x0: Tensor,
            transl: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Clean estimates x0 (M, 144), transl (M, 3) -> (keypoint loss (M,), total scalar, projections (M, 33, 2))."""
    px = guidance.landmarks_px(skinning, run.ev, x0, transl)
    kp = guidance.keypoint_term(px, run.ev)
    total = s.keypoint_weight * kp.sum()
    if run.frames > 1 and s.temporal_weight > 0 and not s.temporal_implicit:
        total = total + s.temporal_weight * guidance.video_term(x0, run.frames, s.temporal_order).sum()
    if run.views > 1 and s.multiview_weight > 0:
        total = total + s.multiview_weight * guidance.multiview_term(x0, run.views).sum()
    return kp, total, px


def _align(denoiser, skinning: LandmarkSkinning, run: _Run, s: RefineSettings, z0: Tensor, transl: Tensor,
           px: Tensor) -> Tuple[Tensor, Tensor]:
    """HMDiff-style alignment of the clean estimate z0 (M, 144): rows whose gap R exceeds the threshold move
    along -grad of the confidence-aware alignment term (computed on the clean estimate, not through the
    network). -> (aligned z0 (M, 144), on (M,) bool)."""
    on = guidance.alignment_gap(px.detach(), run.ev) > s.align_threshold
    if not bool(on.any()):
        return z0, on
    with torch.enable_grad():
        zc = z0.detach().requires_grad_(True)
        pull = guidance.alignment_term(guidance.landmarks_px(skinning, run.ev, denoiser.denormalize(zc), transl),
                                       run.ev)
        (grad,) = torch.autograd.grad(pull.sum(), zc)
    return torch.where(on[:, None], z0 - s.align_rate * grad, z0), on


def _guided_step(denoiser, skinning: LandmarkSkinning, run: _Run, s: RefineSettings, z: Tensor, cam: _MaskedAdam,
                 t: int, t_next: int, active: Tensor, align: bool) -> bool:
    """One guided DDIM step t -> t_next for the active rows of z (M, 144) (updated in place) and the camera.
    Returns whether the alignment was on for some row."""
    ac = run.alphas
    if t >= s.guide_below:   # outside the guidance interval: the prior's own DDIM step, the camera stays
        with torch.no_grad():
            eps = denoiser(z, t, run.cond, run.seen)
        z0 = predict_x0(z, t, eps, ac)
        if run.smooth is not None:
            a_t = alpha_bar(ac, t, z)
            z0 = _smooth(run, s, denoiser, z0, (1.0 - a_t[0, 0]) / a_t[0, 0])
            eps = predict_eps(z, t, z0, ac)
        z.copy_(torch.where(active[:, None], ddim_move(z0, eps, t_next, ac), z))
        return False
    z_t = z.detach().requires_grad_(True)
    transl = cam.value.detach().requires_grad_(True)
    with torch.enable_grad():
        if s.network_jacobian:
            eps = denoiser(z_t, t, run.cond, run.seen)
        else:
            with torch.no_grad():
                eps = denoiser(z_t, t, run.cond, run.seen)
        x0 = denoiser.denormalize(predict_x0(z_t, t, eps, ac))
        _, total, px = _losses(skinning, run, s, x0, transl)
        g_z, g_tr = torch.autograd.grad(total, [z_t, transl])
    if run.frames > 1 and s.video_grad_norm > 0:
        g_z = g_z * (s.video_grad_norm / g_z.norm(dim=-1, keepdim=True).clamp_min(1e-12))   # see the docstring
    a_t = alpha_bar(ac, t, z)
    eps = guide_eps(eps.detach(), g_z, t, ac, s.rho)
    z0 = predict_x0(z, t, eps, ac)
    on = torch.zeros(z.shape[0], dtype=torch.bool)
    if run.smooth is not None:
        z0 = _smooth(run, s, denoiser, z0, (1.0 - a_t[0, 0]) / a_t[0, 0])
        eps = predict_eps(z, t, z0, ac)
    if align:
        z0, on = _align(denoiser, skinning, run, s, z0, cam.value, px)
        eps = torch.where(on[:, None], predict_eps(z, t, z0, ac), eps)
    z.copy_(torch.where(active[:, None], ddim_move(z0, eps, t_next, ac), z))
    cam.step(g_tr, active)
    if run.smooth is not None and s.transl_smoothing > 0:   # video: the root path gets the same jerk penalty
        cam.value = torch.where(active[:, None], implicit_step(run, cam.value, torch.tensor(s.transl_smoothing)),
                                cam.value)
    return bool((on & active).any())


def _smooth(run: _Run, s: RefineSettings, denoiser, z0: Tensor, h: Tensor) -> Tensor:
    """Implicit temporal step on the clean estimate z0 (M, 144) (z-scored): the minimiser of
    ||z - z0||^2 + h * temporal_weight * ||D x(z)||^2 per clip (x = denormalize(z), D the temporal difference
    operator), i.e. the backward-Euler counterpart of the explicit guided step on the same term (whose step on
    the clean estimate is h = (1 - abar_t) / abar_t times the gradient): unconditionally stable at any weight.

    Clips longer than :data:`~server.refine.smoothing.SMOOTH_WINDOW` frames are solved in blocks with context on
    both sides (:mod:`server.refine.smoothing`): the blocks match the whole-clip solution (to ~2e-4 in the tests)
    at a cost linear in the clip length (a dense F x F eigenbasis would need O(F^2) memory and O(F^3) time)."""
    std2 = denoiser.x_std.reshape(1, -1).to(z0) ** 2                          # (1, 144)
    return implicit_step(run, z0, 2.0 * h * s.temporal_weight * std2)


def _group_loss(kp: Tensor, group: Tensor) -> Tensor:
    """(M,) per-row loss -> (M,) the summed loss of each row's group."""
    sums = torch.zeros(int(group.max()) + 1).index_add_(0, group, kp)
    return sums[group]


@torch.no_grad()
def _keypoint_now(skinning: LandmarkSkinning, run: _Run, x: Tensor, transl: Tensor) -> Tensor:
    return guidance.keypoint_term(guidance.landmarks_px(skinning, run.ev, x, transl), run.ev)


def _start(denoiser, run: _Run, s: RefineSettings, z0: Tensor, first: bool) -> Tuple[Tensor, List[int]]:
    """The noisy start of one outer iteration -> (z at the first timestep (M, 144), descending timesteps)."""
    if first and run.noise is not None:
        stride = max(s.stride, s.stride * s.hypothesis_t_start // s.t_start)
        steps = ddim_timesteps(s.hypothesis_t_start, stride)
        noise = torch.randn(z0.shape, generator=run.noise)
        return q_sample(z0, steps[0], noise, run.alphas), steps
    steps = ddim_timesteps(s.t_start, s.stride)
    if s.fresh_noise:   # SDEdit: the walk back then follows the network's estimate, not the inversion's record
        noise = torch.randn(z0.shape, generator=run.noise if run.noise is not None else run.start_noise)
        return q_sample(z0, steps[0], noise, run.alphas), steps
    return ddim_invert(bind(denoiser, run.cond, run.seen), z0, s.t_start, s.stride, run.alphas), steps


@torch.no_grad()
def _iterate(denoiser, skinning: LandmarkSkinning, run: _Run, s: RefineSettings, x: Tensor, transl: Tensor,
             progress: Optional[Progress],
             cancelled: Optional[IsCancelled]) -> Tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """The outer loop over M rows -> (x (M, 144), transl (M, 3), keypoint loss (M,), iterations run (M,), align
    steps)."""
    group = run.group if run.group is not None else torch.arange(x.shape[0])
    if run.frames > s.temporal_order and s.temporal_implicit and s.temporal_weight > 0:
        run.smooth = difference_basis(min(run.frames, SMOOTH_WINDOW), s.temporal_order)
    x = orthonormal_x(x)
    if s.refit_translation:
        transl = guidance.refit_translation(skinning, run.ev, x, transl)
    cam = _MaskedAdam(transl, s.cam_lr)
    active = torch.ones(x.shape[0], dtype=torch.bool)
    runs = torch.zeros(x.shape[0], dtype=torch.long)
    prev = _group_loss(_keypoint_now(skinning, run, x, cam.value), group)
    align_steps = 0
    per_iteration, total = len(ddim_timesteps(s.t_start, s.stride)), guided_steps(s)
    for it in range(s.iterations):
        runs += active.long()
        z, steps = _start(denoiser, run, s, denoiser.normalize(x), it == 0)
        n_align = math.ceil(s.align_fraction * len(steps)) if s.align else 0
        for k, (t, t_next) in enumerate(zip(steps, steps[1:] + [-1])):
            if cancelled is not None and cancelled():
                raise Cancelled()
            align_steps += int(_guided_step(denoiser, skinning, run, s, z, cam, t, t_next, active, k < n_align))
            if progress is not None:   # per step: a long clip's iteration can take longer than the hang timeout
                progress(min(total, it * per_iteration + k + 1), total)
        x = torch.where(active[:, None], orthonormal_x(denoiser.denormalize(z)), x)
        now = _group_loss(_keypoint_now(skinning, run, x, cam.value), group)
        active = active & ((prev - now).abs() / prev.clamp_min(1e-12) >= s.early_stop_tol)
        prev = torch.where(active, now, prev)
        if not bool(active.any()):
            break
    if progress is not None:
        progress(total, total)
    return x, cam.value, _keypoint_now(skinning, run, x, cam.value), runs, align_steps


def clip_prior(motion: Union[MotionDenoiser, DualMotionModel], clips: Sequence[Observations]):
    """The prior over clips laid end to end: the motion prior's blended windows, or the dual motion model
    streamed over each clip with that clip's own keypoint evidence."""
    if isinstance(motion, DualMotionModel):
        return DualPrior(motion, clips)
    return WindowedPrior(motion, [len(c) for c in clips])


def guided_steps(settings: RefineSettings) -> int:
    """The guided DDIM steps of one refinement: the unit of its ``progress(done, total)`` reports."""
    return settings.iterations * len(ddim_timesteps(settings.t_start, settings.stride))


def refine(denoiser, skinning: LandmarkSkinning, obs: Observations, init: Estimate,
           settings: RefineSettings = RefineSettings(), mode: str = "frame", progress: Optional[Progress] = None,
           cancelled: Optional[IsCancelled] = None, motion: ClipPrior = None) -> RefineOutput:
    """Refine N frames of one view. ``mode`` "frame": every frame on its own (still one batch); "video": the N
    frames are one clip (consecutive, one camera) and the temporal term joins the loss (N >= 2, else ValueError);
    with a ``motion`` prior (the motion prior's windows, or the dual motion model streamed over the clip with its
    own evidence), video mode inverts and guides it instead of the per-frame ``denoiser``.
    Betas are used as given (the caller averages them over a clip). Raises Cancelled when ``cancelled()``."""
    if mode not in ("frame", "video"):
        raise ValueError(f"mode must be 'frame' or 'video', got {mode!r}")
    _validate(obs, init)
    if mode == "video" and len(obs) < 2:
        raise ValueError("video mode needs a clip of at least 2 frames")
    if mode == "video" and motion is not None:
        denoiser, settings = clip_prior(motion, [obs]), settings.for_prior(motion)
    run = _new_run(denoiser, [obs], [init.betas], frames=len(obs) if mode == "video" else 0)
    x, transl, kp, runs, align_steps = _iterate(denoiser, skinning, run, settings, init.x, init.transl,
                                                progress, cancelled)
    return RefineOutput(Estimate(x, init.betas, transl), kp, runs, align_steps)


def refine_multiview(denoiser, skinning: LandmarkSkinning, views: Sequence[Observations], inits: Sequence[Estimate],
                     settings: RefineSettings = RefineSettings(), video: bool = True,
                     progress: Optional[Progress] = None, cancelled: Optional[IsCancelled] = None,
                     motion: ClipPrior = None) -> List[RefineOutput]:
    """V synchronised views of the same N frames -> V outputs. Loss: keypoint loss of every view +
    multiview_weight x cross-view agreement of the 23 body joints' 6D (+ temporal term per view if ``video``; with
    a ``motion`` prior, each view's clip is then guided through its windows).
    Betas are averaged over views; each view keeps its own global orientation and camera translation; the final
    body pose (joints 1..23) is the mean over views, orthonormalised, written into every view."""
    if len(views) != len(inits) or len(views) == 0:
        raise ValueError(f"need one init per view, got {len(views)} views and {len(inits)} inits")
    n = len(views[0])
    if any(len(v) != n for v in views) or any(len(e) != n for e in inits):
        raise ValueError(f"views must show the same frames; lengths {[len(v) for v in views]}")
    for v, e in zip(views, inits):
        _validate(v, e)
    if video and n < 2:
        raise ValueError("video mode needs a clip of at least 2 frames")
    betas = torch.stack([e.betas for e in inits]).mean(0)
    if video and motion is not None:
        denoiser, settings = clip_prior(motion, views), settings.for_prior(motion)
    run = _new_run(denoiser, views, [betas] * len(views), frames=n if video else 0, views=len(views),
                   group=torch.arange(n).repeat(len(views)))
    x, transl, _, runs, align_steps = _iterate(denoiser, skinning, run, settings, torch.cat([e.x for e in inits]),
                                               torch.cat([e.transl for e in inits]), progress, cancelled)
    x = x.reshape(len(views), n, -1).clone()
    x[:, :, BODY_SLICE] = x[:, :, BODY_SLICE].mean(0, keepdim=True)
    x = orthonormal_x(x.reshape(len(views) * n, -1))
    kp = _keypoint_now(skinning, run, x, transl)
    return [RefineOutput(Estimate(x[v * n:(v + 1) * n], betas, transl[v * n:(v + 1) * n]), kp[v * n:(v + 1) * n],
                         runs[v * n:(v + 1) * n], align_steps) for v in range(len(views))]


def sample_hypotheses(denoiser, skinning: LandmarkSkinning, obs: Observations, init: Estimate, k: int,
                      settings: RefineSettings = RefineSettings(), seed: int = 0,
                      motion: Optional[DualMotionModel] = None) -> Tuple[Tensor, Tensor]:
    """Diff-HMR: K guided refinements of the same frames from different noise -> (x (K, N, 144), spread (N,)).

    The first outer iteration starts from ``q_sample(init, hypothesis_t_start, noise)`` instead of the
    deterministic inversion (t* = 50 adds too little noise in our z-scored state to leave the start's mode);
    the later iterations invert and guide as usual, so every hypothesis still fits the keypoints. ``spread`` is
    the mean over joints of the RMS distance (metres) of the pelvis-relative joints from their mean over the K
    hypotheses: large values flag ambiguous frames. With the dual ``motion`` model (clips of N >= 2 frames) each
    hypothesis is a whole clip: the K clips are sampled from its diffusion mode conditioned on the clip's
    keypoints, from its own start noise level, with the video mode's temporal term."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _validate(obs, init)
    n = len(obs)
    frames = 0
    if motion is not None and n >= 2:
        denoiser, settings, frames = DualPrior(motion, [obs] * k), settings.with_dual(), n
    run = _new_run(denoiser, [obs] * k, [init.betas] * k, noise=torch.Generator().manual_seed(int(seed)),
                   frames=frames)
    x, transl, _, _, _ = _iterate(denoiser, skinning, run, settings, init.x.repeat(k, 1), init.transl.repeat(k, 1),
                                  None, None)
    with torch.no_grad():
        joints = guidance.joints_of(skinning, run.ev, x, transl)
    joints = (joints - joints[:, :1]).reshape(k, n, -1, 3)
    spread = ((joints - joints.mean(0, keepdim=True)) ** 2).sum(-1).mean(0).sqrt().mean(-1)
    return x.reshape(k, n, -1), spread

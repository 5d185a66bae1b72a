"""Keypoints -> body: the initial estimate (learned regressor, or the analytic solve as fallback) and ScoreHMR
refinement, for one view (frame or video mode) or several synchronised views.

Shape (betas) is shared across the clip and the views, as ScoreHMR does: the median of the regressor's per-frame
betas for the built-in body (its shape space is the one the regressor learnt), or the body-measurement fit
(:func:`server.body.shape_fit.fit_body_shape`) for any other SMPL model; with calibrated views the fit to their
triangulated landmarks (true metres) for every body. The built-in body's gender and muscle, which keypoints do
not tell, are then the mean body's (the stature kept), and the user's height, gender, weight and muscle are applied
when given (:mod:`server.body.phenotype`). A video of one frame falls back to frame
mode (logged). All functions are torch in, torch out; numpy only at the file boundaries in :mod:`server.jobs.capture`
and :mod:`server.cli`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, cast

import torch
from torch import Tensor

from ..body.fast import LandmarkSkinning
from ..body.model import BodyModel
from ..body.rot6d import BODY_SLICE, ROOT_SLICE, poses_to_x, x_to_rotmats
from ..errors import Cancelled, JobError, WeightsError
from ..fitting.state import Estimate, Observations
from ..options import SHAPE_HINT, CaptureOptions, ShapeRequest, option_of
from ..result import NUM_BETAS
from ..torch_threads import torch_threads
from .guidance import seen_frames

if TYPE_CHECKING:
    from .refine_settings import RefineSettings

log = logging.getLogger(__name__)

MODES = ("frame", "video", "multiview")
INITIAL_METHODS = tuple(value for value, _, _ in option_of(CaptureOptions, "initial").choices)
StatusFn = Callable[[str, int, int, str], None]   # (stage, done, total, message)
ONE_BODY_ERROR = 0.05   # metres: triangulated segments a body misses by more on average (2.5 x the shape fit's
                        # sigma) are not one person's; their shape is not used


@dataclass(frozen=True)
class PipelineSettings:
    """What the panel and the CLI choose. ``iterations`` 0 = the refinement's default; ``temporal`` scales the
    default temporal weight (0 = none); ``hypotheses`` > 0 also samples that many Diff-HMR hypotheses.
    ``motion_prior``: clips (video, multi-view) are refined with the motion prior's windows (the per-frame prior
    when its weights are missing, logged). ``dual``: the dual motion model (``dual_motion.pt``, trained by
    ``build.py train-dual``, not shipped: it measured worse than the default, docs/models.md) is the clip start
    and the clip prior instead of the temporal regressor and the motion prior.
    ``threads``: torch threads for the fit. One by default: on a 2-core machine shared with Blender (and the
    detector) two OpenMP threads measured slower than one (they spin-wait on each other when a core is busy)."""

    initial: str = "temporal"
    refine: bool = True
    mode: str = "video"
    iterations: int = 0
    temporal: float = 1.0
    align: bool = False
    hypotheses: int = 0
    seed: int = 0
    threads: int = 1
    motion_prior: bool = True
    undo_swaps: bool = True      # left/right swaps found and undone before the fit (:mod:`.swaps`)
    dual: bool = False           # experimental: the dual motion model as the clip start and clip prior
    shape: ShapeRequest = ShapeRequest()   # the user's gender, height, weight, muscle (:func:`_as_asked`)

    def __post_init__(self) -> None:
        if self.initial not in INITIAL_METHODS:
            raise ValueError(f"initial must be one of {INITIAL_METHODS}, got {self.initial!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.iterations < 0 or self.temporal < 0 or self.hypotheses < 0:
            raise ValueError("iterations, temporal and hypotheses must not be negative")

    @classmethod
    def from_options(cls, options: CaptureOptions, mode: str = "video", threads: int = 1) -> "PipelineSettings":
        """The fit a capture's options ask for, on clips of ``mode`` with ``threads`` torch threads."""
        return cls(initial=options.initial, refine=options.refine, mode=mode, iterations=options.iterations,
                   temporal=options.temporal, align=options.align, hypotheses=options.hypotheses,
                   motion_prior=options.motion_prior, threads=threads, shape=options.shape)


@dataclass
class PipelineOutput:
    """The body in view 0's camera frame: estimate (N frames), how it was made, optional hypotheses
    (K, N, 144) with the per-frame spread (N,) in metres of them and the estimate (:func:`pose_spread`); ``views`` the estimate in every view's camera frame."""

    estimate: Estimate
    method: str
    hypotheses: Optional[Tensor] = None
    spread: Optional[Tensor] = None
    views: Optional[List[Estimate]] = None
    seconds: Dict[str, float] = field(default_factory=dict)   # wall time of the stages "regress", "refine"


class Models:
    """The trained networks and the body, loaded once per job (lazily: the analytic path needs no regressor)."""

    def __init__(self, body: BodyModel, is_builtin: bool) -> None:
        self.body, self.is_builtin = body, is_builtin
        self.skinning = LandmarkSkinning(body)
        self._regressor, self._temporal, self._denoiser = None, None, None
        self._motion, self._motion_missing = None, False
        self._dual, self._dual_missing = None, False

    def regressor(self):  # -> Regressor
        if self._regressor is None:
            from ..regressor.network import load_regressor
            self._regressor = load_regressor()
        return self._regressor

    def temporal_regressor(self):  # -> TemporalRegressor
        if self._temporal is None:
            from ..regressor.temporal import load_temporal_regressor
            self._temporal = load_temporal_regressor()
        return self._temporal

    def denoiser(self):  # -> Denoiser
        if self._denoiser is None:
            from ..diffusion.denoiser import load_prior
            self._denoiser = load_prior()
        return self._denoiser

    def preload(self, settings: "PipelineSettings") -> None:
        """Load now the networks ``settings`` will use (a capture does this beside detection, off the critical path).
        Missing or unusable weights are left to the fallbacks of first use, which log them."""
        clip = self.dual if settings.dual else self.temporal_regressor
        loaders = {"temporal": [clip], "learned": [self.regressor], "analytic": []}[settings.initial]
        if settings.refine:
            loaders.append(self.denoiser)
            if settings.motion_prior and settings.mode != "frame":
                loaders.append(self.dual if settings.dual else self.motion_prior)
        for load in loaders:
            try:
                load()
            except WeightsError as exc:
                log.info("not preloaded (%s); first use will fall back", exc.message)

    def dual(self):  # -> Optional[DualMotionModel]
        """The dual motion model (the clip start and the clip prior), or None (logged once) when its weights are
        missing or unusable: the temporal regressor and the motion prior are then used."""
        if self._dual is None and not self._dual_missing:
            from ..dual.dual_network import dual_motion_or_none
            self._dual = dual_motion_or_none("using the temporal regressor and the motion prior")
            self._dual_missing = self._dual is None
        return self._dual

    def clip_prior(self, dual: bool = False):  # -> Optional[DualMotionModel | MotionDenoiser]
        """The prior of clips: the dual motion model (when asked for and available), else the motion prior, else
        None (the per-frame prior)."""
        model = self.dual() if dual else None
        return model if model is not None else self.motion_prior()

    def motion_prior(self):  # -> Optional[MotionDenoiser]
        """The motion prior, or None (logged once) when its weights are missing or unusable."""
        if self._motion is None and not self._motion_missing:
            from ..diffusion.motion import motion_prior_or_none
            self._motion = motion_prior_or_none("clips are refined with the per-frame prior")
            self._motion_missing = self._motion is None
        return self._motion


def _analytic(models: Models, obs: Observations, world4: Tensor) -> Estimate:
    """The analytic solve (:mod:`server.regressor.analytic`) as an Estimate; needs world landmarks (N, 33, 4)."""
    import numpy as np
    from ..body.model import shaped_vertices
    from ..body.shape_fit import fit_body_shape
    from ..regressor.analytic import solve_poses, solve_translation

    world = world4.numpy()
    betas = fit_body_shape(models.body, world, NUM_BETAS)
    vertices = shaped_vertices(models.body, betas)
    rest = models.body.J_regressor @ vertices
    poses = solve_poses(world, rest, models.body.landmark_regressor @ vertices)
    k = np.array([[float(obs.focal[0]), 0.0, float(obs.centre[0, 0])], [0.0, float(obs.focal[0]), float(obs.centre[0, 1])],
                  [0.0, 0.0, 1.0]])
    transl = solve_translation(obs.keypoints.numpy(), world, poses, rest, k)
    n = len(obs)
    return Estimate(poses_to_x(torch.from_numpy(poses).double()).float(),
                    torch.from_numpy(betas).float()[None].expand(n, -1).clone(), torch.from_numpy(transl).float())


def _world4(obs: Observations) -> Optional[Tensor]:
    if obs.world is None:
        return None
    return torch.cat([obs.world, obs.keypoints[..., 2:3]], -1)


def _shared_betas(models: Models, estimates: Sequence[Estimate], views: Sequence[Observations],
                  metric: Optional[Tensor] = None) -> Tensor:
    """:func:`estimated_betas` with what keypoints do not tell (gender, muscle) at the mean body's, the stature
    kept (:func:`server.body.phenotype.with_unread_at_mean`; the built-in body)."""
    from ..body.phenotype import with_unread_at_mean
    betas = estimated_betas(models, estimates, views, metric)
    return torch.from_numpy(with_unread_at_mean(models.body, betas.double().numpy())).to(betas.dtype)


def estimated_betas(models: Models, estimates: Sequence[Estimate], views: Sequence[Observations],
                     metric: Optional[Tensor] = None) -> Tensor:
    """One body shape (B,) for the clip (and all views): fitted to the segment lengths of ``metric`` landmarks
    (N, 33, 4) when given (calibrated views' triangulation: lengths in true metres), else the regressor's median
    (built-in body) or the fit to the detector's metric landmarks (another body)."""
    from ..body.shape_fit import fit_body_shape, fit_body_shape_error
    if metric is not None:
        betas, error = fit_body_shape_error(models.body, metric.numpy(), NUM_BETAS)
        if error <= ONE_BODY_ERROR:
            return torch.from_numpy(betas).float()
        log.warning("the calibrated views' triangulated segments fit no body (%.0f mm off on average: the views "
                    "may follow different people); the shape is the regressor's", 1000 * error)
    if models.is_builtin:
        return torch.cat([e.betas for e in estimates]).median(0).values
    world = [cast(Tensor, _world4(v)) for v in views if v.world is not None]   # not None: with world landmarks
    if not world:
        log.warning("no world landmarks: the %s body keeps its mean shape", models.body.name)
        return torch.zeros(estimates[0].betas.shape[1])
    return torch.from_numpy(fit_body_shape(models.body, torch.cat(world).numpy(), NUM_BETAS)).float()


def _with_betas(models: Models, estimate: Estimate, betas: Tensor) -> Estimate:
    """Swap in the shared betas, keeping each frame's pelvis where it was (transl follows the rest pelvis)."""
    sk = models.skinning
    nb = min(betas.shape[0], sk.num_betas)
    def rest_pelvis(b: Tensor) -> Tensor:
        return sk.joint_template[0] + torch.einsum("cb,nb->nc", sk.joint_shapedirs[0, :, :b.shape[1]], b)
    old = estimate.betas[:, :nb]
    new = betas[:nb][None].expand(len(estimate), -1)
    return Estimate(estimate.x, new.clone(), estimate.transl + rest_pelvis(old) - rest_pelvis(new))


def _as_asked(models: Models, betas: Tensor, shape: ShapeRequest) -> Tensor:
    """The clip's betas (B,) with the gender, height, weight and muscle the user gave (:mod:`server.body.phenotype`);
    :class:`JobError` when the body has no phenotype map (an SMPL file)."""
    if shape.empty:
        return betas
    from ..body.phenotype import shaped_as_asked, stature
    try:
        asked = shaped_as_asked(models.body, betas.double().numpy(), shape)
    except ValueError as exc:
        raise JobError("bad_request", f"Cannot shape the body as asked: {exc}.",
                       SHAPE_HINT) from exc
    log.info("body shaped as asked (%s): stature %.3f -> %.3f m", shape, stature(models.body, betas.numpy()),
             stature(models.body, asked))
    return torch.from_numpy(asked).to(betas.dtype)


def _scaled(models: Models, estimate: Estimate, before: Tensor, after: Tensor) -> Estimate:
    """``estimate`` with its pelvis moved along its camera ray by the stature's ratio ``after`` / ``before`` (betas
    (B,)): a body made taller stands as much further away, so it still covers the same pixels."""
    if torch.equal(before, after):
        return estimate
    from ..body.phenotype import stature
    ratio = stature(models.body, after.numpy()) / stature(models.body, before.numpy())
    sk = models.skinning
    pelvis = sk.joint_template[0] + sk.joint_shapedirs[0, :, :after.shape[0]] @ after.to(sk.joint_template.dtype)
    transl = (estimate.transl + pelvis) * ratio - pelvis
    return Estimate(estimate.x, estimate.betas, transl.to(estimate.transl.dtype))


def initial_estimate(models: Models, obs: Observations, settings: PipelineSettings) -> Tuple[Estimate, str]:
    """Per-frame start of one view and its name: the temporal regressor over the clip (``temporal``, the
    default), the per-frame regressor (``regression``; also the logged fallback when the temporal model's weights
    are missing or unusable), or the analytic solve (``analytic``: chosen, or as the logged fallback when the
    regressor's weights are missing or unusable and world landmarks exist). With a user SMPL model the
    regressor's pose and camera are used and the shape is refit by :func:`_shared_betas`."""
    if settings.initial == "temporal" and settings.dual and models.dual() is not None:
        from ..dual.stream import regress_dual
        return regress_dual(models.dual(), models.skinning, obs), "temporal"
    if settings.initial == "temporal":
        try:
            from ..regressor.predict import regress_temporal
            return regress_temporal(models.temporal_regressor(), models.skinning, obs), "temporal"
        except WeightsError as exc:
            log.warning("temporal regressor unavailable (%s); using the per-frame regressor", exc.message)
    if settings.initial in ("learned", "temporal"):
        try:
            from ..regressor.predict import regress
            return regress(models.regressor(), models.skinning, obs), "regression"
        except WeightsError as exc:
            if obs.world is None:
                raise
            log.warning("regressor unavailable (%s); falling back to the analytic solve", exc.message)
    world = _world4(obs)
    if world is None:
        raise ValueError("the analytic solve needs BlazePose world landmarks; use the learned initial estimate")
    return _analytic(models, obs, world), "analytic"


def _fill_unseen(starts: List[Estimate], views: Sequence[Observations]) -> List[Estimate]:
    """Multi-view: where a view saw nobody in a frame (a detection gap), its start's body pose (joints 1..23) is
    the mean of the views that did, so the regressor's guess from empty keypoints cannot pull the shared body."""
    seen = torch.stack([seen_frames(v.keypoints) for v in views])                              # (V, N)
    if bool(seen.all()):
        return starts
    x = torch.stack([e.x for e in starts])                                                       # (V, N, 144)
    w = seen.to(x.dtype)[..., None]
    mean = (x * w).sum(0) / w.sum(0).clamp_min(1.0)
    body = torch.where(seen[..., None], x[..., BODY_SLICE], mean[None, :, BODY_SLICE].expand_as(x[..., BODY_SLICE]))
    filled = torch.cat([x[..., ROOT_SLICE], body], -1)
    log.info("multi-view: %d view-frames without the person take the other views' body pose",
             int((~seen).sum()))
    return [Estimate(filled[v], e.betas, e.transl) for v, e in enumerate(starts)]


def run_pipeline(models: Models, views: Sequence[Observations], settings: PipelineSettings,
                 status: Optional[StatusFn] = None, cancelled: Optional[Callable[[], bool]] = None,
                 extrinsics: Optional[Sequence[Tuple[Tensor, Tensor]]] = None,
                 metric: Optional[Tensor] = None) -> PipelineOutput:
    """Observations of N frames in each of V views -> the body in view 0's camera frame (see :func:`_run`),
    with torch limited to ``settings.threads`` threads meanwhile. ``extrinsics``: each view's calibrated camera
    (R (3, 3), t (3,) world -> camera; multi-view only): the views then see one body in one world frame
    (:func:`server.refine.calibrated.fuse_calibrated`); ``metric`` (N, 33, 4) their triangulated landmarks (metres,
    visibility) from which the body's shape is measured (:func:`_shared_betas`)."""
    if extrinsics is not None and (settings.mode != "multiview" or len(extrinsics) != len(views)):
        raise ValueError(f"calibrated cameras need multi-view mode and one camera per view "
                         f"({len(extrinsics)} cameras, {len(views)} views)")
    with torch_threads(settings.threads):
        out = _run(models, views, settings, status, cancelled, metric)
        if extrinsics is not None:
            from .calibrated import calibrated_fit
            per_view = cast(List[Estimate], out.views)   # _run gives the estimate in every view
            fused = calibrated_fit(models.skinning, views, per_view, extrinsics, cancelled=cancelled)
            out = replace(out, estimate=fused[0], views=fused, method=out.method + "+calibrated")
        return out


def _run(models: Models, views: Sequence[Observations], settings: PipelineSettings,
         status: Optional[StatusFn] = None, cancelled: Optional[Callable[[], bool]] = None,
         metric: Optional[Tensor] = None) -> PipelineOutput:
    """Observations of N frames in each of V views -> the body in view 0's camera frame.

    ``mode`` frame/video need V = 1; multiview needs V >= 2 views of equal length (video smoothing on when N > 1).
    ``status(stage, done, total, message)`` reports the stages ``regress`` and ``refine``."""
    report = status or (lambda *a: None)
    stop = cancelled or (lambda: False)
    if not views:
        raise ValueError("no views")
    if settings.mode == "multiview" and len(views) < 2:
        raise ValueError("multi-view mode needs at least two views")
    if settings.mode != "multiview" and len(views) != 1:
        raise ValueError(f"{settings.mode} mode takes one view, got {len(views)}; use multiview")
    if len({len(v) for v in views}) != 1:
        raise ValueError(f"views have different numbers of frames: {[len(v) for v in views]}")
    mode = settings.mode
    if settings.undo_swaps:
        from .swaps import undo_view_swaps
        views = [undo_view_swaps(v) for v in views]
    if mode == "video" and len(views[0]) < 2:
        log.warning("video mode with a single frame: refining it in frame mode")
        mode = "frame"

    tick = time.perf_counter()
    report("regress", 0, len(views), "initial estimate")
    starts: List[Estimate] = []
    for i, obs in enumerate(views):
        start, method = initial_estimate(models, obs, settings)
        starts.append(start)
        report("regress", i + 1, len(views), "")
        if stop():
            raise Cancelled()
    estimated = _shared_betas(models, starts, views, metric)
    betas = _as_asked(models, estimated, settings.shape)
    starts = [_scaled(models, _with_betas(models, e, betas), estimated, betas) for e in starts]
    if len(views) > 1:
        starts = _fill_unseen(starts, views)
    seconds = {"regress": time.perf_counter() - tick}
    if not settings.refine:
        return PipelineOutput(starts[0], method, views=starts, seconds=seconds)
    tick = time.perf_counter()

    from .scorehmr import guided_steps, refine, refine_multiview, sample_hypotheses
    refine_settings = _refine_settings(settings)
    denoiser = models.denoiser()
    motion = models.clip_prior(settings.dual) if settings.motion_prior and mode != "frame" else None
    progress = (lambda done, total: report("refine", done, total, "ScoreHMR refinement"))
    progress(0, guided_steps(refine_settings.for_prior(motion)))
    if mode == "multiview":
        outs = refine_multiview(denoiser, models.skinning, views, starts, refine_settings,
                                video=len(views[0]) > 1 and settings.temporal > 0, progress=progress, cancelled=stop,
                                motion=motion)
        refined = [o.estimate.detach() for o in outs]
    else:
        out = refine(denoiser, models.skinning, views[0], starts[0], refine_settings, mode=mode, progress=progress,
                     cancelled=stop, motion=motion)
        refined = [out.estimate.detach()]
    prior = "" if motion is None else (", dual motion model" if settings.dual and motion is models.dual()
                                       else ", motion prior")
    result = PipelineOutput(refined[0], f"{method}+scorehmr({mode}{prior})", views=refined, seconds=seconds)
    if settings.hypotheses >= 1:
        report("refine", 0, 1, f"{settings.hypotheses} alternative poses per frame")
        result.hypotheses, _ = sample_hypotheses(denoiser, models.skinning, views[0], starts[0],
                                                 settings.hypotheses, refine_settings, settings.seed,
                                                 motion=models.dual() if settings.dual else None)
        result.spread = pose_spread(models.skinning, torch.cat([refined[0].x[None], result.hypotheses]),
                                    refined[0].betas)
        report("refine", 1, 1, "")
    seconds["refine"] = time.perf_counter() - tick
    return result


def pose_spread(skinning: LandmarkSkinning, x: Tensor, betas: Tensor) -> Tensor:
    """How much K poses of the same N frames disagree: x (K, N, 144), betas (N, B) -> (N,) the mean over joints of
    the RMS distance (metres) of the pelvis-relative joints from their mean over the K poses."""
    k, n = x.shape[:2]
    with torch.no_grad():
        joints, _ = skinning(x_to_rotmats(x.reshape(k * n, -1)), betas.repeat(k, 1))
    joints = (joints - joints[:, :1]).reshape(k, n, -1, 3)
    return ((joints - joints.mean(0, keepdim=True)) ** 2).sum(-1).mean(0).sqrt().mean(-1)


def _refine_settings(settings: PipelineSettings) -> "RefineSettings":
    from .refine_settings import RefineSettings
    base = RefineSettings()
    iterations = settings.iterations or base.iterations
    tuned = RefineSettings.for_quality(iterations, settings.temporal)
    return replace(tuned, align=settings.align)

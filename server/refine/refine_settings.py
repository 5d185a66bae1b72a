"""The knobs of one ScoreHMR refinement (:class:`RefineSettings`, CPU defaults measured in docs/benchmarks.md) and
how a clip prior (the motion prior, the dual model) changes them; the loop is :mod:`.scorehmr`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

from ..diffusion.motion import MotionDenoiser
from ..dual.dual_network import DualMotionModel
from ..options import CaptureOptions

ClipPrior = Optional[Union[MotionDenoiser, DualMotionModel]]   # a clip prior: the motion prior or the dual model
MAX_TEMPORAL_SCALE = 2.0
DUAL_T_START = 125              # read off the dual model's curve (:mod:`.scorehmr`'s docstring, "dual")
DUAL_STRIDE = 10
DUAL_GUIDE_BELOW = 25
DUAL_HYPOTHESIS_T_START = 500


@dataclass(frozen=True)
class RefineSettings:
    """Knobs of one refinement (CPU defaults; the published GPU ones are t* 50, stride 2, 10 iterations,
    weights 0.003 / 30 / 0.005 on the raw 6D state, velocity term, explicit step, gradient through the network)."""

    t_start: int = 50               # start noise level t* (larger t* measured worse: :mod:`.scorehmr`)
    stride: int = 4                 # DDIM stride (13 guided steps per iteration at t* 50)
    iterations: int = CaptureOptions.iterations  # outer iterations (more fit the detector noise: PA-MPJPE rises)
    keypoint_weight: float = 0.01   # frame mode; in video mode only its ratio to the multi-view term matters
    video_grad_norm: float = 300.0  # video mode: each frame's guidance gradient w.r.t. z_t rescaled to this norm
    temporal_weight: float = 10000.0  # video mode, on the raw 6D (implicit step: stable at any weight)
    temporal_order: int = 3         # temporal difference penalised: 1 velocity (ScoreHMR), 2 acceleration, 3 jerk
    temporal_implicit: bool = True  # implicit (proximal) step on the clean estimate; False: explicit, in the
                                    # gradient (ScoreHMR; diverges above ~700 velocity / ~150 acceleration)
    network_jacobian: bool = False  # True: backprop the guidance through the denoiser (ScoreHMR); False: eps held
                                    # fixed (same accuracy, faster)
    transl_smoothing: float = 1.0   # video mode: implicit jerk step on the camera translation after each camera
                                    # step (metres; 0 = off): the depth is weakly observed and jitters otherwise
    multiview_weight: float = 1000.0  # multi-view mode
    cam_lr: float = 1e-2            # Adam on the camera translation, one step per guided step
    rho: float = 1.0
    early_stop_tol: float = 1e-5
    align: bool = False             # HMDiff-style alignment in the early guided steps
    align_threshold: float = 0.05   # alignment is on for a sample while its gap R (box units) exceeds this
    align_fraction: float = 0.5     # ... during this leading fraction of each iteration's guided steps
    align_rate: float = 0.5         # step on the clean estimate along -grad of the alignment term (z units)
    refit_translation: bool = False # closed-form camera translation for the start pose before the loop
    hypothesis_t_start: int = 150   # Diff-HMR: noise level of the stochastic start of the first iteration
    motion_t_start: int = 50        # with the motion prior (video mode): t*, ...
    motion_stride: int = 4          # ... the DDIM stride ...
    motion_temporal_scale: float = 1.0   # ... and the share of the hand-set jerk term that stays
    guide_below: int = 1000         # the keypoint guidance acts only at t < guide_below (all t by default)
    fresh_noise: bool = False       # each iteration starts from fresh noise at t* (SDEdit) instead of the inversion
    dual_t_start: int = DUAL_T_START     # with the dual motion model (video mode): t*, read off its measured curve
    dual_stride: int = DUAL_STRIDE       # ... the DDIM stride ...
    dual_guide_below: int = DUAL_GUIDE_BELOW   # ... and where the guidance acts (:mod:`.scorehmr`'s docstring, "dual")
    dual_hypothesis_t_start: int = DUAL_HYPOTHESIS_T_START   # ... and the stochastic start of hypotheses
    dual_fresh_noise: bool = False       # ... True: fresh noise at t* (SDEdit; measured worse, docs/models.md)

    def with_motion(self) -> "RefineSettings":
        """The settings of a run guided by the motion prior's windows."""
        return replace(self, t_start=self.motion_t_start, stride=self.motion_stride,
                       temporal_weight=self.temporal_weight * self.motion_temporal_scale)

    def with_dual(self) -> "RefineSettings":
        """The settings of a run guided by the dual motion model (t*, stride, guidance interval and the
        hypotheses' start noise from its measured curve, scripts/benchmark_dual.py)."""
        return replace(self, t_start=self.dual_t_start, stride=self.dual_stride, guide_below=self.dual_guide_below,
                       hypothesis_t_start=self.dual_hypothesis_t_start, fresh_noise=self.dual_fresh_noise)

    def for_prior(self, motion: "ClipPrior") -> "RefineSettings":
        """The settings of a clip run with ``motion`` (None: these)."""
        if motion is None:
            return self
        if not isinstance(motion, DualMotionModel):
            return self.with_motion()
        if motion.config.estimate_t > 0:    # trained to refine diffused estimates: SDEdit from its own t*
            return replace(self.with_dual(), t_start=motion.config.estimate_t, fresh_noise=True)
        return self.with_dual()

    @staticmethod
    def for_quality(iterations: int, temporal: float) -> "RefineSettings":
        """The panel's knobs: ``iterations`` (quality, >= 1 outer iterations) and ``temporal`` (temporal
        strength, a multiplier of the default temporal weight; 1 = default, 0 = off, clamped to
        [0, MAX_TEMPORAL_SCALE]: the implicit temporal step is stable at any weight, but beyond ~2x the default the
        jerk term starts flattening real motion and PA-MPJPE rises)."""
        base = RefineSettings()
        scale = min(max(0.0, float(temporal)), MAX_TEMPORAL_SCALE)
        return replace(base, iterations=max(1, int(iterations)), temporal_weight=base.temporal_weight * scale)

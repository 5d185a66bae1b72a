"""The knobs of a keyframe cleanup (:class:`CleanupSettings`), shared by the methods (:mod:`.dposer`, :mod:`.guided`)
and their driver (:mod:`.methods`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..options import CleanupOptions, option_of

METHODS = tuple(value for value, _, _ in option_of(CleanupOptions, "method").choices if value != "auto")


@dataclass(frozen=True)
class CleanupSettings:
    """Knobs of one cleanup (CPU defaults, tuned with ``scripts/benchmark_cleanup.py``; see :mod:`.dposer` and
    :mod:`.guided`). ``strength`` multiplies the temporal and prior weights (1 = default, 0 = no cleanup)."""

    method: str = "dposer"
    strength: float = 1.0
    seed: int = 0
    # dposer: ``steps`` of Adam with a cosine-decayed learning rate
    steps: int = 100
    lr: float = 0.04                        # on the z-scored 6D pose ...
    pelvis_lr: float = 0.008                # ... and on the pelvis path (metres)
    final_lr_fraction: float = 0.1
    accel_scale: float = 0.008              # metres per frame^2 at 30 fps: typical joint acceleration
    accel_tail: float = 1.0                 # heavy tail of the acceleration penalty (0 = Gaussian)
    accel_wide: float = 0.03                # metres per frame^2: the wide Gaussian bound on top (0 = none)
    prior_weight: float = 0.3               # the one-step-denoise term (per frame, z-scored units)
    t_range: Tuple[float, float] = (0.2, 0.05)             # DPoser's motion denoising schedule (fractions of T)
    completion_t_range: Tuple[float, float] = (0.15, 0.05)  # ... and its completion schedule (some joint masked)
    prior_every: int = 10                   # steps between renewals of the prior's target (DPoser: 1)
    keep_root: bool = False                 # keep the root rotation and the pelvis path as given (body only)
    feet_weight: float = 1.0                # foot locking (with contacts): its strength
    still_scale: float = 0.002              # metres per frame a foot in contact may move
    contact_data: float = 0.1               # data weight left on a foot joint while it is in contact
    floor_scale: float = 0.005              # metres a foot may sink below the floor
    # guided: a data + temporal fit (``fit_steps``), then ScoreHMR-style inversion + guided resampling
    fit_steps: int = 100
    t_start: int = 50
    stride: int = 5
    iterations: int = 2
    grad_norm: float = 30.0                 # each frame's guidance gradient w.r.t. z_t rescaled to this norm
    temporal_weight: float = 1000.0         # implicit jerk step on the clean estimate (raw 6D)
    # guided with keep_root and the motion prior (its windows): t* and stride (the per-frame prior measured worse
    # at such t*)
    motion_t_start: int = 600
    motion_stride: int = 30

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not self.strength >= 0.0:
            raise ValueError(f"strength must be >= 0, got {self.strength}")
        if self.steps < 1 or self.fit_steps < 1:
            raise ValueError("steps and fit_steps must be >= 1")

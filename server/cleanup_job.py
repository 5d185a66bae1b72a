"""The cleanup job: a result-schema .npz (+ optional mask) -> the cleaned sequence as a result-schema .npz."""
from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from .cleanup.methods import cleanup
from .cleanup.sequence import load_mask, load_sequence, make_sequence, read_arrays, save_sequence
from .checks import check_option
from .cleanup.settings import METHODS, CleanupSettings
from .errors import JobError
from .result import CaptureSummary
from .torch_threads import torch_threads

DEFAULT = CleanupSettings()     # the benchmark's best method and settings
CLEANUP_THREADS = 1             # like the capture pipeline: 2 OpenMP threads measured slower on a busy 2-core CPU
ProgressFn = Callable[[str, int, int, str], None]


def cleanup_settings(strength: float, method: str = "", keep_root: bool = False) -> CleanupSettings:
    """The job's settings from its options, checked before any file is read: ``strength`` in the range that
    :data:`server.checks.OPTIONS` declares, ``method`` "" (the default) or one of :data:`METHODS`. Raises JobError
    ``bad_request``."""
    check_option("strength", strength)
    if method and method not in METHODS:
        raise JobError("bad_request", f"Unknown cleanup method {method!r}.", f"Use one of {', '.join(METHODS)}.")
    return replace(DEFAULT, method=method or DEFAULT.method, strength=float(strength), keep_root=bool(keep_root))


def run_cleanup(path: str, output: str, strength: float = 1.0, mask: str = "", method: str = "",
                progress: ProgressFn = lambda *a: None, cancelled: Callable[[], bool] = lambda: False,
                body_model: str = "", keep_root: bool = False, lock_feet: bool = False) -> CaptureSummary:
    """Clean ``path`` into ``output`` -> the summary (output path, frames, seconds per stage). ``method`` "" =
    the default; ``keep_root`` leaves the root rotation and translation as they are; ``lock_feet`` also finds the
    ground and the foot contacts and holds the feet during them (:func:`server.world.lock.lock_feet`; the
    result then has ``foot_contacts`` (N, 4) and ``ground`` (4,): normal and offset). Raises JobError."""
    from .body.fast import LandmarkSkinning
    from .body.model import default_body_model_path, load_body_model
    from .diffusion.denoiser import load_prior
    from .diffusion.motion import motion_prior_or_none

    timings = {}
    tick = time.perf_counter()
    settings = cleanup_settings(strength, method, keep_root)
    seq = load_sequence(path)
    like = read_arrays(path)
    if mask:
        conf = load_mask(mask, len(seq)) * seq.confidence
        seq = make_sequence(seq.poses, seq.transl, seq.betas, seq.fps, conf, seq.root_frame)
    denoiser = load_prior()
    motion = motion_prior_or_none("cleanup uses the per-frame prior")
    skinning = LandmarkSkinning(load_body_model(body_model or default_body_model_path()))
    timings["load"] = time.perf_counter() - tick
    tick = time.perf_counter()
    with torch_threads(CLEANUP_THREADS):
        report = lambda done, total: progress("cleanup", done, total, "")  # noqa: E731
        if lock_feet:
            from .world.lock import lock_feet as lock
            out, feet = lock(denoiser, skinning, seq, 1.0, settings, report, cancelled, motion=motion)
        else:
            out, feet = cleanup(denoiser, skinning, seq, settings, report, cancelled, motion=motion), None
    timings["cleanup"] = time.perf_counter() - tick
    tick = time.perf_counter()
    if feet is not None:
        like.update(foot_contacts=feet.contacts.astype(np.uint8),
                    ground=np.r_[feet.ground.normal, feet.ground.offset].astype(np.float32))
    save_sequence(output, out, like=like, method=f"cleanup({settings.method}{', feet locked' if feet else ''})")
    timings["write"] = time.perf_counter() - tick
    return CaptureSummary(path=os.path.abspath(output), frames=len(out), processed=len(seq), timings=timings)

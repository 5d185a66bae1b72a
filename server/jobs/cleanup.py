"""The cleanup job: a result-schema .npz (+ optional mask) -> the cleaned sequence as a result-schema .npz."""
from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from ..cleanup.methods import cleanup
from ..cleanup.sequence import load_mask, load_sequence, make_sequence, read_arrays, save_sequence
from ..cleanup.settings import CleanupSettings
from ..options import CleanupOptions
from ..result import CaptureSummary
from ..torch_threads import torch_threads

DEFAULT = CleanupSettings()     # the benchmark's best method and settings
CLEANUP_THREADS = 1             # like the capture pipeline: 2 OpenMP threads measured slower on a busy 2-core CPU
ProgressFn = Callable[[str, int, int, str], None]


def cleanup_settings(options: CleanupOptions) -> CleanupSettings:
    """The job's settings from its options (checked when they were built): method ``auto`` is the benchmark's
    best (:data:`DEFAULT`)."""
    method = DEFAULT.method if options.method == "auto" else options.method
    return replace(DEFAULT, method=method, strength=float(options.strength), keep_root=options.keep_root)


def run_cleanup(path: str, output: str, options: CleanupOptions = CleanupOptions(), mask: str = "",
                progress: ProgressFn = lambda *a: None, cancelled: Callable[[], bool] = lambda: False,
                body_model: str = "") -> CaptureSummary:
    """Clean ``path`` into ``output`` as ``options`` say -> the summary (output path, frames, seconds per stage).
    ``options.keep_root`` leaves the root rotation and translation as they are; ``options.lock_feet`` also finds the
    ground and the foot contacts and holds the feet during them (:func:`server.world.lock.lock_feet`; the
    result then has ``foot_contacts`` (N, 4) and ``ground`` (4,): normal and offset). ``mask``: an optional
    confidence file (:func:`server.cleanup.sequence.load_mask`). Raises JobError."""
    from ..body.fast import LandmarkSkinning
    from ..body.model import default_body_model_path, load_body_model
    from ..diffusion.denoiser import load_prior
    from ..diffusion.motion import motion_prior_or_none

    timings = {}
    tick = time.perf_counter()
    settings = cleanup_settings(options)
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
        if options.lock_feet:
            from ..world.lock import lock_feet as lock
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

"""The ``refine`` job: a keypoints file (:mod:`server.detection.keypoints_file`) -> regression -> ScoreHMR -> result ``.npz``.

The result has the capture result's schema (docs/cli.md, "Result file"), with ``source_video`` empty and
``keypoints_2d`` / ``world_landmarks`` of the first view, so the add-on imports it like a capture.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Dict

import numpy as np
import torch

from ..errors import JobError
from ..fitting.state import Observations
from ..detection.keypoints_file import KeypointSet, load_keypoints
from .pipeline import Models, PipelineSettings, run_pipeline

log = logging.getLogger(__name__)


def observations(kps: KeypointSet, view: int) -> Observations:
    """One view of a validated keypoints file as Observations, its BlazePose world landmarks turned onto the
    camera's axes (:meth:`Observations.in_camera_axes`, as a capture does)."""
    width, height = (float(v) for v in kps.image_size[view])
    world = None if kps.world is None else torch.from_numpy(kps.world[view])
    return Observations.from_image(torch.from_numpy(kps.keypoints[view]), width, height,
                                   float(kps.focal[view]), world, torch.from_numpy(kps.frame_indices.astype("int64")),
                                   float(kps.fps)).in_camera_axes()


def refine_file(path: str, output: str, settings: PipelineSettings, body_model: str = "",
                progress: Callable[[str, int, int, str], None] = lambda *a: None,
                cancelled: Callable[[], bool] = lambda: False) -> Dict[str, float]:
    """Run the pipeline on a keypoints file and write the result; returns seconds per stage.
    Raises JobError (``bad_keypoints``, ``bad_request``, weights and body-model errors)."""
    from ..body.model import default_body_model_path, load_body_model
    from ..result import ResultFile
    from .output import result_arrays

    timings = {"load": 0.0, "fit": 0.0, "write": 0.0}
    tick = time.perf_counter()
    kps = load_keypoints(path)
    if settings.mode != "multiview" and kps.num_views > 1:
        raise JobError("bad_request", f"{path} holds {kps.num_views} views; {settings.mode} mode takes one.",
                       "Use --mode multiview, or pass a file with one view.")
    if settings.mode == "multiview" and kps.num_views < 2:
        raise JobError("bad_request", f"{path} holds one view; multi-view mode needs two or more.",
                       "Use --mode video or --mode frame.")
    if settings.initial == "analytic" and kps.world is None:
        raise JobError("bad_request", "The analytic initial estimate needs BlazePose world landmarks, and "
                       f"{path} has none.", "Use the learned initial estimate (the default).")
    model = load_body_model(body_model or default_body_model_path())
    models = Models(model, is_builtin=not body_model)
    views = [observations(kps, v) for v in range(kps.num_views)]
    timings["load"] = time.perf_counter() - tick
    tick = time.perf_counter()
    try:
        out = run_pipeline(models, views, settings, progress, cancelled)
    except ValueError as exc:
        raise JobError("bad_request", f"Cannot refine {path}: {exc}.",
                       "Check the keypoints file against docs/cli.md (Keypoints file), or make it anew with "
                       "'python -m server detect'.") from exc
    timings["fit"] = time.perf_counter() - tick
    tick = time.perf_counter()
    width, height = (float(v) for v in kps.image_size[0])
    arrays = result_arrays(model, out, width, height, kps.fps, float(kps.focal[0]))
    world = kps.world[0] if kps.world is not None else np.zeros(kps.keypoints[0].shape, np.float32)
    arrays.update({"frame_indices": kps.frame_indices, "keypoints_2d": kps.keypoints[0],
                   "world_landmarks": np.concatenate([world, kps.keypoints[0][..., 2:3]], -1),
                   "source_video": np.array(""),
                   "frame_count": np.int32(int(kps.frame_indices.max()) + 1)})
    ResultFile.made(arrays, output).write(output)
    timings["write"] = time.perf_counter() - tick
    log.info("refined %d frames (%d views, %s) -> %s", kps.num_frames, kps.num_views, out.method,
             os.path.abspath(output))
    return timings

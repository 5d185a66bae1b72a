"""Refinement on real footage without a 3-D reference: the Sports2D clip (one camera).

    .venv/bin/python scripts/benchmark_real.py --sample SPORTS2D.mp4 [--json OUT]

(``python3 build.py benchmark`` fetches it and runs this after the synthetic benchmark.) BlazePose keypoints are
detected once and cached next to the footage (``<video>.keypoints.npz``).

For each method (the analytic solve, the per-frame regressor, the temporal regressor, + ScoreHMR frame mode,
+ ScoreHMR video mode from each start, regression + keyframe cleanup), the 2D reprojection error against the
detector (pixels, landmarks with confidence >= 0.5), the jitter (mean joint acceleration, mm/frame^2,
pelvis-aligned), the root's jitter (acceleration of the translation, mm/frame^2) and milliseconds per frame of the
fit. Real footage WITH a reference (Pose2Sim's calibrated views, triangulated) is scripts/benchmark_pose2sim.py.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.body.rot6d import poses_to_x, rotmat_to_rotvec_torch, x_to_rotmats  # noqa: E402
from server.jobs.capture import run_detect  # noqa: E402
from server.cleanup.methods import cleanup  # noqa: E402
from server.cleanup.sequence import make_sequence  # noqa: E402
from server.fitting.losses import reprojection_error  # noqa: E402
from server.fitting.state import Estimate, Observations, posed_body, reproject  # noqa: E402
from server.detection.keypoints_file import load_keypoints  # noqa: E402
from server.refine.from_keypoints import observations  # noqa: E402
from server.refine.metrics import acceleration  # noqa: E402
from server.refine.pipeline import Models, PipelineSettings, run_pipeline  # noqa: E402

log = logging.getLogger("benchmark_real")


def detect_cached(videos: List[Path], out: Path) -> Path:
    """BlazePose keypoints of synchronised ``videos`` (one view each), detected once into ``out``."""
    if not out.exists():
        log.info("detecting %s", ", ".join(v.name for v in videos))
        run_detect([str(v) for v in videos], str(out), 0, -1, lambda *a: None, lambda: False)
    return out


def fit(models: Models, views: List[Observations], settings: PipelineSettings) -> Dict[str, object]:
    tick = time.perf_counter()
    out = run_pipeline(models, views, settings)
    seconds = time.perf_counter() - tick
    return {"views": out.views, "seconds": seconds, "method": out.method}


def joints(models: Models, est: Estimate) -> torch.Tensor:
    return posed_body(models.skinning, est.x, est.betas, est.transl)[0].detach()


def error_px(models: Models, est: Estimate, obs: Observations) -> float:
    return float(torch.nanmean(reprojection_error(reproject(models.skinning, est, obs).detach(), obs.keypoints)))


def sports2d(models: Models, video: Path) -> Dict[str, Dict[str, float]]:
    kps = load_keypoints(str(detect_cached([video], video.with_suffix(".keypoints.npz"))))
    obs = observations(kps, 0)
    rows = {"analytic": PipelineSettings(initial="analytic", refine=False, mode="frame"),
            "regression": PipelineSettings(initial="learned", refine=False, mode="frame"),
            "+ ScoreHMR (frame)": PipelineSettings(initial="learned", mode="frame"),
            "+ ScoreHMR (video)": PipelineSettings(initial="learned", mode="video"),
            "temporal regression": PipelineSettings(initial="temporal", refine=False, mode="video"),
            "+ ScoreHMR from temporal": PipelineSettings(initial="temporal", mode="video")}
    table = {}
    estimates = {}
    for name, settings in rows.items():
        res = fit(models, [obs], settings)
        est = estimates[name] = res["views"][0]
        table[name] = figures(models, est, obs, res["seconds"])
    tick = time.perf_counter()
    cleaned = cleanup_estimate(models, estimates["regression"], float(kps.fps))
    table["regression + cleanup"] = figures(models, cleaned, obs, time.perf_counter() - tick)
    print(f"\nSports2D clip ({len(obs)} frames with a person, {kps.image_size[0, 0]:.0f}x{kps.image_size[0, 1]:.0f})")
    print(f"{'method':<26}{'2D error px':>12}{'jitter mm/f^2':>15}{'root jitter':>13}{'ms/frame':>10}")
    for name, row in table.items():
        print(f"{name:<26}{row['reprojection_px']:>12.1f}{row['jitter_mm_per_frame2']:>15.1f}"
              f"{row['root_jitter_mm_per_frame2']:>13.1f}{row['ms_per_frame']:>10.1f}")
    return table


def figures(models: Models, est: Estimate, obs: Observations, seconds: float) -> Dict[str, float]:
    """2D error, pose and root jitter (mean acceleration), time per frame (``seconds`` on top of the start)."""
    jitter = float(acceleration(joints(models, est)).mean())
    t = est.transl.detach()
    root = float((t[:-2] - 2.0 * t[1:-1] + t[2:]).norm(dim=-1).mean()) * 1000.0
    return {"reprojection_px": error_px(models, est, obs), "jitter_mm_per_frame2": jitter,
            "root_jitter_mm_per_frame2": root, "ms_per_frame": 1000.0 * seconds / len(obs)}


def cleanup_estimate(models: Models, est: Estimate, fps: float) -> Estimate:
    """The keyframe cleanup (server.cleanup, default settings) run on an estimate as if it were keyed motion:
    it sees the poses only, not the keypoints."""
    seq = make_sequence(rotmat_to_rotvec_torch(x_to_rotmats(est.x.detach())).numpy(), est.transl.detach().numpy(),
                        est.betas.detach()[0].numpy(), fps, None, "camera")
    out = cleanup(models.denoiser(), models.skinning, seq)
    return Estimate(poses_to_x(torch.from_numpy(out.poses)), est.betas.detach(),
                    torch.from_numpy(out.transl).reshape(len(out), 3))


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=Path, required=True, help="the Sports2D demo clip")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    models = Models(load_body_model(default_body_model_path()), is_builtin=True)
    figures = {"sports2d": sports2d(models, args.sample)}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

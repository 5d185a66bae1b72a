"""The motion prior against the per-frame prior as denoisers: one-step clean estimates of held-out windows.

    .venv/bin/python scripts/benchmark_motion_prior.py [--windows 32] [--seed 5] [--threads 1]

Windows: ``--windows`` synthetic windows of the val split (unseen subjects; server.train.clip_windows, as in
training: random speed, camera, detector errors) of the motion prior's length. Each window's 6D poses are diffused
to t with the same noise for both priors (each in its own normalised state); the one-step clean estimate
``predict_x0(z_t, eps)`` is compared with the truth: mean rotation error of the 23 body joints in degrees. Rows:
no prior (``z_t / sqrt(abar_t)``), each prior with and without its keypoint condition.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model  # noqa: E402
from server.body.rot6d import x_to_rotmats  # noqa: E402
from server.diffusion.denoiser import load_prior  # noqa: E402
from server.diffusion.motion import load_motion_prior  # noqa: E402
from server.diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample  # noqa: E402
from server.train.clip_windows import load_clip_sets  # noqa: E402
from server.train.motion_prior import make_windows  # noqa: E402

DEFAULT_DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
TIMESTEPS = (50, 100, 200, 400, 600)


def body_error_deg(x: torch.Tensor, truth: torch.Tensor) -> float:
    """6D poses (..., 144) against rotation matrices (M, 24, 3, 3) -> mean body-joint angle error, degrees."""
    r = x_to_rotmats(x.reshape(-1, 144))
    cos = (((r.transpose(-1, -2) @ truth).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return float(torch.rad2deg(torch.arccos(cos))[:, 1:].mean())


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--motion", type=Path, default=None, help="motion prior checkpoint (default: resolved)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    motion, frame = load_motion_prior(args.motion), load_prior()
    _, val = load_clip_sets(args.dataset)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    g = torch.Generator().manual_seed(args.seed)
    w = make_windows(skinning, val, args.windows, motion.config.window, g)
    x0, cond = w["x0"], w["cond"]
    truth = x_to_rotmats(x0.reshape(-1, 144))
    alphas = cosine_alphas_cumprod(motion.config.num_timesteps)
    print(f"One-step clean estimate, mean body-joint error (deg), {args.windows} held-out windows of "
          f"{motion.config.window} frames")
    print(f"{'t':>5s} {'no prior':>9s} {'window':>8s} {'window+c':>9s} {'frame':>8s} {'frame+c':>8s}")
    with torch.no_grad():
        for t in TIMESTEPS:
            noise = torch.randn(x0.shape, generator=g)
            zm = q_sample(motion.normalize(x0), t, noise, alphas)
            zf = q_sample(frame.normalize(x0), t, noise, alphas).reshape(-1, 144)
            raw = body_error_deg(motion.denormalize(zm / alphas[t].sqrt()), truth)
            window = body_error_deg(motion.denormalize(predict_x0(zm, t, motion(zm, t), alphas)), truth)
            window_c = body_error_deg(motion.denormalize(predict_x0(zm, t, motion(zm, t, cond), alphas)), truth)
            per = body_error_deg(frame.denormalize(predict_x0(zf, t, frame(zf, t, None), alphas)), truth)
            per_c = body_error_deg(frame.denormalize(predict_x0(zf, t, frame(zf, t, cond.reshape(-1, cond.shape[-1])),
                                                                alphas)), truth)
            print(f"{t:5d} {raw:9.2f} {window:8.2f} {window_c:9.2f} {per:8.2f} {per_c:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Figures for the diffusion prior on held-out subjects (prints a table; writes a grid of samples).

    .venv/bin/python scripts/benchmark_prior.py --dataset <cache>/pose_dataset.npz [--weights prior.pt]

1. One-step denoising error: held-out poses seen through random synthetic cameras (as in training), noised to
   t in the model's normalised state, denoised in one step; mean geodesic error per joint in degrees,
   conditional (with the synthetic keypoints) vs unconditional, against the noisy input's own clean estimate
   z_t / sqrt(alpha-bar) (no prior).
2. Plausibility of unconditional samples (DDIM, 50 steps from pure noise, eta SAMPLE_ETA, clean estimate
   bounded at SAMPLE_CLIP) against a Gaussian fitted to the training poses in 6D (Gram-Schmidt after sampling): the share
   of joint rotations outside the training range (per joint and axis, 0.5-99.5 percentile of the axis-angle
   components, widened by RANGE_MARGIN) and the nearest-neighbour distance to the training poses (mean
   per-joint geodesic angle). Held-out real poses give the reference row.
3. A grid of 16 unconditional samples as the camera sees them (``--grid``, PNG) for a person to judge.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.body.model import default_body_model_path, load_body_model, skin  # noqa: E402
from server.body.rot6d import rot6d_to_rotmat, rotvec_to_rot6d, x_to_poses, x_to_rotmats  # noqa: E402
from server.diffusion.condition import keypoints_to_condition  # noqa: E402
from server.diffusion.denoiser import load_prior  # noqa: E402
from server.diffusion.sampler import bind, ddim_sample  # noqa: E402
from server.diffusion.schedule import cosine_alphas_cumprod, predict_x0, q_sample  # noqa: E402
from server.train.pose_data import load_training_poses  # noqa: E402
from server.train.synthetic_views import synthesize_views  # noqa: E402

log = logging.getLogger("benchmark_prior")
NOISE_LEVELS = (10, 50, 100, 250, 500)
SAMPLE_CLIP = 3.0   # bound on the clean estimate in the normalised state (about 1% of training values exceed it)
SAMPLE_ETA = 1.0    # stochastic DDIM (eta = 1, DDPM-like): measured better than eta = 0 for pure-noise samples
RANGE_MARGIN = 0.05  # radians added to each side of the training range (joints the mocap never moves have none)


def geodesic_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) x2 -> (...) rotation angle between them in degrees."""
    rel = a.transpose(-1, -2) @ b
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))


def one_step_errors(model, skinning, val: torch.Tensor, g: torch.Generator, ac: torch.Tensor) -> Dict[int, tuple]:
    """noise level t -> (no prior, unconditional, conditional) mean per-joint error in degrees."""
    views = synthesize_views(skinning, val, g)
    cond = keypoints_to_condition(views.keypoints, views.world, model.config.use_world)
    truth = x_to_rotmats(views.x0)
    z0 = model.normalize(views.x0)
    out = {}
    for t in NOISE_LEVELS:
        noise = torch.randn(z0.shape, generator=g)
        z_t = q_sample(z0, t, noise, ac)
        with torch.no_grad():
            rows = [z_t / ac[t].sqrt()]
            for c in (None, cond):
                rows.append(predict_x0(z_t, t, model(z_t, t, c), ac))
        out[t] = tuple(float(geodesic_deg(x_to_rotmats(model.denormalize(r)), truth).mean()) for r in rows)
    return out


def plausibility(samples: torch.Tensor, train: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple:
    """(S, 24, 3) axis-angle samples -> (% joint rotations outside the training range, NN distance in degrees).

    The root (joint 0) is left out: its range is the cameras', not the body's."""
    body = samples[:, 1:]
    outside = ((body < lo) | (body > hi)).any(-1).float().mean() * 100
    s6 = rotvec_to_rot6d(samples[:, 1:]).reshape(len(samples), -1)
    t6 = rotvec_to_rot6d(train[:, 1:]).reshape(len(train), -1)
    nearest = torch.cdist(s6, t6).argmin(1)
    dist = geodesic_deg(x_to_rotmats_body(samples[:, 1:]), x_to_rotmats_body(train[nearest, 1:])).mean()
    return float(outside), float(dist)


def x_to_rotmats_body(rotvec: torch.Tensor) -> torch.Tensor:
    return rot6d_to_rotmat(rotvec_to_rot6d(rotvec))


def gaussian_6d_samples(train: torch.Tensor, count: int, g: torch.Generator) -> torch.Tensor:
    """Baseline: a full-covariance Gaussian over the training poses' 144-D 6D vectors, Gram-Schmidt back."""
    x = rotvec_to_rot6d(train).reshape(len(train), -1).double()
    mean, cov = x.mean(0), torch.cov(x.T) + 1e-6 * torch.eye(x.shape[1], dtype=torch.float64)
    z = torch.randn(count, x.shape[1], generator=g, dtype=torch.float64)
    draws = mean + z @ torch.linalg.cholesky(cov).T
    return x_to_poses(draws.float())


def render_grid(samples: torch.Tensor, path: Path) -> None:
    """16 posed bodies as the camera sees them (camera frame y down -> image up), 4 x 4."""
    import cv2
    from body_build.render import render_view

    model = load_body_model(default_body_model_path())
    flip = np.diag([1.0, -1.0, -1.0])
    tiles = []
    for pose in samples[:16].double().numpy():
        verts, _ = skin(model, pose[None], np.zeros(10), None)
        tiles.append(render_view(verts[0] @ flip.T, model.faces, "front", size=300, scale=120.0))
    rows = [np.concatenate(tiles[r:r + 4], axis=1) for r in range(0, 16, 4)]
    cv2.imwrite(str(path), np.concatenate(rows, axis=0))
    log.info("wrote %s", path)


def main(argv: list) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--weights", default=None, help="checkpoint (default: the committed prior)")
    parser.add_argument("--val-frames", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--grid", default=str(ROOT / "demo_out" / "prior_samples.png"))
    parser.add_argument("--eta", type=float, default=SAMPLE_ETA, help="DDIM eta for the unconditional samples")
    parser.add_argument("--clip", type=float, default=SAMPLE_CLIP, help="bound on the clean estimate (<= 0: none)")
    args = parser.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    model = load_prior(args.weights)
    ac = cosine_alphas_cumprod(1000)
    train, val = load_training_poses(args.dataset, mirror=False)
    val = val[torch.randperm(len(val), generator=g)[:args.val_frames]]
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    tick = time.perf_counter()
    errors = one_step_errors(model, skinning, val, g, ac)
    print(f"one-step denoising error on {len(val)} held-out poses (mean per joint, degrees)")
    print(f"{'t':>5} {'no prior':>9} {'uncond':>8} {'cond':>8}")
    for t, (raw, unc, con) in errors.items():
        print(f"{t:>5} {raw:9.2f} {unc:8.2f} {con:8.2f}")
    reference = train[torch.randperm(len(train), generator=g)[:20000]]  # body joints only are compared
    lo = torch.quantile(reference[:, 1:], 0.005, dim=0) - RANGE_MARGIN
    hi = torch.quantile(reference[:, 1:], 0.995, dim=0) + RANGE_MARGIN
    noise = torch.randn(args.samples, 144, generator=g)
    with torch.no_grad():
        samples = x_to_poses(model.denormalize(ddim_sample(
            bind(model), noise, 1000, 20, ac, eta=args.eta, generator=g, clip=args.clip if args.clip > 0 else None)))
    rows = {"diffusion prior": samples,
            "Gaussian in 6D": gaussian_6d_samples(reference, args.samples, g),
            "held-out real poses": val[:args.samples]}
    print(f"\nplausibility of {args.samples} samples (body joints; training range = 0.5-99.5 percentile;"
          f" DDIM 50 steps, eta {args.eta:g}, clip {args.clip:g})")
    print(f"{'source':<28} {'outside range %':>16} {'NN dist (deg)':>14}")
    for name, poses in rows.items():
        outside, dist = plausibility(poses, reference, lo, hi)
        print(f"{name:<28} {outside:16.2f} {dist:14.2f}")
    print(f"\n({time.perf_counter() - tick:.0f} s)")
    render_grid(samples, Path(args.grid))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Held-out mocap clips for the cleanup and feet benchmarks: loading val windows, skinning them, adding joint
noise, the pelvis-aligned error, and the filter parameter grids (see benchmark_cleanup.py for the protocols)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.body.fast import LandmarkSkinning  # noqa: E402
from server.refine.metrics import MM, pelvis_aligned  # noqa: E402
from server.train.pose_data import dataset_api  # noqa: E402

DEFAULT_DATASET = Path("~/.cache/blender_scorehmr/pose_dataset.npz").expanduser()
FPS = 30.0
SG_GRID = [(w, o) for w in range(5, 42, 2) for o in range(1, 5) if o < w]     # Savitzky-Golay window / order
BW_GRID = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0]   # Butterworth Hz


def held_out_arguments(parser: argparse.ArgumentParser, length: int) -> None:
    """The options every held-out-clip benchmark of placement and feet takes: --clips, --length, --seed, --threads, --dataset,
    --json."""
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--length", type=int, default=length)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="the pose dataset (build.py setup)")
    parser.add_argument("--json", type=Path, default=None)


def load_clips(path: Path, clips: int, length: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """``clips`` windows of ``length`` consecutive val frames -> poses (C, T, 24, 3), transl (C, T, 3)."""
    data = dataset_api()[0](path)
    val = np.asarray(data["split"]).astype(str) == "val"
    poses = np.asarray(data["poses"], np.float32)[val]
    transl = np.asarray(data["transl"], np.float32)[val]
    ids, first, counts = np.unique(np.asarray(data["clip_id"])[val], return_index=True, return_counts=True)
    usable = np.flatnonzero(counts >= length)
    if len(usable) == 0:
        raise SystemExit(f"no val clip has {length} frames; lower --length")
    rng = np.random.default_rng(seed)
    order = rng.permutation(usable)
    starts = []
    for i in range(clips):
        c = order[i % len(order)]
        starts.append(first[c] + rng.integers(0, counts[c] - length + 1))
    index = np.asarray(starts)[:, None] + np.arange(length)
    return poses[index], transl[index]


def ground_truth(skinning: LandmarkSkinning, poses: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """poses (C, T, 24, 3), transl (C, T, 3) -> joints (C, T, 24, 3) float64 metres of our body, betas 0."""
    c, t = poses.shape[:2]
    with torch.no_grad():
        joints, _ = skinning(torch.from_numpy(poses.reshape(c * t, 24, 3)), None,
                             torch.from_numpy(transl.reshape(c * t, 3)))
    return joints.numpy().astype(np.float64).reshape(c, t, 24, 3)


def noisy(gt: np.ndarray, sigma_mm: float, seed: int, known: Optional[np.ndarray] = None) -> np.ndarray:
    """gt (C, T, 24, 3) + Gaussian noise of ``sigma_mm`` per coordinate; unknown joints (known (24,) False) NaN."""
    out = gt + np.random.default_rng(seed).normal(scale=sigma_mm / MM, size=gt.shape)
    if known is not None:
        out[:, :, ~known] = np.nan
    return out


def errors(pred: np.ndarray, gt: np.ndarray, joints: Optional[np.ndarray] = None) -> np.ndarray:
    """Pelvis-aligned per-joint error (mm) averaged over ``joints`` (index array, default all): (..., 24, 3) x 2
    -> (...) per frame."""
    p = pelvis_aligned(torch.from_numpy(pred.reshape(-1, 24, 3)))
    g = pelvis_aligned(torch.from_numpy(gt.reshape(-1, 24, 3)))
    e = (p - g).norm(dim=-1) * MM
    if joints is not None:
        e = e[:, joints]
    return e.mean(-1).numpy().reshape(pred.shape[:-2])

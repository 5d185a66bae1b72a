"""Temporally structured detector errors and training windows of mocap clips."""
from __future__ import annotations

from pathlib import Path

import torch

from server.body.fast import LandmarkSkinning, rotvec_to_rotmat_torch
from server.body.model import default_body_model_path, load_body_model
from server.train.clip_noise import ClipNoiseConfig, corrupt_clip, smooth_noise
from server.train.clip_windows import load_clip_sets, read_window, synthesize_window


def _clip(t: int = 300) -> torch.Tensor:
    kp = torch.rand(1, 33, 3) * torch.tensor([200.0, 400.0, 0.0]) + torch.tensor([800.0, 300.0, 0.95])
    return kp.expand(t, 33, 3).clone()


def test_smooth_noise_is_unit_and_correlated() -> None:
    noise = smooth_noise(4000, 8, 10.0, torch.Generator().manual_seed(0))
    assert noise.shape == (4000, 8)
    assert 0.85 < float(noise.std()) < 1.15
    lag1 = float((noise[1:] * noise[:-1]).mean() / noise.var())
    assert lag1 > 0.9                                     # neighbouring frames share their error


def test_errors_drift_drop_and_swap_over_runs_of_frames() -> None:
    kp, world = _clip(), torch.randn(300, 33, 3) * 0.3
    cfg = ClipNoiseConfig(dropout_rate=(0.02, 0.02), confident_dropout_prob=0.0, swap_rate=(0.02, 0.02))
    noisy, noisy_world = corrupt_clip(kp, world, torch.Generator().manual_seed(1), cfg)
    assert noisy.shape == kp.shape and noisy_world.shape == world.shape
    assert float(noisy[..., 2].min()) >= 0.0 and float(noisy[..., 2].max()) <= 1.0
    error = (noisy[..., :2] - kp[..., :2]).norm(dim=-1)
    step = (error[1:] - error[:-1]).abs().median()
    assert float(step) < 0.5 * float(error.median())      # the error changes slowly from frame to frame
    low = noisy[..., 2] < 0.45
    assert bool(low.any())                                  # limbs were lost for a while
    runs = (low[1:] & low[:-1]).sum() / low[1:].sum().clamp_min(1)
    assert float(runs) > 0.6
    same = corrupt_clip(kp, world, torch.Generator().manual_seed(1), cfg)[0]
    torch.testing.assert_close(same, noisy)               # all randomness from the generator


def test_windows_repeat_clip_ends_and_look_like_a_detector(pose_dataset: Path) -> None:
    train, val = load_clip_sets(pose_dataset)
    assert len(train.starts) == 3 and len(val.starts) == 1 and int(train.lengths.sum()) == len(train)
    start = int(train.starts[1])
    rot, transl = read_window(train, start, 9, 1.0, False)
    first = rotvec_to_rotmat_torch(train.poses[start:start + 1])[0]
    for i in range(5):                                    # frames before the clip's start repeat its first frame
        torch.testing.assert_close(rot[i], first, atol=1e-5, rtol=0)
    slow, _ = read_window(train, start + 50, 9, 0.5, False)
    torch.testing.assert_close(slow[4], rotvec_to_rotmat_torch(train.poses[start + 50:start + 51])[0],
                               atol=1e-5, rtol=0)
    skinning = LandmarkSkinning(load_body_model(default_body_model_path()))
    views, speed = synthesize_window(skinning, train, start + 50, 40, torch.Generator().manual_seed(2))
    assert views.keypoints.shape == (40, 33, 3) and views.x0.shape == (40, 144) and 0.4 <= speed <= 1.25
    assert torch.all(views.focal == views.focal[0]) and torch.all(views.betas == views.betas[0])

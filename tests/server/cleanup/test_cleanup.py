"""Motion cleanup: denoising lowers the joint error, masked joints are completed, strength 0 is the identity,
bad input raises JobError, cancel raises Cancelled, and the CLI writes a result-schema file."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from server.body.fast import rotvec_to_rotmat_torch
from server.body.rot6d import poses_to_x
from server.cleanup.methods import cleanup, cleanup_joints
from server.cleanup.problem import joints_of, rest_joints
from server.cleanup.sequence import load_mask, load_sequence, make_sequence, save_sequence
from server.cli import main
from server.errors import Cancelled, JobError

from .conftest import FAST, smooth_clip

LEFT_LEG = [4, 7, 10]      # left knee, ankle, foot: the left hip and knee rotations are then unobserved


def joints(skinning, seq) -> np.ndarray:
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    x = poses_to_x(torch.from_numpy(seq.poses))
    return joints_of(rest, x, torch.from_numpy(seq.transl) + rest[0]).numpy()


def mpjpe(a: np.ndarray, b: np.ndarray, idx=slice(None)) -> float:
    return float(np.linalg.norm(a[:, idx] - b[:, idx], axis=-1).mean())


@pytest.mark.parametrize("method", ["dposer", "guided"])
def test_cleanup_lowers_the_joint_error_of_noisy_motion(prior, skinning, method: str) -> None:
    clean = smooth_clip()
    noise = np.random.default_rng(0).normal(size=clean.poses.shape).astype(np.float32) * 0.08
    noisy = replace(clean, poses=clean.poses + noise)
    out = cleanup(prior, skinning, noisy, replace(FAST, method=method))
    assert out.poses.shape == clean.poses.shape and out.root_frame == "world"
    truth = joints(skinning, clean)
    assert mpjpe(joints(skinning, out), truth) < 0.8 * mpjpe(joints(skinning, noisy), truth)


def test_cleanup_joints_recovers_poses_from_noisy_joints(prior, skinning) -> None:
    clean = smooth_clip(seed=1)
    truth = joints(skinning, clean)
    noisy = truth + np.random.default_rng(1).normal(size=truth.shape).astype(np.float32) * 0.02
    out = cleanup_joints(prior, skinning, noisy, clean.betas, 30.0, None, FAST)
    assert mpjpe(joints(skinning, out), truth) < mpjpe(noisy, truth)


def test_masked_leg_is_completed_not_copied(prior, skinning) -> None:
    clean = smooth_clip(seed=2)
    poses = clean.poses.copy()
    poses[6:18, [1, 4, 7]] = [1.5, 0.0, 0.0]        # garbage keys on the left leg in the middle frames
    conf = np.ones((len(clean), 24), np.float32)
    conf[6:18, LEFT_LEG] = 0.0
    broken = make_sequence(poses, clean.transl, clean.betas, 30.0, conf, "world")
    out = cleanup(prior, skinning, broken, FAST)
    truth, got = joints(skinning, clean), joints(skinning, out)
    rest = joints(skinning, replace(clean, poses=np.where(np.isin(np.arange(24), [1, 4, 7])[None, :, None], 0.0,
                                                          clean.poses)))
    err = mpjpe(got[6:18], truth[6:18], LEFT_LEG)
    assert err < 0.5 * mpjpe(rest[6:18], truth[6:18], LEFT_LEG)
    assert err < 0.2 * mpjpe(joints(skinning, broken)[6:18], truth[6:18], LEFT_LEG)


def test_strength_zero_returns_the_input(prior, skinning) -> None:
    seq = smooth_clip()
    out = cleanup(prior, skinning, seq, replace(FAST, strength=0.0))
    np.testing.assert_array_equal(out.poses, seq.poses)
    np.testing.assert_array_equal(out.transl, seq.transl)


@pytest.mark.parametrize("method", ["dposer", "guided"])
def test_keep_root_keeps_the_root_and_cleans_the_body(prior, skinning, method: str) -> None:
    clean = smooth_clip(seed=6)
    noise = np.random.default_rng(6).normal(size=clean.poses.shape).astype(np.float32) * 0.08
    noisy = replace(clean, poses=clean.poses + noise)
    out = cleanup(prior, skinning, noisy, replace(FAST, method=method, keep_root=True))
    np.testing.assert_allclose(out.transl, noisy.transl, atol=1e-5)
    same = rotvec_to_rotmat_torch(torch.from_numpy(out.poses[:, 0])) - rotvec_to_rotmat_torch(
        torch.from_numpy(noisy.poses[:, 0]))
    assert float(same.abs().max()) < 1e-4
    assert np.abs(out.poses[:, 1:] - noisy.poses[:, 1:]).max() > 0.01


def test_keep_root_with_joints_needs_the_root(prior, skinning) -> None:
    clean = smooth_clip(seed=7)
    truth = joints(skinning, clean)
    with pytest.raises(ValueError):
        cleanup_joints(prior, skinning, truth, clean.betas, 30.0, None, replace(FAST, keep_root=True))
    root = (rotvec_to_rotmat_torch(torch.from_numpy(clean.poses[:, 0])).numpy(), truth[:, 0])
    out = cleanup_joints(prior, skinning, truth, clean.betas, 30.0, None, replace(FAST, keep_root=True), root=root)
    np.testing.assert_allclose(joints(skinning, out)[:, 0], truth[:, 0], atol=1e-4)
    assert mpjpe(joints(skinning, out), truth) < 0.03


def test_nan_keys_get_zero_confidence_and_are_filled() -> None:
    seq = smooth_clip()
    poses = seq.poses.copy()
    poses[3, 5] = np.nan
    out = make_sequence(poses, seq.transl, seq.betas, 30.0)
    assert np.isfinite(out.poses).all() and out.confidence[3, 5] == 0.0 and out.confidence[3, 4] == 1.0


@pytest.mark.parametrize("poses", [np.zeros((0, 24, 3)), np.zeros((1, 24, 3)), np.zeros((5, 23, 3)),
                                   np.full((4, 24, 3), np.nan)])
def test_bad_sequences_raise_job_errors(poses: np.ndarray) -> None:
    with pytest.raises(JobError) as info:
        make_sequence(poses, None, np.zeros(10), 30.0)
    assert info.value.code == "bad_request" and info.value.hint


def test_bad_files_raise_job_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "no_poses.npz", betas=np.zeros(10))
    for bad in (tmp_path / "missing.npz", tmp_path / "no_poses.npz"):
        with pytest.raises(JobError):
            load_sequence(bad)
    np.savez(tmp_path / "mask.npz", joints=np.array(["left_knee", "elbow"]))
    with pytest.raises(JobError):
        load_mask(tmp_path / "mask.npz", 5)


def test_cancel_raises_cancelled(prior, skinning) -> None:
    for method in ("dposer", "guided"):
        with pytest.raises(Cancelled):
            cleanup(prior, skinning, smooth_clip(), replace(FAST, method=method), cancelled=lambda: True)


def test_cli_round_trip_writes_a_result_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("server.jobs.cleanup.DEFAULT", FAST)
    seq = smooth_clip()
    src, out, mask = tmp_path / "in.npz", tmp_path / "out.npz", tmp_path / "mask.npz"
    save_sequence(src, seq, like={"joints_rest": np.zeros((24, 3), np.float32), "frame_indices": np.arange(24) + 5})
    np.savez(mask, joints=np.array(["left_wrist", "left_hand"]))
    assert main(["cleanup", str(src), "-o", str(out), "--strength", "0.5", "--mask", str(mask)]) == 0
    with np.load(out, allow_pickle=False) as data:
        assert data["poses"].shape == (24, 24, 3) and data["transl"].shape == (24, 3)
        assert data["betas"].shape == (10,) and str(data["root_frame"]) == "world"
        np.testing.assert_array_equal(data["frame_indices"], np.arange(24) + 5)
        assert "joints_rest" in data and data["confidence"][0, 20] == 0.0
    assert main(["cleanup", str(tmp_path / "missing.npz"), "-o", str(out)]) == 2


def test_guided_uses_the_motion_prior_only_when_the_root_is_kept(prior, skinning) -> None:
    """With keep_root the guided method resamples through the motion prior's windows (from its own t*) and lowers
    the error; with the root free the motion prior is not used (the result is the per-frame prior's)."""
    from server.diffusion.motion import load_motion_prior
    motion = load_motion_prior()
    clean = smooth_clip(frames=40, seed=8)
    noise = np.random.default_rng(8).normal(size=clean.poses.shape).astype(np.float32) * 0.08
    noisy = replace(clean, poses=clean.poses + noise)
    settings = replace(FAST, method="guided")
    free = cleanup(prior, skinning, noisy, settings)
    np.testing.assert_allclose(cleanup(prior, skinning, noisy, settings, motion=motion).poses, free.poses)
    kept = replace(settings, keep_root=True)
    with_motion = cleanup(prior, skinning, noisy, kept, motion=motion)
    assert np.abs(with_motion.poses - cleanup(prior, skinning, noisy, kept).poses).max() > 1e-3
    truth = joints(skinning, clean)
    assert mpjpe(joints(skinning, with_motion), truth) < mpjpe(joints(skinning, noisy), truth)

"""The cleanup problem's pieces: the noise estimate, clip boundaries, the inverse-kinematics start (with the hips
unknown too) and batching independent clips."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from server.body.rot6d import poses_to_x, rotmat_to_rot6d, x_to_rotmats
from server.cleanup.methods import cleanup_joints
from server.cleanup.problem import (CAMERA_FROM_WORLD, acceleration_mask, analytic_start, estimate_noise, joints_of,
                                    kabsch, rest_joints)

from .conftest import FAST, smooth_clip

def _truth(skinning, seq) -> torch.Tensor:
    """World joints (N, 24, 3) of a world-frame sequence."""
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    return joints_of(rest, poses_to_x(torch.from_numpy(seq.poses)), torch.from_numpy(seq.transl) + rest[0])


def test_noise_estimate_recovers_white_noise_per_joint(skinning) -> None:
    clean = _truth(skinning, smooth_clip(300))
    sigma = torch.full((24,), 0.02)
    sigma[10:] = 0.06
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * sigma[:, None]
    got = estimate_noise(noisy, torch.ones(300, 24), (300,))
    assert torch.allclose(got, sigma, rtol=0.15)
    assert float(estimate_noise(clean, torch.ones(300, 24), (300,)).max()) < 0.005   # smooth motion reads as clean


def test_noise_estimate_ignores_untrusted_joints_and_short_clips(skinning) -> None:
    clean = _truth(skinning, smooth_clip(40))
    weight = torch.ones(40, 24)
    weight[:, 5] = 0.0
    noisy = clean.clone()
    noisy[:, 5] += 1.0 * torch.randn(40, 3, generator=torch.Generator().manual_seed(1))   # garbage, but untrusted
    got = estimate_noise(noisy, weight, (40,))
    assert float(got[5]) < 0.005
    assert torch.allclose(estimate_noise(noisy[:3], weight[:3], (3,)), torch.full((24,), 0.002))


def test_acceleration_mask_drops_second_differences_across_clips() -> None:
    mask = acceleration_mask((4, 3))
    assert mask.tolist() == [True, True, False, False, True]


def test_kabsch_with_one_trusted_vector_is_the_swing_onto_it() -> None:
    a = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    b = torch.tensor([[[0.0, 0.0, 2.0], [5.0, 5.0, 5.0]]])
    rot = kabsch(a, b, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(rot[0] @ a[0, 0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)
    assert torch.allclose(rot[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 0.0]), atol=1e-5)


def _root_error_deg(x: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    rel = x_to_rotmats(x)[:, 0].transpose(1, 2) @ x_to_rotmats(truth)[:, 0]
    return torch.rad2deg(torch.arccos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))


def test_start_places_the_root_with_the_hips_unknown(prior, skinning) -> None:
    seq = smooth_clip(12, seed=3)
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    rot = x_to_rotmats(poses_to_x(torch.from_numpy(seq.poses)))
    rot[:, 0] = CAMERA_FROM_WORLD @ rot[:, 0]                               # the prior's (camera) domain
    x_true = rotmat_to_rot6d(rot).reshape(12, -1)
    target = joints_of(rest, x_true, torch.zeros(12, 3))
    weight = torch.ones(12, 24)
    weight[:, [1, 2, 4, 5, 7, 8, 10, 11]] = 0.0                                # legs and hips unknown
    for w in (torch.ones(12, 24), weight):
        x = analytic_start(rest, target, w, prior.x_mean.detach())
        assert float(_root_error_deg(x, x_true).max()) < 40.0     # a flipped root (the old swing start) is > 90


def test_batched_clips_are_cleaned_independently(prior, skinning) -> None:
    a, b = smooth_clip(30, seed=4), smooth_clip(30, seed=5)
    ja, jb = _truth(skinning, a).numpy(), _truth(skinning, b).numpy()
    jb = jb + np.array([3.0, 0.0, 0.0], np.float32)                           # a 3 m jump between the clips
    both = np.concatenate([ja, jb])
    out = cleanup_joints(prior, skinning, both, a.betas, 30.0, None, FAST, segments=(30, 30))
    got = _truth(skinning, out).numpy()
    err = np.linalg.norm(got - both, axis=-1).mean(-1)                        # (60,) metres per frame
    assert err[27:33].max() < 0.05                                             # no smearing across the cut


def test_start_from_reference_rotations_keeps_their_twist(prior, skinning) -> None:
    """Inverse kinematics onto a pose's own joints, started from that pose's rotations, gives the pose back (its
    twists included, which the joints do not show), where the neutral start loses them."""
    seq = smooth_clip(8, seed=5)
    rest = rest_joints(skinning, torch.from_numpy(seq.betas))
    x_true = poses_to_x(torch.from_numpy(seq.poses))
    target = joints_of(rest, x_true, torch.zeros(8, 3))
    root = x_to_rotmats(x_true)[:, 0]
    x = analytic_start(rest, target, torch.ones(8, 24), prior.x_mean.detach(), root, x_true)
    assert torch.allclose(x_to_rotmats(x), x_to_rotmats(x_true), atol=1e-3)
    neutral = analytic_start(rest, target, torch.ones(8, 24), prior.x_mean.detach(), root)
    assert float((x_to_rotmats(neutral) - x_to_rotmats(x_true)).abs().max()) > 0.1


def test_keys_solved_from_noisy_joints_are_cleaned_below_their_error(prior, skinning) -> None:
    """Keys whose rotations are noisier than their joints (solved from noisy joints, twists free): the cleanup of
    the keys with the root kept ends closer to the truth than the keys (it was farther: its start was the keys'
    low-passed rotations)."""
    from server.cleanup.methods import cleanup
    from server.cleanup.sequence import make_sequence
    seq = smooth_clip(24, seed=2)
    truth = _truth(skinning, seq).numpy()
    rng = np.random.default_rng(0)
    noisy = (truth + rng.normal(scale=0.06, size=truth.shape)).astype(np.float32)
    root_rot = x_to_rotmats(poses_to_x(torch.from_numpy(seq.poses)))[:, 0].numpy()
    settings = replace(FAST, keep_root=True, strength=0.0, steps=60)
    keys = cleanup_joints(prior, skinning, noisy, seq.betas, 30.0, None, settings,
                          root=(root_rot, truth[:, 0]))
    keys = make_sequence(keys.poses, keys.transl, seq.betas, 30.0, None, "world")
    out = cleanup(prior, skinning, keys, replace(FAST, keep_root=True))
    error = lambda s: float(np.linalg.norm(_truth(skinning, s).numpy() - truth, axis=-1).mean())  # noqa: E731
    assert error(out) < 0.8 * error(keys)

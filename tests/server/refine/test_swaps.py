"""Left/right swap correction (server/refine/swaps.py) on synthetic walking sequences."""
from __future__ import annotations

import math

import torch

from server.fitting.state import Observations
from server.refine.swaps import CHAINS, MIRROR, undo_swaps, undo_view_swaps, viterbi


def walking(n: int = 90, fps: float = 30.0) -> tuple:
    """A person facing the camera, arms and legs swinging: keypoints (n, 33, 3) pixels + confidence, world
    (n, 33, 3) metres. Left landmarks at image x > the right ones (the person's left is the image's right)."""
    t = torch.arange(n, dtype=torch.float64)[:, None] / fps
    phase = torch.sin(2 * math.pi * 0.8 * t)
    world = torch.zeros(n, 33, 3, dtype=torch.float64)
    heights = {"eye": -0.75, "ear": -0.72, "mouth": -0.65, "shoulder": -0.5, "elbow": -0.22, "wrist": 0.02,
               "pinky": 0.08, "index": 0.09, "thumb": 0.07, "hip": 0.0, "knee": 0.45, "ankle": 0.85, "heel": 0.9,
               "foot": 0.9}
    width = {"eye": 0.04, "ear": 0.08, "mouth": 0.03, "shoulder": 0.2, "elbow": 0.24, "wrist": 0.26, "pinky": 0.27,
             "index": 0.27, "thumb": 0.26, "hip": 0.12, "knee": 0.13, "ankle": 0.14, "heel": 0.14, "foot": 0.15}
    from server.body.layout import BLAZEPOSE_NAMES
    for i, name in enumerate(BLAZEPOSE_NAMES):
        if name == "nose":
            world[:, i, 1] = -0.7
            continue
        side = 1.0 if "left" in name else -1.0
        part = next(p for p in ("foot", "mouth", "eye", "ear") + tuple(heights) if p in name)
        swing = {"elbow": 0.1, "wrist": 0.25, "pinky": 0.28, "index": 0.28, "thumb": 0.27, "knee": 0.15,
                 "ankle": 0.3, "heel": 0.3, "foot": 0.33}.get(part, 0.0)
        world[:, i, 0] = side * width[part]
        world[:, i, 1] = heights[part] - 0.05 * swing * side * phase[:, 0]
        world[:, i, 2] = side * swing * phase[:, 0]
    uv = 500.0 + 400.0 * world[..., :2] + torch.tensor([3.0, 0.0]) * torch.arange(n)[:, None, None]
    conf = torch.full((n, 33, 1), 0.95, dtype=torch.float64)
    return torch.cat([uv, conf], -1).float(), world.float()


def swap(kp: torch.Tensor, world: torch.Tensor, frames: slice, chain: str) -> tuple:
    kp, world = kp.clone(), world.clone()
    order = torch.arange(33)
    left = torch.tensor(CHAINS[chain])
    order[left] = torch.tensor([MIRROR[i] for i in CHAINS[chain]])
    order[order[left]] = left
    kp[frames], world[frames] = kp[frames][:, order], world[frames][:, order]
    return kp, world


def test_no_swap_is_bit_identical() -> None:
    kp, world = walking()
    out, wout, report = undo_swaps(kp, world, fps=30.0)
    assert out is kp and wout is world and not report.any()


def test_swap_runs_are_found_and_undone() -> None:
    kp, world = walking()
    for chain, frames in (("legs", slice(20, 27)), ("arms", slice(50, 55)), ("body", slice(70, 80))):
        bad, bad_world = swap(kp, world, frames, chain)
        out, wout, report = undo_swaps(bad, bad_world, fps=30.0)
        assert report.frames(chain) == list(range(frames.start, frames.stop)), chain
        torch.testing.assert_close(out[..., :2], kp[..., :2])
        torch.testing.assert_close(wout, world)
        assert float(out[frames.start, CHAINS[chain][0], 2]) < 0.95          # corrected frames trusted less


def test_clip_long_swap_is_left_alone() -> None:
    kp, world = walking()
    bad, bad_world = swap(kp, world, slice(0, len(kp)), "body")
    out, _, report = undo_swaps(bad, bad_world, fps=30.0)
    assert out is bad and not report.any()


def test_missing_frames_nan_and_gaps() -> None:
    kp, world = walking()
    bad, bad_world = swap(kp, world, slice(30, 36), "legs")
    bad[10:14, :, 2] = 0.0                                        # nobody
    bad[40, 5, :] = float("nan")
    frames = torch.arange(len(kp))
    frames[60:] += 5                                              # a gap in the frame numbers
    out, _, report = undo_swaps(bad, bad_world, frames=frames, fps=30.0)
    assert report.frames("legs") == list(range(30, 36))
    assert not torch.isnan(out[:, :5]).any()


def test_short_clips_and_nobody() -> None:
    kp, world = walking(1)
    assert undo_swaps(kp, world)[0] is kp
    kp2, world2 = walking(2)
    assert undo_swaps(kp2, None, fps=30.0)[0].shape == kp2.shape
    empty = torch.zeros(20, 33, 3)
    out, _, report = undo_swaps(empty, None, fps=30.0)
    assert out is empty and not report.any()


def test_learned_probability_and_observations() -> None:
    kp, world = walking(40)
    probability = torch.full((40, 2), 0.01)
    probability[10:15, 1] = 0.9999
    bad, bad_world = swap(kp, world, slice(10, 15), "legs")
    out, _, report = undo_swaps(bad, bad_world, fps=30.0, probability=probability)
    assert report.frames("legs") == list(range(10, 15))
    obs = Observations.from_image(bad, 1000.0, 1000.0, world=bad_world, fps=30.0)
    fixed = undo_view_swaps(obs)
    torch.testing.assert_close(fixed.keypoints[..., :2], kp[..., :2])
    clean = Observations.from_image(kp, 1000.0, 1000.0, world=world, fps=30.0)
    assert undo_view_swaps(clean) is clean


def test_viterbi_prefers_kept_without_evidence() -> None:
    unary = torch.zeros(5, 2)
    unary[:, 1] = 1.0
    assert not viterbi(unary, torch.zeros(4, 2, 2), torch.zeros(3, 2, 2, 2), 5.0).any()
    assert not viterbi(torch.zeros(1, 2), torch.zeros(0, 2, 2), torch.zeros(0, 2, 2, 2), 5.0).any()

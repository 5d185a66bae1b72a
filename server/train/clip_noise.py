"""Temporally structured detector errors for a synthetic clip: what BlazePose gets wrong over time, not per frame.

A real detector's errors are not independent from frame to frame. On top of the per-frame noise of
:mod:`.synthetic_views` (drawn with a lighter hand for clips, :data:`CLIP_VIEW`), a clip of T frames gets:

- **drift**: every landmark wanders smoothly (white noise low-passed with a Gaussian of 2-15 frames, scaled to
  0.3-1.5% of the person's height), so neighbouring frames share most of their error;
- **limb dropouts**: runs of 3-30 frames in which an arm or a leg is lost: either its confidence falls to 0-0.4
  and its points slide away (a guess), or -- one run in three -- its points are off by 5-15% of the height with
  the confidence left high (confidently wrong);
- **left/right swaps** lasting 1-10 frames: the legs, the arms or the whole body;
- **miscalibrated confidence**: ``a * visibility + b`` per clip (a in 0.7-1.1, b in -0.15-0.1) plus noise, so
  confidence is only loosely tied to the error;
- **world landmarks**: a smooth depth error per limb (2-6 cm) on top of the per-frame noise, swapped with the
  image landmarks.

All functions are pure: tensors in, tensors out, randomness from the generator passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor

from ..body.layout import BLAZEPOSE_NAMES
from .synthetic_views import ViewConfig

_SIDE_SWAP = [BLAZEPOSE_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
              for n in BLAZEPOSE_NAMES]


def _indices(*words: str) -> Tuple[int, ...]:
    return tuple(i for i, n in enumerate(BLAZEPOSE_NAMES) if any(n.startswith(w) for w in words))


LIMBS: Tuple[Tuple[int, ...], ...] = (
    _indices("left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"),
    _indices("right_elbow", "right_wrist", "right_pinky", "right_index", "right_thumb"),
    _indices("left_knee", "left_ankle", "left_heel", "left_foot"),
    _indices("right_knee", "right_ankle", "right_heel", "right_foot"),
)
SWAP_GROUPS: Tuple[Tuple[int, ...], ...] = (
    LIMBS[2] + LIMBS[3] + _indices("left_hip", "right_hip"),                              # legs
    LIMBS[0] + LIMBS[1] + _indices("left_shoulder", "right_shoulder"),                    # arms
    tuple(range(len(BLAZEPOSE_NAMES))),                                                   # the whole body
)
SWAP_GROUP_PROB = (0.5, 0.2, 0.3)

# The per-frame part for clips: the temporal errors below carry much of what ViewConfig draws independently.
CLIP_VIEW = ViewConfig(pixel_noise=(0.003, 0.012), drop_rate=(0.0, 0.06), outlier_prob=0.02, swap_prob=0.0)


@dataclass(frozen=True)
class ClipNoiseConfig:
    """Ranges of the temporal errors (fractions of the person's image height, frames at 30 fps, per-frame rates)."""

    drift_amplitude: Tuple[float, float] = (0.003, 0.015)
    drift_frames: Tuple[float, float] = (2.0, 15.0)
    dropout_rate: Tuple[float, float] = (0.0, 0.012)     # runs started per limb and frame
    dropout_frames: Tuple[int, int] = (3, 30)
    dropout_offset: Tuple[float, float] = (0.05, 0.15)
    confident_dropout_prob: float = 0.33
    swap_rate: Tuple[float, float] = (0.0, 0.005)        # swap runs started per frame
    swap_frames: Tuple[int, int] = (1, 10)
    confidence_gain: Tuple[float, float] = (0.7, 1.1)
    confidence_bias: Tuple[float, float] = (-0.15, 0.1)
    confidence_noise: float = 0.05
    world_drift: Tuple[float, float] = (0.02, 0.06)      # metres


def _uniform(lo: float, hi: float, g: torch.Generator, *shape: int) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def smooth_noise(t: int, channels: int, frames: float, g: torch.Generator) -> Tensor:
    """(T, channels) unit-variance Gaussian noise low-passed along time with a Gaussian of ``frames`` std."""
    radius = int(math.ceil(3.0 * frames))
    white = torch.randn(channels, 1, t + 2 * radius, generator=g)
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / frames) ** 2)
    k = (k / k.norm())[None, None]
    return torch.nn.functional.conv1d(white, k)[:, 0].T


def _runs(t: int, rate: float, length: Tuple[int, int], g: torch.Generator) -> Tensor:
    """(T,) bool: frames covered by runs that start with probability ``rate`` per frame."""
    starts = torch.nonzero(torch.rand(t, generator=g) < rate)[:, 0]
    covered = torch.zeros(t, dtype=torch.bool)
    for s in starts.tolist():
        covered[s:s + int(torch.randint(length[0], length[1] + 1, (1,), generator=g))] = True
    return covered


def person_height(keypoints: Tensor) -> Tensor:
    """(T, 33, 3) pixel landmarks -> (T,) the landmarks' vertical extent in pixels (at least 10)."""
    v = keypoints[..., 1]
    return (v.amax(1) - v.amin(1)).clamp_min(10.0)


def corrupt_clip(keypoints: Tensor, world: Tensor, g: torch.Generator,
                 cfg: ClipNoiseConfig = ClipNoiseConfig()) -> Tuple[Tensor, Tensor]:
    """One clip's detector output (T, 33, 3) pixels + visibility and world landmarks (T, 33, 3) metres -> the same
    with the temporal errors of the module docstring added (new tensors)."""
    keypoints, world, _ = corrupt_clip_with_swaps(keypoints, world, g, cfg)
    return keypoints, world


def corrupt_clip_with_swaps(keypoints: Tensor, world: Tensor, g: torch.Generator,
                            cfg: ClipNoiseConfig = ClipNoiseConfig()) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`corrupt_clip` (the same random draws) that also says which frames got a left/right swap:
    -> (keypoints, world, swapped (T, 2) bool: arms, legs; a whole-body swap sets both)."""
    t, n = keypoints.shape[:2]
    height = person_height(keypoints)[:, None, None]
    uv, vis = keypoints[..., :2].clone(), keypoints[..., 2].clone()
    amp = _uniform(*cfg.drift_amplitude, g, 1)
    uv = uv + amp * height * smooth_noise(t, n * 2, float(_uniform(*cfg.drift_frames, g, 1)), g).reshape(t, n, 2)
    w = world.clone()
    depth = smooth_noise(t, len(LIMBS), 6.0, g) * _uniform(*cfg.world_drift, g, 1)
    rate = float(_uniform(*cfg.dropout_rate, g, 1))
    for limb_index, limb in enumerate(LIMBS):
        idx = torch.tensor(limb)
        w[:, idx, 2] += depth[:, limb_index:limb_index + 1]
        lost = _runs(t, rate, cfg.dropout_frames, g)
        if not bool(lost.any()):
            continue
        offset = smooth_noise(t, 2, 5.0, g) * _uniform(*cfg.dropout_offset, g, 1)       # (T, 2) the limb's slide
        uv[:, idx] += torch.where(lost[:, None, None], (offset * height[:, 0])[:, None], 0.0)
        if float(torch.rand(1, generator=g)) >= cfg.confident_dropout_prob:
            low = _uniform(0.0, 0.4, g, t, len(limb))
            vis[:, idx] = torch.where(lost[:, None], low, vis[:, idx])
    vis = vis * _uniform(*cfg.confidence_gain, g, 1) + _uniform(*cfg.confidence_bias, g, 1) \
        + cfg.confidence_noise * torch.randn(t, n, generator=g)
    out = torch.cat([uv, vis.clamp(0.0, 1.0)[..., None]], -1)
    return _swap_runs(out, w, g, cfg)


# Which of (arms, legs) each swap group exchanges (the order of SWAP_GROUPS: legs, arms, the whole body).
_SWAP_PARTS = ((False, True), (True, False), (True, True))


def _swap_runs(keypoints: Tensor, world: Tensor, g: torch.Generator,
               cfg: ClipNoiseConfig) -> Tuple[Tensor, Tensor, Tensor]:
    """Left/right swaps of a group of landmarks over runs of frames, in the image and world landmarks alike
    -> (keypoints, world, swapped (T, 2) bool: arms, legs)."""
    t = keypoints.shape[0]
    swapped = _runs(t, float(_uniform(*cfg.swap_rate, g, 1)), cfg.swap_frames, g)
    if not bool(swapped.any()):
        return keypoints, world, torch.zeros(t, 2, dtype=torch.bool)
    choice = int(torch.multinomial(torch.tensor(SWAP_GROUP_PROB), 1, generator=g))
    group = SWAP_GROUPS[choice]
    order = torch.arange(keypoints.shape[1])
    order[list(group)] = torch.tensor([_SIDE_SWAP[i] for i in group])
    mask = swapped[:, None, None]
    parts = swapped[:, None] & torch.tensor(_SWAP_PARTS[choice])[None]
    return torch.where(mask, keypoints[:, order], keypoints), torch.where(mask, world[:, order], world), parts

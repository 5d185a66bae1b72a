"""Left/right swaps in BlazePose's output found and undone before the fit (pure functions, torch in, torch out).

BlazePose sometimes labels the left limbs as the right ones for a run of frames: one limb pair, or the whole body
when it takes a person facing the camera for one seen from behind. Three chains are decided in turn, each over the
states {kept, swapped} per frame: :data:`CHAINS` ``body`` (every left/right pair: face, arms, torso, legs, flipped
together), then ``arms`` (elbow, wrist, hand points) and ``legs`` (knee, ankle, heel, foot index) on the result.

Evidence, in body-centred image units (points minus the mid-hip, which a swap leaves alone, over the clip's median
mid-hip -> mid-shoulder length), weighted by the smaller confidence of the points compared:

- continuity: each labelled point against the previous frame's (velocity, sigma :attr:`SwapSettings.speed` torso
  lengths per second over the frame rate) and against the straight-line prediction from the two frames before
  (acceleration, sigma :attr:`SwapSettings.accel`); both directions of time count alike, as the Viterbi pass sees
  the whole clip. BlazePose's world landmarks add the same velocity term in metres over their own median torso.
  Every point's squared residual is capped at :attr:`SwapSettings.cap`, so a jump of the whole person (a cut, another
  person taking over) costs both hypotheses alike and decides nothing;
- bone lengths (arms and legs only): the shoulder-elbow and hip-knee lengths in the image against each side's
  median over the clip;
- optionally a learned per-frame swap probability (N, 2) [arms, legs], added as its log-odds (the ``body`` chain
  takes the smaller of the two).

The chain's prior: a swapped frame costs :attr:`SwapSettings.swapped` and a change of state
:attr:`SwapSettings.switch`, the first frame counting as following a kept one. So a swap lasting the whole clip (a
person seen from behind throughout) is undecidable from continuity and is left alone, by design; a run is undone only
when the jumps at its ends outweigh the two switches and its length's per-frame cost. Frames without the person
(confidence 0) and gaps in the frame numbers carry no evidence; a clip of one frame is returned unchanged.

Corrected frames: the chain's image and world landmarks are swapped back together and their confidence scaled by
:attr:`SwapSettings.confidence_scale`. When nothing is corrected the input tensors themselves are returned.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..body.layout import BLAZEPOSE_NAMES
from ..fitting.state import Observations

log = logging.getLogger(__name__)

MIRROR: Tuple[int, ...] = tuple(
    BLAZEPOSE_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
    for n in BLAZEPOSE_NAMES)


def _side(words: Tuple[str, ...]) -> Tuple[int, ...]:
    """Indices of the left landmarks whose names start with ``left_<word>``."""
    return tuple(i for i, n in enumerate(BLAZEPOSE_NAMES) if any(n.startswith(f"left_{w}") for w in words))


CHAINS: Dict[str, Tuple[int, ...]] = {
    "body": tuple(i for i, n in enumerate(BLAZEPOSE_NAMES) if "left" in n),
    "arms": _side(("elbow", "wrist", "pinky", "index", "thumb")),
    "legs": _side(("knee", "ankle", "heel", "foot_index")),
}
ROOT_BONES: Dict[str, Tuple[int, int]] = {"arms": (11, 13), "legs": (23, 25)}   # left root, left first point
PROBABILITY_COLUMN = {"arms": 0, "legs": 1}
HIPS, SHOULDERS = (23, 24), (11, 12)
MIN_CONFIDENCE = 0.1


@dataclass(frozen=True)
class SwapSettings:
    """Costs in nats-like units (sum of squared normalised residuals). ``speed``: a limb's typical speed about the
    hips in torso lengths per second (the velocity sigma is ``speed / fps``); ``accel``: sigma of the acceleration
    residual (torso lengths per frame^2); ``bone``: relative sigma of a root bone's length; ``cap``: the largest
    squared residual one point contributes; ``points``: how many independent points a chain's weighted mean
    residual counts as; ``world``: weight of the world-landmark velocity term; ``probability``:
    weight of a learned swap probability's log-odds."""

    speed: float = 8.0
    accel: float = 0.06
    bone: float = 0.25
    cap: float = 9.0
    world: float = 1.0
    bone_weight: float = 0.0
    points: float = 4.0
    probability: float = 1.0
    switch: float = 12.0
    swapped: float = 1.0
    confidence_scale: float = 0.7
    fps: float = 30.0


@dataclass
class SwapReport:
    """Per chain the (N,) bool frames found swapped (and undone)."""

    swapped: Dict[str, Tensor] = field(default_factory=dict)

    def any(self) -> bool:
        return any(bool(v.any()) for v in self.swapped.values())

    def frames(self, name: str) -> List[int]:
        return torch.nonzero(self.swapped[name])[:, 0].tolist()


def _pairs(left: Tuple[int, ...]) -> Tuple[Tensor, Tensor]:
    """Left indices (K,) -> (2K,) the chain's points as labelled and (2K,) the same with the sides exchanged."""
    right = [MIRROR[i] for i in left]
    return torch.tensor(list(left) + right), torch.tensor(right + list(left))


def _normalised(points: Tensor, weight: Tensor) -> Tuple[Tensor, Tensor]:
    """points (N, 33, C), weight (N, 33) -> body-centred points in torso lengths (N, 33, C), weight (N, 33) with
    the frames lacking both hips zeroed. All-zero weights when no frame shows the torso."""
    hips_ok = (weight[:, HIPS] > 0).all(-1)
    torso_ok = hips_ok & (weight[:, SHOULDERS] > 0).all(-1)
    centre = points[:, HIPS].mean(1, keepdim=True)
    if not bool(torso_ok.any()):
        return points * 0.0, weight * 0.0
    torso = (points[:, SHOULDERS].mean(1) - centre[:, 0]).norm(dim=-1)[torso_ok].median().clamp_min(1e-6)
    return (points - centre) / torso, weight * hips_ok[:, None]


def _capped(residual: Tensor, sigma: float, cap: float) -> Tensor:
    """(..., C) residual -> (...,) min(|r|^2 / sigma^2, cap)."""
    return ((residual ** 2).sum(-1) / sigma ** 2).clamp_max(cap)


def _states(points: Tensor, weight: Tensor, order: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
    """(N, 33, C), (N, 33) -> the chain's points (N, 2, 2K, C) and weights (N, 2, 2K) as kept [:, 0] and swapped."""
    return torch.stack([points[:, o] for o in order], 1), torch.stack([weight[:, o] for o in order], 1)


def _continuity(p: Tensor, w: Tensor, step: Tensor, s: SwapSettings, sigma_v: float,
                weight: float) -> Tuple[Tensor, Tensor]:
    """Chain states p (N, 2, 2K, C), w (N, 2, 2K), step (N-1,) bool consecutive frames -> pairwise (N-1, 2, 2) and
    triple (N-2, 2, 2, 2) costs [previous state(s), state]."""
    a, b = p[:-1, :, None], p[1:, None, :]                                          # (N-1, 2, 1|2, 2K, C)
    wv = torch.minimum(w[:-1, :, None], w[1:, None, :]) * step[:, None, None, None]
    pair = weight * _mean(wv, _capped(b - a, sigma_v, s.cap), s.points)
    if p.shape[0] < 3:
        return pair, p.new_zeros((0, 2, 2, 2))
    acc = p[2:, None, None, :] - 2.0 * p[1:-1, None, :, None] + p[:-2, :, None, None]   # (N-2, 2, 2, 2, 2K, C)
    wa = torch.minimum(torch.minimum(w[:-2, :, None, None], w[1:-1, None, :, None]), w[2:, None, None, :])
    wa = wa * (step[:-1] & step[1:])[:, None, None, None, None]
    return pair, weight * _mean(wa, _capped(acc, s.accel, s.cap), s.points)


def _mean(weight: Tensor, cost: Tensor, points: float) -> Tensor:
    """(..., P) weights and costs -> (...,) ``points`` x their weighted mean (0 without weight): neighbouring
    points' errors are correlated, so a chain counts as ``points`` independent ones whatever its size."""
    total = weight.sum(-1)
    return points * (weight * cost).sum(-1) / total.clamp_min(1e-9) * (total > 0)


def _bone_cost(points: Tensor, weight: Tensor, name: str, s: SwapSettings) -> Tensor:
    """(N, 33, 2) normalised image points -> (N, 2) the root bones' length cost kept / swapped."""
    root, first = ROOT_BONES[name]
    out = points.new_zeros((points.shape[0], 2))
    for side_root, side_first in ((root, first), (MIRROR[root], MIRROR[first])):
        w_kept = torch.minimum(weight[:, side_root], weight[:, side_first])
        length = (points[:, side_first] - points[:, side_root]).norm(dim=-1)
        ok = w_kept > 0
        if not bool(ok.any()):
            continue
        median = length[ok].median().clamp_min(1e-6)
        for state, other in enumerate((side_first, MIRROR[side_first])):
            w_s = torch.minimum(weight[:, side_root], weight[:, other])
            rel = ((points[:, other] - points[:, side_root]).norm(dim=-1) - median) / median
            out[:, state] += s.bone_weight * w_s * (rel ** 2 / s.bone ** 2).clamp_max(s.cap)
    return out


def viterbi(unary: Tensor, pair: Tensor, triple: Tensor, switch: float) -> Tensor:
    """Two-state chain of N frames: unary (N, 2), pairwise (N-1, 2, 2) [prev, cur], triple (N-2, 2, 2, 2)
    [t-2, t-1, t] costs -> (N,) bool the cheapest states (True = swapped), the first frame following a kept one
    (``switch`` for starting swapped)."""
    n = unary.shape[0]
    u = unary.double().tolist()
    if n == 1:
        return torch.tensor([u[0][1] + switch < u[0][0]])
    pr, tr = pair.double().tolist(), triple.double().tolist()
    # cost[a][b]: best over paths ending with states (t-1 = a, t = b)
    cost = [[u[0][a] + (switch if a else 0.0) + u[1][b] + pr[0][a][b] for b in (0, 1)] for a in (0, 1)]
    back: List[List[List[int]]] = []
    for t in range(2, n):
        new, arg = [[0.0, 0.0], [0.0, 0.0]], [[0, 0], [0, 0]]
        for b in (0, 1):
            for c in (0, 1):
                extra = pr[t - 1][b][c] + u[t][c]
                k0, k1 = cost[0][b] + tr[t - 2][0][b][c], cost[1][b] + tr[t - 2][1][b][c]
                new[b][c], arg[b][c] = (k0 + extra, 0) if k0 <= k1 else (k1 + extra, 1)
        cost = new
        back.append(arg)
    a, b = min(((a, b) for a in (0, 1) for b in (0, 1)), key=lambda ab: (cost[ab[0]][ab[1]], ab))
    states = [b, a]
    for arg in reversed(back):
        a, b = arg[a][b], a
        states.append(a)
    return torch.tensor(states[::-1][:n], dtype=torch.bool)


def chain_costs(keypoints: Tensor, world: Optional[Tensor], step: Tensor, name: str, s: SwapSettings,
                probability: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """One chain's unary (N, 2), pairwise (N-1, 2, 2) and triple (N-2, 2, 2, 2) costs (module docstring).
    keypoints (N, 33, 3) pixels + confidence, world (N, 33, 3) metres or None, step (N-1,) consecutive frames."""
    conf = torch.nan_to_num(keypoints[..., 2].double(), nan=0.0)
    uv = torch.nan_to_num(keypoints[..., :2].double(), nan=0.0)
    weight = torch.where((conf >= MIN_CONFIDENCE) & torch.isfinite(keypoints[..., :2]).all(-1), conf, 0.0)
    order = _pairs(CHAINS[name])
    image, w_img = _normalised(uv, weight)
    pair, triple = _continuity(*_states(image, w_img, order), step, s, s.speed / s.fps, 1.0)
    unary = image.new_zeros((image.shape[0], 2))
    unary[:, 1] += s.swapped
    if world is not None and s.world > 0:
        ok = torch.isfinite(world).all(-1)
        w_world, w_w = _normalised(torch.nan_to_num(world.double(), nan=0.0), weight * ok)
        wp, _ = _continuity(*_states(w_world, w_w, order), step, s, s.speed / s.fps, s.world)
        pair = pair + wp
    if name in ROOT_BONES and s.bone_weight > 0:
        unary = unary + _bone_cost(image, w_img, name, s)
    if probability is not None and s.probability > 0:
        p = probability.double()
        p = p[:, PROBABILITY_COLUMN[name]] if name in PROBABILITY_COLUMN else p.min(-1).values
        p = torch.nan_to_num(p, nan=0.5).clamp(1e-4, 1.0 - 1e-4)
        unary[:, 0] -= s.probability * torch.log1p(-p)
        unary[:, 1] -= s.probability * torch.log(p)
    switches = torch.tensor([[0.0, s.switch], [s.switch, 0.0]], dtype=pair.dtype)
    return unary, pair + switches, triple


def _apply(keypoints: Tensor, world: Optional[Tensor], name: str, swapped: Tensor,
           s: SwapSettings) -> Tuple[Tensor, Optional[Tensor]]:
    """Swap the chain's sides back on the ``swapped`` (N,) frames, confidence scaled there (new tensors)."""
    labelled, exchanged = _pairs(CHAINS[name])
    order = torch.arange(keypoints.shape[1])
    order[labelled] = exchanged
    mask = swapped[:, None, None]
    kp = torch.where(mask, keypoints[:, order], keypoints)
    scale = torch.ones(keypoints.shape[1], dtype=keypoints.dtype)
    scale[labelled] = s.confidence_scale
    kp[..., 2] = torch.where(swapped[:, None], kp[..., 2] * scale, kp[..., 2])
    return kp, None if world is None else torch.where(mask, world[:, order], world)


def undo_swaps(keypoints: Tensor, world: Optional[Tensor] = None, frames: Optional[Tensor] = None,
               fps: Optional[float] = None, probability: Optional[Tensor] = None,
               settings: SwapSettings = SwapSettings()) -> Tuple[Tensor, Optional[Tensor], SwapReport]:
    """One view's detections: keypoints (N, 33, 3) pixels + confidence, world (N, 33, 3) metres or None, frames
    (N,) video frame numbers or None (consecutive), fps (None: ``settings.fps``), probability (N, 2) learned swap
    probabilities [arms, legs] or None -> (keypoints, world, report) with the found swaps undone (module docstring).
    The inputs are returned themselves when nothing is swapped."""
    n = keypoints.shape[0]
    report = SwapReport({name: torch.zeros(n, dtype=torch.bool) for name in CHAINS})
    if n < 2:
        return keypoints, world, report
    s = settings if fps is None or not math.isfinite(fps) or fps <= 0 else replace(settings, fps=float(fps))
    step = torch.ones(n - 1, dtype=torch.bool) if frames is None else (frames[1:] - frames[:-1]) == 1
    kp, wl = keypoints, world
    for name in CHAINS:
        unary, pair, triple = chain_costs(kp, wl, step, name, s, probability)
        swapped = viterbi(unary, pair, triple, s.switch)
        if bool(swapped.any()):
            report.swapped[name] = swapped
            kp, wl = _apply(kp, wl, name, swapped, s)
    return kp, wl, report


def undo_view_swaps(obs: Observations, probability: Optional[Tensor] = None,
                    settings: SwapSettings = SwapSettings()) -> Observations:
    """:func:`undo_swaps` on one view's Observations (the same object back when nothing was swapped); the corrected
    frames are logged per chain."""
    keypoints, world, report = undo_swaps(obs.keypoints, obs.world, obs.frames, obs.fps, probability, settings)
    if not report.any():
        return obs
    for name, mask in report.swapped.items():
        if bool(mask.any()):
            numbers = report.frames(name) if obs.frames is None else obs.frames[mask].tolist()
            log.info("left/right swap undone (%s) on %d of %d frames: %s", name, len(numbers), len(obs),
                     _ranges(numbers))
    return replace(obs, keypoints=keypoints, world=world)


def _ranges(numbers: List[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out: List[Tuple[int, int]] = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out)

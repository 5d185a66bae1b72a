"""A held-out detector-error model for benchmarks only: a family of errors no training run or setting ever saw.

Imported by nothing under ``server/``; no setting of the method may be chosen on figures it produces.
Fitted (by hand, on its own statistics, :func:`measure`) to what ``scripts/pose2sim_noise.py`` measured of
BlazePose against the Pose2Sim reference (docs/benchmarks.md, "Refinement"): image landmarks 1.1-1.3% of the box
height robust std, lag-1 autocorrelation 0.5-0.8 at 60 fps falling to 0.1-0.35 at 5-10 frames, outliers
(> 10% of the height) 0.8-8.6%, left/right swaps in runs of up to 13 frames at 60 fps, confidence < 0.7 for about
5% of the detections with a 5-6% median error there (1.5-1.7% above), world landmarks 27-48 mm (face, torso) and
43-136 mm (limbs) after a per-frame similarity alignment with lag-1 autocorrelation 0.66-0.80, body size within 5%.

Its generative structure differs from the training family (``server/train/clip_noise.py`` +
``server/train/synthetic_views.py``: Gaussian per-frame noise, Gaussian-low-passed drift, limb dropouts with a
confidence step, swap runs of uniform length, confidence ``a * v + b``). Per clip of T frames at ``fps`` (times are
in seconds, so the same model holds at 30 and 60 fps); image amounts are fractions of the person's box height:

- **jitter**: per landmark and axis the sum of white noise (std 0.32-0.43%), a fast AR(1) (std 0.65-0.8%, time
  constant 25-50 ms) and a slow AR(1) (std 0.49-0.65%, 100-250 ms) of which half is common to the landmarks of one
  limb (the limb shifts as a whole); face x0.8, torso x0.9, arms x1.2, legs x1.05;
- **tracking lag**: each limb's reported position is an exponential tracker of the true one (time constant 10-40
  ms for limbs, 0-15 ms for face and torso), so it trails fast motion and cuts its extremes;
- **heavy-tailed outliers**: with probability 0.2-1.0% per landmark and frame, a Student-t (3 degrees of freedom)
  offset of scale 4% per axis;
- **occlusion episodes** per limb (0.05-0.25 started per second, lasting 0.2-1.0 s log-uniform): a raised-cosine
  ramp (0.08-0.25 s) in and out; the confidence decays smoothly to a floor of 0.1-0.5 times its level, and the
  position slides towards where the limb was at the episode's start (held: 30-80%) plus a slow wander (2-6%);
- **swaps** by a Markov chain over {none, one joint pair (elbows, wrists, knees or ankles), one chain (an arm's or a
  leg's landmarks), the whole sides}: entered at 0.02-0.3 per second, or 1.5-4 per second in one clip in four (a
  view that keeps confusing the sides), left after a geometric time of mean 40-120 ms; both image and world
  landmarks swap, and the swapped landmarks keep their (high) confidence;
- **confidence**: ``sigmoid(4.1 + group bias - 1.6 * ln(e / 1%) + n)``: monotone in the landmark's true error e
  before swaps, with AR(1) noise n (std 0.6-1.0, 0.3 s), times the occlusion decay; landmarks outside the image
  keep the clean view's low visibility;
- **world landmarks**: size off by 0.96-1.02 per clip; per landmark AR(1) noise (time constant 60-120 ms, plus 15%
  white) of std 20-32 mm (face, torso) and 45-85 mm (limbs), depth 1.4x; the same lag, occlusion (3-8 cm wander)
  and swaps.

Group biases of the confidence logit: face +0.5, torso +0.3, arms -0.2, legs -0.1. Measured by
``scripts/benchmark_heldout.py --check`` (2 clips x 240 frames at 60 fps, seed 0): robust std 1.20%, lag-1/5/10
autocorrelation 0.64/0.35/0.15, outliers 1.2%, confidence < 0.7 for 5.2% with 7.0% median error there (1.36%
above), world 30 mm (face, torso) / 63 mm (limbs) with lag-1 0.72, size ratio 1.02, swap runs <= 13 frames.
Single clips spread more widely (each clip draws its own parameters from the ranges above).

All randomness comes from the generator passed in. Benchmarks seed it from :data:`SEED_BASE`, far from every
training seed (those are 0, 1 and small offsets of the configs' ``seed``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch
from scipy.signal import lfilter
from torch import Tensor

from server.body.layout import BLAZEPOSE_NAMES, LANDMARK_INDEX

SEED_BASE = 2_700_027_000
_SIDE = [BLAZEPOSE_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
         for n in BLAZEPOSE_NAMES]


def _named(*words: str) -> Tuple[int, ...]:
    return tuple(i for i, n in enumerate(BLAZEPOSE_NAMES) if any(n.startswith(w) for w in words))


FACE = tuple(range(11))
TORSO = _named("left_shoulder", "right_shoulder", "left_hip", "right_hip")
LIMBS: Tuple[Tuple[int, ...], ...] = (
    _named("left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"),
    _named("right_elbow", "right_wrist", "right_pinky", "right_index", "right_thumb"),
    _named("left_knee", "left_ankle", "left_heel", "left_foot"),
    _named("right_knee", "right_ankle", "right_heel", "right_foot"),
)
_PAIRS = [(LANDMARK_INDEX[f"left_{j}"], LANDMARK_INDEX[f"right_{j}"]) for j in ("elbow", "wrist", "knee", "ankle")]


@dataclass(frozen=True)
class HeldoutNoiseConfig:
    """The module docstring's ranges (image: fractions of the box height; world: metres; times: seconds)."""

    white_std: Tuple[float, float] = (0.0032, 0.0043)
    fast_std: Tuple[float, float] = (0.0065, 0.008)
    fast_tau: Tuple[float, float] = (0.025, 0.05)
    slow_std: Tuple[float, float] = (0.0049, 0.0065)
    slow_tau: Tuple[float, float] = (0.1, 0.25)
    limb_share: float = 0.5
    group_gain: Tuple[float, float, float, float] = (0.8, 0.9, 1.2, 1.05)   # face, torso, arms, legs
    lag_tau_limb: Tuple[float, float] = (0.01, 0.04)
    lag_tau_core: Tuple[float, float] = (0.0, 0.015)
    outlier_prob: Tuple[float, float] = (0.002, 0.01)
    outlier_scale: float = 0.04
    outlier_dof: float = 3.0
    occlusion_rate: Tuple[float, float] = (0.05, 0.25)
    occlusion_seconds: Tuple[float, float] = (0.2, 1.0)
    occlusion_ramp: Tuple[float, float] = (0.08, 0.25)
    occlusion_floor: Tuple[float, float] = (0.1, 0.5)
    occlusion_hold: Tuple[float, float] = (0.3, 0.8)
    occlusion_wander: Tuple[float, float] = (0.02, 0.06)
    swap_rate: Tuple[float, float] = (0.02, 0.3)
    swap_rate_confused: Tuple[float, float] = (1.5, 4.0)
    confused_prob: float = 0.25
    swap_seconds: Tuple[float, float] = (0.04, 0.12)
    swap_kind_prob: Tuple[float, float, float] = (0.5, 0.25, 0.25)          # joint pair, chain, whole sides
    conf_bias: float = 4.1
    conf_slope: float = 1.6
    conf_group_bias: Tuple[float, float, float, float] = (0.5, 0.3, -0.2, -0.1)
    conf_noise: Tuple[float, float] = (0.6, 1.0)
    conf_noise_tau: float = 0.3
    world_scale: Tuple[float, float] = (0.96, 1.02)
    world_core_std: Tuple[float, float] = (0.020, 0.032)
    world_limb_std: Tuple[float, float] = (0.045, 0.085)
    world_tau: Tuple[float, float] = (0.06, 0.12)
    world_white_share: float = 0.15
    world_depth_gain: float = 1.4
    world_wander: Tuple[float, float] = (0.03, 0.08)


def _u(lo: float, hi: float, g: torch.Generator, *shape: int) -> np.ndarray:
    return (lo + (hi - lo) * torch.rand(shape or (1,), generator=g)).numpy().astype(np.float64)


def _randn(g: torch.Generator, *shape: int) -> np.ndarray:
    return torch.randn(shape, generator=g).numpy().astype(np.float64)


def ar1(t: int, channels: int, tau: float, fps: float, g: torch.Generator) -> np.ndarray:
    """(T, channels) unit-variance stationary AR(1) noise of time constant ``tau`` seconds at ``fps``."""
    phi = math.exp(-1.0 / max(tau * fps, 1e-6))
    e = _randn(g, t, channels) * math.sqrt(1.0 - phi * phi)
    e[0] /= math.sqrt(1.0 - phi * phi)                                   # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e, axis=0)


def track(x: np.ndarray, tau: float, fps: float) -> np.ndarray:
    """An exponential tracker of ``x`` (T, ...) with time constant ``tau`` s: trails fast motion."""
    if tau * fps < 1e-3:
        return x.copy()
    alpha = 1.0 - math.exp(-1.0 / (tau * fps))
    zi = (1.0 - alpha) * x[:1]
    return lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)[0]


def _groups() -> Dict[str, Tuple[int, ...]]:
    return {"face": FACE, "torso": TORSO, "arms": LIMBS[0] + LIMBS[1], "legs": LIMBS[2] + LIMBS[3]}


def image_jitter(t: int, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """(T, 33, 2) jitter in box heights: white + fast AR(1) + slow AR(1) (half shared per limb), scaled per group."""
    n = len(BLAZEPOSE_NAMES)
    white = _randn(g, t, n, 2) * _u(*cfg.white_std, g)
    fast = ar1(t, n * 2, float(_u(*cfg.fast_tau, g)), fps, g).reshape(t, n, 2) * _u(*cfg.fast_std, g)
    slow_tau, slow_std = float(_u(*cfg.slow_tau, g)), _u(*cfg.slow_std, g)
    slow = ar1(t, n * 2, slow_tau, fps, g).reshape(t, n, 2)
    share = math.sqrt(cfg.limb_share)
    for limb in LIMBS:
        common = ar1(t, 2, slow_tau, fps, g)[:, None]
        slow[:, limb] = math.sqrt(1.0 - cfg.limb_share) * slow[:, limb] + share * common
    out = white + fast + slow * slow_std
    for gain, index in zip(cfg.group_gain, _groups().values()):
        out[:, index] *= gain
    return out


def lagged(x: np.ndarray, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """x (T, 33, C) true positions -> the tracker-lagged ones (one time constant per limb, one for the core)."""
    out = track(x, float(_u(*cfg.lag_tau_core, g)), fps)
    for limb in LIMBS:
        out[:, limb] = track(x[:, limb], float(_u(*cfg.lag_tau_limb, g)), fps)
    return out


def outliers(t: int, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """(T, 33, 2) heavy-tailed per-frame offsets (box heights), zero where no outlier was drawn."""
    n = len(BLAZEPOSE_NAMES)
    hit = torch.rand(t, n, generator=g).numpy() < _u(*cfg.outlier_prob, g)
    chi = torch.distributions.Chi2(torch.tensor(cfg.outlier_dof)).sample((t, n, 1)).numpy()
    student = _randn(g, t, n, 2) / np.sqrt(chi / cfg.outlier_dof)
    return np.where(hit[..., None], cfg.outlier_scale * student, 0.0)


def occlusions(t: int, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Per limb (4, T): the occlusion weight o in [0, 1] (raised-cosine ramps) and each frame's episode start
    frame (-1 outside episodes)."""
    weight, start = np.zeros((len(LIMBS), t)), np.full((len(LIMBS), t), -1, np.int64)
    rate = float(_u(*cfg.occlusion_rate, g))
    for k in range(len(LIMBS)):
        begins = np.flatnonzero(torch.rand(t, generator=g).numpy() < rate / fps)
        for b in begins:
            lo, hi = np.log(cfg.occlusion_seconds)
            length = max(2, int(round(math.exp(float(_u(lo, hi, g))) * fps)))
            ramp = max(1, int(round(float(_u(*cfg.occlusion_ramp, g)) * fps)))
            i = np.arange(length)
            edge = np.minimum(np.minimum(i + 1, length - i) / ramp, 1.0)
            shape = 0.5 - 0.5 * np.cos(math.pi * edge)
            end = min(t, b + length)
            new = shape[:end - b] > weight[k, b:end]
            weight[k, b:end] = np.where(new, shape[:end - b], weight[k, b:end])
            start[k, b:end] = np.where(start[k, b:end] < 0, b, start[k, b:end])
    return weight, start


def swap_chain(t: int, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """(T,) Markov chain of swap states: 0 none, 1-4 a joint pair (:data:`_PAIRS`), 5 the arms' chains, 6 the
    legs' chains, 7 the whole sides."""
    confused = float(torch.rand(1, generator=g)) < cfg.confused_prob
    rate = float(_u(*(cfg.swap_rate_confused if confused else cfg.swap_rate), g))
    enter = 1.0 - math.exp(-rate / fps)
    leave = 1.0 / max(1.0, float(_u(*cfg.swap_seconds, g)) * fps)
    u = torch.rand(t, 2, generator=g).numpy()
    kinds = torch.multinomial(torch.tensor(cfg.swap_kind_prob), t, replacement=True, generator=g).numpy()
    which = torch.randint(0, 4, (t,), generator=g).numpy()
    state, out = 0, np.zeros(t, np.int64)
    for i in range(t):
        if state == 0 and u[i, 0] < enter:
            state = (1 + which[i], 5 + which[i] % 2, 7)[kinds[i]]
        elif state != 0 and u[i, 1] < leave:
            state = 0
        out[i] = state
    return out


def swap_order(state: int) -> np.ndarray:
    """(33,) landmark order that applies swap ``state`` (see :func:`swap_chain`)."""
    order = np.arange(len(BLAZEPOSE_NAMES))
    if state == 0:
        return order
    if 1 <= state <= 4:
        left, right = _PAIRS[state - 1]
        order[[left, right]] = [right, left]
        return order
    group = LIMBS[0] + LIMBS[1] if state == 5 else LIMBS[2] + LIMBS[3] if state == 6 else tuple(order)
    order[list(group)] = [_SIDE[i] for i in group]
    return order


def confidence(error: np.ndarray, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """error (T, 33) true image error in box heights -> (T, 33) confidence: monotone in the error, noisy."""
    t, n = error.shape
    noise = ar1(t, n, cfg.conf_noise_tau, fps, g) * _u(*cfg.conf_noise, g)
    logit = cfg.conf_bias - cfg.conf_slope * np.log(np.maximum(error, 1e-4) / 0.01) + noise
    for bias, index in zip(cfg.conf_group_bias, _groups().values()):
        logit[:, index] += bias
    return 1.0 / (1.0 + np.exp(-logit))


def world_noise(world: np.ndarray, fps: float, cfg: HeldoutNoiseConfig, g: torch.Generator) -> np.ndarray:
    """(T, 33, 3) clean world landmarks (metres) -> scaled, with AR(1) + white noise (depth larger)."""
    t, n = world.shape[:2]
    std = np.full(n, float(_u(*cfg.world_core_std, g)))
    std[list(LIMBS[0] + LIMBS[1] + LIMBS[2] + LIMBS[3])] = float(_u(*cfg.world_limb_std, g))
    tau = float(_u(*cfg.world_tau, g))
    w = cfg.world_white_share
    noise = (math.sqrt(1.0 - w) * ar1(t, n * 3, tau, fps, g).reshape(t, n, 3)
             + math.sqrt(w) * _randn(g, t, n, 3)) * std[None, :, None]
    noise[..., 2] *= cfg.world_depth_gain
    return world * _u(*cfg.world_scale, g) + noise


def _occlude(x: np.ndarray, weight: np.ndarray, start: np.ndarray, hold: float, wander: np.ndarray) -> np.ndarray:
    """x (T, 33, C): each limb slides, by its occlusion weight (4, T) x ``hold``, towards where it was at its
    episode's start plus ``wander`` (4, T, C)."""
    out = x.copy()
    for k, limb in enumerate(LIMBS):
        on = start[k] >= 0
        if not on.any():
            continue
        held = x[np.where(on, start[k], 0)][:, limb] + wander[k][:, None]
        mix = (hold * weight[k])[:, None, None]
        out[:, limb] = np.where(on[:, None, None], (1.0 - mix) * x[:, limb] + mix * held, x[:, limb])
    return out


def corrupt_heldout(keypoints: Tensor, world: Tensor, fps: float, g: torch.Generator,
                    cfg: HeldoutNoiseConfig = HeldoutNoiseConfig()) -> Tuple[Tensor, Tensor, Dict[str, np.ndarray]]:
    """One clip's CLEAN detector view: keypoints (T, 33, 3) pixels + visibility (landmarks outside the image have
    a low one), world (T, 33, 3) metres, at ``fps`` -> the same with the held-out errors (new tensors) and what was
    drawn: ``swap`` (T,) chain states, ``occlusion`` (4, T) weights, ``error`` (T, 33) the image error before swaps
    in box heights."""
    uv, vis = keypoints[..., :2].double().numpy(), keypoints[..., 2].double().numpy()
    t = uv.shape[0]
    height = np.maximum(uv[..., 1].max(1) - uv[..., 1].min(1), 10.0)[:, None, None]
    weight, start = occlusions(t, fps, cfg, g)
    hold = float(_u(*cfg.occlusion_hold, g))
    wander = ar1(t, len(LIMBS) * 2, 0.4, fps, g).reshape(t, len(LIMBS), 2).transpose(1, 0, 2)
    wander = wander * _u(*cfg.occlusion_wander, g) * height[None, :, 0]
    noisy = lagged(uv, fps, cfg, g)
    noisy = _occlude(noisy, weight, start, hold, wander)
    noisy = noisy + (image_jitter(t, fps, cfg, g) + outliers(t, cfg, g)) * height
    error = np.linalg.norm(noisy - uv, axis=-1) / height[..., 0]
    conf = confidence(error, fps, cfg, g)
    for k, limb in enumerate(LIMBS):
        floor = float(_u(*cfg.occlusion_floor, g))
        conf[:, limb] *= (1.0 - (1.0 - floor) * weight[k])[:, None]
    conf = np.where(vis < 0.5, np.minimum(conf, vis), conf)
    wander_w = ar1(t, len(LIMBS) * 3, 0.4, fps, g).reshape(t, len(LIMBS), 3).transpose(1, 0, 2)
    w = world.double().numpy()
    w_noisy = world_noise(_occlude(lagged(w, fps, cfg, g), weight, start, hold,
                                   wander_w * _u(*cfg.world_wander, g)), fps, cfg, g)
    states = swap_chain(t, fps, cfg, g)
    out = np.concatenate([noisy, conf[..., None]], -1)
    for i in np.flatnonzero(states):
        order = swap_order(int(states[i]))
        out[i], w_noisy[i] = out[i, order], w_noisy[i, order]
    info = {"swap": states, "occlusion": weight, "error": error}
    return torch.from_numpy(out).float(), torch.from_numpy(w_noisy).float(), info


def measure(clean: Tuple[Tensor, Tensor], noisy: Tuple[Tensor, Tensor], swap: np.ndarray) -> Dict[str, object]:
    """Pose2Sim's statistics (``scripts/pose2sim_noise.py``'s definitions) of one clip: clean and noisy
    (keypoints (T, 33, 3), world (T, 33, 3)), the swap states (T,) -> image groups (box heights), confidence bins,
    world groups (metres, after a per-frame similarity alignment), swap share and runs (frames)."""
    from pose2sim_noise import group_stats, runs, similarity_align, visibility_stats
    uv, out = clean[0][..., :2].double().numpy(), noisy[0].double().numpy()
    height = np.maximum(uv[..., 1].max(1) - uv[..., 1].min(1), 10.0)
    residual = (out[..., :2] - uv) / height[:, None, None]
    frames = np.arange(len(uv))
    aligned, scale = similarity_align(noisy[1].double().numpy(), clean[1].double().numpy())
    world = group_stats(aligned - clean[1].double().numpy(), frames)
    lengths = runs(swap > 0)
    return {"image": group_stats(residual, frames),
            "visibility": visibility_stats(np.linalg.norm(residual, axis=-1), out[..., 2]),
            "low_confidence_share": float((out[..., 2] < 0.7).mean()),
            "world": world, "world_size_ratio": float(np.median(1.0 / scale)),
            "swap_share": float((swap > 0).mean()), "swap_runs": lengths}

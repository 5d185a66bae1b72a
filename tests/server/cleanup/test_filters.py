"""The animator's baselines (server.cleanup.filters): pure numpy, fast."""
from __future__ import annotations

import numpy as np
import pytest

from server.cleanup.filters import (butterworth_lowpass, fill_from_rest_pose, savgol_smooth,
                                    second_difference_smooth)

FPS = 30.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _smooth_trajectory(n: int = 120) -> np.ndarray:
    """(n, 24, 3) slow joint motion (0.3-1 Hz sines), metres."""
    t = np.arange(n)[:, None, None] / FPS
    phase = np.random.default_rng(1).uniform(0, 2 * np.pi, (1, 24, 3))
    freq = np.random.default_rng(2).uniform(0.3, 1.0, (1, 24, 3))
    return 0.2 * np.sin(2 * np.pi * freq * t + phase)


@pytest.mark.parametrize("window,order", [(7, 2), (11, 3), (5, 4)])
def test_savgol_passes_polynomials_unchanged(window: int, order: int) -> None:
    t = np.linspace(-1.0, 2.0, 40)
    coeffs = np.random.default_rng(0).normal(size=(order + 1, 24, 3))
    poly = sum(c * t[:, None, None] ** k for k, c in enumerate(coeffs))
    np.testing.assert_allclose(savgol_smooth(poly, window, order), poly, atol=1e-9)


def test_savgol_short_clip_and_shape() -> None:
    x = np.random.default_rng(0).normal(size=(4, 24, 3))
    assert savgol_smooth(x, 11, 3).shape == x.shape                           # window shrinks to 3
    np.testing.assert_array_equal(savgol_smooth(x[:1], 11, 3), x[:1])
    with pytest.raises(ValueError):
        savgol_smooth(x, 4, 2)


def test_butterworth_passes_dc_and_attenuates_above_cutoff() -> None:
    n = 300
    t = np.arange(n) / FPS
    dc = np.full((n, 3), 0.7)
    np.testing.assert_allclose(butterworth_lowpass(dc, 3.0, FPS), dc, atol=1e-9)
    low, high = np.sin(2 * np.pi * 0.5 * t), np.sin(2 * np.pi * 10.0 * t)
    out = butterworth_lowpass(np.stack([low, high], 1), 3.0, FPS)
    mid = slice(30, n - 30)                                                    # away from the ends
    assert _rms(out[mid, 0] - low[mid]) < 0.02                                 # 0.5 Hz passes
    assert _rms(out[mid, 1]) < 0.02 * _rms(high[mid])                          # 10 Hz is gone


def test_butterworth_keeps_a_linear_trend_at_the_edges() -> None:
    ramp = np.linspace(0.0, 1.0, 60)[:, None]                                 # 0.5 m/s
    out = butterworth_lowpass(ramp, 2.0, FPS)
    np.testing.assert_allclose(out, ramp, atol=5e-3)                           # start-up transient only
    np.testing.assert_allclose(out[10:-10], ramp[10:-10], atol=5e-4)


@pytest.mark.parametrize("smooth", [
    lambda x: savgol_smooth(x, 11, 2),
    lambda x: butterworth_lowpass(x, 3.0, FPS),
    lambda x: second_difference_smooth(x, 20.0),
], ids=["savgol", "butterworth", "no_prior"])
def test_filters_reduce_white_noise_on_a_smooth_trajectory(smooth) -> None:
    clean = _smooth_trajectory()
    noisy = clean + np.random.default_rng(3).normal(scale=0.04, size=clean.shape)
    out = smooth(noisy)
    assert out.shape == clean.shape
    assert _rms(out - clean) < 0.6 * _rms(noisy - clean)


def test_second_difference_smooth_keeps_lines_and_zero_lambda_is_identity() -> None:
    line = np.linspace(-1.0, 1.0, 30)[:, None] * np.array([[1.0, 2.0, -3.0]])
    np.testing.assert_allclose(second_difference_smooth(line, 100.0), line, atol=1e-9)
    x = np.random.default_rng(0).normal(size=(30, 3))
    np.testing.assert_array_equal(second_difference_smooth(x, 0.0), x)


def test_fill_from_rest_pose_recovers_a_rigidly_moved_rest_pose() -> None:
    rng = np.random.default_rng(0)
    rest = rng.normal(size=(24, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))                                             # a rotation
    frames = np.stack([rest @ q + [0.1, 0.2, 0.3], rest @ q.T - 1.0])
    known = np.ones(24, bool)
    known[[1, 4, 7, 10]] = False
    noisy = frames.copy()
    noisy[:, ~known] = 5.0                                                     # unknown: any value
    out = fill_from_rest_pose(noisy, known, rest)
    np.testing.assert_allclose(out, frames, atol=1e-9)

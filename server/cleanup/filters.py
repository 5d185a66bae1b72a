"""The animator's baselines for motion cleanup, as pure numpy functions (no scipy, no torch).

Every filter works along axis 0 (time, N frames at a constant rate) of an array of any trailing shape, typically
joint positions (N, 24, 3) in metres, and returns an array of the same shape:

- :func:`savgol_smooth`: Savitzky-Golay smoothing (a least-squares polynomial per sliding window; the first and
  last half-windows take the polynomial fitted to the first / last full window, so polynomials of degree <= order
  pass unchanged everywhere, edges included).
- :func:`butterworth_lowpass`: a zero-phase 2nd-order Butterworth low-pass (bilinear biquad with a prewarped
  cutoff, run forward then backward as ``filtfilt`` does, odd-extension padding and steady-state initial
  conditions), so the effective response is the squared magnitude of the 2nd-order filter (4th-order roll-off).
- :func:`second_difference_smooth`: the "no prior" baseline: the closed-form minimiser, per coordinate, of
  ``||J - Y||^2 + lam ||D2 J||^2`` (D2 the second difference along time): temporal + data only.

None of them can complete unknown joints; :func:`fill_from_rest_pose` gives them a start for those (the rest
pose rigidly aligned, per frame, to the known joints).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..body.rotations import nearest_rotation


def _as_time_major(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError("expected an array with at least one frame along axis 0")
    return x


def savgol_coefficients(window: int, order: int) -> np.ndarray:
    """(window, window) hat matrix H of the least-squares polynomial fit of degree ``order`` on ``window``
    equally spaced samples: ``H @ y`` (y (window,)) is the fitted polynomial at every sample of the window."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the Savitzky-Golay window must be a positive odd number, not {window}")
    if not 0 <= order < window:
        raise ValueError(f"the polynomial order must be in [0, window), not {order} for window {window}")
    half = window // 2
    t = np.arange(-half, half + 1, dtype=np.float64) / max(half, 1)       # scaled for conditioning
    a = np.vander(t, order + 1, increasing=True)                           # (window, order + 1)
    return a @ np.linalg.pinv(a)


def savgol_smooth(x: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing along time: x (N, ...) -> (N, ...) float64.

    ``window`` odd (frames), ``order`` the polynomial degree (< window). A clip shorter than the window uses
    the largest odd window that fits (and an order below it); a one-frame clip is returned unchanged."""
    x = _as_time_major(x)
    savgol_coefficients(window, order)                                         # validates the parameters
    n = x.shape[0]
    window = min(window, n if n % 2 else n - 1)
    order = min(order, window - 1)
    if window <= 1:
        return x.copy()
    h = savgol_coefficients(window, order)
    half = window // 2
    flat = x.reshape(n, -1)
    frames = np.lib.stride_tricks.sliding_window_view(flat, window, axis=0)    # (n - window + 1, C, window)
    out = np.empty_like(flat)
    out[half:n - half] = frames @ h[half]
    out[:half] = h[:half] @ flat[:window]                                      # first window's polynomial
    out[n - half:] = h[half + 1:] @ flat[n - window:]                           # last window's polynomial
    return out.reshape(x.shape)


def butterworth_biquad(cutoff: float, fps: float) -> tuple:
    """2nd-order Butterworth low-pass by the bilinear transform with a prewarped cutoff (Hz, clamped below
    Nyquist) -> (b (3,), a (3,)) with a[0] = 1 (unit gain at DC)."""
    if cutoff <= 0 or fps <= 0:
        raise ValueError(f"cutoff and fps must be positive, not {cutoff} Hz at {fps} fps")
    k = math.tan(math.pi * min(cutoff / fps, 0.499))
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b0 = k * k * norm
    b = np.array([b0, 2.0 * b0, b0])
    a = np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm])
    return b, a


def _biquad(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Direct form II transposed run of one biquad along axis 0 of x (N, C), from the steady state of x[0]."""
    gain = b.sum() / a.sum()
    z2 = (b[2] - a[2] * gain) * x[0]
    z1 = (b[1] - a[1] * gain) * x[0] + z2
    y = np.empty_like(x)
    for i in range(x.shape[0]):
        y[i] = b[0] * x[i] + z1
        z1 = b[1] * x[i] - a[1] * y[i] + z2
        z2 = b[2] * x[i] - a[2] * y[i]
    return y


def butterworth_lowpass(x: np.ndarray, cutoff: float, fps: float) -> np.ndarray:
    """Zero-phase Butterworth low-pass along time (forward-backward 2nd-order biquad): x (N, ...) -> (N, ...).

    ``cutoff`` in Hz (the -3 dB point of each pass; -6 dB overall), ``fps`` the frame rate. The ends are padded
    by odd extension (``2 x[0] - x[k]``) over up to 9 frames, as scipy's filtfilt does, so linear trends survive
    at the edges."""
    x = _as_time_major(x)
    n = x.shape[0]
    if n < 2:
        return x.copy()
    b, a = butterworth_biquad(cutoff, fps)
    flat = x.reshape(n, -1)
    pad = min(9, n - 1)
    head = 2.0 * flat[0] - flat[pad:0:-1]
    tail = 2.0 * flat[-1] - flat[-2:-pad - 2:-1]
    ext = np.concatenate([head, flat, tail])
    y = _biquad(b, a, ext)
    y = _biquad(b, a, y[::-1])[::-1]
    return y[pad:pad + n].reshape(x.shape)


def second_difference_smooth(x: np.ndarray, lam: float) -> np.ndarray:
    """"No prior" baseline: per coordinate, argmin_J ||J - x||^2 + lam ||D2 J||^2 along time, in closed form
    (I + lam D2^T D2) J = x: x (N, ...) -> (N, ...). ``lam`` >= 0 (frames^4, i.e. unitless per frame step);
    lam = 0 returns x. Temporal + data only: it knows nothing about bodies."""
    x = _as_time_major(x)
    n = x.shape[0]
    if n < 3 or lam <= 0:
        return x.copy()
    d2 = np.diff(np.eye(n), n=2, axis=0)                                       # (n - 2, n)
    system = np.eye(n) + lam * d2.T @ d2
    return np.linalg.solve(system, x.reshape(n, -1)).reshape(x.shape)


def fill_from_rest_pose(joints: np.ndarray, known: np.ndarray, rest: np.ndarray,
                        align: Optional[np.ndarray] = None) -> np.ndarray:
    """Give unknown joints a value the filters can start from: per frame, the rest pose rigidly aligned
    (rotation + translation, Kabsch) to that frame's known joints supplies the unknown ones.

    joints (N, J, 3), known (J,) bool, rest (J, 3), align (J,) bool: the joints to align on (default all;
    only known ones are used; at least 3, e.g. the torso, which moves least against the rest pose)
    -> (N, J, 3) with the known joints unchanged."""
    joints = _as_time_major(joints)
    known = np.asarray(known, dtype=bool)
    if known.all():
        return joints.copy()
    use = known if align is None else known & np.asarray(align, dtype=bool)
    if use.sum() < 3:
        raise ValueError("fill_from_rest_pose needs at least 3 known joints to align on")
    rest = np.asarray(rest, dtype=np.float64)
    p = rest[use] - rest[use].mean(0)                                          # (K, 3)
    q = joints[:, use] - joints[:, use].mean(1, keepdims=True)                 # (N, K, 3)
    rot = nearest_rotation(np.einsum("kc,nkd->ncd", p, q))                     # rest -> frame: x @ rot
    moved = (rest - rest[use].mean(0)) @ rot + joints[:, use].mean(1, keepdims=True)
    out = joints.copy()
    out[:, ~known] = moved[:, ~known]
    return out

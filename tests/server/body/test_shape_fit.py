"""Shape from measured segment lengths on a linear landmark model."""
from __future__ import annotations

from dataclasses import fields

import numpy as np

from server.body.shape_fit import fit_betas, model_lengths
from server.body.skeleton import TEMPLATE, BodyMeasurements, build_rest_skeleton, rest_landmarks


def _linear_body(seed: int = 0, k: int = 10):
    """Mean landmarks of the template skeleton and random smooth shape directions (33, 3, k)."""
    base = rest_landmarks(build_rest_skeleton(TEMPLATE)).astype(np.float64)
    rng = np.random.default_rng(seed)
    scale = base[None] * rng.normal(0, 0.03, (k, 1, 1))             # uniform scalings ...
    local = rng.normal(0, 0.004, (k, 33, 3))                          # ... plus small local changes
    return base, np.moveaxis(scale + local, 0, -1)


def _measurements(lengths: np.ndarray) -> BodyMeasurements:
    return BodyMeasurements(**{f.name: float(v) for f, v in zip(fields(BodyMeasurements), lengths)})


def test_jacobian_matches_finite_differences() -> None:
    base, dirs = _linear_body()
    betas = np.random.default_rng(1).normal(0, 1, 10)
    lengths, jac = model_lengths(base, dirs, betas)
    eps = 1e-6
    numeric = np.stack([(model_lengths(base, dirs, betas + eps * e)[0] - lengths) / eps for e in np.eye(10)], -1)
    assert np.allclose(jac, numeric, atol=1e-5)


def test_recovers_the_measured_body() -> None:
    base, dirs = _linear_body()
    truth = np.array([1.5, -1.0, 0.5, 0, 0, 0, 0, 0, 0, 0])
    measured = _measurements(model_lengths(base, dirs, truth)[0])
    betas, _ = fit_betas(base, dirs, measured, sigma=0.002)
    fitted = model_lengths(base, dirs, betas.astype(np.float64))[0]
    target = model_lengths(base, dirs, truth)[0]
    assert np.abs(fitted - target).max() < 0.003, "the fitted body has the measured segment lengths"


def test_mean_body_when_measurements_match_it() -> None:
    base, dirs = _linear_body()
    betas, _ = fit_betas(base, dirs, _measurements(model_lengths(base, dirs, np.zeros(10))[0]))
    assert np.abs(betas).max() < 1e-3


def test_betas_stay_bounded_for_absurd_measurements() -> None:
    base, dirs = _linear_body()
    absurd = _measurements(5.0 * model_lengths(base, dirs, np.zeros(10))[0])
    betas, _ = fit_betas(base, dirs, absurd)
    assert np.all(np.isfinite(betas)) and np.abs(betas).max() <= 3.0

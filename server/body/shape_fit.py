"""Body shape from the footage: betas whose body has the clip's measured segment lengths (numpy only).

The detector's metric world landmarks give median segment lengths over the clip (``skeleton.measure_body``:
thigh, shin, upper arm, shoulder width, ...). On the body model the same landmarks are linear in the shape
coefficients, ``landmarks(beta) = base + dirs @ beta`` (the landmark regressor applied to the shaped rest
mesh), so each segment length is a smooth function of beta. We fit beta by Gauss-Newton on

    sum_m ((length_m(beta) - measured_m) / sigma_m)^2 + |beta / prior_std|^2

which keeps beta near the average body where the footage says little (betas are in units of the shape
space's standard deviations, as in SMPL).
"""
from __future__ import annotations

import logging
from dataclasses import fields
from typing import TYPE_CHECKING, List, Tuple

import numpy as np

from .layout import LANDMARK_INDEX
from .skeleton import MEASURED_SEGMENTS, BodyMeasurements, measure_body

if TYPE_CHECKING:
    from .model import BodyModel

log = logging.getLogger(__name__)

MEASUREMENT_SIGMA = 0.02   # metres: spread of a clip's median segment length around the truth
PRIOR_STD = 1.5            # standard deviations of the shape space allowed without strong evidence
MAX_ABS_BETA = 3.0
ITERATIONS = 15


def _selector(spec: str) -> np.ndarray:
    """'name' or 'a+b' -> (33,) weights that average the named landmarks."""
    weights = np.zeros(len(LANDMARK_INDEX))
    names = spec.split("+")
    for name in names:
        weights[LANDMARK_INDEX[name]] += 1.0 / len(names)
    return weights


def segment_operators() -> Tuple[List[str], List[List[np.ndarray]]]:
    """Measurement names and, per measurement, one (33,) difference operator per side (end - start)."""
    names, operators = [], []
    for f in fields(BodyMeasurements):
        names.append(f.name)
        operators.append([_selector(b) - _selector(a) for a, b in MEASURED_SEGMENTS[f.name]])
    return names, operators


def model_lengths(base: np.ndarray, dirs: np.ndarray, betas: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Segment lengths (M,) of the body with ``betas`` (K,) and their Jacobian (M, K).

    base: (33, 3) rest landmarks of the mean body; dirs: (33, 3, K) their change per unit beta.
    Sides are averaged, as ``measure_body`` pools them.
    """
    _, operators = segment_operators()
    points = base + dirs @ betas                                     # (33, 3)
    lengths, jac = [], []
    for sides in operators:
        side_len, side_jac = [], []
        for op in sides:
            vec = op @ points                                        # (3,)
            norm = max(float(np.linalg.norm(vec)), 1e-9)
            side_len.append(norm)
            side_jac.append((vec / norm) @ np.tensordot(op, dirs, axes=(0, 0)))  # (K,)
        lengths.append(np.mean(side_len))
        jac.append(np.mean(side_jac, axis=0))
    return np.asarray(lengths), np.asarray(jac)


def fit_betas(base: np.ndarray, dirs: np.ndarray, measured: BodyMeasurements,
              sigma: float = MEASUREMENT_SIGMA, prior_std: float = PRIOR_STD) -> Tuple[np.ndarray, float]:
    """(33, 3) mean-body rest landmarks, (33, 3, K) landmark shape directions, measured lengths -> betas (K,) and
    the mean segment error left (metres).

    Gauss-Newton with a Gaussian prior on beta; the result is clipped to +-MAX_ABS_BETA.
    """
    target = np.array([getattr(measured, f.name) for f in fields(BodyMeasurements)])
    k = dirs.shape[-1]
    betas = np.zeros(k)
    for _ in range(ITERATIONS):
        lengths, jac = model_lengths(base, dirs, betas)
        residual = (lengths - target) / sigma
        a = jac.T @ jac / sigma**2 + np.eye(k) / prior_std**2
        g = jac.T @ residual / sigma + betas / prior_std**2
        step = np.linalg.solve(a, g)
        betas = np.clip(betas - step, -MAX_ABS_BETA, MAX_ABS_BETA)
        if np.linalg.norm(step) < 1e-6:
            break
    lengths, _ = model_lengths(base, dirs, betas)
    error = float(np.mean(np.abs(lengths - target)))
    log.info("shape fit: betas %s; segment error mean %.1f mm", np.round(betas, 2), 1000 * error)
    return betas.astype(np.float32), error


def fit_body_shape(model: "BodyModel", world_landmarks: np.ndarray, num_betas: int = 10) -> np.ndarray:
    """Betas (num_betas,) of ``model`` whose landmark segments match the clip's (N, 33, 4) world landmarks.

    Shape directions beyond ``num_betas`` (official SMPL files may carry 300) stay at zero.
    """
    return fit_body_shape_error(model, world_landmarks, num_betas)[0]


def fit_body_shape_error(model: "BodyModel", world_landmarks: np.ndarray, num_betas: int = 10
                         ) -> Tuple[np.ndarray, float]:
    """:func:`fit_body_shape` and the mean segment error (metres) its body leaves."""
    count = min(num_betas, model.shapedirs.shape[-1])
    base = model.landmark_regressor @ model.v_template                                   # (33, 3)
    dirs = np.einsum("lv,vck->lck", model.landmark_regressor, model.shapedirs[..., :count])  # (33, 3, count)
    betas = np.zeros(num_betas, dtype=np.float32)
    betas[:count], error = fit_betas(base, dirs, measure_body(world_landmarks))
    return betas, error

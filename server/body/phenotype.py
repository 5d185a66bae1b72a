"""Body shape by phenotype: gender, height, weight and muscle through the built-in body's phenotype map (numpy).

The built-in body's shape space was fitted to Anny's bodies (``scripts/build_body_model.py``), and the file keeps a
least-squares map from Anny's standardised phenotypes to betas: ``betas = to_betas @ ((p - mean) / std)`` with
``p`` = (gender, age, muscle, weight, height, proportions), each 0..1 in Anny's units (gender 0 = male, 1 = female;
Anny's height is relative to its age and gender). :mod:`.phenotype_map` holds it; :func:`phenotype_of` goes back
(least squares: the betas' part outside the six directions is kept as a residual, untouched by every change here).

A user (or a capture's option) changes a body through :data:`SLIDERS`:

- ``gender``, ``weight``, ``muscle``: that phenotype set to a value 0..1 (the others kept);
- ``height``: the stature (metres, top of the head to the soles of the rest mesh) reached along Anny's height
  phenotype alone (:func:`with_stature`), so the body's build stays.

Every change is linear in betas, and betas are linear in the mesh, so each slider is one vertex direction
(:func:`slider_directions`: per unit of the slider, metres of stature for height) - what Blender's shape keys show
live on the captured mesh without a worker.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..options import STATURE_RANGE, ShapeRequest
from .phenotype_map import SLIDER_PHENOTYPES, PhenotypeMap

from .model import BodyModel, shaped_vertices

SLIDERS = SLIDER_PHENOTYPES   # gender, height (as a stature in metres), weight, muscle
HEIGHT_STEP = 1.0             # standardised units of Anny's height used to measure the stature's slope
# Phenotypes the keypoints do not tell: on held-out synthetic bodies the regressor's reading of gender correlates
# r = 0.44 with the truth and misses it as far as the mean does, of muscle r = 0.03 (scripts/benchmark_stature.py);
# an estimate keeps the mean body's instead of a guess (the user sets them).
UNREAD = ("gender", "muscle")


def _pad(betas: np.ndarray, count: int) -> np.ndarray:
    b = np.zeros(count)
    src = np.asarray(betas, dtype=np.float64).reshape(-1)[:count]
    b[:src.size] = src
    return b


def phenotype_of(pm: PhenotypeMap, betas: np.ndarray) -> np.ndarray:
    """betas (B',) -> the phenotype (P,) whose betas are nearest (least squares, Anny's 0..1 units; may fall
    outside 0..1 for a body unlike Anny's)."""
    b = _pad(betas, pm.num_betas)
    z, *_ = np.linalg.lstsq(pm.to_betas, b, rcond=None)
    return pm.mean + pm.std * z


def with_phenotype(pm: PhenotypeMap, betas: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    """betas (B',) with the named phenotypes set to ``values`` (0..1) and the rest of the body kept -> (B,)."""
    b = _pad(betas, pm.num_betas)
    now = phenotype_of(pm, b)
    for name, value in values.items():
        i = pm.index(name)
        b = b + pm.to_betas[:, i] * (float(value) - now[i]) / pm.std[i]
    return b


def stature(model: BodyModel, betas: np.ndarray) -> float:
    """Rest-mesh height (metres, top of the head to the soles; SMPL's canonical frame is y up)."""
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    return float(np.ptp(shaped_vertices(model, b[:min(model.num_betas, b.size)])[:, 1]))


def _height_direction(pm: PhenotypeMap) -> np.ndarray:
    """Betas (B,) per standardised unit of Anny's height."""
    return pm.to_betas[:, pm.index("height")]


def stature_slope(model: BodyModel, pm: PhenotypeMap, betas: np.ndarray) -> float:
    """Metres of stature per standardised unit of Anny's height, at ``betas``."""
    b = _pad(betas, pm.num_betas)
    step = HEIGHT_STEP * _height_direction(pm)
    return (stature(model, b + step) - stature(model, b - step)) / (2 * HEIGHT_STEP)


def with_stature(model: BodyModel, pm: PhenotypeMap, betas: np.ndarray, metres: float) -> np.ndarray:
    """betas (B',) moved along Anny's height until the rest mesh is ``metres`` tall (within 0.1 mm) -> (B,).

    Raises ValueError outside :data:`STATURE_RANGE`."""
    low, high = STATURE_RANGE
    if not (low <= metres <= high):
        raise ValueError(f"a height of {metres:g} m is outside {low:g}-{high:g} m")
    b = _pad(betas, pm.num_betas)
    direction = _height_direction(pm)
    for _ in range(8):   # the stature is piecewise linear in betas (the mesh's top and bottom vertices)
        error = metres - stature(model, b)
        if abs(error) < 1e-4:
            break
        b = b + direction * error / stature_slope(model, pm, b)
    return b


def shaped_as_asked(model: BodyModel, betas: np.ndarray, request: ShapeRequest) -> np.ndarray:
    """The estimated betas (B',) changed as ``request`` asks (phenotypes first, then the stature) -> (B',).

    Raises ValueError when something is asked of a body without a phenotype map."""
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if request.empty:
        return b.copy()
    pm = model.phenotype
    if pm is None:
        raise ValueError(f"the body model {model.name} has no phenotype map (only the built-in body has one), so "
                         "its gender, height, weight and muscle cannot be set")
    out = with_phenotype(pm, b, request.phenotypes)
    if request.height > 0:
        out = with_stature(model, pm, out, request.height)
    return out[:b.size]


def with_unread_at_mean(model: BodyModel, betas: np.ndarray) -> np.ndarray:
    """An estimated body (B',) with the phenotypes keypoints do not tell (:data:`UNREAD`) set to the mean body's,
    its stature kept -> (B'). Unchanged for a body without a phenotype map."""
    pm = model.phenotype
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if pm is None:
        return b.copy()
    metres = stature(model, b)
    out = with_phenotype(pm, b, {name: float(pm.mean[pm.index(name)]) for name in UNREAD})
    if STATURE_RANGE[0] <= metres <= STATURE_RANGE[1]:
        out = with_stature(model, pm, out, metres)
    return out[:b.size]


def slider_values(model: BodyModel, pm: PhenotypeMap, betas: np.ndarray) -> np.ndarray:
    """The sliders' values (4,) of a body in :data:`SLIDERS` order: gender, stature (m), weight, muscle."""
    p = phenotype_of(pm, betas)
    return np.array([p[pm.index("gender")], stature(model, betas), p[pm.index("weight")], p[pm.index("muscle")]])


def slider_directions(model: BodyModel, pm: PhenotypeMap, betas: np.ndarray) -> np.ndarray:
    """Per slider (:data:`SLIDERS` order) the rest mesh's change per unit of it at ``betas`` (B'): (4, V, 3) metres
    (per metre of stature for height). Any regressor of the mesh (joints, fingers) maps it to its own points."""
    b = _pad(betas, pm.num_betas)
    count = min(model.num_betas, pm.num_betas)
    steps = []
    for name in SLIDERS:
        if name == "height":
            steps.append(_height_direction(pm) / stature_slope(model, pm, b))
        else:
            i = pm.index(name)
            steps.append(pm.to_betas[:, i] / pm.std[i])
    return np.einsum("vcb,sb->svc", model.shapedirs[:, :, :count], np.stack(steps)[:, :count])

"""Body shape by phenotype: gender, height, weight and muscle through the built-in body's phenotype map (numpy).

The built-in body's shape space was fitted to Anny's bodies (``scripts/build_body_model.py``), and the file keeps a
least-squares map from Anny's standardised phenotypes to betas: ``betas = to_betas @ ((p - mean) / std)`` with
``p`` = (gender, age, muscle, weight, height, proportions), each 0..1 in Anny's units (gender 0 = male, 1 = female;
Anny's height is relative to its age and gender). :class:`PhenotypeMap` reads it; :func:`phenotype_of` goes back
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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional, Tuple

import numpy as np

from ..options import STATURE_RANGE, ShapeRequest

if TYPE_CHECKING:
    from .model import BodyModel

SLIDERS = ("gender", "height", "weight", "muscle")
PHENOTYPE_KEYS = ("phenotype_labels", "shape_mean_phenotype", "shape_phenotype_std", "phenotype_to_betas")
HEIGHT_STEP = 1.0             # standardised units of Anny's height used to measure the stature's slope


@dataclass(frozen=True, eq=False)
class PhenotypeMap:
    """labels (P,) str; mean, std (P,) of the phenotypes the body was fitted on; to_betas (B, P) from standardised
    phenotypes to betas."""

    labels: Tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    to_betas: np.ndarray

    def index(self, label: str) -> int:
        return self.labels.index(label)

    @property
    def num_betas(self) -> int:
        return int(self.to_betas.shape[0])


def phenotype_map_of(data: Mapping[str, object]) -> Optional[PhenotypeMap]:
    """The map stored in a body file's arrays (the :data:`PHENOTYPE_KEYS`), or None when the file has none (official
    SMPL files) or lacks a slider's phenotype. Raises ValueError when the arrays disagree in shape."""
    if any(data.get(key) is None for key in PHENOTYPE_KEYS):
        return None
    labels = tuple(str(v) for v in np.asarray(data["phenotype_labels"]).reshape(-1))
    mean = np.asarray(data["shape_mean_phenotype"], dtype=np.float64).reshape(-1)
    std = np.asarray(data["shape_phenotype_std"], dtype=np.float64).reshape(-1)
    to_betas = np.asarray(data["phenotype_to_betas"], dtype=np.float64)
    if not (len(labels) == mean.size == std.size == to_betas.shape[-1]) or to_betas.ndim != 2 or np.any(std <= 0):
        raise ValueError("its phenotype map's arrays disagree (labels, mean, std and phenotype_to_betas columns)")
    if any(name not in labels for name in SLIDERS if name != "height") or "height" not in labels:
        return None
    return PhenotypeMap(labels, mean, std, to_betas)


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


def stature(model: "BodyModel", betas: np.ndarray) -> float:
    """Rest-mesh height (metres, top of the head to the soles; SMPL's canonical frame is y up)."""
    from .model import shaped_vertices
    count = min(model.num_betas, np.asarray(betas).size)
    return float(np.ptp(shaped_vertices(model, np.asarray(betas)[:count])[:, 1]))


def _height_direction(pm: PhenotypeMap) -> np.ndarray:
    """Betas (B,) per standardised unit of Anny's height."""
    return pm.to_betas[:, pm.index("height")]


def stature_slope(model: "BodyModel", pm: PhenotypeMap, betas: np.ndarray) -> float:
    """Metres of stature per standardised unit of Anny's height, at ``betas``."""
    b = _pad(betas, pm.num_betas)
    step = HEIGHT_STEP * _height_direction(pm)
    return (stature(model, b + step) - stature(model, b - step)) / (2 * HEIGHT_STEP)


def with_stature(model: "BodyModel", pm: PhenotypeMap, betas: np.ndarray, metres: float) -> np.ndarray:
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


def shaped_as_asked(model: "BodyModel", betas: np.ndarray, request: ShapeRequest) -> np.ndarray:
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


def slider_values(model: "BodyModel", pm: PhenotypeMap, betas: np.ndarray) -> np.ndarray:
    """The sliders' values (4,) of a body in :data:`SLIDERS` order: gender, stature (m), weight, muscle."""
    p = phenotype_of(pm, betas)
    return np.array([p[pm.index("gender")], stature(model, betas), p[pm.index("weight")], p[pm.index("muscle")]])


def slider_directions(model: "BodyModel", pm: PhenotypeMap, betas: np.ndarray) -> np.ndarray:
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

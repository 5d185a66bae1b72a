"""The built-in body's phenotype map as stored in its file (:class:`PhenotypeMap`); what it does to a body is
:mod:`.phenotype`'s.

``betas = to_betas @ ((p - mean) / std)`` with ``p`` Anny's phenotypes (gender, age, muscle, weight, height,
proportions; 0..1 each), fitted by least squares when the body was built (``scripts/build_body_model.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import numpy as np

PHENOTYPE_KEYS = ("phenotype_labels", "shape_mean_phenotype", "shape_phenotype_std", "phenotype_to_betas")
SLIDER_PHENOTYPES = ("gender", "height", "weight", "muscle")   # the phenotypes a user sets


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
    if any(name not in labels for name in SLIDER_PHENOTYPES):
        return None
    return PhenotypeMap(labels, mean, std, to_betas)

"""The 10-dimensional shape space: principal components of T-posed adult meshes, betas in standard deviations."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

NUM_BETAS = 10


@dataclass
class ShapeSpace:
    """mean (V, 3); shapedirs (V, 3, 10) = unit component * its std (so betas ~ N(0, 1) over the samples);
    std (10,) metres (norm of the mesh displacement of +1 beta); variance_ratio (10,) of the total variance."""

    mean: np.ndarray
    shapedirs: np.ndarray
    std: np.ndarray
    variance_ratio: np.ndarray

    def betas_of(self, vertices: np.ndarray) -> np.ndarray:
        """(N, V, 3) meshes -> (N, 10) betas (least squares projection)."""
        basis = self.shapedirs.reshape(-1, NUM_BETAS)
        coef = (vertices - self.mean).reshape(len(vertices), -1) @ basis
        return coef / (self.std ** 2)

    def mesh_of(self, betas: np.ndarray) -> np.ndarray:
        """(N, 10) betas -> (N, V, 3) meshes."""
        return self.mean + np.einsum("vck,nk->nvc", self.shapedirs, betas)


def fit_shape_space(vertices: np.ndarray, stature: np.ndarray) -> ShapeSpace:
    """PCA of (N, V, 3) meshes; each component's sign is fixed so that +beta raises the stature (N,) of the
    samples (beta 0 should then read as height); later components with no stature trend keep the sign that
    makes their largest vertex displacement positive, for determinism."""
    n, v, _ = vertices.shape
    mean = vertices.mean(0, dtype=np.float64)
    centred = (vertices - mean).reshape(n, -1).astype(np.float64)
    gram = centred @ centred.T / (n - 1)
    eigval, eigvec = np.linalg.eigh(gram)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    comps = (eigvec[:, :NUM_BETAS].T @ centred) / np.sqrt(eigval[:NUM_BETAS] * (n - 1))[:, None]
    scores = centred @ comps.T / np.sqrt(eigval[:NUM_BETAS])
    for k in range(NUM_BETAS):
        corr = np.corrcoef(scores[:, k], stature)[0, 1]
        flip = corr < 0 if abs(corr) > 0.05 else comps[k, np.argmax(np.abs(comps[k]))] < 0
        if flip:
            comps[k] *= -1
    std = np.sqrt(eigval[:NUM_BETAS])
    shapedirs = (comps * std[:, None]).T.reshape(v, 3, NUM_BETAS)
    ratio = eigval[:NUM_BETAS] / eigval[eigval > 0].sum()
    log.info("shape PCA over %d meshes: variance explained by 10 components %.4f (per component %s)", n,
             ratio.sum(), np.round(ratio, 4).tolist())
    return ShapeSpace(mean=mean, shapedirs=shapedirs, std=std, variance_ratio=ratio)

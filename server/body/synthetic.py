"""Synthetic SMPL-format body models (random but well-formed arrays) for tests and benchmarks, numpy only.

Not a body: vertices are scattered around a random 24-joint SMPL tree. The arrays use SMPL's key names and
layouts (``posedirs`` (V, 3, 207), ``kintree_table`` with SMPL's 4294967295 root marker, ...) so they can be
written as an official-looking ``.npz`` / ``.pkl`` or as our own format (with ``landmark_regressor``).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .layout import NUM_JOINTS, NUM_LANDMARKS, SMPL_PARENTS

SMPL_ROOT_MARKER = 4294967295  # kintree_table[0, 0] in the official files (uint32 -1)


def _skeleton(rng: np.random.Generator) -> np.ndarray:
    """(24, 3) rest joints: each child 5-25 cm from its parent in a random direction."""
    joints = np.zeros((NUM_JOINTS, 3))
    joints[0] = rng.normal(0.0, 0.05, 3) + np.array([0.0, 0.9, 0.0])
    for j in range(1, NUM_JOINTS):
        step = rng.normal(size=3)
        joints[j] = joints[SMPL_PARENTS[j]] + step / np.linalg.norm(step) * rng.uniform(0.05, 0.25)
    return joints


def _weights(rng: np.random.Generator, owner: np.ndarray) -> np.ndarray:
    """(V, 24) skinning weights: mostly the owning joint, some on its parent and on one random joint."""
    num_v = len(owner)
    weights = np.zeros((num_v, NUM_JOINTS))
    rows = np.arange(num_v)
    weights[rows, owner] = rng.uniform(0.5, 1.0, num_v)
    parent = np.array([max(SMPL_PARENTS[j], 0) for j in owner])
    weights[rows, parent] += rng.uniform(0.0, 0.4, num_v)
    weights[rows, rng.integers(0, NUM_JOINTS, num_v)] += rng.uniform(0.0, 0.1, num_v)
    return weights / weights.sum(1, keepdims=True)


def _sparse_rows(rng: np.random.Generator, rows: int, num_v: int, per_row: int,
                 pool: Optional[Dict[int, np.ndarray]] = None) -> np.ndarray:
    """(rows, V) non-negative rows summing to 1, each on ``per_row`` vertices (from ``pool[row]`` if given)."""
    out = np.zeros((rows, num_v))
    for r in range(rows):
        choices = pool[r] if pool is not None else np.arange(num_v)
        idx = rng.choice(choices, size=min(per_row, len(choices)), replace=False)
        w = rng.uniform(0.2, 1.0, len(idx))
        out[r, idx] = w / w.sum()
    return out


def synthetic_smpl_arrays(num_vertices: int = 6890, num_betas: int = 10, seed: int = 0,
                          pose_corrective_scale: float = 0.01, num_faces: int = 2000,
                          with_landmarks: bool = False) -> Dict[str, np.ndarray]:
    """A random SMPL-format model as a dict with SMPL's key names (official-file extras included).

    v_template (V, 3), shapedirs (V, 3, B), posedirs (V, 3, 207) ~ N(0, pose_corrective_scale), J_regressor
    (24, V), weights (V, 24), kintree_table (2, 24), f (F, 3), J (24, 3), plus ``bs_style``, ``bs_type``,
    ``weights_prior``, ``vert_sym_idxs``; with ``with_landmarks`` also landmark_regressor (33, V) and ``name``.
    """
    rng = np.random.default_rng(seed)
    joints = _skeleton(rng)
    owner = np.arange(num_vertices) % NUM_JOINTS
    v_template = joints[owner] + rng.normal(0.0, 0.05, (num_vertices, 3))
    pool = {j: np.flatnonzero(owner == j) for j in range(NUM_JOINTS)}
    j_regressor = _sparse_rows(rng, NUM_JOINTS, num_vertices, 8, pool)
    weights = _weights(rng, owner)
    kintree = np.array([SMPL_PARENTS, range(NUM_JOINTS)], dtype=np.int64)
    kintree[0, 0] = SMPL_ROOT_MARKER
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.01, (num_vertices, 3, num_betas)),
        "posedirs": rng.normal(0.0, pose_corrective_scale, (num_vertices, 3, 9 * (NUM_JOINTS - 1))),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree.astype(np.uint32),
        "f": rng.integers(0, num_vertices, (num_faces, 3)).astype(np.uint32),
        "J": j_regressor @ v_template,
        "bs_style": np.array("lbs"),
        "bs_type": np.array("lrotmin"),
        "weights_prior": weights.copy(),
        "vert_sym_idxs": np.arange(num_vertices),
    }
    if with_landmarks:
        arrays["landmark_regressor"] = _sparse_rows(rng, NUM_LANDMARKS, num_vertices, 4)
        arrays["name"] = np.array("synthetic body")
    return arrays

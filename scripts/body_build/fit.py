"""Fitting the joint regressors (SMPL's 24 joints, SMPL-H's 30 finger joints) and the hand landmarks over many
T-posed shapes."""
from __future__ import annotations

import logging
from typing import Dict, Sequence, Tuple

import numpy as np

from server.body.layout import (JOINTS_PER_FINGER, NUM_JOINTS, NUM_SMPLH_BODY_JOINTS, SMPL_JOINT_NAMES,
                                SMPL_PARENTS, SMPLH_PARENTS)

from .landmarks import HAND_BONES, Sparse
from .regress import band_candidates, dense_row, fit_point, nearest_candidates

log = logging.getLogger(__name__)

UP, FRONT, LATERAL = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
ARM_PARTS = ("collar", "shoulder", "elbow", "wrist", "hand")
BAND_RADIUS = {"collar": 0.12}  # metres; the default keeps the ring to the body part around the joint
DEFAULT_RADIUS = 0.25
BALL_RADII = (0.15, 0.3)  # metres
MAX_CANDIDATES = 1500
KNUCKLE_CANDIDATES = 40
FINGER_RING_RADIUS = 0.03  # metres: a finger joint's ring of vertices (fingers are under 2.5 cm thick)
FINGER_NEAREST = (12, 24, 48)  # candidate counts of the nearest-vertex sets tried for a finger joint


def joint_axis(name: str) -> np.ndarray:
    """(3,) the direction across which a joint's ring of vertices is cut (arms lateral, feet forward)."""
    part = name.split("_")[-1]
    if part in ARM_PARTS:
        return LATERAL
    return FRONT if part == "foot" else UP


def _neighbour_joints(j: int) -> list:
    """The joint, its parent and its children (their skinned vertices may hold the joint's ring)."""
    near = [j] + [c for c, p in enumerate(SMPL_PARENTS) if p == j]
    return near + ([SMPL_PARENTS[j]] if SMPL_PARENTS[j] >= 0 else [])


def _candidate_sets(name: str, template: np.ndarray, point: np.ndarray, allowed: np.ndarray) -> list:
    """Candidate vertex sets tried for one joint: its ring (a band across the limb), then balls of growing
    radius; all restricted to vertices skinned to the joint or its neighbours."""
    radius = BAND_RADIUS.get(name.split("_")[-1], DEFAULT_RADIUS)
    sets = [band_candidates(template, point, joint_axis(name), allowed, radius=radius)]
    dist = np.linalg.norm(template - point, axis=1)
    for ball in BALL_RADII:
        idx = np.flatnonzero(allowed & (dist < ball))
        sets.append(idx[:: max(1, len(idx) // MAX_CANDIDATES + 1)])
    return [c for c in sets if len(c) >= 4]


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, template: np.ndarray, template_joints: np.ndarray,
                        weights: np.ndarray, body_mask: np.ndarray) -> np.ndarray:
    """(24, V) sparse non-negative rows (sum 1) such that ``row @ mesh`` tracks each joint over the shapes.

    vertices (N, V, 3) and joints (N, 24, 3) of the training shapes; template (V, 3) and template_joints (24, 3)
    choose each joint's candidates; weights (V, 24) merged skinning weights; body_mask (V,) excludes the eyes.
    Of the candidate sets (see _candidate_sets), the one with the lowest training error is kept.
    """
    rows = np.zeros((NUM_JOINTS, template.shape[0]))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        allowed = body_mask & (weights[:, _neighbour_joints(j)].sum(1) > 0.05)
        err, rows[j] = _best_row(vertices, joints[:, j], _candidate_sets(name, template, template_joints[j], allowed))
        log.debug("joint %s: training error %.2f mm over %d vertices", name, 1000 * err, (rows[j] > 0).sum())
    return rows


def _best_row(vertices: np.ndarray, targets: np.ndarray,
              candidate_sets: Sequence[np.ndarray]) -> Tuple[float, np.ndarray]:
    """The candidate set with the lowest mean training error (metres) and its (V,) regressor row;
    vertices (N, V, 3), targets (N, 3)."""
    best = (np.inf, np.zeros(vertices.shape[1]))
    for cand in candidate_sets:
        idx, w = fit_point(vertices, targets, cand)
        err = float(np.mean(np.linalg.norm(np.einsum("s,nsc->nc", w, vertices[:, idx]) - targets, axis=1)))
        if err < best[0]:
            best = (err, dense_row(vertices.shape[1], idx, w))
    return best


def _finger_axis(j: int, template_fingers: np.ndarray) -> np.ndarray:
    """(3,) unit direction of finger joint ``j`` (0..29)'s bone: to the next joint, or from the previous for
    the last joint of a finger; template_fingers (30, 3)."""
    last = j % JOINTS_PER_FINGER == JOINTS_PER_FINGER - 1
    step = template_fingers[j] - template_fingers[j - 1] if last else template_fingers[j + 1] - template_fingers[j]
    return step / np.linalg.norm(step)


def fit_finger_regressor(vertices: np.ndarray, fingers: np.ndarray, template: np.ndarray,
                         template_fingers: np.ndarray, weights52: np.ndarray, body_mask: np.ndarray) -> np.ndarray:
    """(30, V) sparse non-negative rows (sum 1) tracking SMPL-H's finger joints over the shapes.

    vertices (N, V, 3) and fingers (N, 30, 3) of the training shapes; template (V, 3) and template_fingers
    (30, 3) choose the candidates: the ring across the finger at the joint and the nearest vertices, among those
    skinned (weights52 (V, 52)) to the joint, its parent or its child; body_mask (V,) excludes the eyes.
    """
    rows = np.zeros((len(template_fingers), template.shape[0]))
    for j in range(len(template_fingers)):
        joint = NUM_SMPLH_BODY_JOINTS + j
        near = [joint, SMPLH_PARENTS[joint]] + [c for c, p in enumerate(SMPLH_PARENTS) if p == joint]
        allowed = body_mask & (weights52[:, near].sum(1) > 0.05)
        point = template_fingers[j]
        sets = [band_candidates(template, point, _finger_axis(j, template_fingers), allowed, half_width=0.004,
                                radius=FINGER_RING_RADIUS, min_count=12)]
        sets += [nearest_candidates(template, point, allowed, count) for count in FINGER_NEAREST]
        err, rows[j] = _best_row(vertices, fingers[:, j], [c for c in sets if len(c) >= 4])
        log.debug("finger joint %d: training error %.2f mm over %d vertices", j, 1000 * err, (rows[j] > 0).sum())
    return rows


def fit_hand_landmarks(vertices: np.ndarray, heads: np.ndarray, template: np.ndarray, template_heads: np.ndarray,
                       bone_labels: Sequence[str], body_mask: np.ndarray) -> Dict[str, Sparse]:
    """BlazePose pinky / index / thumb as vertex combinations tracking Anny's knuckle bone heads.

    vertices (N, V, 3), heads (N, K, 3) of the training shapes; template (V, 3), template_heads (K, 3).
    """
    index = {label: i for i, label in enumerate(bone_labels)}
    out: Dict[str, Sparse] = {}
    for side_name, side in (("left", "L"), ("right", "R")):
        for landmark, bone in HAND_BONES.items():
            k = index[f"{bone}.{side}"]
            cand = nearest_candidates(template, template_heads[k], body_mask, KNUCKLE_CANDIDATES)
            out[f"{side_name}_{landmark}"] = fit_point(vertices, heads[:, k], cand)
    return out


def error_summary(errors_m: np.ndarray, names: Sequence[str]) -> Tuple[float, float, str]:
    """(N, R) errors in metres -> (mean mm, max mm, name of the joint with the largest mean error)."""
    per_joint = errors_m.mean(0)
    return 1000 * float(errors_m.mean()), 1000 * float(errors_m.max()), names[int(np.argmax(per_joint))]


def joint_targets(joint_matrix: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """(R, K) combination matrix (24 SMPL joints or 30 finger joints), (N, K, 3) bone heads -> (N, R, 3) joints."""
    return np.einsum("jk,nkc->njc", joint_matrix, heads)


"""BlazePose's 33 landmarks as small weighted vertex sets of the open body (SMPL frame, T-posed template).

Face: nose tip, pupils, eye corners (where the eyelid margin meets the eyeball), ears (concha), mouth corners.
Hands: pinky and index knuckles (MCP joints) and the thumb's IP joint, fitted like the joint regressor over
shapes. Feet: heel (back-bottom of the heel), foot_index (tip of the foot). Shoulders, elbows, wrists, hips,
knees and ankles reuse the corresponding J_regressor rows.
"""
from __future__ import annotations

import logging
from typing import Dict, Tuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from server.body.layout import BLAZEPOSE_NAMES, JOINT_INDEX, NUM_LANDMARKS

log = logging.getLogger(__name__)

Sparse = Tuple[np.ndarray, np.ndarray]  # (indices (S,), weights (S,))
FROM_JOINTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
# BlazePose hand landmark -> Anny bone whose head it is (knuckle): pinky/index MCP, thumb IP.
HAND_BONES = {"pinky": "finger5-1", "index": "finger2-1", "thumb": "finger1-3"}


def mesh_components(num_vertices: int, faces: np.ndarray) -> np.ndarray:
    """(V,) connected-component label of each vertex; faces (F, 3)."""
    adj = coo_matrix((np.ones(faces.size), (faces.ravel(), faces[:, [1, 2, 0]].ravel())),
                     shape=(num_vertices, num_vertices))
    return connected_components(adj, directed=False)[1]


def _single(index: int) -> Sparse:
    return np.array([index]), np.array([1.0])


def _nearest(template: np.ndarray, mask: np.ndarray, point: np.ndarray, count: int) -> Sparse:
    """The ``count`` masked vertices nearest to ``point``, equal weights."""
    idx = np.flatnonzero(mask)
    idx = idx[np.argsort(np.linalg.norm(template[idx] - point, axis=1))[:count]]
    return idx, np.full(len(idx), 1.0 / len(idx))


def eye_landmarks(template: np.ndarray, labels: np.ndarray, body: int, side: float) -> Dict[str, Sparse]:
    """Pupil (front pole of the eyeball) and eyelid corners of the eye on ``side`` (+1 left, -1 right)."""
    eyes = [c for c in np.unique(labels) if c != body and np.sign(template[labels == c, 0].mean()) == side]
    eye = np.flatnonzero(np.isin(labels, eyes))
    centre = template[eye].mean(0)
    dist, _ = cKDTree(template[eye]).query(template)
    margin = np.flatnonzero((labels == body) & (dist < 0.004) & (template[:, 2] > centre[2]))
    lateral = template[margin, 0] * side
    return {"eye": _single(int(eye[np.argmax(template[eye, 2])])),
            "eye_inner": _single(int(margin[np.argmin(lateral)])),
            "eye_outer": _single(int(margin[np.argmax(lateral)]))}


def ear_landmark(template: np.ndarray, body_mask: np.ndarray, side: float, head_height: float) -> Sparse:
    """The concha: vertices nearest to the centroid of the outermost 12 mm of the ear."""
    cand = np.flatnonzero(body_mask & (template[:, 1] > head_height))
    outer = cand[np.argmax(template[cand, 0] * side)]
    lateral = template[cand, 0] * side
    ear = cand[(lateral > lateral.max() - 0.012) & (np.linalg.norm(template[cand] - template[outer], axis=1) < 0.04)]
    return _nearest(template, body_mask, template[ear].mean(0), 6)


def foot_landmarks(template: np.ndarray, body_mask: np.ndarray, side: float, ankle: np.ndarray) -> Dict[str, Sparse]:
    """Heel (extreme back-bottom vertex) and foot_index (frontmost toe vertex) of the foot on ``side``."""
    foot = body_mask & (template[:, 0] * side > 0) & (template[:, 1] < ankle[1])
    idx = np.flatnonzero(foot)
    heel = idx[np.argmax(template[idx] @ np.array([0.0, -1.0, -1.0]))]
    tip = idx[np.argmax(template[idx, 2])]
    return {"heel": _nearest(template, foot, template[heel], 3),
            "foot_index": _nearest(template, foot, template[tip], 3)}


def dense_landmark_regressor(sparse: Dict[str, Sparse], j_regressor: np.ndarray) -> np.ndarray:
    """(33, V) BlazePose-ordered rows from the named sparse sets and the J_regressor rows (24, V)."""
    out = np.zeros((NUM_LANDMARKS, j_regressor.shape[1]))
    for k, name in enumerate(BLAZEPOSE_NAMES):
        side, _, part = name.partition("_")
        if part in FROM_JOINTS:
            out[k] = j_regressor[JOINT_INDEX[name]]
            continue
        idx, weights = sparse[name]
        np.add.at(out[k], idx, weights)
    return out / out.sum(1, keepdims=True)


def face_and_feet(template: np.ndarray, faces: np.ndarray, mouth_corner: Dict[str, int],
                  joints: np.ndarray) -> Dict[str, Sparse]:
    """Sparse sets for the face and foot landmarks; mouth_corner maps 'left'/'right' to a vertex index
    (Anny's levator05 bone's strongest vertex); joints (24, 3) of the template."""
    labels = mesh_components(len(template), faces)
    body = int(np.argmax(np.bincount(labels)))
    body_mask = labels == body
    head_y = joints[JOINT_INDEX["head"], 1]
    midline = np.flatnonzero(body_mask & (np.abs(template[:, 0]) < 0.01) & (template[:, 1] > head_y))
    out: Dict[str, Sparse] = {"nose": _single(int(midline[np.argmax(template[midline, 2])]))}
    for side_name, side in (("left", 1.0), ("right", -1.0)):
        for key, value in eye_landmarks(template, labels, body, side).items():
            out[f"{side_name}_{key}"] = value
        out[f"{side_name}_ear"] = ear_landmark(template, body_mask, side, head_y)
        out[f"mouth_{side_name}"] = _single(mouth_corner[side_name])
        for key, value in foot_landmarks(template, body_mask, side, joints[JOINT_INDEX[f"{side_name}_ankle"]]).items():
            out[f"{side_name}_{key}"] = value
    return out

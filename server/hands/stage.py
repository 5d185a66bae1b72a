"""The capture's fingers: the hands the detectors found -> finger rotations on the result (numpy only).

A result with fingers has 54 joints: SMPL's 24 (so everything that reads the first 24 reads the body as before),
then SMPL-H's 15 finger joints of the left hand and 15 of the right (:data:`server.body.layout.FINGERED_JOINT_NAMES`).
Each finger's first joint hangs from SMPL's hand joint (22 left, 23 right), which is kept at rest where fingers are
fitted: the fit's rotations are relative to the palm, which the wrist carries, so with the hand joint at rest this
is SMPL-H's rig exactly (the body model's 52-joint weights; the hand joints weigh nothing). ``hand_confidence``
(N, 2) says how far each frame's fingers were seen (0: rest, filled far from any seen frame).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List

import numpy as np

from ..body.finger_skinning import hand_rest_joints
from ..body.layout import (FINGERED_JOINT_NAMES, FINGERED_PARENTS, HAND_SIDES, HAND_SMPL_JOINTS, NUM_JOINTS,
                           NUM_SMPLH_BODY_JOINTS)
from ..body.model import BodyModel
from ..detection.hands import HandTrack
from .fit import FitConfig, fit_hands
from .rest import rest_hand_landmarks

log = logging.getLogger(__name__)

NO_FINGERS_NOTE = ("The body model has no finger joints (an SMPL file): captured without fingers. Use the built-in "
                   "body or an SMPL-H file for fingers.")


def fingered_weights(model: BodyModel) -> np.ndarray:
    """(V, 54) skinning weights of the 54-joint layout from the model's SMPL-H weights (V, 52): the 22 body joints'
    columns, zero for SMPL's two hand joints, then the 30 finger joints'."""
    if model.hands is None:
        raise ValueError(f"the body model {model.name} has no finger joints")
    weights = model.hands.weights
    hands = np.zeros((weights.shape[0], NUM_JOINTS - NUM_SMPLH_BODY_JOINTS))
    return np.concatenate([weights[:, :NUM_SMPLH_BODY_JOINTS], hands, weights[:, NUM_SMPLH_BODY_JOINTS:]], axis=1)


def add_fingers(arrays: Dict[str, Any], hands: HandTrack, model: BodyModel, config: FitConfig = FitConfig()
                ) -> List[str]:
    """Fit the fingers of ``hands`` (one row per result frame) and turn the result ``arrays`` (24 joints, updated in
    place) into the 54-joint layout -> user-facing notes. A body model without fingers leaves the result as it is,
    with a note."""
    if model.hands is None:
        return [NO_FINGERS_NOTE]
    count = len(arrays["poses"])
    if len(hands.confidence) != count:
        raise ValueError(f"{len(hands.confidence)} frames of hands for {count} result frames")
    betas = np.asarray(arrays.get("betas", np.zeros(0)), np.float64)
    rests = np.stack([rest_hand_landmarks(model, side, betas) for side in HAND_SIDES])
    fingers, confidence = fit_hands(hands.world, hands.confidence, rests, float(arrays["fps"]), config, hands.looked)
    poses = np.array(arrays["poses"], np.float32)
    poses[:, list(HAND_SMPL_JOINTS)] = 0.0
    arrays["poses"] = np.concatenate([poses, fingers.reshape(count, -1, 3).astype(np.float32)], axis=1)
    if arrays.get("hypotheses") is not None:
        hypotheses = np.array(arrays["hypotheses"], np.float32)
        hypotheses[..., list(HAND_SMPL_JOINTS), :] = 0.0
        tiled = np.broadcast_to(arrays["poses"][None, :, NUM_JOINTS:], hypotheses.shape[:2] + (30, 3))
        arrays["hypotheses"] = np.concatenate([hypotheses, tiled], axis=2)
    arrays["joints_rest"] = np.concatenate([np.asarray(arrays["joints_rest"], np.float32),
                                            hand_rest_joints(model, betas).astype(np.float32)])
    arrays["parents"] = np.array(FINGERED_PARENTS, np.int32)
    arrays["joint_names"] = np.array(FINGERED_JOINT_NAMES, dtype="<U16")
    if arrays.get("skin_weights") is not None:
        arrays["skin_weights"] = fingered_weights(model).astype(np.float32)
    if arrays.get("shape_vertex_dirs") is not None:   # the finger joints follow the body-shape sliders too
        finger_dirs = np.einsum("jv,svc->sjc", model.hands.J_regressor, np.asarray(arrays["shape_vertex_dirs"]))
        arrays["shape_joint_dirs"] = np.concatenate([arrays["shape_joint_dirs"], finger_dirs.astype(np.float32)], 1)
    arrays["hand_confidence"] = confidence.astype(np.float32)
    seen = (hands.confidence[hands.looked] > 0).mean(0) if hands.looked.any() else np.zeros(2)
    log.info("fingers: hands found in %.0f%% (left) and %.0f%% (right) of the %d frames looked at", 100 * seen[0],
             100 * seen[1], int(hands.looked.sum()))
    return []

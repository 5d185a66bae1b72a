"""The capture's fingers stage: a 24-joint result becomes the 54-joint layout with fitted fingers."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from server.body.layout import (FINGERED_JOINT_NAMES, FINGERED_PARENTS, HAND_SMPL_JOINTS, NUM_FINGERED_JOINTS,
                                NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS)
from server.body.model import default_body_model_path, load_body_model, shaped_joints, shaped_vertices
from server.detection.hands import HandTrack
from server.hands.fit import angles_to_rotvecs, finger_angles, posed_hand
from server.hands.rest import rest_hand_landmarks
from server.hands.stage import NO_FINGERS_NOTE, add_fingers
from server.result import RESULT_SCHEMA_VERSION, ResultFile

FRAMES = 6


@pytest.fixture(scope="module")
def model():
    return load_body_model(default_body_model_path())


def _result(model) -> dict:
    """A 24-joint capture result of FRAMES frames (random body pose, the hand joints a little bent)."""
    rng = np.random.default_rng(4)
    betas = rng.normal(size=10).astype(np.float32)
    poses = (0.2 * rng.normal(size=(FRAMES, NUM_JOINTS, 3))).astype(np.float32)
    return {"schema_version": np.int32(RESULT_SCHEMA_VERSION), "poses": poses, "betas": betas,
            "transl": np.zeros((FRAMES, 3), np.float32), "joints_rest": shaped_joints(model, betas).astype(np.float32),
            "parents": np.array(SMPL_PARENTS, np.int32), "joint_names": np.array(SMPL_JOINT_NAMES),
            "fps": np.float32(30.0), "frame_indices": np.arange(FRAMES, dtype=np.int32),
            "mesh_vertices": shaped_vertices(model, betas).astype(np.float32), "mesh_faces": model.faces,
            "skin_weights": model.weights.astype(np.float32),
            "hypotheses": np.repeat(poses[None], 2, axis=0)}


def _curled(model, betas) -> HandTrack:
    """Both hands seen in every frame but the last, fingers curled 40 degrees at every joint."""
    world = np.zeros((FRAMES, 2, 21, 3))
    angles = np.zeros((1, 5, 3, 2))
    angles[..., 0] = 40.0
    for hand, side in enumerate(("left", "right")):
        rest = rest_hand_landmarks(model, side, betas)
        world[:, hand] = posed_hand(angles_to_rotvecs(angles, rest, side), rest)[0]
    confidence = np.full((FRAMES, 2), 0.9)
    confidence[-1] = 0.0
    return HandTrack(world.astype(np.float32), world.astype(np.float32), confidence.astype(np.float32),
                     np.ones(FRAMES, bool))


def test_a_result_gains_fitted_fingers_in_the_54_joint_layout(model):
    arrays = _result(model)
    body = arrays["poses"].copy()
    assert add_fingers(arrays, _curled(model, arrays["betas"]), model) == []
    assert arrays["poses"].shape == (FRAMES, NUM_FINGERED_JOINTS, 3)
    assert tuple(arrays["joint_names"]) == FINGERED_JOINT_NAMES and tuple(arrays["parents"]) == FINGERED_PARENTS
    assert np.array_equal(np.delete(arrays["poses"][:, :NUM_JOINTS], HAND_SMPL_JOINTS, axis=1),
                          np.delete(body, HAND_SMPL_JOINTS, axis=1))
    assert not arrays["poses"][:, list(HAND_SMPL_JOINTS)].any()     # the hand joints at rest: SMPL-H's rig
    assert arrays["joints_rest"].shape == (NUM_FINGERED_JOINTS, 3)
    assert arrays["hypotheses"].shape == (2, FRAMES, NUM_FINGERED_JOINTS, 3)
    weights = arrays["skin_weights"]
    assert weights.shape == (model.num_vertices, NUM_FINGERED_JOINTS) and np.allclose(weights.sum(1), 1.0, atol=1e-5)
    assert not weights[:, list(HAND_SMPL_JOINTS)].any()
    confidence = arrays["hand_confidence"]
    assert confidence.shape == (FRAMES, 2) and np.allclose(confidence[:-1], 0.9) and (confidence[-1] < 0.9).all()
    rest = rest_hand_landmarks(model, "left", arrays["betas"])
    fitted = finger_angles(posed_hand(arrays["poses"][:-1, NUM_JOINTS:NUM_JOINTS + 15], rest), rest, "left")
    assert np.allclose(fitted[..., 0], 40.0, atol=1.0) and np.allclose(fitted[..., 1], 0.0, atol=1.0)
    assert ResultFile.made(arrays, "fingers.npz").hand_confidence is not None   # a valid result file


def test_frames_and_hands_must_match(model):
    arrays = _result(model)
    hands = _curled(model, arrays["betas"])
    with pytest.raises(ValueError, match="frames"):
        add_fingers(arrays, hands.rows(np.arange(FRAMES) > 0), model)


def test_a_body_without_fingers_keeps_the_result_and_says_so(model):
    arrays = _result(model)
    before = {k: np.array(v) for k, v in arrays.items()}
    notes = add_fingers(arrays, _curled(model, arrays["betas"]), replace(model, hands=None))
    assert notes == [NO_FINGERS_NOTE]
    assert all(np.array_equal(before[k], arrays[k]) for k in before) and "hand_confidence" not in arrays


def test_the_finger_joints_follow_the_body_shape_sliders(model):
    """The sliders' joint directions gain the 30 finger joints: each the change of its rest joint per unit."""
    from server.refine.output import shape_slider_arrays
    from server.body.finger_skinning import hand_rest_joints
    from server.body.phenotype import with_phenotype, phenotype_of
    arrays = _result(model)
    arrays.update(shape_slider_arrays(model, np.asarray(arrays["betas"], np.float64)))
    assert add_fingers(arrays, _curled(model, arrays["betas"]), model) == []
    dirs = arrays["shape_joint_dirs"]
    assert dirs.shape == (4, NUM_FINGERED_JOINTS, 3)
    pm, betas = model.phenotype, np.asarray(arrays["betas"], np.float64)
    muscled = with_phenotype(pm, betas, {"muscle": phenotype_of(pm, betas)[pm.index("muscle")] + 0.5})
    moved = np.concatenate([shaped_joints(model, muscled) - shaped_joints(model, betas),
                            hand_rest_joints(model, muscled) - hand_rest_joints(model, betas)])
    np.testing.assert_allclose(0.5 * dirs[3], moved, atol=1e-5)
    assert ResultFile.from_arrays(arrays).shape_joint_dirs.shape == (4, NUM_FINGERED_JOINTS, 3)

"""Skinning with fingers (server/body/finger_skinning.py): the 52-joint rig equals the 24-joint skinning when the fingers
are at rest, agrees with smplx's SMPLH, and moves each finger with its own joints."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.finger_skinning import hand_rest_joints, skin_with_hands
from server.body.layout import HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, NUM_SMPLH_BODY_JOINTS, SMPLH_JOINT_INDEX
from server.body.model import BodyModel, load_body_model, shaped_vertices, skin

from .conftest import COMMITTED, random_motion, smplh_forward


@pytest.fixture(scope="module")
def open_body() -> BodyModel:
    return load_body_model(COMMITTED)


@pytest.fixture(params=["open body", "smplh file"])
def fingered(request, open_body, smplh_model) -> BodyModel:
    """The built-in body (thumb follows SMPL's hand joint from joint 2) and an SMPL-H file (from joint 1)."""
    return open_body if request.param == "open body" else smplh_model


def test_resting_fingers_equal_24_joint_skinning(fingered: BodyModel) -> None:
    """Any 24-joint pose, SMPL's hand joints included, fingers at zero: the same mesh as skin() to 1e-9 m."""
    poses, betas, transl = random_motion(fingered, 3, seed=11, scale=0.8)
    poses[:, list(HAND_SMPL_JOINTS)] = np.random.default_rng(4).normal(0.0, 1.0, (3, 2, 3))
    verts, joints = skin_with_hands(fingered, poses, np.zeros((3, 2, 15, 3)), betas, transl)
    ref_verts, ref_joints = skin(fingered, poses, betas, transl)
    np.testing.assert_allclose(verts, ref_verts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(joints[:, :NUM_SMPLH_BODY_JOINTS], ref_joints[:, :NUM_SMPLH_BODY_JOINTS], rtol=0,
                               atol=1e-12)
    assert joints.shape == (3, 52, 3)


def test_fingers_follow_the_hand_joint(open_body: BodyModel) -> None:
    """Turning SMPL's left hand joint turns the left finger joints about it; the built-in body's thumb base
    (thumb1, the wrist's in its 24-joint weights) and the right hand stay."""
    betas = np.zeros(10)
    rest24 = open_body.J_regressor @ open_body.v_template
    rest = np.concatenate([rest24[:NUM_SMPLH_BODY_JOINTS], hand_rest_joints(open_body, betas)])
    poses = np.zeros((1, 24, 3))
    poses[0, HAND_SMPL_JOINTS[0]] = [0.0, 0.0, 0.7]
    _, joints = skin_with_hands(open_body, poses, np.zeros((1, 2, 15, 3)), betas)
    c, s = np.cos(0.7), np.sin(0.7)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    centre = rest24[HAND_SMPL_JOINTS[0]]
    turned = [j for j in HAND_FINGER_JOINTS[0] if j != SMPLH_JOINT_INDEX["left_thumb1"]]
    np.testing.assert_allclose(joints[0, turned], (rest[turned] - centre) @ turn.T + centre, atol=1e-12)
    still = list(range(NUM_SMPLH_BODY_JOINTS)) + [SMPLH_JOINT_INDEX["left_thumb1"]] + list(HAND_FINGER_JOINTS[1])
    np.testing.assert_allclose(joints[0, still], rest[still], atol=1e-12)


def test_agrees_with_smplx_smplh(fingered: BodyModel) -> None:
    rng = np.random.default_rng(8)
    poses, betas, transl = random_motion(fingered, 3, seed=9)
    poses[:, 22:] = 0.0
    hand_poses = rng.normal(0.0, 0.5, (3, 2, 15, 3))
    verts, joints = skin_with_hands(fingered, poses, hand_poses, betas, transl)
    ref_verts, ref_joints = smplh_forward(fingered, poses, hand_poses, betas, transl)
    np.testing.assert_allclose(joints, ref_joints, rtol=0, atol=1e-6)
    np.testing.assert_allclose(verts, ref_verts, rtol=0, atol=1e-6)


def test_a_finger_pose_moves_that_finger_only(open_body: BodyModel) -> None:
    hand_poses = np.zeros((1, 2, 15, 3))
    hand_poses[0, 0, 1] = [0.0, 0.0, -1.2]   # left index2 (PIP) curls
    betas = np.zeros(10)
    verts, joints = skin_with_hands(open_body, np.zeros((1, 24, 3)), hand_poses, betas)
    rest = shaped_vertices(open_body, betas)
    moved = np.linalg.norm(verts[0] - rest, axis=1) > 1e-9
    weights = open_body.hands.weights
    index23 = weights[:, [SMPLH_JOINT_INDEX["left_index2"], SMPLH_JOINT_INDEX["left_index3"]]].sum(1)
    np.testing.assert_array_equal(moved, index23 > 0)
    assert np.linalg.norm(verts[0] - rest, axis=1).max() > 0.01
    index3 = SMPLH_JOINT_INDEX["left_index3"]
    rest_joints = np.concatenate([open_body.J_regressor[:NUM_SMPLH_BODY_JOINTS] @ rest,
                                  hand_rest_joints(open_body, betas)])
    unmoved = [j for j in range(52) if j != index3]
    np.testing.assert_allclose(joints[0, unmoved], rest_joints[unmoved], atol=1e-12)
    assert np.linalg.norm(joints[0, index3] - rest_joints[index3]) > 0.01


def test_hand_rest_joints(fingered: BodyModel) -> None:
    betas = np.linspace(-1.0, 1.0, fingered.num_betas)
    rest = hand_rest_joints(fingered, betas)
    assert rest.shape == (30, 3)
    np.testing.assert_allclose(rest, fingered.hands.J_regressor @ shaped_vertices(fingered, betas))
    _, joints = skin_with_hands(fingered, np.zeros((1, 24, 3)), np.zeros((1, 2, 15, 3)), betas)
    np.testing.assert_allclose(joints[0, NUM_SMPLH_BODY_JOINTS:], rest, atol=1e-12)


def test_models_without_fingers_and_bad_shapes(model_files, open_body: BodyModel) -> None:
    smpl = load_body_model(model_files["smpl-npz"])
    with pytest.raises(ValueError, match="no finger joints"):
        skin_with_hands(smpl, np.zeros((1, 24, 3)), np.zeros((1, 2, 15, 3)), np.zeros(10))
    with pytest.raises(ValueError, match="no finger joints"):
        hand_rest_joints(smpl, np.zeros(10))
    with pytest.raises(ValueError, match=r"hand_poses has shape \(1, 2, 5, 3\)"):
        skin_with_hands(open_body, np.zeros((1, 24, 3)), np.zeros((1, 2, 5, 3)), np.zeros(10))

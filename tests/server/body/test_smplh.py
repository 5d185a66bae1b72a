"""SMPL-H files (52 joints) read as their 24-joint view plus a HandRig (server/body/smplh.py, loaded by
server/body/model.py); SMPL files keep no fingers; SMPL-X files and broken hand arrays are refused clearly."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from server.body.layout import (HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, HAND_WRIST_JOINTS, NUM_SMPLH_BODY_JOINTS,
                                SMPL_PARENTS, SMPLH_JOINT_INDEX, SMPLH_PARENTS)
from server.body.model import BodyModel, load_body_model
from server.body.smplh import default_hand_entry, hand_joint_rows
from server.body.synthetic import synthetic_smpl_arrays
from server.errors import BODY_MODEL_HINT, BodyModelError

from .conftest import synthetic_smplh_arrays
from .official_files import write_official_pkl


def _knuckle_row(j52: np.ndarray, hand: int) -> np.ndarray:
    side = ("left", "right")[hand]
    knuckles = [SMPLH_JOINT_INDEX[f"{side}_{f}1"] for f in ("index", "middle", "ring", "pinky")]
    rows = [HAND_WRIST_JOINTS[hand]] + knuckles
    return 0.2 * j52[rows].sum(0)


def _check_view(model: BodyModel, arrays: Dict[str, np.ndarray]) -> None:
    """The 24-joint view and the HandRig of a loaded SMPL-H model against its file's arrays."""
    j52, w52 = arrays["J_regressor"].astype(np.float64), arrays["weights"].astype(np.float64)
    body = NUM_SMPLH_BODY_JOINTS
    assert tuple(model.parents) == SMPL_PARENTS and model.J_regressor.shape == (24, len(arrays["v_template"]))
    np.testing.assert_array_equal(model.J_regressor[:body], j52[:body])
    np.testing.assert_array_equal(model.weights[:, :body], w52[:, :body])
    for hand, column in enumerate(HAND_SMPL_JOINTS):
        np.testing.assert_allclose(model.J_regressor[column], _knuckle_row(j52, hand), rtol=0, atol=1e-15)
        np.testing.assert_allclose(model.weights[:, column], w52[:, list(HAND_FINGER_JOINTS[hand])].sum(1),
                                   rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.weights.sum(1), 1.0, atol=1e-6)
    assert model.hands is not None
    np.testing.assert_array_equal(model.hands.J_regressor, j52[body:])
    np.testing.assert_array_equal(model.hands.weights, w52)
    assert tuple(model.hands.parents) == SMPLH_PARENTS
    np.testing.assert_array_equal(model.hands.hand_entry, default_hand_entry())
    assert not model.hands.weights.flags.writeable


def test_smplh_npz_from_the_open_body(smplh_model: BodyModel, smplh_arrays, committed_arrays) -> None:
    _check_view(smplh_model, smplh_arrays)
    assert not smplh_model.has_pose_correctives and smplh_model.name == "smplh test"
    # the view's weights are the open body's, but for the thumb base, which SMPL-H gives to the hand column
    thumb1 = smplh_arrays["weights"][:, [SMPLH_JOINT_INDEX["left_thumb1"]]].astype(np.float64)[:, 0]
    np.testing.assert_allclose(smplh_model.weights[:, 20] + thumb1, committed_arrays["weights"][:, 20], atol=1e-7)
    # SMPL's hand joint as a share of the knuckles sits within 1 cm of the open body's own fitted one
    v = committed_arrays["v_template"]
    gap = np.linalg.norm(smplh_model.J_regressor[22:] @ v - committed_arrays["J_regressor"][22:] @ v, axis=1)
    assert gap.max() < 0.01


@pytest.mark.parametrize("kind", ["npz", "npz-flat-posedirs", "pkl"])
def test_official_like_smplh_files(tmp_path: Path, kind: str) -> None:
    """6890 vertices, pose correctives for 51 joints, MANO's PCA members; .npz (both posedirs layouts) and .pkl."""
    arrays = synthetic_smplh_arrays(6890, seed=4)
    path = tmp_path / ("SMPLH_male.pkl" if kind == "pkl" else "SMPLH_male.npz")
    if kind == "pkl":
        write_official_pkl(path, arrays)
    else:
        flat = arrays["posedirs"].reshape(-1, 459).T if kind == "npz-flat-posedirs" else arrays["posedirs"]
        np.savez(path, **dict(arrays, posedirs=flat))
    model = load_body_model(path)
    _check_view(model, arrays)
    np.testing.assert_allclose(model.weights, synthetic_smpl_arrays(num_vertices=6890, seed=4)["weights"],
                               rtol=0, atol=1e-12)   # the SMPL weights its hand columns were split from
    np.testing.assert_array_equal(model.posedirs[:, :, :189], arrays["posedirs"][:, :, :189])
    assert not model.posedirs[:, :, 189:].any() and model.posedirs.shape == (6890, 3, 207)
    assert model.landmark_regressor.shape == (33, 6890)


def test_smplh_without_posedirs(tmp_path: Path) -> None:
    arrays = synthetic_smplh_arrays(300, seed=5)
    np.savez(tmp_path / "smplh.npz", **{k: v for k, v in arrays.items() if k != "posedirs"})
    model = load_body_model(tmp_path / "smplh.npz")
    assert model.posedirs.shape == (300, 3, 207) and not model.has_pose_correctives and model.hands is not None


def test_smpl_files_have_no_fingers_and_the_open_body_has(body_model: BodyModel, model_files) -> None:
    if Path(body_model.source) == model_files["committed"]:
        assert body_model.hands is not None and body_model.hands.J_regressor.shape == (30, body_model.num_vertices)
        assert body_model.hands.hand_entry[:, -1].tolist() == [SMPLH_JOINT_INDEX["left_thumb2"],
                                                              SMPLH_JOINT_INDEX["right_thumb2"]]
    else:
        assert body_model.hands is None


def test_hand_joint_rows_are_a_fifth_of_wrist_and_knuckles() -> None:
    j52 = np.random.default_rng(0).uniform(size=(52, 7))
    rows = hand_joint_rows(j52)
    for hand in range(2):
        np.testing.assert_allclose(rows[hand], _knuckle_row(j52, hand))


def _edit(arrays: Dict[str, np.ndarray], **changes) -> Dict[str, np.ndarray]:
    kept = {k: v for k, v in arrays.items() if k not in changes}
    return {**kept, **{k: v for k, v in changes.items() if v is not None}}


def _smplx_like(a: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """SMPL-X's 55 joints (jaw and eyes after the neck's children, then the fingers)."""
    parents = list(SMPL_PARENTS[:22]) + [15, 15, 15] + [p if p < 22 else p + 3 for p in SMPLH_PARENTS[22:]]
    return _edit(a, kintree_table=np.array([parents, range(55)]), J_regressor=np.zeros((55, 300)),
                 weights=np.zeros((300, 55)))


BAD_SMPLH = {
    r"55 joints, an SMPL-X model, which is not supported: pick an SMPL \(24 joints\) or SMPL-H \(52 joints\) "
    r"file instead": _smplx_like,
    r"30 joints where SMPL has 24 and SMPL-H 52": lambda a: _edit(a, kintree_table=np.zeros((2, 30), np.int64)),
    r"52 joints but its kinematic tree is not SMPL-H's":
        lambda a: _edit(a, kintree_table=np.stack([np.arange(52) - 1, np.arange(52)])),
    r"'J_regressor' has shape \(24, 300\), expected \(52, 300\)":
        lambda a: _edit(a, J_regressor=a["J_regressor"][:24]),
    r"'weights' has shape \(300, 24\), expected \(300, 52\)": lambda a: _edit(a, weights=a["weights"][:, :24]),
    r"'posedirs' has shape \(300, 3, 207\), expected \(300, 3, 459\)":
        lambda a: _edit(a, posedirs=a["posedirs"][..., :207]),
}


@pytest.mark.parametrize("what", list(BAD_SMPLH))
def test_bad_smplh_and_smplx_files_say_what_to_do(tmp_path: Path, what: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **BAD_SMPLH[what](synthetic_smplh_arrays(300, seed=6)))
    with pytest.raises(BodyModelError, match=what) as err:
        load_body_model(path)
    assert "bad.npz is not a usable SMPL body model" in err.value.message
    if "joints" in what and "tree" not in what:
        assert "SMPL-H one (52 joints" in err.value.hint and "built-in open body" in err.value.hint
    else:
        assert err.value.hint == BODY_MODEL_HINT


BAD_HANDS = {
    "no 'hands_weights'": lambda a: _edit(a, hands_weights=None),
    r"'hands_J_regressor' has shape \(29, ": lambda a: _edit(a, hands_J_regressor=a["hands_J_regressor"][:29]),
    r"'hands_weights' has shape \(\d+, 24\)": lambda a: _edit(a, hands_weights=a["weights"]),
    "'hands_kintree_table' is not SMPL-H's": lambda a: _edit(a, hands_kintree_table=np.zeros((2, 52), np.int64)),
    r"'hands_entry' must name one joint of each of the 5 fingers":
        lambda a: _edit(a, hands_entry=a["hands_entry"] + 3),
}


@pytest.mark.parametrize("what", list(BAD_HANDS))
def test_broken_hand_arrays_are_refused(tmp_path: Path, committed_arrays, what: str) -> None:
    path = tmp_path / "broken.npz"
    np.savez(path, **BAD_HANDS[what](committed_arrays))
    with pytest.raises(BodyModelError, match=what):
        load_body_model(path)


def test_hands_entry_defaults_to_joint_1(tmp_path: Path, committed_arrays) -> None:
    np.savez(tmp_path / "no_entry.npz", **_edit(committed_arrays, hands_entry=None))
    model = load_body_model(tmp_path / "no_entry.npz")
    np.testing.assert_array_equal(model.hands.hand_entry, default_hand_entry())

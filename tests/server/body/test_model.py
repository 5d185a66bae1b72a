"""Body model files: loader round trips for every kind, SMPL landmarks from known vertices, numpy skinning
against smplx's own forward pass, and clear errors for files that are not SMPL models."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest

from server.body.layout import BLAZEPOSE_NAMES, JOINT_INDEX, SMPL_PARENTS
from server.body.model import (BodyModel, default_body_model_path, landmarks_from_vertices, load_body_model,
                               shaped_joints, shaped_vertices, skin)
from server.errors import BODY_MODEL_HINT, BodyModelError

from .conftest import random_motion, smplx_forward
from .official_files import FakeCsc, fake_official_modules


def test_every_kind_loads_well_formed(body_model: BodyModel) -> None:
    v = body_model.num_vertices
    assert body_model.v_template.shape == (v, 3) and body_model.J_regressor.shape == (24, v)
    assert body_model.posedirs.shape == (v, 3, 207) and body_model.weights.shape == (v, 24)
    assert body_model.landmark_regressor.shape == (33, v) and tuple(body_model.parents) == SMPL_PARENTS
    assert body_model.faces.min() >= 0 and body_model.faces.max() < v
    np.testing.assert_allclose(body_model.landmark_regressor.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(body_model.weights.sum(1), 1.0, atol=1e-5)
    assert not body_model.v_template.flags.writeable and Path(body_model.source).is_file()


def test_our_npz_round_trips(model_files: Dict[str, Path], open_arrays: Dict[str, np.ndarray]) -> None:
    model = load_body_model(model_files["open-npz"])
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "landmark_regressor"):
        np.testing.assert_array_equal(getattr(model, key), open_arrays[key], err_msg=key)
    np.testing.assert_array_equal(model.faces, open_arrays["f"])
    assert model.name == "synthetic body" and model.num_betas == 8 and model.has_pose_correctives


def test_official_pkl_and_npz_agree(model_files: Dict[str, Path], smpl_arrays: Dict[str, np.ndarray]) -> None:
    pkl, npz = load_body_model(model_files["smpl-pkl"]), load_body_model(model_files["smpl-npz"])
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "faces", "parents",
                "landmark_regressor"):
        np.testing.assert_array_equal(getattr(pkl, key), getattr(npz, key), err_msg=key)
    np.testing.assert_array_equal(pkl.J_regressor, smpl_arrays["J_regressor"])
    assert pkl.name == "basicModel_neutral_lbs_10_207_0_v1.0.0"


def test_smpl_landmarks_come_from_known_vertices(model_files: Dict[str, Path]) -> None:
    from smplx.vertex_ids import vertex_ids
    ids = vertex_ids["smplh"]
    model = load_body_model(model_files["smpl-npz"])
    reg = model.landmark_regressor
    row = {name: reg[i] for i, name in enumerate(BLAZEPOSE_NAMES)}
    for landmark, vertex in (("nose", "nose"), ("left_eye", "leye"), ("right_ear", "rear"),
                             ("left_heel", "LHeel"), ("right_foot_index", "RBigToe")):
        assert np.flatnonzero(row[landmark]).tolist() == [ids[vertex]] and row[landmark][ids[vertex]] == 1.0
    for joint in ("left_shoulder", "right_elbow", "left_wrist", "right_hip", "left_knee", "right_ankle"):
        np.testing.assert_array_equal(row[joint], model.J_regressor[JOINT_INDEX[joint]])
    assert row["left_eye_inner"][ids["leye"]] == 0.75 and row["left_eye_outer"][ids["reye"]] == -0.25
    assert row["left_index"][ids["lindex"]] == pytest.approx(0.3)


def test_smplx_posedirs_layout_and_missing_posedirs(tmp_path: Path, open_arrays: Dict[str, np.ndarray]) -> None:
    flat = dict(open_arrays, posedirs=open_arrays["posedirs"].reshape(-1, 207).T)
    np.savez(tmp_path / "flat.npz", **flat)
    np.testing.assert_array_equal(load_body_model(tmp_path / "flat.npz").posedirs, open_arrays["posedirs"])
    np.savez(tmp_path / "none.npz", **{k: v for k, v in open_arrays.items() if k != "posedirs"})
    model = load_body_model(tmp_path / "none.npz")
    assert not model.has_pose_correctives and model.posedirs.shape == (500, 3, 207)


def test_pickled_sparse_member_inside_npz(tmp_path: Path, smpl_arrays: Dict[str, np.ndarray]) -> None:
    """Some converted SMPL .npz files keep J_regressor as a pickled scipy matrix; read it safely."""
    with fake_official_modules():
        sparse = np.empty((), dtype=object)
        sparse[()] = FakeCsc(smpl_arrays["J_regressor"])
        np.savez(tmp_path / "obj.npz", **dict(smpl_arrays, J_regressor=sparse))
    model = load_body_model(tmp_path / "obj.npz")
    np.testing.assert_array_equal(model.J_regressor, smpl_arrays["J_regressor"])


def test_default_path_is_absolute_and_next_to_the_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    path = default_body_model_path()
    assert path.is_absolute() and path.parts[-4:] == ("server", "assets", "body", "open_body_neutral.npz")
    assert path == Path(__file__).resolve().parents[3] / "server" / "assets" / "body" / "open_body_neutral.npz"


def _edit(arrays: Dict[str, np.ndarray], **changes) -> Dict[str, np.ndarray]:
    out = dict(arrays)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


BAD_NPZ: Dict[str, Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]] = {
    "no 'v_template'": lambda a: _edit(a, v_template=None),
    "no 'J_regressor'": lambda a: _edit(a, J_regressor=None),
    r"'weights' has shape \(500, 23\)": lambda a: _edit(a, weights=a["weights"][:, :23]),
    r"'shapedirs' has shape \(500, 8\)": lambda a: _edit(a, shapedirs=a["shapedirs"][:, 0]),
    r"'posedirs' has shape \(500, 3, 200\)": lambda a: _edit(a, posedirs=a["posedirs"][..., :200]),
    "NaN": lambda a: _edit(a, v_template=np.full_like(a["v_template"], np.nan)),
    "faces refer to vertices": lambda a: _edit(a, f=a["f"] + 1000),
    "52 joints but its kinematic tree is not SMPL-H.s": lambda a: _edit(a, kintree_table=np.zeros((2, 52), np.int64)),
    "kinematic tree is not SMPL's": lambda a: _edit(a, kintree_table=np.stack([np.arange(24) - 1, np.arange(24)])),
    "no 'landmark_regressor' and 500 vertices": lambda a: _edit(a, landmark_regressor=None),
    "'v_template' holds text where numbers belong": lambda a: _edit(a, v_template=np.array(["a", "b", "c"])),
    "'weights' holds complex numbers": lambda a: _edit(a, weights=a["weights"].astype(complex)),
    r"'shapedirs' holds records \(a structured array\)": lambda a: _edit(a, shapedirs=np.zeros(3, [("x", "f4")])),
    "'f' must hold whole numbers": lambda a: _edit(a, f=a["f"] + 0.5),
    "'parents' holds text": lambda a: _edit(a, kintree_table=None, parents=np.array(["root"] * 24)),
}


@pytest.mark.parametrize("what", list(BAD_NPZ))
def test_bad_npz_says_what_is_wrong(tmp_path: Path, open_arrays: Dict[str, np.ndarray], what: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **BAD_NPZ[what](open_arrays))
    with pytest.raises(BodyModelError, match=what) as err:
        load_body_model(path)
    assert err.value.code == "bad_body_model" and err.value.hint == BODY_MODEL_HINT
    assert "bad.npz is not a usable SMPL body model" in err.value.message


@pytest.mark.parametrize("name, content, match", [
    ("notes.txt", b"hello, I am a text file\n", "neither an .npz archive nor an SMPL .pkl"),
    ("fake.npz", b"hello, I am a text file\n", "not a readable .npz archive"),
    ("fake.pkl", b"hello, I am a text file\n", "not a readable pickle"),
    ("random.npz", None, "no 'v_template' array"),
    ("empty.npz", b"", "empty"),
    ("empty.pkl", b"", "empty"),
    ("cut.pkl", b"\x80\x02}q\x00(X\x01", "not a readable pickle"),
    ("member.npz", "bad member", "member v_template.npy is not a numpy array"),
])
def test_files_that_are_not_models(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    path = tmp_path / name
    if content is None:
        np.savez(path, a=np.random.default_rng(0).normal(size=(4, 4)), b=np.arange(3))
    elif content == "bad member":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("v_template.npy", b"\x93NUMPY garbage")
    else:
        path.write_bytes(content)
    with pytest.raises(BodyModelError, match=match) as err:
        load_body_model(path)
    assert err.value.hint == BODY_MODEL_HINT and err.value.exit_code == 7 and name in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BodyModelError, match="does not exist"):
        load_body_model(tmp_path / "nowhere.pkl")


def test_shape_helpers(body_model: BodyModel) -> None:
    betas = np.linspace(-1.0, 1.0, body_model.num_betas)
    verts = shaped_vertices(body_model, betas)
    np.testing.assert_allclose(shaped_joints(body_model, betas), body_model.J_regressor @ verts)
    np.testing.assert_array_equal(shaped_vertices(body_model, np.zeros(2)), body_model.v_template)
    _, joints = skin(body_model, np.zeros((1, 24, 3)), betas)
    np.testing.assert_allclose(joints[0], shaped_joints(body_model, betas), atol=1e-12)
    with pytest.raises(ValueError, match="betas"):
        shaped_vertices(body_model, np.zeros(body_model.num_betas + 1))


def test_numpy_skinning_equals_smplx(body_model: BodyModel) -> None:
    poses, betas, transl = random_motion(body_model, 4, seed=5)
    verts, joints = skin(body_model, poses, betas, transl)
    ref_verts, ref_joints = smplx_forward(body_model, poses, betas, transl)
    # smplx's Rodrigues adds 1e-8 to every rotation vector, hence a 1e-6 m (not 1e-12) tolerance here.
    np.testing.assert_allclose(joints, ref_joints, rtol=0, atol=1e-6)
    np.testing.assert_allclose(verts, ref_verts, rtol=0, atol=1e-6)
    np.testing.assert_allclose(landmarks_from_vertices(body_model, verts),
                               landmarks_from_vertices(body_model, ref_verts), rtol=0, atol=1e-6)


class _Shell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_unsafe_pickled_member_inside_npz_is_refused(tmp_path: Path, open_arrays: Dict[str, np.ndarray]) -> None:
    marker = tmp_path / "pwned"
    member = np.empty((), dtype=object)
    member[()] = _Shell(marker)
    np.savez(tmp_path / "evil.npz", **dict(open_arrays, J_regressor=member, unused_extra=member))
    with pytest.raises(BodyModelError, match="system"):
        load_body_model(tmp_path / "evil.npz")
    assert not marker.exists()

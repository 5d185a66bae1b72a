"""Body-model fixtures: synthetic SMPL-format files of each kind, the committed open body, smplx's forward pass."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest

from server.body.layout import HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, NUM_SMPLH_BODY_JOINTS, SMPLH_PARENTS
from server.body.model import BodyModel, default_body_model_path, load_body_model
from server.body.synthetic import SMPL_ROOT_MARKER, synthetic_smpl_arrays

from .official_files import write_official_pkl

COMMITTED = default_body_model_path()
# The committed open body (built by scripts/build_body_model.py) is always one of the cases.
MODEL_KINDS = ["open-npz", "smpl-npz", "smpl-pkl", "committed"]


@pytest.fixture(scope="session")
def smpl_arrays() -> Dict[str, np.ndarray]:
    """Official-looking SMPL arrays: 6890 vertices (smplx's vertex ids in range), non-zero pose correctives."""
    return synthetic_smpl_arrays(num_vertices=6890, seed=1, pose_corrective_scale=0.02)


@pytest.fixture(scope="session")
def open_arrays() -> Dict[str, np.ndarray]:
    """Our own format: a non-SMPL vertex count with its own landmark regressor."""
    return synthetic_smpl_arrays(num_vertices=500, num_betas=8, seed=2, pose_corrective_scale=0.02,
                                 with_landmarks=True)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory, smpl_arrays, open_arrays) -> Dict[str, Path]:
    folder = tmp_path_factory.mktemp("body_models")
    files = {"open-npz": folder / "open_body.npz", "smpl-npz": folder / "SMPL_NEUTRAL.npz",
             "smpl-pkl": folder / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl", "committed": COMMITTED}
    np.savez(files["open-npz"], **open_arrays)
    np.savez(files["smpl-npz"], **smpl_arrays)
    write_official_pkl(files["smpl-pkl"], smpl_arrays, "py2")
    return files


@pytest.fixture(scope="session")
def committed_arrays() -> Dict[str, np.ndarray]:
    """Every member of the committed open body."""
    with np.load(COMMITTED, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def smplh_kintree() -> np.ndarray:
    """(2, 52) SMPL-H kinematic tree as the official files hold it (uint32, root marker)."""
    table = np.array([SMPLH_PARENTS, range(len(SMPLH_PARENTS))], dtype=np.int64)
    table[0, 0] = SMPL_ROOT_MARKER
    return table.astype(np.uint32)


def _mano_extras(rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """SMPL-H's PCA hand space members (the loader ignores them)."""
    return {"hands_componentsl": rng.normal(size=(45, 45)), "hands_componentsr": rng.normal(size=(45, 45)),
            "hands_meanl": rng.normal(size=45), "hands_meanr": rng.normal(size=45)}


@pytest.fixture(scope="session")
def smplh_arrays(committed_arrays) -> Dict[str, np.ndarray]:
    """An SMPL-H model (52 joints) made of the open body's arrays, with MANO's extras and no pose correctives."""
    body = committed_arrays
    return {"v_template": body["v_template"], "shapedirs": body["shapedirs"], "f": body["f"],
            "J_regressor": np.concatenate([body["J_regressor"][:NUM_SMPLH_BODY_JOINTS], body["hands_J_regressor"]]),
            "weights": body["hands_weights"], "kintree_table": smplh_kintree(),
            "landmark_regressor": body["landmark_regressor"], "name": np.array("smplh test"),
            **_mano_extras(np.random.default_rng(3))}


def synthetic_smplh_arrays(num_vertices: int, seed: int) -> Dict[str, np.ndarray]:
    """A random SMPL-H model: synthetic SMPL arrays whose hand columns are split at random among the 15 finger
    columns of that hand (so its 24-joint view has the SMPL weights back), random finger joint rows and random
    pose correctives (V, 3, 459)."""
    smpl = synthetic_smpl_arrays(num_vertices=num_vertices, seed=seed, with_landmarks=num_vertices != 6890)
    rng = np.random.default_rng(seed + 100)
    body = NUM_SMPLH_BODY_JOINTS
    weights = np.zeros((num_vertices, len(SMPLH_PARENTS)))
    weights[:, :body] = smpl["weights"][:, :body]
    for hand, column in enumerate(HAND_SMPL_JOINTS):
        weights[:, list(HAND_FINGER_JOINTS[hand])] = smpl["weights"][:, [column]] * rng.dirichlet(np.ones(15),
                                                                                                num_vertices)
    fingers = rng.uniform(0.0, 1.0, (30, num_vertices)) * (rng.uniform(size=(30, num_vertices)) < 0.02)
    out = {key: value for key, value in smpl.items() if key not in ("J", "weights_prior")}
    out.update(J_regressor=np.concatenate([smpl["J_regressor"][:body], fingers / fingers.sum(1, keepdims=True)]),
               weights=weights, kintree_table=smplh_kintree(), posedirs=rng.normal(0.0, 0.01, (num_vertices, 3, 459)),
               **_mano_extras(rng))
    return out


@pytest.fixture(scope="session")
def smplh_model(tmp_path_factory, smplh_arrays) -> BodyModel:
    """The SMPL-H model above, written as an .npz and loaded."""
    path = tmp_path_factory.mktemp("smplh") / "SMPLH_NEUTRAL.npz"
    np.savez(path, **smplh_arrays)
    return load_body_model(path)


_LOADED: Dict[str, BodyModel] = {}


@pytest.fixture(params=MODEL_KINDS)
def body_model(request, model_files) -> BodyModel:
    """Each kind of model file, loaded once per session."""
    if request.param not in _LOADED:
        _LOADED[request.param] = load_body_model(model_files[request.param])
    return _LOADED[request.param]


def random_motion(model: BodyModel, n: int, seed: int = 0,
                  scale: float = 0.6) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """poses (N, 24, 3) axis-angle, betas (B,), transl (N, 3) for equality tests."""
    rng = np.random.default_rng(seed)
    betas = rng.normal(0.0, 1.0, model.num_betas)
    betas[10:] = 0.0  # smplx keeps at most 10 betas of a model with fewer than 300
    return rng.normal(0.0, scale, (n, 24, 3)), betas, rng.normal(0.0, 1.0, (n, 3))


def smplx_forward(model: BodyModel, poses: np.ndarray, betas: np.ndarray,
                  transl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """smplx's own SMPL forward pass (float64) -> vertices (N, V, 3), joints (N, 24, 3).

    smplx 0.1.28's ``SMPL(model_path=...)`` unpickles whatever path it gets (an .npz cannot be read that
    way), so the model's arrays are handed over as its ``data_struct``, the same fields its loader produces.
    """
    import smplx
    import torch
    from smplx.utils import Struct
    from smplx.vertex_ids import vertex_ids

    kintree = np.stack([model.parents, np.arange(len(model.parents))])
    struct = Struct(v_template=model.v_template, shapedirs=model.shapedirs, posedirs=model.posedirs,
                    J_regressor=model.J_regressor, weights=model.weights, kintree_table=kintree, f=model.faces)
    # smplx appends extra joints at SMPL vertex ids; for other topologies point them at vertex 0 (unused here).
    ids = {key: 0 for key in vertex_ids["smplh"]} if model.num_vertices != 6890 else None
    body = smplx.SMPL(model_path="unused", data_struct=struct, num_betas=model.num_betas, dtype=torch.float64,
                      vertex_ids=ids)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    n = poses.shape[0]
    with torch.no_grad():
        out = body(betas=t(betas)[None].expand(n, -1), global_orient=t(poses[:, 0]),
                   body_pose=t(poses[:, 1:].reshape(n, -1)), transl=t(transl))
    return out.vertices.numpy(), out.joints[:, :24].numpy()


def smplh_forward(model: BodyModel, poses: np.ndarray, hand_poses: np.ndarray, betas: np.ndarray,
                  transl: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """smplx's own SMPLH forward pass (float64) on a model's body joints 0..21 and its HandRig.

    poses (N, 24, 3) (joints 22 and 23 must be zero: SMPL-H has no such joints), hand_poses (N, 2, 15, 3) ->
    vertices (N, V, 3), joints (N, 52, 3). Pose correctives: the model's body ones, none for the fingers.
    """
    import smplx
    import torch
    from smplx.utils import Struct
    from smplx.vertex_ids import vertex_ids

    assert model.hands is not None and not np.any(poses[:, 22:])
    j52 = np.concatenate([model.J_regressor[:NUM_SMPLH_BODY_JOINTS], model.hands.J_regressor])
    posedirs = np.zeros((model.num_vertices, 3, 459))
    posedirs[:, :, :189] = model.posedirs[:, :, :189]
    eye, zero = np.eye(45), np.zeros(45)
    struct = Struct(v_template=model.v_template, shapedirs=model.shapedirs, posedirs=posedirs, J_regressor=j52,
                    weights=model.hands.weights, kintree_table=smplh_kintree().astype(np.int64), f=model.faces,
                    hands_componentsl=eye, hands_componentsr=eye, hands_meanl=zero, hands_meanr=zero)
    ids = {key: 0 for key in vertex_ids["smplh"]} if model.num_vertices != 6890 else None
    body = smplx.SMPLH(model_path="unused", data_struct=struct, num_betas=model.num_betas, use_pca=False,
                       flat_hand_mean=True, dtype=torch.float64, vertex_ids=ids)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    n = poses.shape[0]
    with torch.no_grad():
        out = body(betas=t(betas)[None].expand(n, -1), global_orient=t(poses[:, 0]),
                   body_pose=t(poses[:, 1:NUM_SMPLH_BODY_JOINTS].reshape(n, -1)),
                   left_hand_pose=t(hand_poses[:, 0].reshape(n, -1)),
                   right_hand_pose=t(hand_poses[:, 1].reshape(n, -1)), transl=t(transl))
    return out.vertices.numpy(), out.joints[:, :52].numpy()

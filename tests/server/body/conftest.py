"""Body-model fixtures: synthetic SMPL-format files of each kind, the committed open body, smplx's forward pass."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest

from server.body.model import BodyModel, default_body_model_path, load_body_model
from server.body.synthetic import synthetic_smpl_arrays

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

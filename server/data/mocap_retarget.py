"""Orientation-transfer retargeting from any source skeleton to SMPL's 24 joints on our body.

Method (per frame t, per SMPL joint j driven by source joint s(j), see :mod:`.skeletons`):
1. World delta from the source's rest pose: ``D_j(t) = C G_s(t) G_s(rest)^T C^T``, where G are the source's
   global joint orientations and C turns source world axes into SMPL's canonical frame (y up, x = the body's
   left, z = front, read off the rest pose: up = the world axis nearest to pelvis->head, left = right hip ->
   left hip). Deltas are independent of how each rig orients its bone-local frames.
2. Rest-pose correction: ``Q_j = D_j(t) A_j`` with ``A_j`` the minimal rotation taking our body's T-pose bone
   direction of j onto the source's rest bone direction (arms-down or splayed-leg rests, bent spines).
3. SMPL locals ``L_j = Q_parent^T Q_j``; unmapped joints share or copy their parent (see skeletons.py).
Root translation: the source hip midpoint in metres-equivalent (scaled by the leg-length ratio body/source, so
strides fit our body's legs), placed where our body's hip midpoint is; then each clip is shifted vertically so
its feet stand on y = 0 (:func:`floor_offset`; the sources' own floors disagree by up to ~10 cm).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..body.layout import JOINT_INDEX, NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from ..body.rotations import (angle_between_vectors, forward_kinematics, normalize, rotation_between_vectors,
                              rotmat_to_rotvec, scale_rotmat)
from .skeleton_motion import Skeleton, SourceMotion
from .skeletons import SourceConfig

log = logging.getLogger(__name__)

# The child along the main chain (the bone a joint's rotation swings); None where there is no single one.
PRIMARY_CHILD: Tuple[Optional[int], ...] = tuple(
    None if j == 0 else JOINT_INDEX["neck"] if SMPL_JOINT_NAMES[j] == "spine3" else
    (lambda kids: kids[0] if len(kids) == 1 else None)([k for k, p in enumerate(SMPL_PARENTS) if p == j])
    for j in range(NUM_JOINTS))


@functools.lru_cache(maxsize=1)
def _body_model():
    from ..body.model import default_body_model_path, load_body_model
    return load_body_model(default_body_model_path())


@functools.lru_cache(maxsize=1)
def default_body_joints() -> np.ndarray:
    """(24, 3) our body's T-pose joints at zero betas (canonical frame, metres)."""
    model = _body_model()
    joints = model.J_regressor @ model.v_template
    joints.setflags(write=False)
    return joints


@functools.lru_cache(maxsize=1)
def default_foot_contact_height() -> float:
    """Height (m) of our body's foot (toe-base) joint above its sole when standing flat in the rest pose."""
    model = _body_model()
    joints = model.J_regressor @ model.v_template
    return float(joints[JOINT_INDEX["left_foot"], 1] - model.v_template[:, 1].min())


FLOOR_PERCENTILE = 5.0


def floor_offset(poses: np.ndarray, transl: np.ndarray, body_joints: Optional[np.ndarray] = None,
                 contact_height: Optional[float] = None) -> float:
    """Vertical shift (m) that puts a clip's feet on y = 0: the FLOOR_PERCENTILE-th percentile over frames of the
    lowest ankle/foot joint is brought to the height of a flat foot's toe-base joint. Subtract it from transl[:, 1].

    Sources disagree on where their floor is (Daz retargets of CMU keep CMU root heights on longer legs: feet up to
    9 cm under y = 0); a low percentile rather than the minimum ignores glitches, and climbing or jumping clips
    still have ground frames at that percentile.
    """
    body = default_body_joints() if body_joints is None else body_joints
    height = default_foot_contact_height() if contact_height is None else contact_height
    joints, _ = forward_kinematics(poses, body, SMPL_PARENTS)
    feet = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
    lowest = (joints[:, feet, 1] + transl[:, None, 1]).min(axis=1)
    return float(np.percentile(lowest, FLOOR_PERCENTILE) - height)


@dataclass(frozen=True)
class RestPose:
    """A source's rest: global rotations (S, 3, 3) and positions (S, 3) in its world frame and units."""

    rotations: np.ndarray
    positions: np.ndarray


def zero_rest(skeleton: Skeleton) -> RestPose:
    """The pose with every channel zero: identity rotations, accumulated offsets."""
    count = len(skeleton.names)
    return RestPose(np.broadcast_to(np.eye(3), (count, 3, 3)).copy(), skeleton.rest_positions())


def rest_from_frame(skeleton: Skeleton, reference: SourceMotion, frame: int = 0) -> RestPose:
    """The rest taken from one frame of a clip of the same rig, matched by joint name (joints the reference lacks,
    e.g. an extra export root, get identity/zero; they are never mapped)."""
    ref = reference.skeleton.index
    rot = np.broadcast_to(np.eye(3), (len(skeleton.names), 3, 3)).copy()
    pos = np.zeros((len(skeleton.names), 3))
    for i, name in enumerate(skeleton.names):
        if name in ref:
            rot[i] = reference.rotations[frame, ref[name]]
            pos[i] = reference.positions[frame, ref[name]]
    return RestPose(rot, pos)


@dataclass(frozen=True, eq=False)
class RetargetPlan:
    """Everything per (skeleton, config) the per-frame transfer needs.

    source (24,) source joint index driving each SMPL joint or -1; align (24, 3, 3) the A_j; canon (3, 3) source
    world -> canonical; rest_rot (S, 3, 3) source rest globals; scale body/source leg length; hips (2,) source
    indices of the left/right hip joints; body_joints (24, 3).
    """

    config: SourceConfig
    source: np.ndarray
    align: np.ndarray
    canon: np.ndarray
    rest_rot: np.ndarray
    scale: float
    hips: Tuple[int, int]
    body_joints: np.ndarray
    bone_ends: Dict[int, Tuple[int, int, int]]


def _canonical_axes(rest: RestPose, idx: Dict[str, int]) -> np.ndarray:
    """(3, 3) C with rows (left, up, front) in source world coordinates; up snapped to the nearest world axis."""
    hips = rest.positions[idx["left_hip"]], rest.positions[idx["right_hip"]]
    top = rest.positions[idx["neck"] if "neck" in idx else idx["spine3"]]
    rise = top - 0.5 * (hips[0] + hips[1])
    axis = int(np.argmax(np.abs(rise)))
    up = np.zeros(3)
    up[axis] = np.sign(rise[axis])
    left = hips[0] - hips[1]
    left = normalize(left - np.dot(left, up) * up)
    return np.stack([left, up, np.cross(left, up)])


def _first_mapped_descendant(j: int, mapped: Dict[str, str]) -> Optional[int]:
    child = PRIMARY_CHILD[j]
    while child is not None and SMPL_JOINT_NAMES[child] not in mapped:
        child = PRIMARY_CHILD[child]
    return child


def _bone_ends(cfg: SourceConfig, idx: Dict[str, int]) -> Dict[int, Tuple[int, int, int]]:
    """SMPL joint j -> (SMPL joint ending j's bone, source start joint, source end joint) for every mapped j
    with a defined bone (a mapped descendant on the main chain, or an ``ends`` entry)."""
    out = {}
    for name, src in cfg.joint_map.items():
        j = JOINT_INDEX[name]
        d = _first_mapped_descendant(j, cfg.joint_map)
        if d is not None:
            out[j] = (d, idx[src], idx[cfg.joint_map[SMPL_JOINT_NAMES[d]]])
        elif name in cfg.ends and (child := PRIMARY_CHILD[j]) is not None:
            out[j] = (child, idx[src], idx[cfg.ends[name]])
    return out


def _leg_length(points: np.ndarray) -> float:
    """(3, 3) hip, knee, ankle -> summed segment length."""
    return float(np.linalg.norm(points[1] - points[0]) + np.linalg.norm(points[2] - points[1]))


def make_plan(skeleton: Skeleton, cfg: SourceConfig, rest: RestPose,
              body_joints: Optional[np.ndarray] = None) -> RetargetPlan:
    """Precomputes the transfer for one rig. Raises ValueError naming a mapped joint the skeleton lacks."""
    body = default_body_joints() if body_joints is None else np.asarray(body_joints, dtype=np.float64)
    idx = skeleton.index
    missing = sorted(set(cfg.joint_map.values()) - set(idx))
    if missing:
        raise ValueError(f"{cfg.name}: skeleton lacks mapped joints {missing}")
    named = {smpl: idx[src] for smpl, src in cfg.joint_map.items()}
    canon = _canonical_axes(rest, {k: v for k, v in named.items()})
    source = np.full(NUM_JOINTS, -1, dtype=np.int64)
    for smpl, s in named.items():
        source[JOINT_INDEX[smpl]] = s
    ends = _bone_ends(cfg, idx)
    align = np.broadcast_to(np.eye(3), (NUM_JOINTS, 3, 3)).copy()
    for j, (d, s0, s1) in ends.items():
        align[j] = rotation_between_vectors(body[d] - body[j], canon @ (rest.positions[s1] - rest.positions[s0]))
    legs = [_leg_length(rest.positions[[named[f"{side}_hip"], named[f"{side}_knee"], named[f"{side}_ankle"]]])
            for side in ("left", "right")]
    body_leg = _leg_length(body[[JOINT_INDEX["left_hip"], JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"]]])
    scale = body_leg / max(float(np.mean(legs)), 1e-9)
    log.debug("%s: source leg %.3f m (at %.4g m/unit), scale %.4f", cfg.name, np.mean(legs) * cfg.metres_per_unit,
              cfg.metres_per_unit, scale)
    return RetargetPlan(cfg, source, align, canon, rest.rotations.copy(), scale,
                        (named["left_hip"], named["right_hip"]), body, ends)


def _globals(motion: SourceMotion, plan: RetargetPlan) -> np.ndarray:
    """(T, 24, 3, 3) SMPL global orientations Q in the canonical frame (see the module doc)."""
    t = motion.num_frames
    q = np.empty((t, NUM_JOINTS, 3, 3))
    done = np.zeros(NUM_JOINTS, dtype=bool)
    c = plan.canon
    for j in np.flatnonzero(plan.source >= 0):
        s = plan.source[j]
        delta = c @ motion.rotations[:, s] @ plan.rest_rot[s].T @ c.T
        q[:, j] = delta @ plan.align[j]
        done[j] = True
    if not done[0]:
        raise ValueError(f"{plan.config.name}: the pelvis must be mapped")
    for j in range(1, NUM_JOINTS):
        if done[j]:
            continue
        parent = q[:, SMPL_PARENTS[j]]
        fraction = plan.config.shares.get(SMPL_JOINT_NAMES[j])
        d = _first_mapped_descendant(j, plan.config.joint_map)
        if fraction is not None and d is not None:
            q[:, j] = parent @ scale_rotmat(np.swapaxes(parent, -1, -2) @ q[:, d], np.full(t, fraction))
        else:
            q[:, j] = parent
        done[j] = True
    return q


def retarget(motion: SourceMotion, plan: RetargetPlan) -> Tuple[np.ndarray, np.ndarray]:
    """A source clip -> SMPL poses (T, 24, 3) axis-angle (poses[:, 0] global orientation, canonical y-up frame)
    and root translation (T, 3) in metres, at the source's frame rate."""
    q = _globals(motion, plan)
    local = np.empty_like(q)
    local[:, 0] = q[:, 0]
    for j in range(1, NUM_JOINTS):
        local[:, j] = np.swapaxes(q[:, SMPL_PARENTS[j]], -1, -2) @ q[:, j]
    poses = rotmat_to_rotvec(local)
    body = plan.body_joints
    hip_mid_src = 0.5 * (motion.positions[:, plan.hips[0]] + motion.positions[:, plan.hips[1]])
    target = plan.scale * hip_mid_src @ plan.canon.T
    body_mid = 0.5 * (body[JOINT_INDEX["left_hip"]] + body[JOINT_INDEX["right_hip"]])
    pelvis = target - np.einsum("tab,b->ta", q[:, 0], body_mid - body[0])
    return poses, pelvis - body[0]


def bone_direction_errors(motion: SourceMotion, plan: RetargetPlan, poses: np.ndarray) -> Dict[str, np.ndarray]:
    """Per mapped bone 'smpl_joint->smpl_end': (T,) angles in degrees between the source bone direction (in the
    canonical frame) and the same bone of our body posed with ``poses`` (T, 24, 3)."""
    joints, _ = forward_kinematics(poses, plan.body_joints, SMPL_PARENTS)
    out = {}
    for j, (d, s0, s1) in sorted(plan.bone_ends.items()):
        src = (motion.positions[:, s1] - motion.positions[:, s0]) @ plan.canon.T
        ours = joints[:, d] - joints[:, j]
        out[f"{SMPL_JOINT_NAMES[j]}->{SMPL_JOINT_NAMES[d]}"] = np.degrees(angle_between_vectors(src, ours))
    return out


def bone_groups(errors: Dict[str, np.ndarray]) -> Dict[str, List[str]]:
    """Bone names grouped for the report: legs, arms, spine/neck, collars, feet/hands."""
    groups: Dict[str, List[str]] = {"legs": [], "arms": [], "spine": [], "collars": [], "feet_hands": []}
    for name in errors:
        start = name.split("->")[0]
        key = ("legs" if start.endswith(("hip", "knee")) else "arms" if start.endswith(("shoulder", "elbow"))
               else "collars" if start.endswith("collar") else "feet_hands" if start.endswith(("ankle", "wrist"))
               else "spine")
        groups[key].append(name)
    return groups

"""Retarget: our own skeleton round-trips exactly; rest-pose corrections; resampling; mirroring."""
from __future__ import annotations

import numpy as np
import pytest

from server.body.layout import JOINT_INDEX, SMPL_JOINT_NAMES, SMPL_PARENTS
from server.body.rotations import (euler_to_rotmat, forward_kinematics, rotmat_to_rotvec, rotvec_to_rotmat,
                                   rotmat_about_axis)
from server.data.bvh import bvh_motion, parse_bvh
from server.data.skeleton_motion import SourceMotion
from server.data.poses import MIRROR_INDEX, mirror_poses, mirror_transl, resample_poses, resample_times
from server.data.mocap_retarget import bone_direction_errors, default_body_joints, make_plan, retarget, zero_rest
from server.data.skeletons import SourceConfig

from .synthetic_bvh import smpl_bvh_text

IDENTITY_MAP = SourceConfig(name="smpl_as_bvh", joint_map={n: n for n in SMPL_JOINT_NAMES}, metres_per_unit=0.01)


def _rest_joints() -> np.ndarray:
    """Our body's T-pose joints (24, 3), metres, y up, facing +z."""
    return default_body_joints()


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(rotmat_to_rotvec(np.swapaxes(a, -1, -2) @ b), axis=-1)


@pytest.mark.parametrize("order", ["ZXY", "ZYX"])
def test_own_skeleton_round_trips(order):
    rest = _rest_joints()
    rng = np.random.default_rng(1)
    frames = 5
    angles = rng.uniform(-60, 60, size=(frames, 24, 3))
    root = rest[0] * 100 + rng.uniform(-50, 50, size=(frames, 3))
    motion = bvh_motion(parse_bvh(smpl_bvh_text(rest, angles, root, order=order)))
    plan = make_plan(motion.skeleton, IDENTITY_MAP, zero_rest(motion.skeleton), rest)
    np.testing.assert_allclose(plan.canon, np.eye(3), atol=1e-12)
    assert plan.scale == pytest.approx(0.01, rel=1e-6)
    poses, transl = retarget(motion, plan)
    expected = euler_to_rotmat(np.radians(angles), order)
    assert _angle(rotvec_to_rotmat(poses), expected).max() < 1e-4
    np.testing.assert_allclose(transl, root / 100 - rest[0], atol=1e-5)
    errors = bone_direction_errors(motion, plan, poses)
    assert max(e.max() for e in errors.values()) < 1e-3


def _rotated_rest_motion(rest: np.ndarray, world: np.ndarray, arm_down: bool) -> SourceMotion:
    """A synthetic source whose world is ``world`` @ canonical and whose rest has the arms hanging down."""
    from server.data.skeleton_motion import Skeleton
    pos = rest.copy()
    if arm_down:
        for side, sign in (("left", 1.0), ("right", -1.0)):
            sh = pos[JOINT_INDEX[f"{side}_shoulder"]]
            for k, name in enumerate((f"{side}_elbow", f"{side}_wrist", f"{side}_hand")):
                length = np.linalg.norm(rest[JOINT_INDEX[name]] - rest[JOINT_INDEX[f"{side}_shoulder"]])
                pos[JOINT_INDEX[name]] = sh + np.array([0, -length, 0])
    offsets = np.array([pos[j] - (pos[p] if p >= 0 else 0) for j, p in enumerate(SMPL_PARENTS)])
    skeleton = Skeleton(SMPL_JOINT_NAMES, SMPL_PARENTS, offsets @ world.T)
    rots = np.broadcast_to(np.eye(3), (1, 24, 3, 3)).copy()
    return SourceMotion(skeleton, rots, skeleton.rest_positions()[None], 30.0)


def test_rest_pose_differences_are_corrected():
    """A source standing in its arms-down rest in a z-up world: our body stands upright, facing +z, arms down."""
    rest = _rest_joints()
    world = rotmat_about_axis(0, np.pi / 2)  # canonical y-up -> a z-up world
    motion = _rotated_rest_motion(rest, world, arm_down=True)
    plan = make_plan(motion.skeleton, IDENTITY_MAP, zero_rest(motion.skeleton), rest)
    np.testing.assert_allclose(plan.canon, world.T, atol=1e-9)
    poses, _ = retarget(motion, plan)
    errors = bone_direction_errors(motion, plan, poses)
    assert max(e.max() for e in errors.values()) < 1e-6
    assert np.abs(poses[0, 0]).max() < 1e-9                                  # upright, facing +z
    legs = [JOINT_INDEX[n] for n in ("left_hip", "left_knee", "right_hip", "right_knee")]
    assert np.abs(poses[0, legs]).max() < 1e-9                               # same rest legs: untouched
    shoulder = poses[0, JOINT_INDEX["left_shoulder"]]                        # arm lowered about the front axis
    np.testing.assert_allclose(np.linalg.norm(shoulder), np.pi / 2, atol=0.02)
    assert shoulder[2] < -1.5


def test_resampling_keeps_endpoints_and_slerps():
    rng = np.random.default_rng(2)
    poses = rng.normal(scale=0.5, size=(121, 24, 3))
    transl = rng.normal(size=(121, 3))
    out, out_t = resample_poses(poses, transl, 120.0, 30.0)
    assert out.shape == (31, 24, 3) and out_t.shape == (31, 3)
    assert _angle(rotvec_to_rotmat(out[[0, -1]]), rotvec_to_rotmat(poses[[0, -1]])).max() < 1e-9
    assert _angle(rotvec_to_rotmat(out[::5]), rotvec_to_rotmat(poses[::20])).max() < 1e-9
    np.testing.assert_allclose(out_t[-1], transl[-1])
    # 25 -> 30 fps: an in-between frame is the halfway slerp / lerp of its neighbours.
    a, b = rotvec_to_rotmat(np.zeros(3)), np.array([0.0, 0.0, 1.0])
    seq = np.stack([np.zeros((24, 3)), np.tile(b, (24, 1))])
    mid, mid_t = resample_poses(seq, np.array([[0, 0, 0], [1, 0, 0.0]]), 1.0, 2.0)
    np.testing.assert_allclose(mid[1], np.tile(b / 2, (24, 1)), atol=1e-9)
    np.testing.assert_allclose(mid_t[1], [0.5, 0, 0])
    assert len(resample_times(10, 24.0, 30.0)) == 12 and len(resample_times(1, 24.0)) == 1
    assert a.shape == (3, 3)


def test_mirroring_twice_is_identity_and_swaps_sides():
    rng = np.random.default_rng(3)
    poses = rng.normal(scale=0.7, size=(4, 24, 3))
    transl = rng.normal(size=(4, 3))
    np.testing.assert_allclose(mirror_poses(mirror_poses(poses)), poses)
    np.testing.assert_allclose(mirror_transl(mirror_transl(transl)), transl)
    assert MIRROR_INDEX[JOINT_INDEX["left_elbow"]] == JOINT_INDEX["right_elbow"]
    assert MIRROR_INDEX[JOINT_INDEX["spine2"]] == JOINT_INDEX["spine2"]


def test_mirrored_pose_is_the_reflected_body():
    rest = _rest_joints()
    sym = 0.5 * (rest + rest[list(MIRROR_INDEX)] * np.array([-1.0, 1.0, 1.0]))  # exactly symmetric
    rng = np.random.default_rng(4)
    poses = rng.normal(scale=0.5, size=(3, 24, 3))
    joints, _ = forward_kinematics(poses, sym, SMPL_PARENTS)
    mirrored, _ = forward_kinematics(mirror_poses(poses), sym, SMPL_PARENTS)
    reflected = joints[:, list(MIRROR_INDEX)] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored, reflected, atol=1e-9)

"""DeepMimic reader: character offsets, quaternion order, revolute joints, frame rate; the real files if present."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from server.body.rotations import quat_wxyz_to_rotmat, rotmat_about_axis
from server.data.deepmimic import DeepMimicError, parse_character, parse_motion, read_character, read_motion

CHARACTER = json.dumps({"Skeleton": {"Joints": [
    {"ID": 0, "Name": "root", "Type": "none", "Parent": -1, "AttachX": 0, "AttachY": 0, "AttachZ": 0},
    {"ID": 1, "Name": "right_hip", "Type": "spherical", "Parent": 0, "AttachX": 0, "AttachY": 0, "AttachZ": 0.1},
    {"ID": 2, "Name": "right_knee", "Type": "revolute", "Parent": 1, "AttachX": 0, "AttachY": -0.4, "AttachZ": 0},
    {"ID": 3, "Name": "right_ankle", "Type": "fixed", "Parent": 2, "AttachX": 0, "AttachY": -0.4, "AttachZ": 0},
]}})


def _frame(dt=1 / 30, pos=(1.0, 0.9, 2.0), root=(1, 0, 0, 0), hip=(1, 0, 0, 0), knee=0.0):
    return [dt, *pos, *root, *hip, knee]


def test_character_and_end_sites():
    skeleton, types = parse_character(CHARACTER)
    assert types == ("none", "spherical", "revolute", "fixed")
    assert skeleton.names[:4] == ("root", "right_hip", "right_knee", "right_ankle")
    assert "right_ankle_end" in skeleton.names and "left_ankle_end" not in skeleton.names
    np.testing.assert_allclose(skeleton.rest_positions()[3], [0, -0.8, 0.1])


def test_quaternions_are_wxyz_and_knees_turn_about_z():
    skeleton, types = parse_character(CHARACTER)
    half = np.sqrt(0.5)
    frames = [_frame(), _frame(root=(half, 0, half, 0), knee=-0.5)]    # root: 90 degrees about +y
    motion = parse_motion(json.dumps({"Loop": "none", "Frames": frames}), skeleton, types)
    assert motion.fps == pytest.approx(30.0)
    np.testing.assert_allclose(motion.positions[0, 0], [1.0, 0.9, 2.0])
    np.testing.assert_allclose(motion.rotations[1, 0], quat_wxyz_to_rotmat(np.array([half, 0, half, 0])))
    np.testing.assert_allclose(motion.rotations[1, 0] @ [0, 0, 1.0], [1, 0, 0], atol=1e-12)
    knee_local = np.swapaxes(motion.rotations[1, 1], -1, -2) @ motion.rotations[1, 2]
    np.testing.assert_allclose(knee_local, rotmat_about_axis(2, -0.5), atol=1e-12)
    # A negative knee angle swings the shin backward (-x, the body faces +x).
    shin = np.swapaxes(motion.rotations[1, 0], -1, -2) @ (motion.positions[1, 3] - motion.positions[1, 2])
    assert shin[0] < -0.1


def test_malformed_motion_raises():
    skeleton, types = parse_character(CHARACTER)
    with pytest.raises(DeepMimicError):
        parse_motion(json.dumps({"Frames": [[0.03, 1, 2]]}), skeleton, types)
    with pytest.raises(DeepMimicError):
        parse_character("{}")


MOCAP = Path(os.environ.get("SCOREHMR_MOCAP", Path.home() / ".cache" / "blender_scorehmr" / "mocap"))
REAL_CHARACTER = MOCAP / "cmu_jump_arpspoof" / "data" / "characters" / "humanoid3d.txt"
REAL_CLIP = MOCAP / "cmu_jump_arpspoof" / "data" / "vae" / "txt" / "cmu01-09" / "09" / "09_02.txt"


@pytest.mark.skipif(not (REAL_CHARACTER.is_file() and REAL_CLIP.is_file()), reason="mocap archive not unpacked")
def test_real_humanoid3d_clip_retargets_upright():
    """Optional check on the unpacked archive: a real CMU run clip reads at 30 fps and stands on y = 0."""
    from server.data.mocap_retarget import make_plan, retarget, zero_rest
    from server.data.skeletons import DEEPMIMIC, config_for_skeleton

    skeleton, types = read_character(REAL_CHARACTER)
    motion = read_motion(REAL_CLIP, skeleton, types)
    assert motion.fps == pytest.approx(30.0) and config_for_skeleton(skeleton) is DEEPMIMIC
    plan = make_plan(skeleton, DEEPMIMIC, zero_rest(skeleton))
    np.testing.assert_allclose(plan.canon, [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-9)   # faces +x, y up
    poses, transl = retarget(motion, plan)
    assert np.all(np.isfinite(poses)) and 0.7 < np.median(transl[:, 1]) < 1.2

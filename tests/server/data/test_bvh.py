"""BVH reader: hierarchy, channel orders against hand-built rotations, position channels, forward kinematics."""
from __future__ import annotations

import numpy as np
import pytest

from server.data.bvh import BvhError, bvh_motion, local_transforms, parse_bvh

TWO_JOINTS = """HIERARCHY
ROOT hips
{
  OFFSET 0 10 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT arm
  {
    OFFSET 2 0 0
    CHANNELS 3 {order}
    End Site
    {
      OFFSET 3 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 2 3 0 0 0 {angles0}
0 0 0 90 0 0 0 0 0
"""


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


HAND = {"X": _rx, "Y": _ry, "Z": _rz}


def _text(order: str, angles=(10.0, 20.0, 30.0)) -> str:
    channels = " ".join(f"{a}rotation" for a in order)
    return TWO_JOINTS.replace("{order}", channels).replace("{angles0}", " ".join(str(a) for a in angles))


def test_hierarchy_and_motion():
    bvh = parse_bvh(_text("ZXY"))
    assert bvh.skeleton.names == ("hips", "arm", "arm_end")
    assert bvh.skeleton.parents == (-1, 0, 1)
    np.testing.assert_allclose(bvh.skeleton.offsets, [[0, 10, 0], [2, 0, 0], [3, 0, 0]])
    assert bvh.channels[2] == () and bvh.columns == (0, 6, 9)
    assert bvh.data.shape == (2, 9) and bvh.frame_time == pytest.approx(1 / 30, rel=1e-5)


@pytest.mark.parametrize("order", ["ZXY", "ZYX", "XYZ", "YXZ"])
def test_rotation_orders_match_hand_built_matrices(order):
    angles = (10.0, -35.0, 70.0)
    rot, _ = local_transforms(parse_bvh(_text(order, angles)))
    expected = np.eye(3)
    for axis, a in zip(order, angles):
        expected = expected @ HAND[axis](np.radians(a))
    np.testing.assert_allclose(rot[0, 1], expected, atol=1e-12)


def test_root_position_adds_to_offset_and_forward_kinematics():
    motion = bvh_motion(parse_bvh(_text("ZXY", (0.0, 0.0, 0.0))))
    np.testing.assert_allclose(motion.positions[0, 0], [1, 12, 3])          # OFFSET (0, 10, 0) + channels
    np.testing.assert_allclose(motion.positions[0, 2], [6, 12, 3])
    # frame 1: root turned 90 degrees about z -> the arm (along +x) now points along +y.
    np.testing.assert_allclose(motion.positions[1, 1], [0, 12, 0], atol=1e-9)
    np.testing.assert_allclose(motion.positions[1, 2], [0, 15, 0], atol=1e-9)
    np.testing.assert_allclose(motion.rotations[1, 2], _rz(np.pi / 2), atol=1e-12)
    assert motion.fps == pytest.approx(30.0, rel=1e-5)


def test_position_channels_on_a_child_replace_its_offset():
    text = _text("ZXY").replace("CHANNELS 3 Zrotation", "CHANNELS 6 Xposition Yposition Zposition Zrotation")
    text = text.replace("1 2 3 0 0 0 10.0", "1 2 3 0 0 0 0 5 0 10.0").replace("0 0 0 90 0 0 0 0 0",
                                                                           "0 0 0 90 0 0 0 5 0 0 0 0")
    motion = bvh_motion(parse_bvh(text))
    np.testing.assert_allclose(motion.positions[0, 1] - motion.positions[0, 0], [0, 5, 0], atol=1e-9)


@pytest.mark.parametrize("bad", ["HIERARCHY\nROOT a\n{\nOFFSET 0 0\n", "no hierarchy MOTION Frames: 1",
                                 TWO_JOINTS.replace("{order}", "Zrotation Xrotation Yrotation").replace(
                                     "{angles0}", "1")])
def test_malformed_files_raise(bad):
    with pytest.raises(BvhError):
        parse_bvh(bad)

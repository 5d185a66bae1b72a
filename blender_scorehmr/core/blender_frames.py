"""Rotation conventions of the add-on (no bpy).

The rotation helpers themselves are the worker's numpy-only ``server.body.rotations`` (bundled inside the
add-on), so there is one implementation of each conversion; this module adds the two changes of basis
between SMPL/camera frames and Blender. Matrices act on column vectors; quaternions are WXYZ.
"""
from __future__ import annotations

import numpy as np

from ..server.body.rotations import quat_sign_continuous, rotmat_to_quat_wxyz, rotvec_to_rotmat

__all__ = ["SMPL_TO_ARMATURE", "CAMERA_TO_WORLD", "quat_sign_continuous", "rotmat_to_quat_wxyz", "rotvec_to_rotmat"]

# SMPL canonical (x left, y up, z front) -> Blender armature space: (x, -z, y).
SMPL_TO_ARMATURE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# OpenCV camera (x right, y down, z forward) -> Blender world: (x, z, -y).
CAMERA_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

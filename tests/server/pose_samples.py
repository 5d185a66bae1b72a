"""Random plausible SMPL poses for the solver's round-trip tests (numpy only).

The poses lie in the subspace the analytic solve can identify from BlazePose's 33 landmarks: the spine's rotation
is shared evenly by spine1..3 and has no forward-bend part (that is carried by the pelvis), collars are identity,
neck and head share one rotation, and the ankle has no inversion/eversion (the shin stays in the foot's sagittal
plane). Everything else (global orientation, hips, knees incl. off-hinge wobble, shoulders, elbows, wrists, toes
and hands) is random.
"""
from __future__ import annotations

import numpy as np

from server.body.layout import JOINT_INDEX as J
from server.body.rotations import rotmat_to_rotvec, rotvec_to_rotmat

# SMPL's canonical frame (y up, z front) seen by a camera the person faces: x stays, y and z flip.
FACING_CAMERA = np.array([np.pi, 0.0, 0.0])


def _axis_rotvec(axis: int, angles: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N, 3) rotation vectors about one coordinate axis."""
    out = np.zeros((len(angles), 3))
    out[:, axis] = angles
    return out


def random_plausible_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    """-> (n, 24, 3) axis-angle poses, global orientation into an OpenCV camera the body roughly faces."""
    p = np.zeros((n, 24, 3))
    wobble = rotvec_to_rotmat(rng.normal(size=(n, 3)) * np.array([0.4, 1.5, 0.3]))
    p[:, 0] = rotmat_to_rotvec(rotvec_to_rotmat(FACING_CAMERA) @ wobble)
    spine = rng.normal(size=(n, 3)) * 0.25
    spine[:, 0] = 0.0
    for name in ("spine1", "spine2", "spine3"):
        p[:, J[name]] = spine / 3.0
    head = rng.normal(size=(n, 3)) * 0.3
    p[:, J["neck"]] = p[:, J["head"]] = head / 2.0
    for name in ("left_hip", "right_hip", "left_shoulder", "right_shoulder", "left_wrist", "right_wrist",
                 "left_foot", "right_foot", "left_hand", "right_hand"):
        p[:, J[name]] = rng.normal(size=(n, 3)) * 0.5
    for side in ("left", "right"):
        knee = _axis_rotvec(0, rng.uniform(0.0, 2.2, n))
        knee[:, 1:] = rng.normal(size=(n, 2)) * 0.1
        p[:, J[f"{side}_knee"]] = knee
        sign = -1.0 if side == "left" else 1.0
        p[:, J[f"{side}_elbow"]] = _axis_rotvec(1, sign * rng.uniform(0.0, 2.3, n))
        twist = rotvec_to_rotmat(_axis_rotvec(1, rng.normal(size=n) * 0.4))
        flex = rotvec_to_rotmat(_axis_rotvec(0, rng.normal(size=n) * 0.5))
        p[:, J[f"{side}_ankle"]] = rotmat_to_rotvec(twist @ flex)
    return p

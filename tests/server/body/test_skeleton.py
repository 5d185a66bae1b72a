"""Rest skeleton: template proportions, measuring a clip, and the landmark forward model."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from server.body.layout import JOINT_INDEX as J
from server.body.layout import LANDMARK_INDEX as L
from server.body.layout import SMPL_PARENTS
from server.body.rotations import forward_kinematics
from server.body.skeleton import (TEMPLATE, build_rest_skeleton, landmarks_from_joints, measure_body,
                                  rest_landmarks, rest_skeleton, sole_height, world_landmarks_from_poses)

from ..pose_samples import random_plausible_poses


def test_template_is_an_upright_t_pose_of_about_170_cm() -> None:
    rest = build_rest_skeleton()
    assert rest.shape == (24, 3) and rest.dtype == np.float32
    lm = rest_landmarks(rest)
    height = lm[:, 1].max() + 0.14 - sole_height(rest)  # nose/eyes to the crown is ~14 cm
    assert 1.62 < height < 1.78
    # x = body's left, arms horizontal, feet forward (+z), symmetric.
    assert rest[J["left_wrist"], 0] > 0.5 and abs(rest[J["left_wrist"], 1] - rest[J["left_shoulder"], 1]) < 1e-6
    assert lm[L["left_foot_index"], 2] > lm[L["left_heel"], 2] and lm[L["nose"], 2] > rest[J["head"], 2]
    mirrored = rest * np.array([-1.0, 1.0, 1.0])
    for name, i in J.items():
        if name.startswith("left"):
            assert np.allclose(mirrored[i], rest[J[name.replace("left", "right")]]), name
    assert sole_height(rest) < rest[:, 1].min()


def test_rest_skeleton_recovers_the_measured_lengths() -> None:
    truth = replace(TEMPLATE, thigh=0.45, shin=0.40, upper_arm=0.31, hip_width=0.22, shoulder_width=0.30,
                    torso=0.48, foot=0.15, hand=0.07, head_width=0.16)
    rest = build_rest_skeleton(truth)
    wl = world_landmarks_from_poses(random_plausible_poses(np.random.default_rng(0), 200), rest)
    measured = measure_body(wl)
    for name in ("thigh", "shin", "upper_arm", "forearm", "hip_width", "shoulder_width", "hand", "foot",
                 "head_width"):
        assert abs(getattr(measured, name) - getattr(truth, name)) < 1e-4, name
    assert abs(measured.torso - truth.torso) < 0.01  # the bent spine shortens the chord a little
    assert np.abs(rest_skeleton(wl) - rest).max() < 0.01


def test_unseen_bones_fall_back_to_the_template() -> None:
    wl = world_landmarks_from_poses(np.zeros((5, 24, 3)), build_rest_skeleton(replace(TEMPLATE, thigh=0.5)))
    wl[..., 3] = 0.1  # nothing well visible
    assert measure_body(wl) == TEMPLATE
    wl[:, L["left_knee"], 3] = wl[:, L["left_hip"], 3] = 1.0
    assert abs(measure_body(wl).thigh - 0.5) < 1e-5
    wl[..., :3] = np.nan
    assert np.all(np.isfinite(rest_skeleton(wl)))


def test_landmarks_ride_on_their_joints() -> None:
    rest = build_rest_skeleton()
    poses = random_plausible_poses(np.random.default_rng(1), 10)
    joints, glob = forward_kinematics(poses, rest, SMPL_PARENTS)
    lm = landmarks_from_joints(joints, glob, rest)
    for name in ("left_knee", "right_elbow", "left_wrist", "right_hip"):
        assert np.allclose(lm[:, L[name]], joints[:, J[name]])
    # Rigid attachment: the heel stays at its rest distance from the ankle in every pose.
    rest_lm = rest_landmarks(rest)
    d_rest = np.linalg.norm(rest_lm[L["left_heel"]] - rest[J["left_ankle"]])
    assert np.allclose(np.linalg.norm(lm[:, L["left_heel"]] - joints[:, J["left_ankle"]], axis=-1), d_rest)
    wl = world_landmarks_from_poses(poses, rest)
    assert wl.shape == (10, 33, 4)
    assert np.allclose(wl[:, L["left_hip"], :3] + wl[:, L["right_hip"], :3], 0.0, atol=1e-6)

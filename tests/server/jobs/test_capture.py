"""The capture job on the real sample clip: schema of the result and agreement with the footage."""
from __future__ import annotations

import pytest

import numpy as np

from server.body.layout import (FINGERED_JOINT_NAMES, FINGERED_PARENTS, JOINT_INDEX, LANDMARK_INDEX, SMPL_JOINT_NAMES,
                                SMPL_PARENTS)
from server.result import RESULT_SCHEMA_VERSION, camera_intrinsics

pytestmark = pytest.mark.slow   # a real capture of the sample clip

# SMPL joints that sit where a BlazePose landmark is (for the reprojection check).
JOINT_TO_LANDMARK = {
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow",
    "left_wrist": "left_wrist", "right_wrist": "right_wrist",
    "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle",
}


def test_schema(captured: dict) -> None:
    data = captured["data"]
    n = len(data["frame_indices"])
    expected = {
        "schema_version": ((), np.int32), "poses": ((n, 54, 3), np.float32), "betas": ((10,), np.float32),
        "transl": ((n, 3), np.float32), "joints_rest": ((54, 3), np.float32), "parents": ((54,), np.int32),
        "fps": ((), np.float32), "frame_indices": ((n,), np.int32), "keypoints_2d": ((n, 33, 3), np.float32),
        "world_landmarks": ((n, 33, 4), np.float32), "image_size": ((2,), np.int32),
        "camera_intrinsics": ((3, 3), np.float32), "frame_count": ((), np.int32),
        "mesh_vertices": ((13492, 3), np.float32), "mesh_faces": ((26972, 3), np.int32),
        "skin_weights": ((13492, 54), np.float32), "hand_confidence": ((n, 2), np.float32),
    }
    for key, (shape, dtype) in expected.items():
        assert data[key].shape == shape and data[key].dtype == dtype, key
    assert tuple(data["joint_names"]) == FINGERED_JOINT_NAMES and FINGERED_JOINT_NAMES[:24] == SMPL_JOINT_NAMES
    assert tuple(data["parents"]) == FINGERED_PARENTS and FINGERED_PARENTS[:24] == SMPL_PARENTS
    assert data["image_size"].tolist() == [1768, 994] and abs(float(data["fps"]) - 30.0) < 0.01
    assert str(data["source_video"]).endswith(".mp4")
    assert int(data["schema_version"]) == RESULT_SCHEMA_VERSION and str(data["body_model"]) == "open_body_neutral"
    for key in ("poses", "transl", "joints_rest", "keypoints_2d", "world_landmarks"):
        assert np.isfinite(data[key]).all(), key


def test_person_followed_through_the_clip(captured: dict) -> None:
    data, summary = captured["data"], captured["summary"]
    assert summary.processed == int(data["frame_count"]) == 230
    assert summary.frames >= 0.95 * summary.processed
    assert np.all(np.diff(data["frame_indices"]) > 0)
    detect = [done for stage, done, _ in captured["stages"] if stage == "detect"]
    assert detect == list(range(1, 231)), "one progress event per frame"
    assert set(captured["summary"].timings) == {"open", "decode", "detect", "regress", "refine", "camera", "place",
                                                "fingers", "hands", "write"}


def test_ground_and_camera_height_are_found(captured: dict) -> None:
    """The man stands on a box whose top is about level with the camera: the ground found is that top."""
    data = captured["data"]
    n = len(data["frame_indices"])
    assert data["ground"].shape == (4,) and data["foot_contacts"].shape == (n, 4)
    assert data["foot_contacts"].dtype == np.uint8 and data["foot_contacts"].any()
    rotation = data["world_rotation"].astype(np.float64)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(rotation @ data["ground"][:3], [0.0, 0.0, 1.0], atol=1e-5)
    sole = float(data["camera_height"]) - float(data["ground"][3])              # the floor is under the soles
    assert 0.01 < sole < 0.05
    assert -0.5 < float(data["camera_height"]) < 1.0
    assert np.degrees(np.arccos(-float(data["ground"][1]))) < 15.0, "a roughly level camera"


def _posed_joints(poses: np.ndarray, rest: np.ndarray) -> np.ndarray:
    from server.body.rotations import forward_kinematics

    joints, _ = forward_kinematics(poses[:, :24], rest[:24], SMPL_PARENTS)
    return joints


def test_body_reprojects_onto_the_footage(captured: dict) -> None:
    """The posed skeleton, placed by transl and projected with K, lands on BlazePose's 2D limb keypoints."""
    data = captured["data"]
    joints = _posed_joints(data["poses"], data["joints_rest"])           # (N, 24, 3), pelvis at joints_rest[0]
    cam = joints + data["transl"][:, None, :]
    K = data["camera_intrinsics"]
    uv = cam @ K.T
    uv = uv[..., :2] / uv[..., 2:3]
    j = [JOINT_INDEX[name] for name in JOINT_TO_LANDMARK]
    lm = [LANDMARK_INDEX[name] for name in JOINT_TO_LANDMARK.values()]
    kp = data["keypoints_2d"]
    visible = kp[:, lm, 2] > 0.5
    error = np.linalg.norm(uv[:, j] - kp[:, lm, :2], axis=-1)[visible]
    person_height_px = np.ptp(kp[:, :, 1], axis=1).mean()
    assert np.all(cam[..., 2] > 0.5), "the body must stay in front of the camera"
    # BlazePose's world and image landmarks disagree a little; the solve must still land within ~8% of the
    # person's height in pixels (median) on the limbs.
    assert np.median(error) < 0.08 * person_height_px, (np.median(error), person_height_px)


def test_jump_from_the_roof_is_in_the_root(captured: dict) -> None:
    """The man stands on a ~2 m roof, back-flips off it and lands: his pelvis ends well below where it began,
    and he stays the followed person (no switch to the woman walking past in front of the building)."""
    data = captured["data"]
    pelvis = data["transl"] + data["joints_rest"][0]                  # camera frame, y points down
    frames = data["frame_indices"]
    on_roof = np.median(pelvis[frames < 150, 1])
    landed = np.median(pelvis[frames > 200, 1])
    assert landed - on_roof > 1.2, f"pelvis dropped only {landed - on_roof:.2f} m"
    hip_x = data["keypoints_2d"][:, 23:25, 0].mean(axis=1)          # hip midpoint, pixels
    during_jump = (frames >= 165) & (frames <= 205)
    # The woman walks out on the left (hip x < 450 px) exactly while he jumps (frames 165-205, x > 700 px).
    assert during_jump.sum() >= 30 and np.all(hip_x[during_jump] > 600), hip_x[during_jump].round()


def test_body_is_shaped_from_the_clip(captured: dict) -> None:
    """Betas are fitted to the clip (not the mean body), stay in range, and the shaped body is consistent:
    its joints are the joint regressor applied to its own mesh, and it stands like an adult."""
    from server.body.model import default_body_model_path, load_body_model

    data = captured["data"]
    betas = data["betas"]
    assert np.abs(betas).max() <= 3.0 and np.abs(betas).max() > 0.05
    model = load_body_model(default_body_model_path())
    np.testing.assert_allclose(model.J_regressor @ data["mesh_vertices"], data["joints_rest"][:24], atol=1e-5)
    assert model.hands is not None    # the finger joints too, of the same shaped mesh
    np.testing.assert_allclose(model.hands.J_regressor @ data["mesh_vertices"], data["joints_rest"][24:], atol=1e-5)
    stature = np.ptp(data["mesh_vertices"][:, 1])
    assert 1.4 < stature < 2.1, stature
    np.testing.assert_allclose(data["skin_weights"].sum(axis=1), 1.0, atol=1e-5)


def test_intrinsics_assumption() -> None:
    K = camera_intrinsics(1920, 1080)
    assert K[0, 0] == K[1, 1] == 1920 and K[0, 2] == 960 and K[1, 2] == 540


def test_fingers_are_found_and_fitted_by_default(captured: dict) -> None:
    """The capture's default finds the hands (Sports2D: a hand seen in most frames, measured 59% of the wrists BlazePose
    sees) and fits the fingers: within the joints' limits, at rest (SMPL-H's rig) on SMPL's hand joints, each hand's
    confidence 0 only where its fingers are at rest."""
    data = captured["data"]
    confidence, fingers = data["hand_confidence"], data["poses"][:, 24:]
    assert (confidence > 0).any(axis=1).mean() > 0.5
    assert not data["poses"][:, 22:24].any()
    angles = np.degrees(np.linalg.norm(fingers, axis=-1))
    assert angles.max() < 120.0 and angles[confidence.repeat(15, axis=1) > 0].mean() > 1.0
    assert ("fingers", "fitting the fingers") in captured["messages"]
